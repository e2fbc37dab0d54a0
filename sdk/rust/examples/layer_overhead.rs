//! What the tower layer adds to a request (scripts/bench-sdk.sh): the same
//! axum handler served with and without `AuditLayer`, requested one after
//! another over loopback HTTP (BENCH_REQUESTS each, interleaved in rounds
//! so both see the same machine), with events recorded to a live server.
//! Prints p50 and p99 latency of both as a JSON line. Environment as for
//! `throughput`.
use std::time::{Duration, Instant};

use auditstore_client::{AuditHandle, AuditLayer, Client, Config};
use axum::routing::post;
use axum::{Extension, Router};

async fn serve(app: Router) -> Result<String, Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let requests: usize = std::env::var("BENCH_REQUESTS").ok().and_then(|s| s.parse().ok()).unwrap_or(5_000);
    let config = Config::new(env("AUDITSTORE_URL")?, env("AUDITSTORE_KEY")?)
        .ledger(env("AUDITSTORE_LEDGER")?)
        .ca_certificate(std::fs::read(env("AUDITSTORE_CA")?)?);
    let client = Client::new(config)?;
    let plain = Router::new().route("/invoices/{id}", post(|| async { "updated" }));
    let audited = Router::new()
        .route(
            "/invoices/{id}",
            post(|Extension(audit): Extension<AuditHandle>| async move {
                audit.set("invoice.updated", "invoice", "inv_7");
                "updated"
            }),
        )
        .layer(AuditLayer::new(client.clone(), |_| Some(("user".to_owned(), "u_42".to_owned()))));
    let (plain, audited) = (serve(plain).await?, serve(audited).await?);
    let http = reqwest::Client::new();
    let mut times = [Vec::with_capacity(requests), Vec::with_capacity(requests)];
    for round in 0..requests {
        for (i, base) in [&plain, &audited].into_iter().enumerate() {
            let started = Instant::now();
            http.post(format!("{base}/invoices/inv_{round}")).send().await?.bytes().await?;
            times[i].push(started.elapsed());
        }
    }
    let report = client.close(Duration::from_secs(120)).await?;
    for t in &mut times {
        t.sort();
    }
    println!(
        "{}",
        serde_json::json!({
            "middleware": "rust tower layer", "requests": requests, "events_delivered": report.delivered,
            "without_p50_us": percentile(&times[0], 0.5).round(), "with_p50_us": percentile(&times[1], 0.5).round(),
            "without_p99_us": percentile(&times[0], 0.99).round(), "with_p99_us": percentile(&times[1], 0.99).round(),
        })
    );
    Ok(())
}
