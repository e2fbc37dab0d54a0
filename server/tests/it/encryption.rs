//! Encryption at rest through the real server: nothing readable reaches the
//! database, tampering is an integrity error, rotations keep everything
//! readable and searchable, and the aws-kms provider works against a real
//! KMS-compatible endpoint.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::api::{account, servers, Account};
use crate::common::TestServer;

/// Strings that must never appear in the database: one per encrypted field.
const MARKERS: [&str; 7] = [
    "zqactortype7a1",
    "zqactorid.5b2e",
    "Zq Actor Name 9c3",
    "zqaction.4d7f",
    "zqresourcetype8e0",
    "zqresourceid:6f19",
    "zq-metadata-value-3a8c",
];

fn marked_event(id: &str) -> Value {
    json!({
        "id": id,
        "actor": {"type": MARKERS[0], "id": MARKERS[1], "name": MARKERS[2]},
        "action": MARKERS[3],
        "resource": {"type": MARKERS[4], "id": MARKERS[5]},
        "occurred_at": "2026-11-26T12:00:00Z",
        "metadata": {"note": MARKERS[6]},
    })
}

fn plain_event(id: &str, actor: &str) -> Value {
    json!({
        "id": id,
        "actor": {"type": "user", "id": actor},
        "action": "invoice.updated",
        "resource": {"type": "invoice", "id": "inv_1"},
        "occurred_at": "2026-11-26T12:00:00Z",
    })
}

/// Waits until the ledger's filter index covers `size` events.
async fn until_indexed(account: &Account, ledger: &str, size: u64) {
    for _ in 0..200 {
        let (_, body) = account.get("/v1/ledgers", &account.admin).await;
        let indexed = body["ledgers"]
            .as_array()
            .and_then(|ls| ls.iter().find(|l| l["id"] == ledger))
            .and_then(|l| l["indexed_size"].as_u64());
        if indexed >= Some(size) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("ledger {ledger} was not indexed up to {size}");
}

fn files_containing(dir: &Path, needle: &[u8], found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_containing(&path, needle, found);
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path.display().to_string());
            }
        }
    }
}

fn pg_dump(url: &str) -> Vec<u8> {
    let bin = std::env::var("AUDITSTORE_TEST_PG_BIN").expect("AUDITSTORE_TEST_PG_BIN is set by `make test`");
    let output = std::process::Command::new(Path::new(&bin).join("pg_dump"))
        .args(["--no-owner", "--dbname", url])
        .output()
        .expect("pg_dump runs");
    assert!(output.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stdout.len() > 1000, "a real dump");
    output.stdout
}

#[tokio::test]
async fn marker_strings_never_reach_the_database_yet_read_back_intact_and_searchable() {
    for server in servers().await {
        let account = account(server).await;
        let ledger = account.ledger("secrets").await;
        let write = account.key("write", Some(vec![&ledger])).await;
        let read = account.key("read", Some(vec![&ledger])).await;
        let events: Vec<Value> = (0..20).map(|i| marked_event(&format!("evt-{i}"))).collect();
        let (status, body) =
            account.post(&format!("/v1/ledgers/{ledger}/events"), &write, json!({ "events": events })).await;
        assert_eq!(status, 201, "{body}");
        until_indexed(&account, &ledger, 20).await;

        let (status, body) = account.get(&format!("/v1/ledgers/{ledger}/events/evt-3"), &read).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["actor"], json!({"type": MARKERS[0], "id": MARKERS[1], "name": MARKERS[2]}));
        assert_eq!(body["action"], MARKERS[3]);
        assert_eq!(body["resource"], json!({"type": MARKERS[4], "id": MARKERS[5]}));
        assert_eq!(body["metadata"], json!({"note": MARKERS[6]}));
        // Each equality filter finds them through the blind index.
        for (param, value) in [
            ("actor_type", MARKERS[0]),
            ("actor_id", MARKERS[1]),
            ("action", MARKERS[3]),
            ("resource_type", MARKERS[4]),
            ("resource_id", MARKERS[5]),
        ] {
            let (status, body) =
                account.get(&format!("/v1/ledgers/{ledger}/events?{param}={value}&limit=100"), &read).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["events"].as_array().expect("events").len(), 20, "{param}");
            let (_, none) = account.get(&format!("/v1/ledgers/{ledger}/events?{param}=other"), &read).await;
            assert_eq!(none["events"], json!([]), "{param}");
        }

        let Account { server, .. } = account;
        let TestServer { server, data_dir, database_url, .. } = server;
        server.shutdown().await.expect("clean shutdown");
        let mut leaks = Vec::new();
        for marker in MARKERS {
            // Every file the server wrote: database, WAL, keys, certificate.
            files_containing(data_dir.path(), marker.as_bytes(), &mut leaks);
            if let Some(url) = &database_url {
                let dump = pg_dump(url);
                assert!(String::from_utf8_lossy(&dump).contains("evt-3"), "the dump holds the events");
                if dump.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                    leaks.push(format!("pg_dump contains {marker}"));
                }
            }
        }
        assert!(leaks.is_empty(), "plaintext reached storage: {leaks:?}");
    }
}

#[tokio::test]
async fn a_sealed_record_moved_to_another_row_or_ledger_is_an_integrity_error_not_garbage() {
    for server in servers().await {
        let account = account(server).await;
        let a = account.ledger("a").await;
        let b = account.ledger("b").await;
        let write = account.key("write", None).await;
        let read = account.key("read", None).await;
        for ledger in [&a, &b] {
            let events: Vec<Value> = (0..3).map(|i| plain_event(&format!("e{i}"), &format!("u{i}"))).collect();
            let (status, body) =
                account.post(&format!("/v1/ledgers/{ledger}/events"), &write, json!({ "events": events })).await;
            assert_eq!(status, 201, "{body}");
        }
        // An attacker with database access copies sealed records around
        // (bypassing the immutability triggers, as they could).
        let url = match &account.server.database_url {
            Some(url) => url.clone(),
            None => store::testing::sqlite_url_in(account.server.data_dir.path()),
        };
        let sql = format!(
            "UPDATE events SET content = (SELECT content FROM events WHERE ledger_id = '{a}' AND seq = 0) \
             WHERE (ledger_id = '{a}' AND seq = 1) OR (ledger_id = '{b}' AND seq = 0)"
        );
        store::testing::tamper(&url, &sql).await.expect("tamper");

        let (status, body) = account.get(&format!("/v1/ledgers/{a}/events/e0"), &read).await;
        assert_eq!(status, 200, "the original is intact: {body}");
        for (ledger, id, seq) in [(&a, "e1", 1), (&b, "e0", 0)] {
            let (status, body) = account.get(&format!("/v1/ledgers/{ledger}/events/{id}"), &read).await;
            assert_eq!(status, 500, "{body}");
            assert_eq!(body["title"], "Integrity check failed", "{body}");
            let detail = body["detail"].as_str().expect("detail");
            assert!(detail.contains(&format!("seq {seq}")) && detail.contains(ledger.as_str()), "{detail}");
            assert!(detail.contains("moved from another row or ledger"), "{detail}");
        }
        // A listing that reaches the bad record fails the same way.
        let (status, body) = account.get(&format!("/v1/ledgers/{a}/events?limit=10"), &read).await;
        assert_eq!(status, 500, "{body}");
        assert_eq!(body["title"], "Integrity check failed");
        // Any other column of a row edited around its record fails too,
        // and the problem names the event by its id.
        let edit = format!("UPDATE events SET leaf_hash = chain_hash WHERE ledger_id = '{a}' AND seq = 2");
        store::testing::tamper(&url, &edit).await.expect("tamper");
        let (status, body) = account.get(&format!("/v1/ledgers/{a}/events/e2"), &read).await;
        assert_eq!(status, 500, "{body}");
        let detail = body["detail"].as_str().expect("detail");
        assert!(detail.contains("\"e2\"") && detail.contains("a column of its row"), "{detail}");
    }
}

/// Runs an `auditstore admin` subcommand against a server's data and
/// database, and returns its JSON output. Asynchronously: the server runs on
/// this test's runtime and must keep serving meanwhile.
async fn admin(server: &TestServer, args: &[&str]) -> Value {
    server.admin(args).await.unwrap_or_else(|stderr| panic!("admin {args:?} failed: {stderr}"))
}

#[tokio::test]
async fn data_and_key_encryption_keys_rotate_while_serving_and_everything_stays_readable_and_searchable() {
    for server in servers().await {
        let account = account(server).await;
        let ledger = account.ledger("rotating").await;
        let write = account.key("write", Some(vec![&ledger])).await;
        let read = account.key("read", Some(vec![&ledger])).await;
        let append = |n: usize| {
            let events: Vec<Value> = (0..5).map(|i| plain_event(&format!("r{n}-{i}"), &format!("actor{n}"))).collect();
            (format!("/v1/ledgers/{ledger}/events"), json!({ "events": events }))
        };
        let (path, body) = append(1);
        assert_eq!(account.post(&path, &write, body).await.0, 201);

        // A data key rotation through the API.
        let (status, rotated) =
            account.post(&format!("/v1/ledgers/{ledger}/keys/rotate"), &account.admin, json!({})).await;
        assert_eq!(status, 201, "{rotated}");
        assert_eq!(rotated["key_version"], 2);
        let (status, _) = account.post(&format!("/v1/ledgers/{ledger}/keys/rotate"), &read, json!({})).await;
        assert_eq!(status, 403, "only admin keys rotate");
        let (path, body) = append(2);
        assert_eq!(account.post(&path, &write, body).await.0, 201);

        // A KEK rotation by the CLI while the server keeps serving, then a
        // data key rotation by the CLI.
        let kek_file = account.server.data_dir.path().join("keys/kek.key");
        let before = std::fs::read(&kek_file).expect("kek");
        let out = admin(&account.server, &["rotate-kek"]).await;
        assert_eq!(out["provider"], "local");
        assert!(out["ledger_keys_rewrapped"].as_u64().expect("count") >= 3, "{out}");
        // The checkpoint signing key, the outbox and the webhook sealing keys.
        assert_eq!(out["instance_secrets_rewrapped"], 3, "the instance secrets too: {out}");
        assert_eq!(out["old_local_keks_destroyed"], 1);
        let after = std::fs::read(&kek_file).expect("kek");
        assert_eq!(after.len(), 32);
        assert_ne!(before, after);
        let (path, body) = append(3);
        assert_eq!(account.post(&path, &write, body).await.0, 201, "new wraps use the new KEK");
        let out = admin(&account.server, &["rotate-ledger-key", "--ledger", &ledger]).await;
        assert_eq!(out["key_version"], 3);
        let (path, body) = append(4);
        assert_eq!(account.post(&path, &write, body).await.0, 201);

        let (status, keys) = account.get(&format!("/v1/ledgers/{ledger}/keys"), &account.admin).await;
        assert_eq!(status, 200, "{keys}");
        let versions = keys["versions"].as_array().expect("versions");
        assert_eq!(versions.len(), 3);
        assert_eq!(versions.iter().map(|v| v["from_seq"].as_u64().expect("seq")).collect::<Vec<_>>(), [0, 5, 15]);
        assert_eq!(
            versions.iter().map(|v| v["state"].as_str().expect("state")).collect::<Vec<_>>(),
            ["previous", "previous", "current"]
        );
        assert!(!keys.to_string().contains("wrapped"), "no key material in the answer");
        // Which KEK wraps them is the operator's (the store knows it).
        assert!(versions.iter().all(|v| v.get("kek_id").is_none() && v.get("provider").is_none()), "{keys}");
        let ledger_id = audit_core::LedgerId::new(ledger.as_str()).expect("id");
        let stored = account.server.server.store().ledger_key_versions(&ledger_id).await.expect("versions");
        let keks: std::collections::HashSet<&str> = stored.iter().map(|v| v.kek_id.as_str()).collect();
        assert_eq!(keks.len(), 1, "every version is wrapped by the one current KEK: {stored:?}");

        until_indexed(&account, &ledger, 20).await;
        for n in 1..=4 {
            let (status, page) = account.get(&format!("/v1/ledgers/{ledger}/events?actor_id=actor{n}"), &read).await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(page["events"].as_array().expect("events").len(), 5, "actor{n} is found");
            let (status, event) = account.get(&format!("/v1/ledgers/{ledger}/events/r{n}-0"), &read).await;
            assert_eq!(status, 200, "{event}");
            assert_eq!(event["actor"]["id"], format!("actor{n}"));
        }

        // Each rotation is in the account's system ledger.
        let system = account.system_ledger().await;
        let auditor = account.key("read", None).await;
        let (_, trail) = account.get(&format!("/v1/ledgers/{system}/events?limit=100"), &auditor).await;
        let actions: Vec<&str> =
            trail["events"].as_array().expect("events").iter().filter_map(|e| e["action"].as_str()).collect();
        assert_eq!(actions.iter().filter(|a| **a == "ledger_key.rotated").count(), 2, "{actions:?}");
        assert_eq!(actions.iter().filter(|a| **a == "kek.rotated").count(), 1, "{actions:?}");

        // After a restart (empty key cache) everything still reads back.
        let Account { server, client, admin: admin_key } = account;
        let TestServer { server: running, data_dir, database_url, .. } = server;
        running.shutdown().await.expect("shutdown");
        let data = data_dir.path().to_owned();
        let url = database_url.clone();
        let restarted = TestServer::start_with(|args| {
            args.data_dir = Some(data);
            args.database_url = url;
        })
        .await;
        let account = Account { server: restarted, client, admin: admin_key };
        for n in 1..=4 {
            let (status, event) = account.get(&format!("/v1/ledgers/{ledger}/events/r{n}-4"), &read).await;
            assert_eq!(status, 200, "{event}");
        }
        drop(data_dir);
    }
}

/// A KMS key on the test endpoint the test command started (moto).
async fn kms_key() -> String {
    let client = store::testing::kms_client();
    let key = client.create_key().description("auditstore test").send().await.expect("CreateKey");
    key.key_metadata().expect("metadata").arn().expect("arn").to_owned()
}

#[tokio::test]
async fn the_aws_kms_provider_seals_through_a_real_kms_endpoint_across_restarts() {
    let key = kms_key().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let data = data_dir.path().to_owned();
    let start = |key: String| {
        let data = data.clone();
        TestServer::start_with(move |args| {
            args.data_dir = Some(data);
            args.kms_key_id = Some(key);
        })
    };
    let server = start(key.clone()).await;
    assert!(!data.join("keys/kek.key").exists(), "no local KEK is created with KMS");
    let boot = server.bootstrap_with(&["--kms-key-id", &key]).await;
    let admin_key = boot["admin_key"].as_str().expect("admin key").to_owned();
    let client = server.client();
    let account = Account { server, client, admin: admin_key };
    let ledger = account.ledger("kms").await;
    let write = account.key("write", Some(vec![&ledger])).await;
    let read = account.key("read", Some(vec![&ledger])).await;
    let (status, body) = account.post(&format!("/v1/ledgers/{ledger}/events"), &write, marked_event("k1")).await;
    assert_eq!(status, 201, "{body}");
    let (_, keys) = account.get(&format!("/v1/ledgers/{ledger}/keys"), &account.admin).await;
    assert!(!keys.to_string().contains("arn:aws:kms"), "the operator's KMS key is not shown to tenants: {keys}");
    let ledger_id = audit_core::LedgerId::new(ledger.as_str()).expect("id");
    let stored = account.server.server.store().ledger_key_versions(&ledger_id).await.expect("versions");
    assert_eq!((stored[0].provider.as_str(), stored[0].kek_id.as_str()), ("aws-kms", key.as_str()));

    let Account { server, client, admin: admin_key } = account;
    server.server.shutdown().await.expect("shutdown");
    let account = Account { server: start(key.clone()).await, client, admin: admin_key };
    let (status, event) = account.get(&format!("/v1/ledgers/{ledger}/events/k1"), &read).await;
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["metadata"]["note"], MARKERS[6]);
    let (status, event) = account.get(&format!("/v1/ledgers/{ledger}/events?actor_id={}", MARKERS[1]), &read).await;
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["events"].as_array().expect("events").len(), 1);

    // KEK rotation onto a second KMS key re-wraps with ReEncrypt.
    let second = kms_key().await;
    let out = admin(&account.server, &["rotate-kek", "--kms-key-id", &second]).await;
    assert_eq!(out["provider"], "aws-kms");
    assert_eq!(out["kek_id"], second.as_str());
    assert_eq!(out["instance_secrets_rewrapped"], 3, "the signing, outbox and webhook keys: {out}");
    let Account { server, client, admin: admin_key } = account;
    server.server.shutdown().await.expect("shutdown");
    let account = Account { server: start(second.clone()).await, client, admin: admin_key };
    let (status, event) = account.get(&format!("/v1/ledgers/{ledger}/events/k1"), &read).await;
    assert_eq!(status, 200, "{event}");
    let stored = account.server.server.store().ledger_key_versions(&ledger_id).await.expect("versions");
    assert_eq!(stored[0].kek_id, second.as_str(), "{stored:?}");
}
