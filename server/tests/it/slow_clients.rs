//! Slow and greedy clients over real TLS: a slowloris client is cut off while others are
//! served, the connection cap refuses the excess until the slow ones are gone, a body that
//! dribbles in is answered 408, and a flood of large appends is held to its account's share and
//! the process's budget of bytes in flight, answered before its bodies are read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::common::TestServer;

async fn connect(server: &TestServer) -> std::io::Result<TlsStream<TcpStream>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(server.roots())
        .with_no_client_auth();
    let tcp = TcpStream::connect(server.server.https_addr).await?;
    let connector = TlsConnector::from(Arc::new(config));
    connector.connect(ServerName::try_from("localhost").expect("name"), tcp).await
}

/// Waits (at most `within`) for the server to close the connection; true if it did.
async fn closed_by_server(tls: &mut TlsStream<TcpStream>, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match tokio::time::timeout(deadline - Instant::now(), tls.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
    false
}

fn quick(args: &mut server::config::ServeArgs) {
    args.header_read_timeout_secs = std::num::NonZeroU64::new(1);
    args.request_body_timeout_secs = std::num::NonZeroU64::new(1);
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_and_others_are_served() {
    let server = TestServer::start_with(quick).await;
    let mut dribblers = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let mut tls = connect(&server).await.expect("handshake");
        dribblers.spawn(async move {
            let started = Instant::now();
            tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n").await.expect("request line");
            // One header line every 300 ms, for up to 30 s: the head never completes.
            for i in 0..100 {
                if tls.write_all(format!("x-slow-{i}: y\r\n").as_bytes()).await.is_err() {
                    break;
                }
                if closed_by_server(&mut tls, Duration::from_millis(300)).await {
                    break;
                }
            }
            started.elapsed()
        });
    }
    // Everyone else is served meanwhile.
    let client = server.client();
    for _ in 0..5 {
        let response = client.get(server.url("/healthz")).send().await.expect("served");
        assert_eq!(response.status(), 200);
    }
    for lasted in dribblers.join_all().await {
        assert!(lasted < Duration::from_secs(15), "a slowloris connection lasted {lasted:?}");
    }
}

#[tokio::test]
async fn the_connection_cap_refuses_the_excess_until_idle_connections_are_closed() {
    let server = TestServer::start_with(|args| {
        quick(args);
        args.max_connections = std::num::NonZeroU32::new(3);
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(connect(&server).await.expect("within the cap"));
    }
    assert!(connect(&server).await.is_err(), "a fourth connection is closed on arrival");
    // Connections that never send a request are closed after the head timeout...
    for tls in &mut idle {
        assert!(closed_by_server(tls, Duration::from_secs(15)).await, "an idle connection stays open");
    }
    // ...which frees their places.
    let response = server.client().get(server.url("/healthz")).send().await.expect("served again");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_body_that_dribbles_in_is_answered_408() {
    let server = TestServer::start_with(quick).await;
    let acct = crate::api::account(server).await;
    let ledger = acct.ledger("slow").await;
    let writer = acct.key("write", Some(vec![&ledger])).await;
    let mut tls = connect(&acct.server).await.expect("handshake");
    let body = json!({"actor": {"type": "user", "id": "u"}, "action": "a.b", "resource": {"type": "r", "id": "1"},
                      "occurred_at": "2026-11-26T10:00:00Z"})
    .to_string();
    let head = format!(
        "POST /v1/ledgers/{ledger}/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {writer}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.expect("head");
    tls.write_all(&body.as_bytes()[..10]).await.expect("a little of the body");
    let mut answer = Vec::new();
    // The server may close without a TLS close_notify after answering; what it sent counts.
    let read = tokio::time::timeout(Duration::from_secs(15), tls.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer to a stalled body");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
}

const MIB: usize = 1024 * 1024;

/// An event padded with trailing whitespace (valid JSON) to exactly `len` bytes.
fn padded_event(len: usize) -> Vec<u8> {
    let mut body = json!({"actor": {"type": "user", "id": "u"}, "action": "a.b", "resource": {"type": "r", "id": "1"},
                          "occurred_at": "2026-11-26T10:00:00Z"})
    .to_string()
    .into_bytes();
    body.resize(len, b' ');
    body
}

/// Sends an append's head declaring `declared` bytes and `sent` bytes of its body, then waits up
/// to `within` for an answer: `None` while the server waits (for the rest of the body, or for
/// the budget to admit it).
async fn start_append(
    server: &TestServer,
    ledger: &str,
    key: &str,
    (declared, sent): (usize, usize),
    within: Duration,
) -> (TlsStream<TcpStream>, Option<String>) {
    let mut tls = connect(server).await.expect("handshake");
    let head = format!(
        "POST /v1/ledgers/{ledger}/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).await.expect("head");
    tls.write_all(&padded_event(declared)[..sent]).await.expect("part of the body");
    tls.flush().await.expect("flush");
    let mut first = [0u8; 4096];
    match tokio::time::timeout(within, tls.read(&mut first)).await {
        Ok(Ok(n)) if n > 0 => {
            let mut answer = first[..n].to_vec();
            let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut answer)).await;
            (tls, Some(String::from_utf8_lossy(&answer).into_owned()))
        }
        _ => (tls, None),
    }
}

fn assert_answer(answer: Option<String>, status: &str, says: &str) {
    let answer = answer.unwrap_or_else(|| panic!("expected {status} before the body was sent, got no answer"));
    assert!(answer.starts_with(&format!("HTTP/1.1 {status}")), "{answer}");
    assert!(answer.contains(says), "{answer}");
    if status == "429" || status == "503" {
        assert!(answer.to_ascii_lowercase().contains("retry-after: 1"), "{answer}");
    }
}

#[tokio::test]
async fn a_flood_of_appends_is_held_to_its_accounts_share_and_the_process_budget_before_bodies_are_read() {
    let server = TestServer::start_with(|args| {
        args.append_budget_mib = std::num::NonZeroU64::new(3);
        args.account_append_budget_mib = std::num::NonZeroU64::new(2);
    })
    .await;
    let other_admin = server.bootstrap("other").await["admin_key"].as_str().expect("admin key").to_owned();
    let acct = crate::api::account(server).await;
    let ledger = acct.ledger("flood").await;
    let writer = acct.key("write", None).await;
    let reader = acct.key("read", None).await;
    let (status, body) = acct.post("/v1/ledgers", &other_admin, json!({"name": "other"})).await;
    assert_eq!(status, 201, "{body}");
    let other_ledger = body["id"].as_str().expect("id").to_owned();
    let (status, body) = acct.post("/v1/keys", &other_admin, json!({"name": "w", "permission": "write"})).await;
    assert_eq!(status, 201, "{body}");
    let other_writer = body["secret"].as_str().expect("secret").to_owned();
    let server = &acct.server;

    let quick = Duration::from_millis(700);
    // Refusals from the head alone, at once: a key that may not write, a body beyond the limit.
    let (_, answer) = start_append(server, &ledger, &reader, (4 * MIB, 0), quick).await;
    assert_answer(answer, "403", "appending events needs a write key");
    let (_, answer) = start_append(server, &ledger, &writer, (4 * MIB + 1, 0), quick).await;
    assert_answer(answer, "413", "4 MiB");

    // The account's share (2 MiB) admits two bodies of 1 MiB in flight; the third waits for its
    // share a while (5 s) and is then refused, its body unread.
    let half = (MIB, MIB / 2);
    let (mut first, answer) = start_append(server, &ledger, &writer, half, quick).await;
    assert!(answer.is_none(), "admitted: {answer:?}");
    let (_second, answer) = start_append(server, &ledger, &writer, half, quick).await;
    assert!(answer.is_none(), "admitted: {answer:?}");
    let (_, answer) = start_append(server, &ledger, &writer, half, Duration::from_secs(10)).await;
    assert_answer(answer, "429", "this account's appends in flight");

    // Another account has its own share, but the process's 3 MiB are then full.
    let (_third, answer) = start_append(server, &other_ledger, &other_writer, half, quick).await;
    assert!(answer.is_none(), "admitted: {answer:?}");
    let (_, answer) = start_append(server, &other_ledger, &other_writer, half, Duration::from_secs(10)).await;
    assert_answer(answer, "503", "this server's memory budget");

    // A waiting append is admitted when an admitted one completes and gives its bytes back.
    let (mut waiting, answer) = start_append(server, &ledger, &writer, half, quick).await;
    assert!(answer.is_none(), "waits: {answer:?}");
    for tls in [&mut first, &mut waiting] {
        tls.write_all(&padded_event(MIB)[MIB / 2..]).await.expect("rest of the body");
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(15), tls.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    }
}
