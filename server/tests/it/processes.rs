//! Real `auditstore` processes: killed with SIGKILL mid-ingest, and two of
//! them appending to one PostgreSQL ledger at once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit_core::{verify_chain_segment, ChainLink, Checkpoint, Hash, Seq, TreeSize, VerifierKey};
use serde_json::{json, Value};
use store::testing::fresh_postgres_url;

/// A server process on a free loopback port.
pub(crate) struct Process {
    child: Mutex<Child>,
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
}

impl Process {
    pub(crate) async fn start(data_dir: &Path, database_url: Option<&str>) -> Self {
        Self::start_with(data_dir, database_url, &[]).await
    }

    /// [`Process::start`] with more `serve` arguments.
    pub(crate) async fn start_with(data_dir: &Path, database_url: Option<&str>, args: &[&str]) -> Self {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_auditstore"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--log-format", "json"])
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--site-root")
            .arg("/nonexistent-site")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        command.args(args);
        let child = command.spawn().expect("server starts");
        // The process generates its certificate on first start; wait for it.
        let cert = data_dir.join("tls/cert.pem");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            if let Ok(pem) = std::fs::read(&cert) {
                let client = reqwest::Client::builder()
                    .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
                    .resolve("localhost", format!("127.0.0.1:{port}").parse().expect("addr"))
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("client");
                let ready = client.get(format!("https://localhost:{port}/readyz")).send().await;
                if ready.map(|r| r.status().is_success()).unwrap_or(false) {
                    break client;
                }
            }
            assert!(Instant::now() < deadline, "server did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Self { child: Mutex::new(child), base: format!("https://localhost:{port}"), client }
    }

    pub(crate) fn kill_9(&self) {
        // Child::kill sends SIGKILL on Unix: no shutdown, no flush, no goodbye.
        let mut child = self.child.lock().expect("lock");
        child.kill().expect("kill");
        child.wait().expect("reaped");
    }

    /// Requests a JSON Lines export of the whole ledger; returns its location.
    async fn request_export(&self, ledger: &str, read: &str) -> String {
        let accepted: Value = self
            .post(&format!("/v1/ledgers/{ledger}/exports"), read, &json!({"format": "jsonl"}))
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        format!("/v1/ledgers/{ledger}/exports/{}", accepted["id"].as_str().expect("id"))
    }

    fn pid(&self) -> u32 {
        self.child.lock().expect("lock").id()
    }

    pub(crate) async fn post(&self, path: &str, key: &str, body: &Value) -> reqwest::Result<reqwest::Response> {
        self.client.post(format!("{}{path}", self.base)).bearer_auth(key).json(body).send().await
    }

    pub(crate) async fn get_json(&self, path: &str, key: &str) -> Value {
        let response = self.client.get(format!("{}{path}", self.base)).bearer_auth(key).send().await.expect("response");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.expect("json")
    }

    async fn get_text(&self, path: &str, key: &str) -> String {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("response")
            .text()
            .await
            .expect("text")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

pub(crate) fn bootstrap(data_dir: &Path, database_url: Option<&str>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auditstore"));
    command.args(["admin", "bootstrap", "--account", "acme", "--log-format", "json"]).arg("--data-dir").arg(data_dir);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let output = command.output().expect("bootstrap");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out: Value = serde_json::from_slice(&output.stdout).expect("json");
    out["admin_key"].as_str().expect("admin key").to_owned()
}

/// Creates a ledger and write and read keys; returns (ledger, write, read).
pub(crate) async fn setup(process: &Process, admin: &str) -> (String, String, String) {
    let ledger: Value =
        process.post("/v1/ledgers", admin, &json!({"name": "busy"})).await.expect("ledger").json().await.expect("json");
    let ledger = ledger["id"].as_str().expect("id").to_owned();
    let mut secrets = Vec::new();
    for permission in ["write", "read"] {
        let key: Value = process
            .post("/v1/keys", admin, &json!({"name": permission, "permission": permission, "ledgers": [ledger]}))
            .await
            .expect("key")
            .json()
            .await
            .expect("json");
        secrets.push(key["secret"].as_str().expect("secret").to_owned());
    }
    let read = secrets.pop().expect("read");
    let write = secrets.pop().expect("write");
    (ledger, write, read)
}

fn batch(client: usize, round: usize) -> Value {
    let events: Vec<Value> = (0..10)
        .map(|i| {
            json!({
                "id": format!("c{client}-r{round}-{i}"),
                "actor": {"type": "user", "id": format!("u_{client}")},
                "action": "record.created",
                "resource": {"type": "record", "id": format!("r_{round}_{i}")},
                "occurred_at": "2026-11-26T10:00:00Z",
                "metadata": {"client": client, "round": round},
            })
        })
        .collect();
    json!({ "events": events })
}

/// Hammers a ledger from `clients` tasks until `stop`; returns the ids whose
/// request got a 2xx.
async fn hammer(
    processes: Vec<Arc<Process>>,
    ledger: &str,
    key: &str,
    clients: usize,
    for_how_long: Duration,
) -> Arc<Mutex<Vec<String>>> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + for_how_long;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let process = processes[client % processes.len()].clone();
        let acked = acked.clone();
        let path = format!("/v1/ledgers/{ledger}/events");
        let key = key.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut round = 0;
            while Instant::now() < deadline {
                let body = batch(client, round);
                match process.post(&path, &key, &body).await {
                    Ok(response) if response.status().is_success() => {
                        let ids = body["events"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|e| e["id"].as_str().map(str::to_owned));
                        acked.lock().expect("lock").extend(ids);
                    }
                    // The process was killed: stop this client.
                    _ => break,
                }
                round += 1;
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
    acked
}

/// Reads the whole ledger back and checks the chain from genesis, the tree
/// root against the signed checkpoint, and that every acknowledged id is
/// there. Returns the ledger size.
async fn verify_ledger(process: &Process, ledger: &str, read: &str, acked: &[String]) -> u64 {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/ledgers/{ledger}/events?limit=500");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = process.get_json(&path, read).await;
        events.extend(page["events"].as_array().expect("events").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    events.reverse();
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["seq"].as_u64(), Some(i as u64), "no gap, no duplicate seq");
    }
    let hex = |v: &Value| Hash::from_hex(v.as_str().expect("hex")).expect("hash");
    let links: Vec<ChainLink> = events
        .iter()
        .map(|e| ChainLink { leaf_hash: hex(&e["leaf_hash"]), chain_hash: hex(&e["chain_hash"]) })
        .collect();
    let ledger_id = audit_core::LedgerId::new(ledger).expect("ledger id");
    verify_chain_segment(&audit_core::genesis(&ledger_id), Seq(0), &links).expect("one unforked chain");

    let key: VerifierKey = process.get_text("/v1/checkpoint-key", read).await.trim().parse().expect("key");
    let note = process.get_text(&format!("/v1/ledgers/{ledger}/checkpoint"), read).await;
    let checkpoint = Checkpoint::open(&note, &[key]).expect("signed checkpoint");
    assert_eq!(checkpoint.size(), TreeSize(events.len() as u64));
    let leaves: Vec<Hash> = links.iter().map(|l| l.leaf_hash).collect();
    assert_eq!(&audit_core::merkle::root(&leaves), checkpoint.root(), "the tree matches the signed root");

    let stored: HashSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    let missing: Vec<&String> = acked.iter().filter(|id| !stored.contains(id.as_str())).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    events.len() as u64
}

async fn kill_9_loses_nothing_acknowledged(database_url: Option<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data: PathBuf = dir.path().to_owned();
    let admin = bootstrap(&data, database_url.as_deref());
    let first = Arc::new(Process::start(&data, database_url.as_deref()).await);
    let (ledger, write, read) = setup(&first, &admin).await;

    let killer = {
        let first = first.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            first.kill_9();
        })
    };
    // Clients stop at their first failed request, which the kill causes
    // long before the time bound.
    let acked = hammer(vec![first.clone()], &ledger, &write, 8, Duration::from_secs(20)).await;
    killer.await.expect("killer");
    let acked = acked.lock().expect("lock").clone();
    assert!(!acked.is_empty(), "some batches were acknowledged before the kill");

    let restarted = Process::start(&data, database_url.as_deref()).await;
    let size = verify_ledger(&restarted, &ledger, &read, &acked).await;
    eprintln!("SIGKILL test: {} events acknowledged before the kill, {size} stored after restart", acked.len());
    assert!(size >= acked.len() as u64, "an unacknowledged batch may or may not have committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_ingest_loses_no_acknowledged_event_on_sqlite() {
    kill_9_loses_nothing_acknowledged(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_ingest_loses_no_acknowledged_event_on_postgres() {
    kill_9_loses_nothing_acknowledged(Some(fresh_postgres_url().await.expect("test database"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_appending_to_one_postgres_ledger_never_fork_the_chain() {
    let url = fresh_postgres_url().await.expect("test database");
    let dir_a = tempfile::tempdir().expect("tempdir");
    let dir_b = tempfile::tempdir().expect("tempdir");
    let admin = bootstrap(dir_a.path(), Some(&url));
    // Both processes hold the same KEK, as a deployment does (with the local
    // provider; with KMS they share the KMS key), so both unwrap the signing
    // key and the ledger keys stored in the database.
    std::fs::create_dir_all(dir_b.path().join("keys")).expect("keys dir");
    std::fs::copy(dir_a.path().join("keys/kek.key"), dir_b.path().join("keys/kek.key")).expect("copy key");
    let a = Arc::new(Process::start(dir_a.path(), Some(&url)).await);
    let b = Arc::new(Process::start(dir_b.path(), Some(&url)).await);
    let (ledger, write, read) = setup(&a, &admin).await;

    let acked = hammer(vec![a.clone(), b.clone()], &ledger, &write, 8, Duration::from_secs(3)).await;
    let acked = acked.lock().expect("lock").clone();
    let size = verify_ledger(&b, &ledger, &read, &acked).await;
    eprintln!("two processes appended {size} events to one ledger");
    assert_eq!(size, acked.len() as u64, "every event exactly once");
}

/// An export job killed mid-file: after the restart the export is not done
/// (its download refused) until the job has written it again from the
/// beginning, and then the file verifies.
#[tokio::test]
async fn an_export_killed_mid_file_is_never_served_as_done_and_is_written_again_after_the_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = bootstrap(dir.path(), None);
    let first = Process::start(dir.path(), None).await;
    let (ledger, write, read) = setup(&first, &admin).await;
    // Enough rows that the job is caught mid-file: 40 windows.
    for round in 0..40 {
        let events: Vec<Value> = (0..1000)
            .map(|i| {
                json!({"id": format!("r{round}-{i}"), "actor": {"type": "user", "id": format!("u_{}", i % 10)},
                       "action": "record.created", "resource": {"type": "record", "id": format!("r_{round}_{i}")},
                       "occurred_at": "2026-11-26T10:00:00Z", "metadata": {"round": round}})
            })
            .collect();
        let response = first.post(&format!("/v1/ledgers/{ledger}/events"), &write, &json!({"events": events})).await;
        assert_eq!(response.expect("append").status(), 201);
    }
    let location = first.request_export(&ledger, &read).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = first.get_json(&location, &read).await;
        assert_ne!(status["status"], "done", "the export finished before it could be interrupted");
        if status["status"] == "running" && status["events_scanned"].as_u64() > Some(0) {
            break;
        }
        assert!(Instant::now() < deadline, "the export did not start: {status}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill_9();

    let second = Process::start(dir.path(), None).await;
    let status = second.get_json(&location, &read).await;
    assert!(matches!(status["status"].as_str(), Some("running" | "pending")), "not done after the kill: {status}");
    let refused =
        second.client.get(format!("{}{location}/download", second.base)).bearer_auth(&read).send().await.expect("get");
    assert_eq!(refused.status(), 409, "a half-written file is never served");
    let done = loop {
        let status = second.get_json(&location, &read).await;
        if status["status"] == "done" {
            break status;
        }
        assert_ne!(status["status"], "failed", "{status}");
        assert!(Instant::now() < deadline + Duration::from_secs(60), "the export did not finish: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["events_written"], 40_000);
    let bytes = second
        .client
        .get(format!("{}{location}/download", second.base))
        .bearer_auth(&read)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("body");
    let file = dir.path().join("export.zip");
    std::fs::write(&file, &bytes).expect("write");
    let key = second.get_text("/v1/checkpoint-key", &read).await;
    let (code, out) = crate::common::auditstore_verify(&[file.to_str().expect("path"), "--key", key.trim()]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("40000 rows"), "{out}");
}

/// A field of `/proc/PID/status` in MiB (`VmRSS`, `VmHWM`); `None` once the process is gone.
fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 =
        status.lines().find_map(|l| l.strip_prefix(field))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024.0)
}

/// An export of far more event bytes than the bound below, written by a fresh server process
/// and verified by `auditstore verify`: neither process's peak memory grows with the export.
/// The events are large (48 KiB), as windows of rows counted alone would hold tens of MiB.
/// On PostgreSQL, whose page cache lives in its own processes, the server's peak shows the
/// export's own memory; on SQLite the pool's page caches (up to 8 × 16 MiB) fill in the
/// server's process whatever the export, and would hide it.
#[tokio::test]
async fn an_export_of_large_events_is_written_and_verified_in_memory_that_does_not_grow_with_it() {
    const EVENTS: usize = 1_950;
    const BATCH: usize = 75;
    // What the server's peak may grow by writing the export (measured: about 38 MiB; with
    // windows of 1,000 rows whatever their size it grew by more than the rows, 75 MiB for 57),
    // and the verifier's whole peak (the debug binary alone peaks at about 41 MiB verifying
    // the 15 events of docs/vectors, and at as much verifying these).
    const SERVER_BOUND_MIB: f64 = 56.0;
    const VERIFY_BOUND_MIB: f64 = 64.0;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_postgres_url().await.expect("test database");
    let admin = bootstrap(dir.path(), Some(&url));
    let (ledger, read) = {
        let first = Process::start(dir.path(), Some(&url)).await;
        let (ledger, write, read) = setup(&first, &admin).await;
        for round in 0..EVENTS / BATCH {
            let events: Vec<Value> = (0..BATCH)
                .map(|i| {
                    let n = round * BATCH + i;
                    let blob: String =
                        (0..3_072u64).map(|k| format!("{:016x}", ((n as u64 + 1) * 0x9e37_79b9) ^ k)).collect();
                    json!({"id": format!("big-{n}"), "actor": {"type": "user", "id": format!("u_{}", n % 7)},
                           "action": "document.stored", "resource": {"type": "document", "id": format!("d_{n}")},
                           "occurred_at": "2026-12-02T10:00:00Z", "metadata": {"n": n, "blob": blob}})
                })
                .collect();
            let response =
                first.post(&format!("/v1/ledgers/{ledger}/events"), &write, &json!({"events": events})).await;
            assert_eq!(response.expect("append").status(), 201);
        }
        (ledger, read)
    };
    // A fresh process, so that memory the ingest left with the allocator cannot hide the
    // export's.
    let server = Process::start(dir.path(), Some(&url)).await;
    let pid = server.pid();
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the peak");
    let before = status_mib(pid, "VmRSS:").expect("rss");
    let location = server.request_export(&ledger, &read).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let status = server.get_json(&location, &read).await;
        if status["status"] == "done" {
            break;
        }
        assert_ne!(status["status"], "failed", "{status}");
        assert!(Instant::now() < deadline, "the export did not finish: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let grown = status_mib(pid, "VmHWM:").expect("peak") - before;

    // The download streams to a file.
    let file = dir.path().join("large.zip");
    let mut response = server
        .client
        .get(format!("{}{location}/download", server.base))
        .bearer_auth(&read)
        .send()
        .await
        .expect("download");
    assert_eq!(response.status(), 200);
    let mut out = std::fs::File::create(&file).expect("file");
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        std::io::Write::write_all(&mut out, &chunk).expect("write");
    }
    drop(out);
    let rows_mib = {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&file).expect("open")).expect("zip");
        let bytes = zip.by_name("events.jsonl").expect("rows").size();
        bytes as f64 / (1024.0 * 1024.0)
    };
    eprintln!("rows {rows_mib:.0} MiB; the server's peak grew {grown:.1} MiB writing them");
    assert!(rows_mib > 1.5 * SERVER_BOUND_MIB, "only {rows_mib:.0} MiB of rows");
    assert!(
        grown < SERVER_BOUND_MIB,
        "writing {rows_mib:.0} MiB of rows grew the server's peak memory by {grown:.0} MiB (bound {SERVER_BOUND_MIB} MiB)"
    );

    // The verifier's peak, read while it runs (VmHWM only grows; the last reading before it
    // exits is its peak).
    let key = server.get_text("/v1/checkpoint-key", &read).await;
    let mut verify = tokio::process::Command::new(env!("CARGO_BIN_EXE_auditstore"))
        .arg("verify")
        .arg(&file)
        .args(["--key", key.trim()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("verify runs");
    let verify_pid = verify.id().expect("pid");
    let mut peak = 0.0f64;
    let status = loop {
        if let Some(hwm) = status_mib(verify_pid, "VmHWM:") {
            peak = peak.max(hwm);
        }
        if let Some(status) = verify.try_wait().expect("wait") {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let mut report = String::new();
    if let Some(mut stdout) = verify.stdout.take() {
        tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut report).await.expect("output");
    }
    eprintln!("verifying them peaked at {peak:.1} MiB");
    assert_eq!(status.code(), Some(0), "{report}");
    assert!(report.contains(&format!("{EVENTS} rows")), "{report}");
    assert!(
        peak > 0.0 && peak < VERIFY_BOUND_MIB,
        "verifying {rows_mib:.0} MiB of rows peaked at {peak:.0} MiB (bound {VERIFY_BOUND_MIB} MiB)"
    );
}
