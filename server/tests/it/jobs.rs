//! Background jobs run on one node at a time: two real server processes
//! on one PostgreSQL database, each job's lease on one of them, and the
//! jobs move to the other when that one is killed.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use store::testing::fresh_postgres_url;

const JOBS: [&str; 9] = [
    "key-rotation",
    "session-sweep",
    "outbox-drain",
    "exports",
    "ledger-deletions",
    "retention",
    "monitor",
    "integrity-watch",
    "webhooks",
];

/// A server process whose log (JSON lines on stderr) goes to a file.
struct Node {
    child: Child,
    log: std::path::PathBuf,
}

impl Node {
    fn start(dir: &Path, name: &str, database_url: &str) -> Self {
        let data = dir.join(name);
        std::fs::create_dir_all(&data).expect("data dir");
        let log = dir.join(format!("{name}.log"));
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let child = Command::new(env!("CARGO_BIN_EXE_auditstore"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--log-format", "json"])
            .arg("--data-dir")
            .arg(&data)
            .args(["--site-root", "/nonexistent-site", "--database-url", database_url])
            // Both nodes share the database's wrapped keys, so they need
            // the same KEK.
            .env("AUDITSTORE_KEK", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("server starts");
        Self { child, log }
    }

    /// The jobs this node has taken the lease of, by its log.
    fn leased(&self) -> Vec<String> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|entry| entry["message"] == "this node runs the job (its lease is taken)")
            .filter_map(|entry| entry["job"].as_str().map(str::to_owned))
            .collect()
    }

    fn kill_9(&mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `check` holds, for at most `limit`.
async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check()
}

#[tokio::test]
async fn each_job_runs_on_one_node_and_moves_when_that_node_dies() {
    let url = fresh_postgres_url().await.expect("test database");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = Node::start(dir.path(), "a", &url);
    assert!(
        eventually(Duration::from_secs(60), || JOBS.iter().all(|job| first.leased().iter().any(|j| j == job))).await,
        "the first node took every job: {:?}",
        first.leased()
    );
    let second = Node::start(dir.path(), "b", &url);
    // The second node is up and retrying (every 5 s) but gets no lease.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(12) {
        assert!(second.leased().is_empty(), "a job ran on both nodes: {:?}", second.leased());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(first.leased().len(), JOBS.len(), "each job was taken once");

    first.kill_9();
    assert!(
        eventually(Duration::from_secs(30), || JOBS.iter().all(|job| second.leased().iter().any(|j| j == job))).await,
        "the jobs moved to the second node: {:?}",
        second.leased()
    );
}
