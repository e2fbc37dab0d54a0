//! Export throughput: one SQLite ledger of `BENCH_EXPORT_EVENTS` events (default 1,000,000),
//! exported by the export job in each format (events/s, file size, the process's peak RSS
//! during the export), beside reading the same rows from the database in seq order with the
//! same per-row checks (the ratio's denominator), and `auditstore verify` of each file
//! (events/s, one core). Figures are for comparison within one run.
//!
//! Run: `cargo bench -p server --bench export` (`make bench` runs it too).
//! With `BENCH_EXPORT_KEEP=DIR` the export files and the verifier key are kept in DIR.

use std::io::Write as _;
use std::time::{Duration, Instant};

use audit_core::export::EventsFormat;
use audit_core::{EventId, EventInput};
use serde_json::json;
use server::config::VerifyArgs;
use store::lifecycle::exports::{ExportFilter, ExportRequest};
use store::testing::{options, origin, sqlite_url_in};
use store::{NewEvent, Store};

/// The server binary's allocator, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn new_event(n: usize) -> NewEvent {
    let input: EventInput = serde_json::from_value(json!({
        "actor": {"type": "user", "id": format!("u_{}", n % 1_000), "name": "Benchmark User"},
        "action": format!("action.{}", n % 50),
        "resource": {"type": "invoice", "id": format!("inv_{}", n % 100_000)},
        "occurred_at": "2026-11-26T10:00:00.123Z",
        "metadata": {"amount": n, "currency": "EUR", "note": "a typical audit event with a little metadata", "ip": "192.0.2.1"},
    }))
    .expect("input");
    let event = input.into_event(|| EventId::new(uuid::Uuid::now_v7().to_string()).expect("id")).expect("valid");
    NewEvent::new(event, false).expect("new event")
}

/// The process's peak resident set since the last [`reset_peak_rss`], in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Resets the peak-RSS counter (Linux: writing 5 to clear_refs).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn per_sec(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

fn main() {
    let total: usize = std::env::var("BENCH_EXPORT_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&sqlite_url_in(dir.path()), options()).await.expect("store");
        let (account, _) = store.ensure_account("bench").await.expect("account");
        let ledger = store.create_ledger(&account.id, "exports", &origin()).await.expect("ledger");

        let start = Instant::now();
        let mut tasks = Vec::new();
        for client in 0..16 {
            let (store, ledger) = (store.clone(), ledger.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = client * 1000;
                while n < total {
                    let batch = (n..(n + 1000).min(total)).map(new_event).collect();
                    store.append(&ledger, batch).await.expect("append");
                    n += 16 * 1000;
                }
            }));
        }
        for task in tasks {
            task.await.expect("client");
        }
        let ledger = store.ledger(&account.id, &ledger.id).await.expect("ledger");
        let events = ledger.tree_size;
        println!("filled one SQLite ledger with {events} events in {:.1} s", start.elapsed().as_secs_f64());

        // Baseline: the same rows read in seq order, each verified as every read is.
        let start = Instant::now();
        let mut next = 0;
        while next < events {
            let window = store.events_in_order(&ledger.id, next, events, 1_000).await.expect("read");
            next = window.last().map(|e| e.seq + 1).expect("rows");
        }
        let baseline = per_sec(events, start.elapsed());
        println!("read back (baseline): {baseline:.0} events/s, RSS {:.0} MiB", rss_mib());

        let key = store.verifier_key().to_string();
        println!(
            "\n| format | export events/s | x baseline | file MiB | peak RSS MiB (whole process) | verify events/s |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: |");
        for format in [EventsFormat::Jsonl, EventsFormat::Csv, EventsFormat::Parquet] {
            let request = ExportRequest { format, from_seq: None, to_seq: None, filter: ExportFilter::default() };
            let requested = store.request_export(&ledger, &request, &origin()).await.expect("request");
            reset_peak_rss();
            let start = Instant::now();
            store.run_exports(86_400_000).await.expect("export");
            let elapsed = start.elapsed();
            let peak = peak_rss_mib();
            let record = store.export_record(&ledger.id, &requested.id).await.expect("record");
            assert_eq!(record.events_written, events, "the whole ledger was exported");

            let path = dir.path().join(format!("export-{}.zip", format.name()));
            let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("file"));
            for n in 0..record.chunks {
                file.write_all(&store.export_chunk(&record, n).await.expect("chunk")).expect("write");
            }
            file.flush().expect("flush");
            drop(file);
            // To profile `auditstore verify` on the same files afterwards.
            if let Some(keep) = std::env::var_os("BENCH_EXPORT_KEEP") {
                let keep = std::path::Path::new(&keep);
                std::fs::create_dir_all(keep).expect("keep dir");
                std::fs::copy(&path, keep.join(path.file_name().expect("name"))).expect("keep");
                std::fs::write(keep.join("verifier.key"), &key).expect("keep key");
            }
            let args = VerifyArgs {
                file: Some(path.clone()),
                key: Some(key.clone()),
                key_file: None,
                consistency: None,
                proof: None,
            };
            let start = Instant::now();
            let (verdict, report) = tokio::task::spawn_blocking(move || {
                let mut report = Vec::new();
                (server::verify::run_to(&args, &mut report), report)
            })
            .await
            .expect("verify");
            let verify = per_sec(events, start.elapsed());
            assert_eq!(verdict.code(), 0, "{}", String::from_utf8_lossy(&report));
            println!(
                "| {} | {:.0} | {:.2} | {:.1} | {:.0} | {:.0} |",
                format.name(),
                per_sec(events, elapsed),
                per_sec(events, elapsed) / baseline,
                record.bytes as f64 / f64::from(1u32 << 20),
                peak,
                verify
            );
        }
        store.close().await;
    });
}
