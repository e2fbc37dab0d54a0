//! Exports through /v1 on both backends: requested with a read key,
//! written by the background job, followed, listed, downloaded and
//! verified offline by the real `auditstore verify`; filtered exports carry
//! an inclusion proof per event; tampered twins fail; scope rules as reads.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::Digest as _;

use crate::api::{account, servers, Account};
use crate::common::auditstore_verify as verify;

/// Waits until the export at `location` has finished; returns its status.
pub(crate) async fn finished(acct: &Account, location: &str, key: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = acct.get(location, key).await;
        assert_eq!(status, 200, "{body}");
        if !matches!(body["status"].as_str(), Some("pending" | "running")) {
            return body;
        }
        assert!(Instant::now() < deadline, "the export did not finish: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Requests an export; returns its `Location`.
async fn request(acct: &Account, ledger: &str, key: &str, body: Value) -> String {
    let response = acct
        .client
        .post(acct.server.url(&format!("/v1/ledgers/{ledger}/exports")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 202, "{body}");
    let location = response.headers()["location"].to_str().expect("location").to_owned();
    let accepted: Value = response.json().await.expect("json");
    assert!(matches!(accepted["status"].as_str(), Some("pending" | "running")), "{accepted}");
    assert_eq!(location, format!("/v1/ledgers/{ledger}/exports/{}", accepted["id"].as_str().expect("id")));
    location
}

/// Downloads a done export into `path`; returns the response's digest header.
async fn download(acct: &Account, done: &Value, key: &str, path: &Path) -> String {
    let url = done["download"].as_str().expect("a done export has a download link");
    let response = acct.client.get(acct.server.url(url)).bearer_auth(key).send().await.expect("download");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let digest = response.headers()["repr-digest"].to_str().expect("digest").to_owned();
    let bytes = response.bytes().await.expect("body");
    assert_eq!(bytes.len() as u64, done["bytes"].as_u64().expect("bytes"));
    assert_eq!(done["sha256"], hex::encode(sha2::Sha256::digest(&bytes)), "the file is the one recorded");
    std::fs::write(path, &bytes).expect("write");
    digest
}

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

#[tokio::test]
async fn exports_requested_over_the_api_download_and_verify_offline_in_every_form() {
    for server in servers().await {
        let acct = account(server).await;
        let ledger = acct.ledger("exports").await;
        let writer = acct.key("write", None).await;
        let reader = acct.key("read", Some(vec![&ledger])).await;
        acct.append_invoices(&ledger, &writer, 0..1234, 500).await;
        let key = acct.checkpoint_key().await;
        let dir = tempfile::tempdir().expect("dir");

        // The whole ledger in JSON Lines.
        let location = request(&acct, &ledger, &reader, json!({"format": "jsonl"})).await;
        let done = finished(&acct, &location, &reader).await;
        assert_eq!(done["status"], "done", "{done}");
        assert_eq!(
            (done["events_total"].as_u64(), done["events_written"].as_u64(), done["to_seq"].as_u64()),
            (Some(1234), Some(1234), Some(1233))
        );
        assert_eq!(done["proofs_written"].as_u64(), Some(0), "one range proof, no inclusion proofs: {done}");
        assert_eq!(done["requested_by"]["type"], "api_key");
        assert!(done["expires_at"].is_string() && done["filter"].is_null(), "{done}");
        let full = dir.path().join("full.zip");
        let digest = download(&acct, &done, &reader, &full).await;
        let sha = hex::decode(done["sha256"].as_str().expect("sha")).expect("hex");
        use base64::Engine as _;
        assert_eq!(digest, format!("sha-256=:{}:", base64::engine::general_purpose::STANDARD.encode(sha)));
        let (code, out) = verify(&[s(&full), "--key", &key]).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("1234 rows") && out.contains("range proof"), "{out}");

        // A CSV range.
        let location = request(&acct, &ledger, &reader, json!({"format": "csv", "from_seq": 100, "to_seq": 899})).await;
        let done = finished(&acct, &location, &reader).await;
        let csv = dir.path().join("part.csv.zip");
        download(&acct, &done, &reader, &csv).await;
        let (code, out) = verify(&[s(&csv), "--key", &key]).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("800 rows"), "{out}");

        // Parquet, for data tools, and its twin: one row's content changed, rewritten as valid
        // Parquet with every digest fixed up, so only the leaf hash can catch it.
        let location = request(&acct, &ledger, &reader, json!({"format": "parquet"})).await;
        let done = finished(&acct, &location, &reader).await;
        assert_eq!(done["status"], "done", "{done}");
        let parquet = dir.path().join("full.parquet.zip");
        download(&acct, &done, &reader, &parquet).await;
        let (code, out) = verify(&[s(&parquet), "--key", &key]).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("1234 rows") && out.contains("range proof"), "{out}");
        let spilled = dir.path().join("rows.parquet");
        let altered = crate::exports::edited(&parquet, "events.parquet", |bytes| {
            std::fs::write(&spilled, bytes).expect("write");
            let rows =
                audit_core::export::parquet_export_rows(std::fs::File::open(&spilled).expect("open")).expect("parquet");
            let mut writer = audit_core::export::ParquetRowsWriter::new().expect("writer");
            let mut out = Vec::new();
            for row in rows {
                let mut row = row.expect("row");
                if row.seq == 5 {
                    let mut event = serde_json::to_value(row.event.as_ref().expect("content")).expect("json");
                    event["actor"]["id"] = json!("someone.else@example.com");
                    row.event = Some(serde_json::from_value(event).expect("event"));
                }
                writer.push(&row).expect("push");
                out.extend(writer.take_bytes());
            }
            out.extend(writer.finish().expect("finish"));
            out
        });
        let twin = dir.path().join("twin.zip");
        crate::exports::write_zip(&twin, altered, true);
        let (code, out) = verify(&[s(&twin), "--key", &key]).await;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("FAILED: seqs 5..6"), "{out}");

        // The explorer's filter: every event of one actor, each with its inclusion proof.
        let location = request(&acct, &ledger, &reader, json!({"format": "jsonl", "actor_id": "u3@example.com"})).await;
        let done = finished(&acct, &location, &reader).await;
        assert_eq!((done["events_total"].as_u64(), done["events_written"].as_u64()), (Some(1234), Some(176)));
        assert_eq!(done["proofs_written"].as_u64(), Some(176), "one inclusion proof per event: {done}");
        assert_eq!(done["filter"], json!({"actor_id": "u3@example.com"}));
        let filtered = dir.path().join("filtered.zip");
        download(&acct, &done, &reader, &filtered).await;
        let (code, out) = verify(&[s(&filtered), "--key", &key]).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("176 rows") && out.contains("inclusion"), "{out}");
        // Its tampered twins: an altered row, and an inclusion proof moved to another event.
        let altered = crate::exports::edited(&filtered, "events.jsonl", |b| {
            String::from_utf8(b).expect("utf-8").replacen("\"inv_10\"", "\"inv_11\"", 1).into_bytes()
        });
        crate::exports::write_zip(&twin, altered, true);
        let (code, out) = verify(&[s(&twin), "--key", &key]).await;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("FAILED: seqs 10..11"), "{out}");
        let moved =
            crate::exports::edited(&filtered, "inclusion.jsonl", |b| crate::exports::lines(b, |l| l.swap(0, 1)));
        crate::exports::write_zip(&twin, moved, true);
        let (code, out) = verify(&[s(&twin), "--key", &key]).await;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("FAILED: seqs 3..4"), "{out}");

        // A time filter that matches nothing is an empty, verified export.
        let location = request(&acct, &ledger, &reader, json!({"format": "csv", "from": "2030-01-01T00:00:00Z"})).await;
        let done = finished(&acct, &location, &reader).await;
        assert_eq!((done["status"].as_str(), done["events_written"].as_u64()), (Some("done"), Some(0)), "{done}");
        let empty = dir.path().join("empty.zip");
        download(&acct, &done, &reader, &empty).await;
        let (code, out) = verify(&[s(&empty), "--key", &key]).await;
        assert_eq!(code, 0, "{out}");

        // Listed newest first.
        let (status, listed) = acct.get(&format!("/v1/ledgers/{ledger}/exports"), &reader).await;
        assert_eq!(status, 200);
        let formats: Vec<&str> =
            listed["exports"].as_array().expect("exports").iter().filter_map(|e| e["format"].as_str()).collect();
        assert_eq!(formats, ["csv", "jsonl", "parquet", "csv", "jsonl"]);

        // Started, completed and downloaded are in the system ledger, with the digest.
        let system = acct.system_ledger().await;
        let audit = acct.key("read", None).await;
        for action in ["export.started", "export.completed", "export.downloaded"] {
            let (_, found) = acct.get(&format!("/v1/ledgers/{system}/events?action={action}&limit=10"), &audit).await;
            assert_eq!(found["events"].as_array().map(Vec::len), Some(5), "{action}: {found}");
        }
        let (_, found) =
            acct.get(&format!("/v1/ledgers/{system}/events?action=export.completed&limit=10"), &audit).await;
        let sha256s: Vec<&str> = found["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|e| e["metadata"]["sha256"].as_str())
            .collect();
        assert!(sha256s.contains(&done["sha256"].as_str().expect("sha")), "{found}");
    }
}

#[tokio::test]
async fn exports_follow_the_read_rules_and_bad_requests_change_nothing() {
    for server in servers().await {
        let acct = account(server).await;
        let a = acct.ledger("a").await;
        let b = acct.ledger("b").await;
        let writer = acct.key("write", None).await;
        let reader_a = acct.key("read", Some(vec![&a])).await;
        let reader_b = acct.key("read", Some(vec![&b])).await;
        acct.append_invoices(&a, &writer, 0..20, 20).await;
        acct.append_invoices(&b, &writer, 0..20, 20).await;
        let location = request(&acct, &a, &reader_a, json!({"format": "jsonl"})).await;
        let done = finished(&acct, &location, &reader_a).await;
        let id = done["id"].as_str().expect("id");

        // Another ledger's key sees nothing of it, not even that it exists.
        for (path, key) in [
            (location.clone(), &reader_b),
            (format!("/v1/ledgers/{b}/exports/{id}"), &reader_b),
            (format!("/v1/ledgers/{b}/exports/{id}"), &reader_a),
            (format!("{location}/download"), &reader_b),
            (format!("/v1/ledgers/{a}/exports"), &reader_b),
        ] {
            let (status, body) = acct.get(&path, key).await;
            assert_eq!(status, 404, "{path}: {body}");
        }
        // Writing and administering keys do not read.
        for key in [&writer, &acct.admin] {
            let (status, _) = acct.get(&location, key).await;
            assert_eq!(status, 403);
            let (status, _) = acct.post(&format!("/v1/ledgers/{a}/exports"), key, json!({"format": "jsonl"})).await;
            assert_eq!(status, 403);
        }

        // Bad requests name the field and record nothing.
        for (body, field) in [
            (json!({"format": "xml"}), "format"),
            (json!({}), "format"),
            (json!({"format": "jsonl", "to_seq": 20}), "to_seq"),
            (json!({"format": "jsonl", "from_seq": 9, "to_seq": 3}), "from_seq"),
            (json!({"format": "jsonl", "from": "noon"}), "from"),
            (json!({"format": "jsonl", "from": "2026-12-03T00:00:00Z", "to": "2026-12-02T00:00:00Z"}), "to"),
            (json!({"format": "jsonl", "colour": "red"}), "colour"),
        ] {
            let (status, problem) = acct.post(&format!("/v1/ledgers/{a}/exports"), &reader_a, body.clone()).await;
            assert_eq!(status, 400, "{body}: {problem}");
            assert!(problem.to_string().contains(field), "{body} should name {field}: {problem}");
        }
        let (_, listed) = acct.get(&format!("/v1/ledgers/{a}/exports"), &reader_a).await;
        assert_eq!(listed["exports"].as_array().map(Vec::len), Some(1), "{listed}");
        let (status, _) = acct.get(&format!("/v1/ledgers/{a}/exports/exp_nonexistent"), &reader_a).await;
        assert_eq!(status, 404);
    }
}
