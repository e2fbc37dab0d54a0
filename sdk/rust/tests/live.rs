//! The SDK against a live AuditStore: the server binary the test suite
//! builds, started here on a fresh data directory (`AUDITSTORE_BIN`, or
//! the workspace's debug build), and a local stand-in for retry rules.

mod support;

use std::time::Duration;

use auditstore_client::{
    leaf_hash, verify_checkpoint, verify_evidence, verify_inclusion, CheckpointTracker, Client, Error, EventFilter,
    FileStore, MemoryStore,
};
use serde_json::{json, Value};
use support::Live;

fn invoice(n: u64) -> Value {
    json!({"actor": {"type": "user", "id": format!("u_{}", n % 5)}, "action": "invoice.updated",
           "resource": {"type": "invoice", "id": format!("inv_{n}")}, "metadata": {"n": n}})
}

#[tokio::test]
async fn recorded_events_are_delivered_in_batches_and_flushed_on_close() {
    let live = Live::start().await;
    let client = Client::new(live.config(&live.writer).batch_size(400)).expect("client");
    for n in 0..2_500 {
        client.record(invoice(n)).expect("queued");
    }
    let report = client.close(Duration::from_secs(60)).await.expect("closed");
    assert_eq!((report.delivered, report.failed, report.pending), (2_500, 0, 0), "{report:?}");
    assert!(matches!(client.record(invoice(0)), Err(Error::Closed)));

    let reader = Client::new(live.config(&live.reader)).expect("client");
    let mut pages = reader.pages(&live.ledger, EventFilter { limit: Some(500), ..EventFilter::default() });
    let mut ids = Vec::new();
    while let Some(page) = pages.next_page().await.expect("page") {
        ids.extend(page.into_iter().map(|e| e.id));
    }
    assert_eq!(ids.len(), 2_500);
    // Client-side UUIDv7 ids: version 7, all distinct.
    assert!(ids.iter().all(|id| uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 7)), "{:?}", &ids[..3]);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2_500);
    let filtered = reader
        .list_events(&live.ledger, &EventFilter { resource_id: Some("inv_7".into()), ..EventFilter::default() })
        .await
        .expect("filtered");
    assert_eq!(filtered.events.len(), 1);
}

#[tokio::test]
async fn appends_answer_their_hashes_and_reads_verify_against_the_pinned_key() {
    let live = Live::start().await;
    let writer = Client::new(live.config(&live.writer)).expect("client");
    let appended = writer.append(None, (0..5).map(invoice).collect()).await.expect("appended");
    assert_eq!(appended.events.len(), 5);
    let reader = Client::new(live.config(&live.reader).verifier_key(&live.verifier_key).expect("key")).expect("client");
    let first = &appended.events[0];
    let (event, checkpoint) = reader.get_verified_event(&live.ledger, &first.id).await.expect("verified");
    assert_eq!(event.seq, first.seq);
    assert_eq!(leaf_hash(&event.json).expect("hash"), first.leaf_hash);
    assert!(checkpoint.tree_size >= 5);

    // Tampered twins: the event's content, a proof hash, the root, another key.
    let proof = reader.inclusion_proof(&live.ledger, event.seq, Some(checkpoint.tree_size)).await.expect("proof");
    verify_inclusion(&event.json, event.seq, &proof, &checkpoint).expect("the untouched event verifies");
    let mut altered = event.json.clone();
    altered["metadata"]["n"] = json!(99);
    assert!(verify_inclusion(&altered, event.seq, &proof, &checkpoint).is_err(), "altered content");
    let mut bad_proof = proof.clone();
    bad_proof[0] = leaf_hash(&altered).expect("hash");
    assert!(verify_inclusion(&event.json, event.seq, &bad_proof, &checkpoint).is_err(), "altered proof");
    let mut bad_root = checkpoint.clone();
    bad_root.root = leaf_hash(&altered).expect("hash");
    assert!(verify_inclusion(&event.json, event.seq, &proof, &bad_root).is_err(), "altered root");
    // Another key under the same name: the signature must not verify.
    let name = live.verifier_key.split('+').next().expect("name");
    let other = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key();
    let other_key = auditstore_client::VerifierKey::new(audit_core::KeyName::new(name).expect("name"), other);
    assert!(verify_checkpoint(&checkpoint.note, &other_key).is_err(), "another key");
    let forged =
        checkpoint.note.replacen(&checkpoint.tree_size.to_string(), &(checkpoint.tree_size + 1).to_string(), 1);
    assert!(verify_checkpoint(&forged, &live.verifier_key.parse().expect("key")).is_err(), "altered note");
    // One byte of the signature flipped.
    let (body, line) = checkpoint.note.trim_end().rsplit_once("\n\n").expect("a signed note");
    let (prefix, blob) = line.rsplit_once(' ').expect("a signature line");
    use base64::Engine as _;
    let mut raw = base64::engine::general_purpose::STANDARD.decode(blob).expect("base64");
    raw[10] ^= 1;
    let flipped = format!("{body}\n\n{prefix} {}\n", base64::engine::general_purpose::STANDARD.encode(raw));
    assert!(verify_checkpoint(&flipped, &live.verifier_key.parse().expect("key")).is_err(), "a flipped signature byte");

    // Evidence files, offline, and their twin.
    let evidence = reader.evidence(&live.ledger, &first.id).await.expect("evidence");
    let key = live.verifier_key.parse().expect("key");
    let verified = verify_evidence(&evidence, &key).expect("evidence verifies");
    assert_eq!((verified.ledger.as_str(), verified.seq), (live.ledger.as_str(), first.seq));
    assert_eq!(verified.event["id"], json!(first.id));
    assert!(verify_evidence(&evidence, &other_key).is_err(), "evidence under another key");
    // Twins: another seq, and another event's content at this seq.
    let index = format!("\nindex {}\n", first.seq);
    assert!(evidence.contains(&index));
    let moved = evidence.replacen(&index, &format!("\nindex {}\n", first.seq + 1), 1);
    assert!(verify_evidence(&moved, &key).is_err(), "another seq");
    let other = reader.evidence(&live.ledger, &appended.events[1].id).await.expect("evidence");
    let extra = |text: &str| text.lines().find(|l| l.starts_with("extra ")).expect("extra").to_owned();
    let swapped = evidence.replacen(&extra(&evidence), &extra(&other), 1);
    assert!(verify_evidence(&swapped, &key).is_err(), "another event's content");
}

#[tokio::test]
async fn the_tracker_proves_every_newer_checkpoint_and_refuses_forks_and_rollbacks() {
    let live = Live::start().await;
    let writer = Client::new(live.config(&live.writer)).expect("client");
    let reader = Client::new(live.config(&live.reader).verifier_key(&live.verifier_key).expect("key")).expect("client");
    writer.append(None, (0..3).map(invoice).collect()).await.expect("appended");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("checkpoints.json");
    let tracker = CheckpointTracker::new(reader.clone(), FileStore::new(&file));
    let first = tracker.update(&live.ledger).await.expect("first");
    let old_note = first.note.clone();
    writer.append(None, (3..10).map(invoice).collect()).await.expect("appended");
    let second = tracker.update(&live.ledger).await.expect("consistent");
    assert!(second.tree_size > first.tree_size);
    // Kept in the file, across trackers.
    let again = CheckpointTracker::new(reader.clone(), FileStore::new(&file));
    assert_eq!(again.stored(&live.ledger).expect("stored").map(|c| c.tree_size), Some(second.tree_size));
    // An older checkpoint is a rollback.
    let rollback = again.track(&live.ledger, &old_note).await.expect_err("rollback");
    assert!(matches!(rollback, Error::Rollback { .. }), "{rollback}");
    // A stored tree the server's does not extend is a fork: the same size
    // with another root, or a smaller one the proof does not join.
    let forged = MemoryStore::default();
    use auditstore_client::{CheckpointStore, TrackedCheckpoint};
    let other_root = "ab".repeat(32);
    forged
        .save(
            &live.ledger,
            &TrackedCheckpoint { tree_size: second.tree_size, root: other_root.clone(), note: String::new() },
        )
        .expect("saved");
    let tracker = CheckpointTracker::new(reader.clone(), forged);
    let fork = tracker.track(&live.ledger, &second.note).await.expect_err("fork");
    assert!(matches!(fork, Error::Fork { .. }), "{fork}");
    let forged = MemoryStore::default();
    forged
        .save(&live.ledger, &TrackedCheckpoint { tree_size: 3, root: other_root, note: String::new() })
        .expect("saved");
    let tracker = CheckpointTracker::new(reader.clone(), forged);
    let fork = tracker.track(&live.ledger, &second.note).await.expect_err("fork");
    assert!(matches!(fork, Error::Fork { .. }), "{fork}");
    assert!(fork.to_string().starts_with("FORK"), "loud: {fork}");
}

#[tokio::test]
async fn errors_are_typed_problems_and_never_show_the_key() {
    let live = Live::start().await;
    let secret = format!("{}x", live.writer);
    let client = Client::new(live.config(&secret)).expect("client");
    let error = client.append(None, vec![invoice(1)]).await.expect_err("refused");
    let Error::Problem(problem) = &error else { panic!("a problem: {error}") };
    assert_eq!(problem.status, 401);
    let shown = format!("{error} {error:?} {client:?} {:?}", live.config(&secret));
    assert!(!shown.contains(&live.writer[10..]), "the key leaked: {shown}");

    let writer = Client::new(live.config(&live.writer)).expect("client");
    let error = writer.append(None, vec![json!({"actor": {"type": "user"}, "action": "x.y"})]).await.expect_err("bad");
    let Error::Problem(problem) = error else { panic!("a problem") };
    assert_eq!(problem.status, 400);
    assert!(problem.field.is_some(), "{problem:?}");
}

#[tokio::test]
async fn an_export_is_started_waited_for_with_progress_and_downloaded_checked() {
    let live = Live::start().await;
    let writer = Client::new(live.config(&live.writer)).expect("client");
    writer.append(None, (0..50).map(invoice).collect()).await.expect("appended");
    let reader = Client::new(live.config(&live.reader)).expect("client");
    let started = reader.start_export(&live.ledger, &json!({"format": "jsonl"})).await.expect("started");
    let id = started["id"].as_str().expect("id").to_owned();
    let mut seen = Vec::new();
    let done = reader
        .wait_export(&live.ledger, &id, Duration::from_millis(100), Duration::from_secs(60), |written, total| {
            seen.push((written, total));
        })
        .await
        .expect("done");
    assert_eq!(done["events_written"], 50);
    assert_eq!(seen.last(), Some(&(50, 50)), "{seen:?}");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("export.zip");
    let sha = reader.download_export(&live.ledger, &id, &file).await.expect("downloaded");
    assert_eq!(Some(sha.as_str()), done["sha256"].as_str());
    auditstore_client::verify_file_sha256(&file, &sha).expect("the file is what the export reported");
    // Its twin: one byte of the file changed.
    let mut bytes = std::fs::read(&file).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&file, bytes).expect("write");
    assert!(auditstore_client::verify_file_sha256(&file, &sha).is_err());
}
