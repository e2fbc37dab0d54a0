use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::common::TestServer;

fn client_config(server: &TestServer, versions: &[&'static rustls::SupportedProtocolVersion]) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(server.roots())
        .with_no_client_auth();
    Arc::new(config)
}

async fn handshake(
    server: &TestServer,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(server.server.https_addr).await?;
    let connector = TlsConnector::from(client_config(server, versions));
    connector.connect(ServerName::try_from("localhost").expect("name"), tcp).await
}

#[tokio::test]
async fn a_client_offering_tls_1_2_and_1_3_gets_1_3_and_a_response() {
    let server = TestServer::start().await;
    let mut tls = handshake(&server, &[&rustls::version::TLS12, &rustls::version::TLS13]).await.expect("handshake");
    assert_eq!(tls.get_ref().1.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.expect("write");
    let mut response = String::new();
    tls.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#"{"status":"ok"}"#), "{response}");
}

#[tokio::test]
async fn a_client_limited_to_tls_1_2_fails_the_handshake() {
    let server = TestServer::start().await;
    let error = handshake(&server, &[&rustls::version::TLS12]).await.expect_err("TLS 1.2 must be refused");
    let text = error.to_string();
    assert!(
        text.contains("ProtocolVersion") || text.contains("protocol version") || text.contains("HandshakeFailure"),
        "{text}"
    );
}

#[tokio::test]
async fn plaintext_http_on_the_https_port_gets_no_http_answer() {
    let server = TestServer::start().await;
    let mut tcp = TcpStream::connect(server.server.https_addr).await.expect("connect");
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.contains("HTTP/1.1 200"), "plaintext reached a handler: {text}");
    assert!(!text.contains("status"), "plaintext reached a handler: {text}");
}

#[tokio::test]
async fn the_plaintext_listener_refuses_every_request_without_reaching_a_handler() {
    let server = TestServer::start().await;
    let base = format!("http://{}", server.server.plaintext_addr.expect("plaintext listener"));
    let client = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::GET, "/healthz"),
        (reqwest::Method::GET, "/"),
        (reqwest::Method::POST, "/v1/ledgers/l/events"),
        (reqwest::Method::DELETE, "/anything"),
    ] {
        let response = client
            .request(method.clone(), format!("{base}{path}"))
            .header("authorization", "Bearer leaked")
            .send()
            .await
            .expect("plaintext answer");
        assert_eq!(response.status(), 426, "{method} {path}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["title"], "HTTPS required");
        assert!(body["detail"].as_str().expect("detail").contains(&server.server.https_addr.port().to_string()));
        assert!(body.get("status").and_then(|s| s.as_u64()) == Some(426));
    }
}

#[tokio::test]
async fn an_operator_certificate_is_used_when_configured() {
    // Generate a certificate into one server's data dir, then hand it to a
    // second server as operator files: it must present the same one.
    let first = TestServer::start().await;
    let cert = first.cert_path();
    let key = first.data_dir.path().join("tls/key.pem");
    let second = TestServer::start_with(|args| {
        args.tls_cert = Some(cert.clone());
        args.tls_key = Some(key.clone());
    })
    .await;
    assert_eq!(first.server.fingerprint, second.server.fingerprint);
    assert!(!second.data_dir.path().join("tls").exists(), "no certificate generated when one is configured");
}
