use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use server::config::{Config, ServeArgs};
use server::Server;
use tempfile::TempDir;

/// A server started for one test, with its own data directory.
pub struct TestServer {
    pub server: Server,
    pub data_dir: TempDir,
    /// The data directory in use: `data_dir`, unless the test chose another.
    pub data_path: PathBuf,
    pub database_url: Option<String>,
}

impl TestServer {
    /// Starts a server on ephemeral ports (HTTPS and plaintext) over SQLite
    /// in a fresh data directory.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServeArgs)) -> Self {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut args = ServeArgs {
            data_dir: Some(data_dir.path().to_owned()),
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            plaintext_listen: Some("127.0.0.1:0".parse().expect("addr")),
            site_root: Some(PathBuf::from("/nonexistent-site")),
            ..ServeArgs::default()
        };
        adjust(&mut args);
        let database_url = args.database_url.clone();
        let data_path = args.data_dir.clone().unwrap_or_else(|| data_dir.path().to_owned());
        let config = Config::resolve(args).expect("config");
        let server = server::start(config).await.expect("server starts");
        Self { server, data_dir, data_path, database_url }
    }

    /// Runs `auditstore admin bootstrap` (the real binary) against this
    /// server's database and returns its JSON output.
    pub async fn bootstrap(&self, account: &str) -> serde_json::Value {
        self.bootstrap_with(&["--account", account]).await
    }

    /// `auditstore admin bootstrap` with more arguments (for example the
    /// key provider's). The child is awaited, not waited for: the
    /// in-process server shares the test's runtime, and a background task
    /// of it (the indexer, a session write) may hold SQLite's write lock
    /// between two statements; blocking the runtime would keep that lock
    /// from ever being released while the child waits for it.
    pub async fn bootstrap_with(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["bootstrap"];
        all.extend_from_slice(args);
        match self.admin(&all).await {
            Ok(out) => out,
            Err(stderr) => panic!("bootstrap failed: {stderr}"),
        }
    }

    /// `auditstore admin ARGS` against this server's database: its JSON
    /// output, or its stderr when it fails.
    pub async fn admin(&self, args: &[&str]) -> Result<serde_json::Value, String> {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_auditstore"));
        command.arg("admin").args(args).args(["--log-format", "json"]);
        command.arg("--data-dir").arg(&self.data_path);
        if let Some(url) = &self.database_url {
            command.args(["--database-url", url]);
        }
        let output = command.output().await.expect("the admin command runs");
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        Ok(serde_json::from_slice(&output.stdout).expect("one JSON object on stdout"))
    }

    pub fn cert_path(&self) -> PathBuf {
        self.data_path.join("tls/cert.pem")
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.server.https_addr.port())
    }

    /// An HTTPS client that trusts only this server's self-signed certificate.
    pub fn client(&self) -> reqwest::Client {
        let pem = std::fs::read(self.cert_path()).expect("certificate");
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
            .resolve("localhost", self.server.https_addr)
            .build()
            .expect("client")
    }

    /// Trust anchors for a raw rustls client.
    pub fn roots(&self) -> Arc<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(self.cert_path()).expect("pem") {
            roots.add(cert.expect("certificate")).expect("trust anchor");
        }
        Arc::new(roots)
    }
}

/// Runs `auditstore verify ARGS` (the real binary, offline); returns its
/// exit status and standard output.
pub async fn auditstore_verify(args: &[&str]) -> (i32, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_auditstore"))
        .arg("verify")
        .args(args)
        .output()
        .await
        .expect("verify runs");
    (output.status.code().expect("an exit status"), String::from_utf8_lossy(&output.stdout).into_owned())
}
