//! The tower layer on an axum app against a live AuditStore: one event per
//! request with the handler's action and resource, the request context in
//! metadata, excluded routes left out, and requests served while
//! AuditStore is unreachable.

mod support;

use std::time::Duration;

use auditstore_client::{AuditHandle, AuditLayer, Client, Config, EventFilter};
use axum::routing::{get, post};
use axum::Extension;

fn app(client: Client) -> axum::Router {
    axum::Router::new()
        .route(
            "/invoices/{id}",
            post(|Extension(audit): Extension<AuditHandle>, axum::extract::Path(id): axum::extract::Path<String>| async move {
                audit.set("invoice.updated", "invoice", &id);
                "updated"
            }),
        )
        .route("/reports", get(|| async { "report" }))
        .route("/healthz", get(|| async { "ok" }))
        // As a route layer, so axum's `MatchedPath` names the route.
        .route_layer(
            AuditLayer::new(client, |parts| {
                parts.headers.get("x-user").and_then(|v| v.to_str().ok()).map(|u| ("user".to_owned(), u.to_owned()))
            })
            .exclude(&["/healthz"])
            .client_ip(|_| Some("203.0.113.9".to_owned()))
            .route(|parts| parts.extensions.get::<axum::extract::MatchedPath>().map(|m| m.as_str().to_owned())),
        )
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serves") });
    base
}

#[tokio::test]
async fn one_event_per_request_with_the_handlers_action_and_the_request_context() {
    let live = support::Live::start().await;
    let client = Client::new(live.config(&live.writer)).expect("client");
    let base = serve(app(client.clone())).await;
    let http = reqwest::Client::new();
    let answer = http.post(format!("{base}/invoices/inv_7")).header("x-user", "jane").header("x-request-id", "req-1");
    assert_eq!(answer.send().await.expect("answer").text().await.expect("text"), "updated");
    http.get(format!("{base}/reports")).header("user-agent", "tests/1").send().await.expect("answer");
    http.get(format!("{base}/healthz")).send().await.expect("answer");
    let report = client.flush(Duration::from_secs(30)).await.expect("flushed");
    assert_eq!(report.delivered, 2, "{report:?}");

    let reader = Client::new(live.config(&live.reader)).expect("client");
    let page = reader.list_events(&live.ledger, &EventFilter::default()).await.expect("page");
    assert_eq!(page.events.len(), 2, "the excluded route is not recorded");
    let update = page.events.iter().find(|e| e.json["action"] == "invoice.updated").expect("the handler's action");
    assert_eq!(update.json["actor"]["id"], "jane");
    assert_eq!(update.json["resource"]["id"], "inv_7");
    let metadata = &update.json["metadata"];
    assert_eq!((metadata["request_id"].as_str(), metadata["status"].as_u64()), (Some("req-1"), Some(200)));
    assert_eq!(metadata["client_ip"], "203.0.113.9");
    assert_eq!(metadata["route"], "/invoices/{id}", "the route's pattern, not the path");
    let read = page.events.iter().find(|e| e.json["action"] == "http.get").expect("the default action");
    assert_eq!(read.json["actor"]["type"], "anonymous");
    assert_eq!(read.json["resource"], serde_json::json!({"type": "route", "id": "/reports"}));
    assert_eq!(read.json["metadata"]["user_agent"], "tests/1");
}

#[tokio::test]
async fn requests_are_served_while_auditstore_is_unreachable() {
    let unreachable = Config::new("https://127.0.0.1:9", "auds_k_s").ledger("ldg_1").max_retries(0);
    let client = Client::new(unreachable).expect("client");
    let base = serve(app(client.clone())).await;
    let started = std::time::Instant::now();
    for _ in 0..20 {
        let answer = reqwest::get(format!("{base}/reports")).await.expect("served");
        assert_eq!(answer.status(), 200);
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    let report = client.close(Duration::from_secs(10)).await.expect("closed");
    assert_eq!(report.failed, 20, "{report:?}");
}

#[tokio::test]
async fn what_overflows_the_queue_goes_to_on_drop_and_the_requests_are_served() {
    // The sender is stuck retrying its first batch, so the queue fills.
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = dropped.clone();
    let config = Config::new("https://127.0.0.1:9", "auds_k_s")
        .ledger("ldg_1")
        .queue_size(2)
        .batch_size(1)
        .retry_base(Duration::from_secs(5))
        .on_drop(move |_, events| {
            seen.fetch_add(events.len(), std::sync::atomic::Ordering::SeqCst);
        });
    let client = Client::new(config).expect("client");
    let base = serve(app(client.clone())).await;
    for _ in 0..10 {
        assert_eq!(reqwest::get(format!("{base}/reports")).await.expect("served").status(), 200);
    }
    let dropped = dropped.load(std::sync::atomic::Ordering::SeqCst);
    assert!(dropped >= 6, "at most the queue and the batch in flight are kept: {dropped} dropped");
    assert_eq!(client.report().dropped as usize, dropped);
}
