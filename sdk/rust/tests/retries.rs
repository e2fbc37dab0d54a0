//! The retry rules of docs/SDK.md §3 against a local stand-in that answers
//! as told: 503 with Retry-After twice then 201 (the same ids three times,
//! the wait honoured), and a 400 that is never retried but reported.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auditstore_client::{Client, Config, Error};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(Instant, Value)>>>);

async fn stand_in(answers: Vec<(u16, Option<&'static str>)>) -> (String, Seen) {
    let seen = Seen::default();
    let answers = Arc::new(Mutex::new(answers.into_iter()));
    let app = axum::Router::new()
        .route(
            "/v1/ledgers/{ledger}/events",
            post(move |State(seen): State<Seen>, axum::Json(body): axum::Json<Value>| {
                let answers = answers.clone();
                async move {
                    seen.0.lock().expect("lock").push((Instant::now(), body.clone()));
                    let next = answers.lock().expect("lock").next();
                    let (status, retry_after) = next.unwrap_or((201, None));
                    let mut response: Response = if status == 201 {
                        let events: Vec<Value> = body["events"]
                            .as_array()
                            .expect("events")
                            .iter()
                            .enumerate()
                            .map(|(i, e)| json!({"id": e["id"], "seq": i, "leaf_hash": "00".repeat(32), "chain_hash": "00".repeat(32)}))
                            .collect();
                        (StatusCode::CREATED, axum::Json(json!({"tree_size": events.len(), "events": events}))).into_response()
                    } else {
                        let problem = json!({"type": "about:blank", "title": "t", "status": status, "detail": "told to", "field": "events[0]"});
                        (StatusCode::from_u16(status).expect("status"), axum::Json(problem)).into_response()
                    };
                    if let Some(wait) = retry_after {
                        response.headers_mut().insert("retry-after", wait.parse().expect("header"));
                    }
                    response
                }
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serves") });
    (base, seen)
}

fn event() -> Value {
    json!({"actor": {"type": "user", "id": "u"}, "action": "a.b", "resource": {"type": "r", "id": "1"}})
}

#[tokio::test]
async fn a_503_with_retry_after_is_retried_with_the_same_ids_after_the_wait() {
    let (base, seen) = stand_in(vec![(503, Some("1")), (503, Some("1"))]).await;
    let client = Client::new(Config::new(&base, "auds_k_s").ledger("ldg_1").retry_base(Duration::from_millis(10)))
        .expect("client");
    let appended = client.append(None, vec![event(), event()]).await.expect("appended on the third attempt");
    assert_eq!(appended.events.len(), 2);
    let seen = seen.0.lock().expect("lock").clone();
    assert_eq!(seen.len(), 3);
    let ids: Vec<Value> =
        seen.iter().map(|(_, body)| json!([body["events"][0]["id"], body["events"][1]["id"]])).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "the same ids on every attempt: {ids:?}");
    assert_ne!(ids[0][0], ids[0][1]);
    for pair in seen.windows(2) {
        assert!(pair[1].0 - pair[0].0 >= Duration::from_millis(950), "Retry-After: 1 honoured");
    }
}

#[tokio::test]
async fn a_400_is_not_retried_and_a_background_batch_is_reported() {
    let (base, seen) = stand_in(vec![(400, None), (400, None)]).await;
    let reported = Arc::new(Mutex::new(Vec::new()));
    let sink = reported.clone();
    let client = Client::new(Config::new(&base, "auds_k_s").ledger("ldg_1").on_error(move |error, events| {
        sink.lock().expect("lock").push((error.to_string(), events.len()));
    }))
    .expect("client");
    let error = client.append(None, vec![event()]).await.expect_err("refused");
    assert!(
        matches!(&error, Error::Problem(p) if p.status == 400 && p.field.as_deref() == Some("events[0]")),
        "{error}"
    );
    assert_eq!(seen.0.lock().expect("lock").len(), 1, "never retried");
    client.record(event()).expect("queued");
    let report = client.close(Duration::from_secs(10)).await.expect("closed");
    assert_eq!((report.delivered, report.failed), (0, 1), "{report:?}");
    assert_eq!(reported.lock().expect("lock").as_slice(), &[("AuditStore answered 400: told to".to_owned(), 1)]);
    assert_eq!(seen.0.lock().expect("lock").len(), 2);
}

#[tokio::test]
async fn a_full_queue_drops_and_reports_or_refuses_as_configured() {
    let (base, _) = stand_in(vec![]).await;
    let dropped = Arc::new(Mutex::new(0));
    let sink = dropped.clone();
    let config = Config::new(&base, "auds_k_s")
        .ledger("ldg_1")
        .queue_size(1)
        .flush_interval(Duration::from_secs(60))
        .when_full(auditstore_client::WhenFull::Drop)
        .on_drop(move |_, events| *sink.lock().expect("lock") += events.len());
    let client = Client::new(config).expect("client");
    for _ in 0..50 {
        client.record(event()).expect("never an error when dropping");
    }
    let report = client.close(Duration::from_secs(10)).await.expect("closed");
    assert!(report.dropped > 0, "{report:?}");
    assert_eq!(*dropped.lock().expect("lock") as u64, report.dropped);
    assert_eq!(report.delivered + report.dropped, 50, "{report:?}");
}
