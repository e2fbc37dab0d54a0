//! Retention archival over the /v1 API on both backends: a run turns what
//! is expired and not held into tombstones, which read back as such with
//! their archive; the archive file downloads and verifies offline with the
//! real `auditstore verify` (a tampered twin fails); every proof of the
//! ledger still verifies; an export carries the tombstones.

use std::path::Path;

use audit_core::merkle::verify_inclusion;
use audit_core::{Checkpoint, Hash, SignedNote, TreeSize, VerifierKey};
use serde_json::{json, Value};

use crate::api::{account, servers, Account};
use crate::common::auditstore_verify as verify;
use crate::exports::{edited, lines, write_zip};

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Appends `evt_<n>` for each `(n, actor, occurred_at)`.
async fn append(account: &Account, ledger: &str, writer: &str, events: &[(u64, &str, &str)]) {
    let events: Vec<Value> = events
        .iter()
        .map(|(n, actor, at)| {
            json!({"id": format!("evt_{n}"), "actor": {"type": "user", "id": actor}, "action": "invoice.paid",
                   "resource": {"type": "invoice", "id": format!("inv_{n}")}, "occurred_at": at,
                   "metadata": {"n": n}})
        })
        .collect();
    let (status, body) = account.post(&format!("/v1/ledgers/{ledger}/events"), writer, json!({"events": events})).await;
    assert_eq!(status, 201, "{body}");
}

/// The inclusion proof of `seq` at the ledger's checkpoint verifies, with
/// audit-core and the published key.
async fn proves(account: &Account, ledger: &str, reader: &str, seq: u64, leaf: &str) {
    let response = account
        .client
        .get(account.server.url(&format!("/v1/ledgers/{ledger}/checkpoint")))
        .bearer_auth(reader)
        .send()
        .await
        .expect("checkpoint");
    let note = response.text().await.expect("note");
    let key: VerifierKey = account.checkpoint_key().await.parse().expect("key");
    let checkpoint =
        Checkpoint::parse_body(SignedNote::parse(&note).expect("note").verify(&[key]).expect("signed")).expect("body");
    let size = checkpoint.size().get();
    let path = format!("/v1/ledgers/{ledger}/proofs/inclusion?seq={seq}&tree_size={size}");
    let (status, proof) = account.get(&path, reader).await;
    assert_eq!(status, 200, "{proof}");
    let hashes: Vec<Hash> = proof["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| h.as_str().expect("hex").parse().expect("hash"))
        .collect();
    let leaf: Hash = leaf.parse().expect("leaf");
    verify_inclusion(seq, TreeSize(size), &leaf, &hashes, checkpoint.root()).expect("the tombstone still proves");
}

#[tokio::test]
async fn a_retention_run_archives_what_no_hold_keeps_and_the_archive_verifies_offline() {
    for server in servers().await {
        let account = account(server).await;
        let ledger = account.ledger("billing").await;
        let writer = account.key("write", Some(vec![&ledger])).await;
        let reader = account.key("read", Some(vec![&ledger])).await;
        let now = audit_core::OccurredAt::from_unix_millis(store::now_ms()).expect("now");
        append(
            &account,
            &ledger,
            &writer,
            &[
                (0, "jane", "2025-03-01T09:00:00Z"),
                (1, "joe", "2025-03-02T09:00:00Z"),
                (2, "joe", "2025-03-03T09:00:00Z"),
                (3, "jane", "2025-03-04T09:00:00Z"),
                (4, "joe", "2025-03-05T09:00:00Z"),
                (5, "joe", now.as_str()),
            ],
        )
        .await;
        let (status, hold) = account
            .post(
                &format!("/v1/ledgers/{ledger}/holds"),
                &account.admin,
                json!({"case": "C-9", "reason": "dispute", "scope": {"actor_id": "jane"}}),
            )
            .await;
        assert_eq!(status, 201, "{hold}");
        let run_path = format!("/v1/ledgers/{ledger}/retention/run");
        let (status, run) = account.post(&run_path, &account.admin, json!({})).await;
        assert_eq!((status, run["archived"].as_u64(), run.get("days")), (200, Some(0), None), "no policy: {run}");
        assert_eq!(account.post(&run_path, &reader, json!({})).await.0, 403);

        let (status, _) = account
            .send(
                reqwest::Method::PUT,
                &format!("/v1/ledgers/{ledger}/retention"),
                &account.admin,
                Some(json!({"days": 90})),
            )
            .await;
        assert_eq!(status, 200);
        let (status, run) = account.post(&run_path, &account.admin, json!({})).await;
        assert_eq!(status, 200, "{run}");
        assert_eq!(
            (run["archived"].as_u64(), run["held"].as_u64(), run["more"].as_bool()),
            (Some(3), Some(2), Some(false)),
            "{run}"
        );
        assert_eq!(run["held_by"], json!([hold["id"]]));
        let archival = run["archivals"][0].clone();
        assert_eq!((archival["from_seq"].as_u64(), archival["to_seq"].as_u64()), (Some(1), Some(4)), "{archival}");

        // A tombstone reads back as one, with its archive; the others as they were.
        let (status, tombstone) = account.get(&format!("/v1/ledgers/{ledger}/events/evt_2"), &reader).await;
        assert_eq!(status, 200, "{tombstone}");
        assert_eq!(tombstone["tombstoned"], true);
        assert!(tombstone.get("actor").is_none() && tombstone.get("metadata").is_none(), "no content: {tombstone}");
        assert_eq!(tombstone["archive"]["id"], archival["id"]);
        assert_eq!(tombstone["archive"]["sha256"], archival["sha256"]);
        assert!(tombstone["archived_at"].as_str().is_some());
        let (_, kept) = account.get(&format!("/v1/ledgers/{ledger}/events/evt_3"), &reader).await;
        assert_eq!((kept["actor"]["id"].as_str(), kept.get("tombstoned")), (Some("jane"), None), "held: {kept}");
        let (_, page) = account.get(&format!("/v1/ledgers/{ledger}/events"), &reader).await;
        let listed: Vec<(u64, bool, Option<&str>)> = page["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| (e["seq"].as_u64().expect("seq"), e["tombstoned"] == true, e["archive"]["id"].as_str()))
            .collect();
        let arc = archival["id"].as_str();
        assert_eq!(
            listed,
            [(5, false, None), (4, true, arc), (3, false, None), (2, true, arc), (1, true, arc), (0, false, None)]
        );
        for seq in 0..6u64 {
            let event = &page["events"][usize::try_from(5 - seq).expect("index")];
            proves(&account, &ledger, &reader, seq, event["leaf_hash"].as_str().expect("leaf")).await;
        }

        // The archive file downloads and verifies offline; a tampered twin fails.
        let (_, archives) = account.get(&format!("/v1/ledgers/{ledger}/archives"), &reader).await;
        assert_eq!(archives["archivals"].as_array().expect("list").len(), 1);
        assert_eq!(archives["archivals"][0], archival);
        let response = account
            .client
            .get(account.server.url(&format!("/v1/ledgers/{ledger}/archives/{}/download", arc.expect("id"))))
            .bearer_auth(&reader)
            .send()
            .await
            .expect("download");
        assert_eq!(response.status(), 200);
        let bytes = response.bytes().await.expect("file");
        assert_eq!(
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
            archival["sha256"].as_str().expect("sha")
        );
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("archive.zip");
        std::fs::write(&file, &bytes).expect("write");
        let key = account.checkpoint_key().await;
        let (code, out) = verify(&[s(&file), "--key", &key]).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("3 rows"), "{out}");
        let twin = dir.path().join("twin.zip");
        let altered = edited(&file, "events.jsonl", |b| lines(b, |l| l[1] = l[1].replace("joe", "jim")));
        write_zip(&twin, altered, true);
        let (code, out) = verify(&[s(&twin), "--key", &key]).await;
        assert_eq!(code, 1, "a tampered archive fails: {out}");

        // A contiguous export of the whole ledger carries the tombstones as such and verifies.
        let export = dir.path().join("export.zip");
        let printed =
            account.server.admin(&["export", "--ledger", &ledger, "--out", s(&export)]).await.expect("export");
        assert_eq!(printed["events"].as_u64(), Some(6));
        let (code, out) = verify(&[s(&export), "--key", &key]).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("6 rows (3 tombstones)"), "{out}");

        // Recorded in the system ledger: the archival and the download.
        let system = account.system_ledger().await;
        let sys_reader = account.key("read", Some(vec![&system])).await;
        for action in ["retention.archived", "archive.downloaded", "retention.held"] {
            let (_, page) = account.get(&format!("/v1/ledgers/{system}/events?action={action}"), &sys_reader).await;
            let events = page["events"].as_array().expect("events");
            assert_eq!(events.len(), 1, "{action}: {page}");
            if action != "retention.held" {
                assert_eq!(events[0]["metadata"]["sha256"], archival["sha256"], "{action}");
            }
        }
    }
}

#[tokio::test]
async fn retention_is_set_locked_and_run_from_the_command_line() {
    for server in servers().await {
        let account = account(server).await;
        let ledger = account.ledger("cli").await;
        let writer = account.key("write", Some(vec![&ledger])).await;
        append(&account, &ledger, &writer, &[(0, "jane", "2025-05-01T00:00:00Z"), (1, "joe", "2025-05-02T00:00:00Z")])
            .await;
        let cli = &account.server;
        let shown = cli.admin(&["retention", "--ledger", &ledger]).await.expect("show");
        assert_eq!(shown["policy"], Value::Null);
        let set = cli.admin(&["retention", "--ledger", &ledger, "--days", "30", "--lock"]).await.expect("set");
        assert_eq!(
            (set["days"].as_u64(), set["locked"].as_bool(), set["set_by"]["type"].as_str()),
            (Some(30), Some(true), Some("cli"))
        );
        let refused =
            cli.admin(&["retention", "--ledger", &ledger, "--days", "10", "--lock"]).await.expect_err("shorter");
        assert!(refused.contains("locked at 30 days"), "{refused}");
        let refused = cli.admin(&["retention", "--ledger", &ledger, "--remove"]).await.expect_err("removal");
        assert!(refused.contains("never be removed"), "{refused}");
        let bad = cli.admin(&["retention", "--ledger", &ledger, "--days", "0"]).await.expect_err("bad days");
        assert!(bad.contains("--days"), "{bad}");
        let run = cli.admin(&["run-retention", "--ledger", &ledger]).await.expect("run");
        assert_eq!(run["archived"].as_u64(), Some(2), "{run}");
        let sha = run["archivals"][0]["sha256"].as_str().expect("sha").to_owned();
        // The server sees what the command did.
        let reader = account.key("read", Some(vec![&ledger])).await;
        let (_, archives) = account.get(&format!("/v1/ledgers/{ledger}/archives"), &reader).await;
        assert_eq!(archives["archivals"][0]["sha256"], sha.as_str());
        assert_eq!(archives["archivals"][0]["archived_by"]["type"], "cli");
    }
}
