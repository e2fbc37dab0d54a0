//! Retention archival as an operator runs it, against the release
//! `auditstore` binary on SQLite: a ledger of `BENCH_ARCHIVAL_EVENTS` events
//! (default 1,000,000) that happened in 2025, under a 30-day policy,
//! archived through `POST /v1/ledgers/{ledger}/retention/run` until nothing
//! is left (events/s, the server's CPU time per archived event); then on a
//! second such ledger, 32 HTTPS clients append to it (batches of 100 with
//! client ids, as users send) for `BENCH_SECS` (default 20) with no
//! archival, and for as long again while its archival runs: the write path
//! must keep at least 0.8 of its rate. Archival under load is counted from
//! the archivals recorded within that window (the rest then finishes alone).
//!
//! Run: `cargo build --release -p server --bin auditstore && cargo bench -p
//! server --bench archival` (`make bench` does both). Figures are ratios
//! within one run, not promises.

mod harness;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{start, usage, Server, CLIENTS};
use serde_json::{json, Value};

fn event(client: usize, n: usize, occurred_at: &str, with_id: bool) -> Value {
    let mut event = json!({
        "actor": {"type": "user", "id": format!("user_{}", (client * 7919 + n) % 1000), "name": "Benchmark User"},
        "action": format!("invoice.action_{}", n % 50),
        "resource": {"type": "invoice", "id": format!("inv_{}", (client * 104_729 + n * 31) % 100_000)},
        "occurred_at": occurred_at,
        "metadata": {"amount": n, "currency": "EUR", "note": "a typical audit event with a little metadata", "ip": "192.0.2.1"},
    });
    if with_id {
        event["id"] = Value::String(uuid::Uuid::now_v7().to_string());
    }
    event
}

/// `total` events of 2025 into `ledger`, as fast as it takes them.
async fn fill(server: &Arc<Server>, ledger: &str, key: &str, total: usize) {
    let next = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (server, next, key) = (server.clone(), next.clone(), key.to_owned());
        let url = format!("{}/v1/ledgers/{ledger}/events", server.base);
        clients.push(tokio::spawn(async move {
            loop {
                let from = next.fetch_add(1_000, Ordering::Relaxed) as usize;
                if from >= total {
                    break;
                }
                let to = (from + 1_000).min(total);
                let events: Vec<Value> = (from..to)
                    .map(|n| event(c, n, &format!("2025-{:02}-{:02}T10:00:00.123Z", 1 + n % 12, 1 + n % 28), false))
                    .collect();
                let response = server.client.post(&url).bearer_auth(&key).json(&json!({ "events": events })).send();
                let response = response.await.expect("append answered");
                assert!(response.status().is_success(), "{}", response.status());
                response.bytes().await.expect("append response");
            }
        }));
    }
    for client in clients {
        client.await.expect("client");
    }
}

/// Appends as users do (today's events, batches of 100 with client ids)
/// from every client until `stop`; returns the events committed.
async fn ingest(server: &Arc<Server>, ledger: &str, key: &str, stop: Arc<AtomicBool>) -> u64 {
    let committed = Arc::new(AtomicU64::new(0));
    let now = audit_core::OccurredAt::from_unix_millis(store::now_ms()).expect("now").as_str().to_owned();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (server, committed, key, stop, now) =
            (server.clone(), committed.clone(), key.to_owned(), stop.clone(), now.clone());
        let url = format!("{}/v1/ledgers/{ledger}/events", server.base);
        clients.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let events: Vec<Value> = (0..100).map(|i| event(c, n + i, &now, true)).collect();
                n += 100;
                let response = server.client.post(&url).bearer_auth(&key).json(&json!({ "events": events })).send();
                let response = response.await.expect("append answered");
                assert!(response.status().is_success(), "{}", response.status());
                response.bytes().await.expect("append response");
                committed.fetch_add(100, Ordering::Relaxed);
            }
        }));
    }
    for client in clients {
        client.await.expect("client");
    }
    committed.load(Ordering::Relaxed)
}

/// Sets a 30-day policy on `ledger` and runs retention until nothing is
/// left; returns the events archived, the archivals and the time taken.
async fn archive(server: &Server, ledger: &str) -> (u64, u64, Duration) {
    let policy = server
        .client
        .put(format!("{}/v1/ledgers/{ledger}/retention", server.base))
        .bearer_auth(&server.admin)
        .json(&json!({"days": 30}))
        .send()
        .await
        .expect("policy");
    assert!(policy.status().is_success(), "{}", policy.status());
    let (mut archived, mut files, start) = (0, 0, Instant::now());
    loop {
        let run = server.post(&format!("/v1/ledgers/{ledger}/retention/run"), &server.admin, json!({})).await;
        archived += run["archived"].as_u64().expect("archived");
        files += run["archivals"].as_array().map_or(0, Vec::len) as u64;
        if run["more"] != true {
            break;
        }
    }
    (archived, files, start.elapsed())
}

async fn ledger(server: &Server, name: &str) -> String {
    server.post("/v1/ledgers", &server.admin, json!({"name": name})).await["id"].as_str().expect("id").to_owned()
}

#[tokio::main]
async fn main() {
    let total: usize = std::env::var("BENCH_ARCHIVAL_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let secs: u64 = std::env::var("BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    // The retention job stays out of the way: runs are asked for.
    let server = Arc::new(start(None, &["--retention-interval-minutes", "1000000"]).await);
    let key = server.post("/v1/keys", &server.admin, json!({"name": "w", "permission": "write"})).await["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let pid = server.pid();

    let alone = ledger(&server, "archived-alone").await;
    fill(&server, &alone, &key, total).await;
    let (cpu, _) = usage(pid);
    let (archived_alone, files_alone, took_alone) = archive(&server, &alone).await;
    let (cpu_after, _) = usage(pid);
    let cpu_alone = cpu_after.saturating_sub(cpu);
    assert_eq!(archived_alone as usize, total, "every expired event was archived");

    let busy = ledger(&server, "archived-under-load").await;
    fill(&server, &busy, &key, total).await;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let load = tokio::spawn({
        let (server, busy, key, stop) = (server.clone(), busy.clone(), key.clone(), stop.clone());
        async move { ingest(&server, &busy, &key, stop).await }
    });
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let ingested_alone = load.await.expect("load");
    let ingest_alone = ingested_alone as f64 / started.elapsed().as_secs_f64();

    // The archival starts first, so it runs through the whole window.
    let archival = tokio::spawn({
        let (server, busy) = (server.clone(), busy.clone());
        async move { archive(&server, &busy).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let window_start_ms = store::now_ms();
    let load = tokio::spawn({
        let (server, busy, key, stop) = (server.clone(), busy.clone(), key.clone(), stop.clone());
        async move { ingest(&server, &busy, &key, stop).await }
    });
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let ingested_during = load.await.expect("load");
    let window = started.elapsed();
    let window_end_ms = store::now_ms();
    let ingest_during = ingested_during as f64 / window.as_secs_f64();
    let (archived_busy, _, _) = archival.await.expect("archival");
    assert_eq!(archived_busy as usize, total);
    let (_, peak_rss) = usage(pid);
    // What was archived within the window: the archivals recorded in it.
    let reader = server.post("/v1/keys", &server.admin, json!({"name": "r", "permission": "read"})).await["secret"]
        .as_str()
        .expect("read key")
        .to_owned();
    let listed = server.get(&format!("/v1/ledgers/{busy}/archives"), &reader).await;
    let in_window: Vec<&Value> = listed["archivals"]
        .as_array()
        .expect("archivals")
        .iter()
        .filter(|a| {
            let at = audit_core::OccurredAt::parse(a["archived_at"].as_str().expect("archived_at"))
                .expect("a time")
                .unix_millis();
            (window_start_ms..=window_end_ms).contains(&at)
        })
        .collect();
    let archived_in_window: u64 = in_window.iter().map(|a| a["events"].as_u64().expect("events")).sum();
    let files_busy = in_window.len();

    println!(
        "\nRetention archival of {total} expired events (SQLite, release binary, {CLIENTS} HTTPS clients for the load)"
    );
    println!(
        "archival alone:        {:>9.0} events/s ({files_alone} files, {:.1} s, {:.1} us of server CPU per event)",
        archived_alone as f64 / took_alone.as_secs_f64(),
        took_alone.as_secs_f64(),
        cpu_alone.as_secs_f64() * 1e6 / archived_alone as f64
    );
    println!(
        "archival under load:   {:>9.0} events/s ({files_busy} files recorded in the {:.1} s window)",
        archived_in_window as f64 / window.as_secs_f64(),
        window.as_secs_f64()
    );
    println!("ingest alone:          {ingest_alone:>9.0} events/s ({secs} s, same ledger, same run)");
    println!(
        "ingest during archival:{ingest_during:>9.0} events/s = {:.2} x alone (goal: at least 0.8)",
        ingest_during / ingest_alone
    );
    println!("server peak RSS:       {} MB", peak_rss / 1_000_000);
}
