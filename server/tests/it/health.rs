use store::testing::{execute_raw, fresh_postgres_url};

use crate::common::TestServer;

#[tokio::test]
async fn healthz_and_readyz_answer_on_sqlite_with_request_ids_and_security_headers() {
    let server = TestServer::start().await;
    let client = server.client();

    let health = client.get(server.url("/healthz")).send().await.expect("healthz");
    assert_eq!(health.status(), 200);
    let id = health.headers().get("x-request-id").expect("request id").to_str().expect("ascii").to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert!(health.headers()["strict-transport-security"].to_str().expect("ascii").contains("max-age="));
    assert_eq!(health.headers()["x-content-type-options"], "nosniff");
    assert_eq!(health.headers()["x-frame-options"], "DENY");
    assert_eq!(health.headers()["referrer-policy"], "same-origin");
    assert_eq!(health.json::<serde_json::Value>().await.expect("json")["status"], "ok");

    let ready =
        client.get(server.url("/readyz")).header("x-request-id", "from-the-client").send().await.expect("readyz");
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.headers()["x-request-id"], "from-the-client", "a caller's request id is kept");
    assert_eq!(ready.json::<serde_json::Value>().await.expect("json")["status"], "ready");
    assert!(server.data_dir.path().join("auditstore.db").exists(), "SQLite file in the data dir");
}

#[tokio::test]
async fn readyz_answers_on_postgres_and_reports_a_lost_database() {
    let url = fresh_postgres_url().await.expect("test database");
    let server = TestServer::start_with(|args| args.database_url = Some(url.clone())).await;
    let client = server.client();
    let ready = client.get(server.url("/readyz")).send().await.expect("readyz");
    assert_eq!(ready.status(), 200);
    assert!(!server.data_dir.path().join("auditstore.db").exists(), "PostgreSQL, not SQLite, was used");

    // Take the schema away behind the server's back: readiness must notice.
    execute_raw(&url, "DROP TABLE instance").await.expect("drop");
    let not_ready = client.get(server.url("/readyz")).send().await.expect("readyz");
    assert_eq!(not_ready.status(), 503);
    assert_eq!(not_ready.json::<serde_json::Value>().await.expect("json")["status"], "unavailable");
}

#[tokio::test]
async fn graceful_shutdown_stops_listening() {
    let server = TestServer::start().await;
    let addr = server.server.https_addr;
    let client = server.client();
    assert_eq!(client.get(server.url("/healthz")).send().await.expect("up").status(), 200);
    let TestServer { server, data_dir: _keep, .. } = server;
    server.shutdown().await.expect("clean shutdown");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "port closed after shutdown");
}
