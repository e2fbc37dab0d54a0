//! The tamper monitor as an operator runs it.
//!
//! Re-verification: a ledger of `BENCH_MONITOR_EVENTS` events (default
//! 1,000,000), sealed as always, in a SQLite store opened in this process,
//! walked by one full sweep (every record read and opened, its content
//! compared with its row, the chain, the nodes and every checkpoint
//! verified); events/s per core of this process's CPU time, beside, in the
//! same run, SHA-256 alone over each event's stored content (the bytes the
//! monitor opens) and the leaf hash recomputed from each parsed event (JCS
//! and SHA-256: the monitor's hash work without the database and the
//! decryption).
//!
//! Ingest beside it: the release binary, 32 HTTPS clients appending (batches
//! of 100 with client ids, as users send) for `BENCH_SECS` (default 20),
//! once with `--no-monitor` and once with the monitor passing every second,
//! each on a fresh data directory: the write path must keep at least 0.8 of
//! its rate, and the monitor must keep up (its verified size at the end).
//!
//! Run: `cargo build --release -p server --bin auditstore && cargo bench -p
//! server --bench monitor` (`make bench` does both). Figures are ratios
//! within one run, not promises.

mod harness;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{own_cpu, start, usage, Server, CLIENTS};
use serde_json::{json, Value};
use sha2::Digest as _;
use store::monitor::PassKind;
use store::NewEvent;

fn event(n: usize, with_id: bool) -> Value {
    let mut event = json!({
        "actor": {"type": "user", "id": format!("user_{}", n % 1000), "name": "Benchmark User"},
        "action": format!("invoice.action_{}", n % 50),
        "resource": {"type": "invoice", "id": format!("inv_{}", (n * 31) % 100_000)},
        "occurred_at": "2026-12-03T10:00:00.123Z",
        "metadata": {"amount": n, "currency": "EUR", "note": "a typical audit event with a little metadata", "ip": "192.0.2.1"},
    });
    if with_id {
        event["id"] = Value::String(uuid::Uuid::now_v7().to_string());
    }
    event
}

fn new_event(n: usize) -> NewEvent {
    let input: audit_core::EventInput = serde_json::from_value(event(n, true)).expect("event input");
    let event = input.into_event(|| unreachable!("the event has an id")).expect("valid event");
    NewEvent::new(event, true).expect("new event")
}

/// One full sweep over a ledger of `total` events, against its baselines.
async fn reverification(total: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        store::Store::open(&store::testing::sqlite_url_in(dir.path()), store::testing::options()).await.expect("store");
    let (account, _) = store.ensure_account("bench").await.expect("account");
    let ledger = store.create_ledger(&account.id, "swept", &store::testing::origin()).await.expect("ledger");
    let mut contents = Vec::with_capacity(total);
    let mut events = Vec::with_capacity(total);
    for from in (0..total).step_by(1_000) {
        let batch: Vec<NewEvent> = (from..(from + 1_000).min(total)).map(new_event).collect();
        for new in &batch {
            contents.push(serde_json::to_vec(new.event()).expect("content"));
            events.push(new.event().clone());
        }
        store.append(&ledger, batch).await.expect("append");
    }
    let ledger = store.ledger(&account.id, &ledger.id).await.expect("ledger");

    let (cpu, wall) = (own_cpu(), Instant::now());
    let pass = store.monitor_ledger(&ledger, PassKind::FullSweep, None).await.expect("sweep").expect("walked");
    let (sweep_cpu, sweep_wall) = (own_cpu().saturating_sub(cpu), wall.elapsed());
    assert_eq!(pass.verified_size as usize, total);
    assert!(pass.new_anomalies.is_empty(), "a clean ledger");

    let cpu = own_cpu();
    let mut digest = [0u8; 32];
    for content in &contents {
        let hash: [u8; 32] = sha2::Sha256::digest(content).into();
        digest[0] ^= hash[0];
    }
    let sha_cpu = own_cpu().saturating_sub(cpu);
    let cpu = own_cpu();
    for event in &events {
        digest[1] ^= event.leaf_hash().as_bytes()[0];
    }
    let leaf_cpu = own_cpu().saturating_sub(cpu);
    std::hint::black_box(digest);
    let bytes: usize = contents.iter().map(Vec::len).sum();
    let per_core = |cpu: Duration| total as f64 / cpu.as_secs_f64().max(1e-9);

    println!(
        "\nTamper monitor: one full sweep of {total} sealed events (SQLite, in process, {bytes} bytes of content)"
    );
    println!(
        "full sweep:            {:>10.0} events/s per core ({:.2} µs CPU/event; {:.1} s wall, {:.0} events/s)",
        per_core(sweep_cpu),
        sweep_cpu.as_secs_f64() * 1e6 / total as f64,
        sweep_wall.as_secs_f64(),
        total as f64 / sweep_wall.as_secs_f64()
    );
    println!("leaf hash (JCS+SHA):   {:>10.0} events/s per core", per_core(leaf_cpu));
    println!("SHA-256 alone:         {:>10.0} events/s per core (the same content bytes)", per_core(sha_cpu));
    println!(
        "ratios:                sweep = {:.3} x SHA-256 alone, {:.3} x the leaf hash; the rest is reading and opening",
        sha_cpu.as_secs_f64() / sweep_cpu.as_secs_f64(),
        leaf_cpu.as_secs_f64() / sweep_cpu.as_secs_f64()
    );
    store.close().await;
}

/// Appends as users do from every client for `secs`; returns events/s,
/// the server's CPU seconds, and the ledger.
async fn ingest(server: &Arc<Server>, secs: u64) -> (f64, Duration, String) {
    let ledger =
        server.post("/v1/ledgers", &server.admin, json!({"name": "busy"})).await["id"].as_str().expect("id").to_owned();
    let key = server.post("/v1/keys", &server.admin, json!({"name": "w", "permission": "write"})).await["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let (committed, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let (cpu, started) = (usage(server.pid()).0, Instant::now());
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (server, committed, key, stop) = (server.clone(), committed.clone(), key.clone(), stop.clone());
        let url = format!("{}/v1/ledgers/{ledger}/events", server.base);
        clients.push(tokio::spawn(async move {
            let mut n = c * 1_000_000;
            while !stop.load(Ordering::Relaxed) {
                let events: Vec<Value> = (0..100).map(|i| event(n + i, true)).collect();
                n += 100;
                let response = server.client.post(&url).bearer_auth(&key).json(&json!({ "events": events })).send();
                let response = response.await.expect("append answered");
                assert!(response.status().is_success(), "{}", response.status());
                response.bytes().await.expect("append response");
                committed.fetch_add(100, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client");
    }
    let rate = committed.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    (rate, usage(server.pid()).0.saturating_sub(cpu), ledger)
}

#[tokio::main]
async fn main() {
    let total: usize = std::env::var("BENCH_MONITOR_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let secs: u64 = std::env::var("BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    reverification(total).await;

    let alone = Arc::new(start(None, &["--no-monitor"]).await);
    let (rate_alone, cpu_alone, _) = ingest(&alone, secs).await;
    let (_, rss_alone) = usage(alone.pid());
    drop(alone);
    let watched = Arc::new(start(None, &["--monitor-interval", "1"]).await);
    let (rate_watched, cpu_watched, ledger) = ingest(&watched, secs).await;
    let (_, rss_watched) = usage(watched.pid());
    // How far the monitor had verified when the load stopped, and a few
    // seconds later.
    let reader = watched.post("/v1/keys", &watched.admin, json!({"name": "r", "permission": "read"})).await["secret"]
        .as_str()
        .expect("read key")
        .to_owned();
    let at_stop = watched.get(&format!("/v1/ledgers/{ledger}/integrity"), &reader).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = watched.get(&format!("/v1/ledgers/{ledger}/integrity"), &reader).await;
    println!("\nIngest with and without the monitor ({CLIENTS} HTTPS clients, batches of 100 with ids, {secs} s each, SQLite)");
    println!(
        "ingest, --no-monitor:      {rate_alone:>9.0} events/s ({:.2} server cores, peak RSS {} MB)",
        cpu_alone.as_secs_f64() / secs as f64,
        rss_alone >> 20
    );
    println!(
        "ingest, monitor every 1 s: {rate_watched:>9.0} events/s ({:.2} server cores, peak RSS {} MB)",
        cpu_watched.as_secs_f64() / secs as f64,
        rss_watched >> 20
    );
    println!("ratio:                     {:.3} x (goal >= 0.8)", rate_watched / rate_alone);
    println!(
        "monitor at the stop:       verified {} of {} events; 5 s later {} of {} (status {})",
        at_stop["verified_size"], at_stop["tree_size"], after["verified_size"], after["tree_size"], after["status"]
    );
}
