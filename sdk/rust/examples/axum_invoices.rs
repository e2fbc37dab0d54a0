//! An axum app that records `invoice.updated` for every update, through the
//! AuditStore tower layer. Run with AUDITSTORE_URL, AUDITSTORE_KEY and
//! AUDITSTORE_LEDGER set.
use auditstore_client::{AuditHandle, AuditLayer, Client, Config};
use axum::{extract::Path, routing::post, Extension, Router};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let client =
        Client::new(Config::new(env("AUDITSTORE_URL")?, env("AUDITSTORE_KEY")?).ledger(env("AUDITSTORE_LEDGER")?))?;
    let update = |Extension(audit): Extension<AuditHandle>, Path(id): Path<String>| async move {
        audit.set("invoice.updated", "invoice", &id);
        "updated"
    };
    let app = Router::new().route("/invoices/{id}", post(update)).layer(AuditLayer::new(client.clone(), |req| {
        req.headers.get("x-user").and_then(|v| v.to_str().ok()).map(|u| ("user".to_owned(), u.to_owned()))
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            tokio::signal::ctrl_c().await.ok();
        })
        .await?;
    client.close(std::time::Duration::from_secs(10)).await?;
    Ok(())
}
