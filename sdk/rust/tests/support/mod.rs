//! A live AuditStore for the tests: the server binary on a free port with a
//! fresh data directory, an account bootstrapped with the real CLI, a
//! ledger, a write key and a read key.

// Shared by test binaries that each use part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use auditstore_client::Config;
use serde_json::{json, Value};

pub struct Live {
    _server: tokio::process::Child,
    _data: tempfile::TempDir,
    pub base: String,
    pub cert: Vec<u8>,
    pub ledger: String,
    pub writer: String,
    pub reader: String,
    pub verifier_key: String,
}

fn binary() -> PathBuf {
    if let Ok(bin) = std::env::var("AUDITSTORE_BIN") {
        return PathBuf::from(bin);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")));
    let bin = target.join("debug/auditstore");
    assert!(
        bin.exists(),
        "no server binary at {}: build it (cargo build -p server) or set AUDITSTORE_BIN",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    listener.local_addr().expect("addr").port()
}

impl Live {
    pub async fn start() -> Self {
        let data = tempfile::tempdir().expect("data dir");
        let port = free_port();
        let server = tokio::process::Command::new(binary())
            .args(["serve", "--data-dir"])
            .arg(data.path())
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--site-root",
                "/nonexistent-site",
                "--log-format",
                "json",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
        let base = format!("https://localhost:{port}");
        let cert_path = data.path().join("tls/cert.pem");
        let mut cert = Vec::new();
        for _ in 0..200 {
            if let Ok(bytes) = std::fs::read(&cert_path) {
                let http = reqwest::Client::builder()
                    .add_root_certificate(reqwest::Certificate::from_pem(&bytes).expect("pem"))
                    .build()
                    .expect("client");
                if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
                    cert = bytes;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!cert.is_empty(), "the server never became ready");
        let out = tokio::process::Command::new(binary())
            .args(["admin", "bootstrap", "--data-dir"])
            .arg(data.path())
            .args(["--account", "sdk", "--log-format", "json"])
            .output()
            .await
            .expect("bootstrap");
        assert!(out.status.success(), "bootstrap: {}", String::from_utf8_lossy(&out.stderr));
        let boot: Value = serde_json::from_slice(&out.stdout).expect("bootstrap json");
        let admin = boot["admin_key"].as_str().expect("admin key").to_owned();
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&cert).expect("pem"))
            .build()
            .expect("client");
        let post = |path: &str, body: Value| {
            let request = http.post(format!("{base}/v1{path}")).bearer_auth(&admin).json(&body);
            async move {
                let response = request.send().await.expect("answer");
                assert!(response.status().is_success(), "{}", response.status());
                response.json::<Value>().await.expect("json")
            }
        };
        let ledger = post("/ledgers", json!({"name": "sdk"})).await["id"].as_str().expect("id").to_owned();
        let writer = post("/keys", json!({"name": "w", "permission": "write", "ledgers": [ledger]})).await["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let reader = post("/keys", json!({"name": "r", "permission": "read"})).await["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let verifier_key = http
            .get(format!("{base}/v1/checkpoint-key"))
            .send()
            .await
            .expect("key")
            .text()
            .await
            .expect("text")
            .trim()
            .to_owned();
        Self { _server: server, _data: data, base, cert, ledger, writer, reader, verifier_key }
    }

    /// A client configuration for this server with `key`, on its ledger.
    pub fn config(&self, key: &str) -> Config {
        Config::new(&self.base, key).ca_certificate(self.cert.clone()).ledger(&self.ledger)
    }
}
