//! The ingest load generator: events/s into one ledger and into 8 ledgers,
//! for batch sizes 1, 10 and 100, over HTTPS and directly into the store,
//! beside the raw insert rate of the same rows into the same database (the
//! ratio's denominator), then inclusion-proof latency on the largest ledger.
//! "Committed" is when every append was acknowledged (durable); "searchable"
//! is when the trailing filter index had caught up as well.
//!
//! Run: `cargo bench -p server --bench ingest` (SQLite), with
//! `AUDITSTORE_TEST_POSTGRES_URL` set for PostgreSQL too (`make bench` does
//! both). `BENCH_EVENTS` sets the events per configuration (default 50000).
//! Figures are for comparison within one run, not absolute promises.
//! `BENCH_PROOF_EVENTS=10000000` instead fills one SQLite ledger that large
//! and measures proof and filtered-page latency on it.

use std::time::{Duration, Instant};

use audit_core::{EventId, EventInput};
use serde_json::{json, Value};
use server::config::{Config, ServeArgs};
use store::{Ledger, NewEvent, Store};

const CLIENTS: usize = 32;

/// The server binary's allocator, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn event_json(client: usize, n: usize) -> Value {
    json!({
        "actor": {"type": "user", "id": format!("u_{}", (client * 7919 + n) % 10_000), "name": "Benchmark User"},
        "action": format!("action.{}", n % 50),
        "resource": {"type": "invoice", "id": format!("inv_{}", (client * 104_729 + n * 31) % 100_000)},
        "occurred_at": "2026-11-26T10:00:00.123Z",
        "metadata": {"amount": n, "currency": "EUR", "note": "a typical audit event with a little metadata", "ip": "192.0.2.1"},
    })
}

fn new_event(client: usize, n: usize) -> NewEvent {
    let input: EventInput = serde_json::from_value(event_json(client, n)).expect("input");
    let event = input.into_event(|| EventId::new(uuid::Uuid::now_v7().to_string()).expect("id")).expect("valid");
    NewEvent::new(event, false).expect("new event")
}

struct Row {
    target: &'static str,
    ledgers: usize,
    batch: usize,
    events: usize,
    elapsed: Duration,
    /// Until the filter index caught up (every event searchable).
    searchable: Option<Duration>,
}

impl Row {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
}

/// Waits until the filter index covers every event of `ledgers`; returns
/// the time from `start`.
async fn until_indexed(store: &Store, ledgers: &[Ledger], start: Instant) -> Duration {
    loop {
        let mut behind = false;
        for ledger in ledgers {
            let current = store.ledger(&ledger.account_id, &ledger.id).await.expect("ledger");
            behind |= current.indexed_size < current.tree_size;
        }
        if !behind {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn store_run(store: &Store, ledgers: &[Ledger], batch: usize, total: usize) -> Duration {
    let per_client = total / CLIENTS / batch;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let store = store.clone();
        let ledger = ledgers[client % ledgers.len()].clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..per_client {
                let events = (0..batch).map(|i| new_event(client, round * batch + i)).collect();
                store.append(&ledger, events).await.expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    start.elapsed()
}

async fn https_run(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    ledgers: &[Ledger],
    batch: usize,
    total: usize,
) -> Duration {
    let per_client = total / CLIENTS / batch;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let client = client.clone();
        let url = format!("{base}/v1/ledgers/{}/events", ledgers[c % ledgers.len()].id.as_str());
        let key = key.to_owned();
        tasks.push(tokio::spawn(async move {
            for round in 0..per_client {
                let events: Vec<Value> = (0..batch).map(|i| event_json(c, round * batch + i)).collect();
                let body =
                    if batch == 1 { events.into_iter().next().expect("one") } else { json!({ "events": events }) };
                let response = client.post(&url).bearer_auth(&key).json(&body).send().await.expect("response");
                assert!(response.status().is_success(), "{}", response.status());
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    start.elapsed()
}

async fn bench_backend(name: &'static str, database_url: Option<String>, total: usize) -> (Vec<Row>, Duration, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ServeArgs {
        data_dir: Some(dir.path().to_owned()),
        listen: Some("127.0.0.1:0".parse().expect("addr")),
        database_url: database_url.clone(),
        site_root: Some("/nonexistent".into()),
        rate_limit_per_key: std::num::NonZeroU32::new(u32::MAX),
        rate_limit_per_ledger: std::num::NonZeroU32::new(u32::MAX),
        log_format: Some(server::config::LogFormat::Json),
        ..ServeArgs::default()
    };
    let config = Config::resolve(args).expect("config");
    let running = server::start(config).await.expect("server");
    let store = running.store().clone();
    let (account, _) = store.ensure_account("bench").await.expect("account");
    let (_, secret) = store
        .create_api_key(
            &account.id,
            store::NewApiKey {
                name: "bench".into(),
                permission: store::Permission::Write,
                scope: store::KeyScope::AccountWide,
                created_by: None,
            },
            &store::testing::origin(),
        )
        .await
        .expect("key");
    let pem = std::fs::read(dir.path().join("tls/cert.pem")).expect("cert");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .resolve("localhost", running.https_addr)
        .build()
        .expect("client");
    let base = format!("https://localhost:{}", running.https_addr.port());

    let mut rows = Vec::new();
    let mut ledger_no = 0;
    let mut ledgers = |n: usize| {
        let store = store.clone();
        let account = account.id.clone();
        ledger_no += n;
        let first = ledger_no - n;
        async move {
            let mut out = Vec::new();
            for i in first..first + n {
                out.push(
                    store.create_ledger(&account, &format!("l{i}"), &store::testing::origin()).await.expect("ledger"),
                );
            }
            out
        }
    };

    // The denominator: the same rows, plain inserts, batches of 100.
    let raw_ledger = ledgers(1).await;
    let contents: Vec<Vec<u8>> = (0..total).map(|n| serde_json::to_vec(&event_json(0, n)).expect("json")).collect();
    let start = Instant::now();
    store::testing::raw_insert_baseline(&store, &raw_ledger[0], &contents, 100).await.expect("raw inserts");
    let elapsed = start.elapsed();
    rows.push(Row {
        target: "raw SQL inserts",
        ledgers: 1,
        batch: 100,
        events: total,
        elapsed,
        searchable: Some(elapsed),
    });

    for (ledger_count, batch) in [(1, 1), (1, 10), (1, 100), (8, 100)] {
        // Batch size 1 is slow by nature; a tenth of the events measures it.
        let events = if batch == 1 { total / 10 } else { total };
        let target = ledgers(ledger_count).await;
        let start = Instant::now();
        let elapsed = store_run(&store, &target, batch, events).await;
        let searchable = Some(until_indexed(&store, &target, start).await);
        rows.push(Row { target: "store (in process)", ledgers: ledger_count, batch, events, elapsed, searchable });
        let target = ledgers(ledger_count).await;
        let start = Instant::now();
        let elapsed = https_run(&client, &base, secret.expose(), &target, batch, events).await;
        let searchable = Some(until_indexed(&store, &target, start).await);
        rows.push(Row { target: "HTTPS API", ledgers: ledger_count, batch, events, elapsed, searchable });
    }

    // What encryption costs: the same runs with sealing off and on,
    // alternating so that drift (WAL growth, page cache) hits both alike.
    // Indexing is waited for in both, so decrypting for the index counts.
    let mut sealing = Vec::new();
    for _round in 0..2 {
        for sealed in [false, true] {
            store::testing::set_sealing(&store, sealed);
            let target = ledgers(1).await;
            let start = Instant::now();
            let elapsed = store_run(&store, &target, 100, total).await;
            let searchable = until_indexed(&store, &target, start).await;
            sealing.push(("store (in process)", sealed, elapsed, searchable));
            let target = ledgers(1).await;
            let start = Instant::now();
            let elapsed = https_run(&client, &base, secret.expose(), &target, 100, total).await;
            let searchable = until_indexed(&store, &target, start).await;
            sealing.push(("HTTPS API", sealed, elapsed, searchable));
        }
    }
    store::testing::set_sealing(&store, true);
    for path in ["store (in process)", "HTTPS API"] {
        for sealed in [false, true] {
            let runs: Vec<_> = sealing.iter().filter(|r| r.0 == path && r.1 == sealed).collect();
            let elapsed = runs.iter().map(|r| r.2).sum::<Duration>() / runs.len() as u32;
            let searchable = runs.iter().map(|r| r.3).sum::<Duration>() / runs.len() as u32;
            rows.push(Row {
                target: match (path, sealed) {
                    ("HTTPS API", true) => "HTTPS API, sealed (mean of 2)",
                    ("HTTPS API", false) => "HTTPS API, unsealed (mean of 2)",
                    (_, true) => "store, sealed (mean of 2)",
                    (_, false) => "store, unsealed (mean of 2)",
                },
                ledgers: 1,
                batch: 100,
                events: total,
                elapsed,
                searchable: Some(searchable),
            });
        }
    }

    // Proof latency on the largest single ledger of this run.
    let list = store.list_ledgers(&account.id).await.expect("ledgers");
    let big = list.into_iter().max_by_key(|l| l.tree_size).expect("a ledger");
    let mut latencies = Vec::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let seq = seed % big.tree_size;
        let start = Instant::now();
        store.inclusion_proof(&big, seq, big.tree_size).await.expect("proof");
        latencies.push(start.elapsed());
    }
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    let proofs = format!("{name}: inclusion proof at {} events: p50 {:?}, p99 {:?}", big.tree_size, p(0.5), p(0.99));
    running.shutdown().await.expect("shutdown");
    let raw = rows[0].elapsed;
    (rows, raw, proofs)
}

/// With `BENCH_PROOF_EVENTS=N`: fills one SQLite ledger with N events
/// through the store, then measures inclusion and consistency proofs and a
/// filtered explorer page (50 events of one of 10,000 actors) on it.
async fn large_ledger(n: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = store::testing::sqlite_url_in(dir.path());
    let store = Store::open(&url, store::testing::options()).await.expect("store");
    let indexer = store.spawn_indexer();
    let (account, _) = store.ensure_account("big").await.expect("account");
    let ledger = store.create_ledger(&account.id, "big", &store::testing::origin()).await.expect("ledger");
    let start = Instant::now();
    let per_task = n / 8 / 1000;
    let mut tasks = Vec::new();
    for client in 0..8 {
        let store = store.clone();
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..per_task {
                let events = (0..1000).map(|i| new_event(client, round * 1000 + i)).collect();
                store.append(&ledger, events).await.expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let filled = start.elapsed();
    let searchable = until_indexed(&store, std::slice::from_ref(&ledger), start).await;
    let ledger = store.ledger(&account.id, &ledger.id).await.expect("ledger");
    let size = ledger.tree_size;
    println!("\nlarge ledger: {size} events committed in {filled:?}, searchable after {searchable:?}");

    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let measure = |label: &str, mut samples: Vec<Duration>| {
        samples.sort();
        let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
        println!("{label}: p50 {:?}, p95 {:?}, p99 {:?}", p(0.5), p(0.95), p(0.99));
    };
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    let mut pages = Vec::new();
    for _ in 0..2000 {
        let seq = next() % size;
        let t = Instant::now();
        store.inclusion_proof(&ledger, seq, size).await.expect("inclusion");
        inclusion.push(t.elapsed());
        let from = 1 + next() % size;
        let t = Instant::now();
        store.consistency_proof(&ledger, from, size).await.expect("consistency");
        consistency.push(t.elapsed());
    }
    for _ in 0..500 {
        let filter = store::EventFilter { actor_id: Some(format!("u_{}", next() % 10_000)), ..Default::default() };
        let t = Instant::now();
        store.list_events(&ledger.id, &filter, None, 50).await.expect("page");
        pages.push(t.elapsed());
    }
    measure(&format!("inclusion proof at {size}"), inclusion);
    measure(&format!("consistency proof at {size}"), consistency);
    measure(&format!("filtered page of 50 (actor_id) at {size}"), pages);
    indexer.abort();
}

fn main() {
    let total: usize = std::env::var("BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(50_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if let Some(n) = std::env::var("BENCH_PROOF_EVENTS").ok().and_then(|v| v.parse().ok()) {
        runtime.block_on(large_ledger(n));
        return;
    }
    runtime.block_on(async {
        let mut backends = vec![("SQLite", None)];
        if std::env::var(store::testing::POSTGRES_ENV).is_ok() {
            backends.push(("PostgreSQL", Some(store::testing::fresh_postgres_url().await.expect("database"))));
        }
        let mut proof_lines = Vec::new();
        for (name, url) in backends {
            let (rows, _, proofs) = bench_backend(name, url, total).await;
            let raw = rows[0].rate();
            println!("\n{name}: {total} events per configuration, {CLIENTS} concurrent clients");
            println!("| path | ledgers | batch | events | committed events/s | × raw | searchable events/s | × raw |");
            println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            for pair in
                rows.windows(2).filter(|w| w[0].target.contains(", unsealed") && w[1].target.contains(", sealed"))
            {
                println!(
                    "{name}: encryption costs {:.1}% of committed throughput and {:.1}% of searchable throughput ({})",
                    100.0 * (1.0 - pair[1].rate() / pair[0].rate()),
                    100.0
                        * (1.0
                            - pair[0].searchable.unwrap_or_default().as_secs_f64()
                                / pair[1].searchable.unwrap_or_default().as_secs_f64()),
                    pair[0].target.split(',').next().unwrap_or_default(),
                );
            }
            for row in &rows {
                let searchable = row.searchable.map_or(0.0, |d| row.events as f64 / d.as_secs_f64());
                println!(
                    "| {} | {} | {} | {} | {:.0} | {:.2} | {:.0} | {:.2} |",
                    row.target,
                    row.ledgers,
                    row.batch,
                    row.events,
                    row.rate(),
                    row.rate() / raw,
                    searchable,
                    searchable / raw
                );
            }
            proof_lines.push(proofs);
        }
        println!();
        for line in proof_lines {
            println!("{line}");
        }
    });
}
