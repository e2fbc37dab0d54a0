//! Exports (docs/SDK.md §5): start one, wait for it with progress, and
//! download the file, checked against the SHA-256 the export reported.
//! The file itself is verified offline by `auditstore verify`.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;

use crate::{Client, Error};

impl Client {
    /// Starts an export of `ledger`: `request` is the API's body
    /// (`{"format": "jsonl" | "csv" | "parquet"}`, optionally `from_seq`,
    /// `to_seq` and the explorer's filters). Answers the export's status
    /// (`id`, `status`…).
    pub async fn start_export(&self, ledger: &str, request: &Value) -> Result<Value, Error> {
        let path = format!("/ledgers/{}/exports", crate::client::url_escape(ledger));
        self.transport().json(Method::POST, &path, Some(request)).await
    }

    /// The export's status: `status`, `events_total`, `events_written`,
    /// `bytes`, and `sha256` once done.
    pub async fn export_status(&self, ledger: &str, id: &str) -> Result<Value, Error> {
        let path = format!("/ledgers/{}/exports/{}", crate::client::url_escape(ledger), crate::client::url_escape(id));
        self.transport().json(Method::GET, &path, None).await
    }

    /// Polls the export every `poll` until it is done (answering its
    /// status) or failed, calling `progress(events_written, events_total)`
    /// on the way; gives up after `timeout`.
    pub async fn wait_export(
        &self,
        ledger: &str,
        id: &str,
        poll: Duration,
        timeout: Duration,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Value, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.export_status(ledger, id).await?;
            progress(status["events_written"].as_u64().unwrap_or(0), status["events_total"].as_u64().unwrap_or(0));
            match status["status"].as_str() {
                Some("done") => return Ok(status),
                Some("failed") | Some("expired") => {
                    let reason = status["reason"].as_str().unwrap_or("no reason given");
                    return Err(Error::Protocol(format!("export {id} {}: {reason}", status["status"])));
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(Error::Network(format!("export {id} was not done within {timeout:?}")));
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Downloads a done export to `path`, streaming, and checks the file's
    /// SHA-256 against the one the export reported; answers it.
    pub async fn download_export(&self, ledger: &str, id: &str, path: &Path) -> Result<String, Error> {
        let status = self.export_status(ledger, id).await?;
        let expected = status["sha256"]
            .as_str()
            .ok_or_else(|| Error::Protocol(format!("export {id} is not done ({})", status["status"])))?
            .to_owned();
        let route = format!(
            "/ledgers/{}/exports/{}/download",
            crate::client::url_escape(ledger),
            crate::client::url_escape(id)
        );
        let mut response = self.transport().response(&route).await?;
        // Into a temporary file beside `path`, renamed once its digest
        // matched: `path` never holds a file that did not verify.
        let mut partial = path.as_os_str().to_owned();
        partial.push(".part");
        let partial = std::path::PathBuf::from(partial);
        let io = |e: std::io::Error| Error::Store(format!("{}: {e}", path.display()));
        let written = async {
            let mut file = tokio::fs::File::create(&partial).await.map_err(io)?;
            let mut digest = Sha256::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| Error::Network(e.to_string()))? {
                digest.update(&chunk);
                file.write_all(&chunk).await.map_err(io)?;
            }
            file.sync_all().await.map_err(io)?;
            let actual = hex(&digest.finalize());
            if actual != expected {
                return Err(Error::Verification(format!(
                    "the downloaded export has SHA-256 {actual}, the export reported {expected}"
                )));
            }
            Ok(actual)
        }
        .await;
        match written {
            Ok(actual) => {
                tokio::fs::rename(&partial, path).await.map_err(io)?;
                Ok(actual)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(e)
            }
        }
    }
}

/// Checks a file's SHA-256 (lowercase hex) against `expected`.
pub fn verify_file_sha256(path: &Path, expected: &str) -> Result<(), Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::Store(format!("{}: {e}", path.display())))?;
    let actual = hex(&Sha256::digest(&bytes));
    if actual == expected.to_ascii_lowercase() {
        Ok(())
    } else {
        Err(Error::Verification(format!("{} has SHA-256 {actual}, not {expected}", path.display())))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
