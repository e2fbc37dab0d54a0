//! Verification throughput (scripts/bench-sdk.sh): appends BENCH_PROOFS
//! events (1,000) of the load generator's shape to a fresh ledger, fetches
//! the signed checkpoint and every event's inclusion proof, writes them as
//! the fixture every SDK's verification bench reads (AUDITSTORE_VERIFY_FIXTURE:
//! `{verifier_key, checkpoint, items: [{event, seq, proof}]}`), then, for
//! BENCH_SECS (5) seconds, verifies inclusion proofs as an application does:
//! the leaf hash computed from the event's content, the proof against the
//! checkpoint's root (its signature checked once, up front). Prints proofs
//! per second as a JSON line. Environment: AUDITSTORE_URL, AUDITSTORE_KEY
//! (a write key), AUDITSTORE_READ_KEY, AUDITSTORE_LEDGER, AUDITSTORE_CA,
//! AUDITSTORE_VERIFIER_KEY, AUDITSTORE_VERIFY_FIXTURE, BENCH_SECS.
use std::time::{Duration, Instant};

use auditstore_client::{verify_inclusion, Client, Config, EventFilter};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let secs: u64 = std::env::var("BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let count: u64 = std::env::var("BENCH_PROOFS").ok().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let ledger = env("AUDITSTORE_LEDGER")?;
    let verifier_key = env("AUDITSTORE_VERIFIER_KEY")?;
    let ca = std::fs::read(env("AUDITSTORE_CA")?)?;
    let writer = Client::new(
        Config::new(env("AUDITSTORE_URL")?, env("AUDITSTORE_KEY")?).ledger(&ledger).ca_certificate(ca.clone()),
    )?;
    let client = Client::new(
        Config::new(env("AUDITSTORE_URL")?, env("AUDITSTORE_READ_KEY")?)
            .ca_certificate(ca)
            .verifier_key(&verifier_key)?,
    )?;
    for start in (0..count).step_by(100) {
        let events = (start..(start + 100).min(count))
            .map(|n| {
                json!({
                    "actor": {"type": "user", "id": format!("user_{}", n % 1000), "name": "Benchmark User"},
                    "action": format!("invoice.action_{}", n % 50),
                    "resource": {"type": "invoice", "id": format!("inv_{n}")},
                    "metadata": {"amount": n, "currency": "EUR", "note": "a typical audit event with a little metadata", "ip": "192.0.2.1"},
                })
            })
            .collect();
        writer.append(None, events).await?;
    }
    let checkpoint = client.checkpoint(&ledger, None).await?;
    let mut items = Vec::new();
    let mut pages = client.pages(&ledger, EventFilter { limit: Some(500), ..EventFilter::default() });
    while let Some(page) = pages.next_page().await? {
        for event in page {
            let proof = client.inclusion_proof(&ledger, event.seq, Some(checkpoint.tree_size)).await?;
            items.push((event, proof));
        }
    }
    let fixture = json!({
        "verifier_key": verifier_key,
        "checkpoint": checkpoint.note,
        "items": items.iter().map(|(e, proof)| json!({
            "event": e.json, "seq": e.seq, "proof": proof.iter().map(|h| h.to_hex()).collect::<Vec<_>>(),
        })).collect::<Vec<Value>>(),
    });
    std::fs::write(env("AUDITSTORE_VERIFY_FIXTURE")?, serde_json::to_vec(&fixture)?)?;

    let started = Instant::now();
    let mut proofs = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        for (event, proof) in &items {
            verify_inclusion(&event.json, event.seq, proof, &checkpoint)?;
            proofs += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"client": "rust", "proofs": proofs, "seconds": elapsed, "proofs_per_second": (proofs as f64 / elapsed).round()})
    );
    Ok(())
}
