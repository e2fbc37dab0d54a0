//! Sustained ingest as users send it: the release `auditstore` binary as a
//! process of its own on a fresh data directory, 32 keep-alive HTTPS clients
//! sending batches of 100 events (about 330 bytes each, 1,000 distinct
//! actors), each event with its own client `id` as the README tells users,
//! for `BENCH_SECS` seconds (default 60). Reported per run: committed
//! events/s, events per server CPU-second (the server process's own user +
//! system time, so the load generator sharing the cores neither hides nor
//! excuses anything), the server's peak RSS, the filter index's lag over the
//! run and how long it takes to catch up once the load stops, and how long
//! searches of the loaded ledger then take (the newest page, one actor's
//! events, a resource no event has); beside the
//! ceiling of the same run: SQLite's own bulk insert of as many rows of the
//! same content (WAL, synchronous=FULL, primary key and unique id index,
//! 10,000-row transactions), from Rust with multi-row statements and, as
//! issue 13 first measured it, from Python's sqlite3 (`x python`).
//!
//! Run: `cargo build --release -p server --bin auditstore && cargo bench -p
//! server --bench sustained` (`make bench` does both), with
//! `AUDITSTORE_TEST_POSTGRES_URL` set for the PostgreSQL run too.
//! `BENCH_RUNS` picks some of the runs (`sqlite-ids`, `sqlite-no-ids`,
//! `postgres-ids`; all by default); `BENCH_BATCH` sets the events per request
//! and `BENCH_LEDGERS` spreads the clients over that many ledgers (100 and
//! 1 by default); `BENCH_HTTP1=1` sends over 32 HTTP/1.1 connections
//! rather than one HTTP/2 connection; `BENCH_BINARY` runs another build of
//! `auditstore` (a baseline) instead of `target/release/auditstore`. Figures are ratios within one run, not
//! promises.

mod harness;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use harness::{own_cpu, start, usage, CLIENTS};

/// Events per request (`BENCH_BATCH`, default 100).
fn batch() -> usize {
    std::env::var("BENCH_BATCH").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(100)
}

/// Ledgers the clients spread over, round-robin (`BENCH_LEDGERS`, default 1).
fn ledger_count() -> usize {
    std::env::var("BENCH_LEDGERS").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(1)
}

fn event(client: usize, n: usize, with_id: bool) -> Value {
    let mut event = json!({
        "actor": {"type": "user", "id": format!("user_{}", (client * 7919 + n) % 1000), "name": "Benchmark User"},
        "action": format!("invoice.action_{}", n % 50),
        "resource": {"type": "invoice", "id": format!("inv_{}", (client * 104_729 + n * 31) % 100_000)},
        "occurred_at": "2026-12-01T10:00:00.123Z",
        "metadata": {"amount": n, "currency": "EUR", "note": "a typical audit event with a little metadata", "ip": "192.0.2.1"},
    });
    if with_id {
        event["id"] = Value::String(uuid::Uuid::now_v7().to_string());
    }
    event
}

struct Run {
    name: String,
    committed: u64,
    secs: f64,
    server_cpu: Duration,
    /// This process's (the load generator's) CPU time meanwhile.
    client_cpu: Duration,
    peak_rss: u64,
    worst_lag: u64,
    final_lag: u64,
    catch_up: Duration,
    searches: Searches,
}

/// Median latencies of listings of the loaded ledger once it is indexed,
/// as a dashboard user searches it (pages of 50).
struct Searches {
    /// The newest page, unfiltered: the baseline.
    newest: Duration,
    /// One actor's events (one in 1,000).
    actor: Duration,
    /// A resource no event has: every part of the index is looked in.
    nothing: Duration,
}

/// The median of 21 sequential listings of `query` in `ledger`.
async fn median_listing(server: &harness::Server, key: &str, ledger: &str, query: &str) -> Duration {
    let mut times = Vec::new();
    for _ in 0..21 {
        let started = Instant::now();
        let page = server.get(&format!("/v1/ledgers/{ledger}/events?limit=50{query}"), key).await;
        times.push(started.elapsed());
        assert!(page["events"].is_array(), "{page}");
    }
    times.sort();
    times[times.len() / 2]
}

async fn run(name: &str, database_url: Option<&str>, with_ids: bool, secs: u64) -> Run {
    let server = Arc::new(start(database_url, &[]).await);
    let mut ledgers = Vec::new();
    for n in 0..ledger_count() {
        let created = server.post("/v1/ledgers", &server.admin, json!({"name": format!("sustained-{n}")})).await;
        ledgers.push(created["id"].as_str().expect("id").to_owned());
    }
    let batch = batch();
    let key = server.post("/v1/keys", &server.admin, json!({"name": "w", "permission": "write"})).await["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let pid = server.pid();
    let (cpu_before, _) = usage(pid);
    let client_cpu = own_cpu();
    let committed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (server, committed, key) = (server.clone(), committed.clone(), key.clone());
        let url = format!("{}/v1/ledgers/{}/events", server.base, ledgers[c % ledgers.len()]);
        clients.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                let events: Vec<Value> = (0..batch).map(|i| event(c, n + i, with_ids)).collect();
                n += batch;
                let response = server.client.post(&url).bearer_auth(&key).json(&json!({ "events": events })).send();
                let response = response.await.expect("append answered");
                assert!(response.status().is_success(), "{}", response.status());
                // Read as a client does (it wants the seqs and hashes): a
                // response dropped unread is a stream reset (CANCEL) over
                // HTTP/2, and h2 ends a connection with many of them.
                response.bytes().await.expect("append response");
                committed.fetch_add(batch as u64, Ordering::Relaxed);
            }
        }));
    }
    let mut worst_lag = 0;
    let mut final_lag = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (tree, indexed) = server.sizes(&ledgers).await;
        final_lag = tree.saturating_sub(indexed);
        worst_lag = worst_lag.max(final_lag);
    }
    for client in clients {
        client.await.expect("client");
    }
    let elapsed = start.elapsed();
    let (cpu_after, peak_rss) = usage(pid);
    let client_cpu = own_cpu().saturating_sub(client_cpu);
    let stopped = Instant::now();
    loop {
        let (tree, indexed) = server.sizes(&ledgers).await;
        if indexed >= tree || stopped.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let catch_up = stopped.elapsed();
    // Searched with a read key, as the dashboard's users and SDKs do (an
    // admin key manages keys and ledgers but reads no events).
    let reader = server.post("/v1/keys", &server.admin, json!({"name": "r", "permission": "read"})).await["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let searches = Searches {
        newest: median_listing(&server, &reader, &ledgers[0], "").await,
        actor: median_listing(&server, &reader, &ledgers[0], "&actor_id=user_1").await,
        nothing: median_listing(&server, &reader, &ledgers[0], "&resource_id=inv_none").await,
    };
    Run {
        name: name.to_owned(),
        committed: committed.load(Ordering::Relaxed),
        secs: elapsed.as_secs_f64(),
        server_cpu: cpu_after.saturating_sub(cpu_before),
        client_cpu,
        peak_rss,
        worst_lag,
        final_lag,
        catch_up,
        searches,
    }
}

/// SQLite's own bulk insert of `rows` rows like the runs' (the ceiling),
/// twice: from Rust with 500-row INSERT statements (rows/s and rows per
/// CPU-second of this process), and as issue 13 first measured it, from
/// Python's sqlite3 with `executemany` (`scripts/sqlite_ceiling.py`, on the
/// same schema; the reason when it could not be measured).
async fn ceiling(rows: usize) -> ((f64, f64), Result<(f64, f64), String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let contents: Vec<Vec<u8>> =
        (0..rows).map(|n| serde_json::to_vec(&event(n % CLIENTS, n, true)).expect("json")).collect();
    let (cpu, start) = (own_cpu(), Instant::now());
    store::testing::sqlite_bulk_insert(&dir.path().join("ceiling.db"), &contents, 10_000).await.expect("bulk insert");
    let (secs, cpu) = (start.elapsed().as_secs_f64(), own_cpu().saturating_sub(cpu).as_secs_f64());
    let rust = (rows as f64 / secs, rows as f64 / cpu.max(0.001));
    let lines = dir.path().join("contents.jsonl");
    let mut text = Vec::with_capacity(contents.iter().map(|c| c.len() + 1).sum());
    for content in &contents {
        text.extend_from_slice(content);
        text.push(b'\n');
    }
    std::fs::write(&lines, text).expect("contents file");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/sqlite_ceiling.py");
    let python = std::process::Command::new("python3")
        .arg(script)
        .arg(&lines)
        .arg(dir.path().join("ceiling-python.db"))
        .arg(store::testing::CEILING_SCHEMA)
        .output()
        .map_err(|error| format!("python3 did not start: {error}"))
        .and_then(|out| {
            if !out.status.success() {
                return Err(format!(
                    "the script failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let mut figures = text.split_whitespace().filter_map(|f| f.parse::<f64>().ok());
            figures.next().zip(figures.next()).ok_or_else(|| format!("the script printed {text:?}"))
        });
    (rust, python)
}

#[tokio::main]
async fn main() {
    let secs = std::env::var("BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let postgres = match std::env::var(store::testing::POSTGRES_ENV) {
        Ok(_) => Some(store::testing::fresh_postgres_url().await.expect("database")),
        Err(_) => None,
    };
    // `BENCH_RUNS` picks runs by name (comma-separated: sqlite-ids,
    // sqlite-no-ids, postgres-ids); all of them by default.
    let wanted = std::env::var("BENCH_RUNS").unwrap_or_else(|_| "sqlite-ids,sqlite-no-ids,postgres-ids".into());
    let wanted: Vec<&str> = wanted.split(',').map(str::trim).collect();
    let ((ceiling_rate, ceiling_per_cpu), python) = ceiling(1_000_000).await;
    let mut runs = Vec::new();
    if wanted.contains(&"sqlite-ids") {
        runs.push(run("SQLite, client ids", None, true, secs).await);
    }
    if wanted.contains(&"sqlite-no-ids") {
        runs.push(run("SQLite, no ids", None, false, secs).await);
    }
    if let (Some(url), true) = (&postgres, wanted.contains(&"postgres-ids")) {
        runs.push(run("PostgreSQL, client ids", Some(url), true, secs).await);
    }
    println!(
        "\nSustained ingest: {CLIENTS} HTTPS clients, batches of {}, {secs} s per run, {} ledger(s)",
        batch(),
        ledger_count()
    );
    println!("ceiling: SQLite bulk insert of the same rows: {ceiling_rate:.0} rows/s, {ceiling_per_cpu:.0} rows per CPU-second");
    match &python {
        Ok((rate, per_cpu)) => println!(
            "ceiling as issue 13 measured it (Python sqlite3, executemany): {rate:.0} rows/s, {per_cpu:.0} rows per CPU-second"
        ),
        Err(reason) => println!("ceiling as issue 13 measured it: not measured ({reason})"),
    }
    let python_rate = python.map_or(f64::NAN, |(rate, _)| rate);
    println!(
        "{:<24} {:>9} {:>9} {:>9} {:>12} {:>10} {:>10} {:>9} {:>9} {:>9} {:>8}",
        "run",
        "events/s",
        "x ceiling",
        "x python",
        "events/cpu-s",
        "server cpu",
        "client cpu",
        "peak RSS",
        "worst lag",
        "final lag",
        "catch-up"
    );
    for r in &runs {
        let rate = r.committed as f64 / r.secs;
        println!(
            "{:<24} {:>9.0} {:>9.2} {:>9.2} {:>12.0} {:>9.2}c {:>9.2}c {:>7}MB {:>9} {:>9} {:>7.1}s",
            r.name,
            rate,
            rate / ceiling_rate,
            rate / python_rate,
            r.committed as f64 / r.server_cpu.as_secs_f64().max(0.001),
            r.server_cpu.as_secs_f64() / r.secs,
            r.client_cpu.as_secs_f64() / r.secs,
            r.peak_rss / 1_000_000,
            r.worst_lag,
            r.final_lag,
            r.catch_up.as_secs_f64()
        );
    }
    println!("searches of the first ledger after the load (median of 21, pages of 50):");
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    for r in &runs {
        let s = &r.searches;
        println!(
            "{:<24} newest page {:.1} ms, one actor's {:.1} ms ({:.1}x), a resource no event has {:.1} ms ({:.1}x)",
            r.name,
            ms(s.newest),
            ms(s.actor),
            ms(s.actor) / ms(s.newest).max(0.001),
            ms(s.nothing),
            ms(s.nothing) / ms(s.newest).max(0.001)
        );
    }
}
