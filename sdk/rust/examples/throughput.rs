//! The client's sustained throughput (scripts/bench-sdk.sh): one client
//! records events as fast as its queue takes them, for BENCH_SECS seconds,
//! with background batching, then closes; prints the delivered rate as a
//! JSON line. The events are the load generator's shape (server/benches/
//! sustained.rs: about 330 bytes, 1,000 actors, a client id each).
//! Environment: AUDITSTORE_URL, AUDITSTORE_KEY, AUDITSTORE_LEDGER,
//! AUDITSTORE_CA (the server's certificate), BENCH_SECS.
use std::time::{Duration, Instant};

use auditstore_client::{Client, Config, WhenFull};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let secs: u64 = std::env::var("BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let config = Config::new(env("AUDITSTORE_URL")?, env("AUDITSTORE_KEY")?)
        .ledger(env("AUDITSTORE_LEDGER")?)
        .ca_certificate(std::fs::read(env("AUDITSTORE_CA")?)?)
        .queue_size(20_000)
        .when_full(WhenFull::Block(Duration::from_secs(60)));
    let client = Client::new(config)?;
    let started = Instant::now();
    let mut recorded = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        let n = recorded;
        client
            .record_wait(json!({
                "actor": {"type": "user", "id": format!("user_{}", n % 1000), "name": "Benchmark User"},
                "action": format!("invoice.action_{}", n % 50),
                "resource": {"type": "invoice", "id": format!("inv_{}", (n * 31) % 100_000)},
                "occurred_at": "2026-12-01T10:00:00.123Z",
                "metadata": {"amount": n, "currency": "EUR", "note": "a typical audit event with a little metadata", "ip": "192.0.2.1"},
            }))
            .await?;
        recorded += 1;
    }
    let report = client.close(Duration::from_secs(300)).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let rate = report.delivered as f64 / elapsed;
    println!(
        "{}",
        json!({"client": "rust", "recorded": recorded, "delivered": report.delivered, "failed": report.failed,
               "seconds": elapsed, "events_per_second": rate.round()})
    );
    Ok(())
}
