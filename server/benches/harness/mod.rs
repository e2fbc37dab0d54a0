//! What the server benchmarks share: the release binary started as a
//! process of its own on a fresh data directory, its CPU time and peak RSS
//! read from /proc, and a keep-alive HTTPS client.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// Concurrent clients of a run (and idle connections kept per host).
pub const CLIENTS: usize = 32;

/// The server process's CPU time (user + system) and peak RSS.
pub fn usage(pid: u32) -> (Duration, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the parenthesised command name start at the 3rd of
    // the line; utime and stime are the 14th and 15th, in clock ticks (100
    // per second).
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    let ticks = tick(14 - 3) + tick(15 - 3);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (Duration::from_millis(ticks * 10), peak_kib * 1024)
}

pub fn own_cpu() -> Duration {
    usage(std::process::id()).0
}

pub struct Server {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
    pub admin: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary under test: `BENCH_BINARY`, or the workspace's release build.
fn binary() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("BENCH_BINARY") {
        return path.into();
    }
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    std::path::Path::new(&target).join("release").join("auditstore")
}

/// Starts the binary on a fresh data directory (SQLite there, or
/// `database_url`) with an account and an admin key, and `extra` flags.
pub async fn start(database_url: Option<&str>, extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let database = |command: &mut Command| {
        command.arg("--data-dir").arg(dir.path());
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
    };
    let mut boot = Command::new(binary());
    boot.args(["admin", "bootstrap", "--account", "bench", "--log-format", "json"]);
    database(&mut boot);
    let output = boot.output().expect("the release binary runs (cargo build --release -p server first)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let admin = serde_json::from_slice::<Value>(&output.stdout).expect("json")["admin_key"]
        .as_str()
        .expect("admin key")
        .to_owned();
    let mut serve = Command::new(binary());
    serve.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--site-root", "/nonexistent"]);
    serve.args(["--rate-limit-per-key", "1000000", "--rate-limit-per-ledger", "1000000", "--log-format", "json"]);
    serve.args(extra);
    database(&mut serve);
    let mut child = serve.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("serve");
    let base = format!("https://localhost:{port}");
    for _ in 0..300 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The server's own self-signed certificate, written at its start.
        let Ok(pem) = std::fs::read(dir.path().join("tls/cert.pem")) else { continue };
        let mut builder = reqwest::Client::builder();
        // `BENCH_HTTP1=1`: 32 HTTP/1.1 connections (as wrk sends) instead
        // of one multiplexed HTTP/2 connection.
        if std::env::var("BENCH_HTTP1").is_ok_and(|v| v == "1") {
            builder = builder.http1_only();
        }
        let client = builder
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
            .resolve("localhost", ([127, 0, 0, 1], port).into())
            .pool_max_idle_per_host(CLIENTS)
            .build()
            .expect("client");
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            return Server { child, base, client, admin, _dir: dir };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not start");
}

impl Server {
    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Value {
        let response =
            self.client.post(format!("{}{path}", self.base)).bearer_auth(key).json(&body).send().await.expect("post");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.expect("json")
    }

    pub async fn get(&self, path: &str, key: &str) -> Value {
        let response = self.client.get(format!("{}{path}", self.base)).bearer_auth(key).send().await.expect("get");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.expect("json")
    }

    /// `(tree_size, indexed_size)` summed over these ledgers.
    pub async fn sizes(&self, ledgers: &[String]) -> (u64, u64) {
        let response =
            self.client.get(format!("{}/v1/ledgers", self.base)).bearer_auth(&self.admin).send().await.expect("list");
        let list: Value = response.json().await.expect("json");
        let all = list["ledgers"].as_array().cloned().unwrap_or_default();
        let ours = all.iter().filter(|l| ledgers.iter().any(|id| l["id"] == id.as_str()));
        ours.fold((0, 0), |(tree, indexed), l| {
            (tree + l["tree_size"].as_u64().unwrap_or(0), indexed + l["indexed_size"].as_u64().unwrap_or(0))
        })
    }
}
