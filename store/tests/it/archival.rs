//! Retention archival on both backends: expired events no hold covers
//! become tombstones only once their archive file is written and read
//! back; every proof still verifies with independent code; the file holds
//! exactly what was removed; a crash between file and transaction loses
//! nothing; and no other path removes content.

use std::collections::BTreeMap;
use std::io::Read;

use audit_core::export::Manifest;
use audit_core::merkle::verify_inclusion;
use audit_core::{Checkpoint, SignedNote, TreeSize};
use store::lifecycle::archive::ArchiveStore;
use store::lifecycle::holds::HoldScope;
use store::lifecycle::retention::RetentionDays;
use store::testing::{crash_archival_after_write, execute_raw, origin};
use store::{EventFilter, Ledger, NewEvent, Store};

use crate::both_backends;

/// An event `evt_<n>` by `actor`, that happened at `at`.
fn event_at(n: u64, actor: &str, at: &str) -> NewEvent {
    let input = serde_json::json!({
        "id": format!("evt_{n}"),
        "actor": {"type": "user", "id": actor},
        "action": "invoice.paid",
        "resource": {"type": "invoice", "id": format!("inv_{n}")},
        "occurred_at": at,
        "metadata": {"n": n, "note": "héllo"},
    });
    let parsed: audit_core::EventInput = serde_json::from_value(input).expect("event input");
    let event = parsed.into_event(|| unreachable!("the id is given")).expect("valid event");
    NewEvent::new(event, true).expect("new event")
}

/// The members of a ZIP file by name.
fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP file");
    let mut members = BTreeMap::new();
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).expect("member");
        let mut content = Vec::new();
        member.read_to_end(&mut content).expect("member bytes");
        members.insert(member.name().expect("name").to_string(), content);
    }
    members
}

/// Every proof of `seqs` verifies against the ledger's signed checkpoint,
/// checked with audit-core (not the store's own code).
async fn proofs_verify(store: &Store, ledger: &Ledger, seqs: &[u64]) {
    let ledger = store.ledger(&ledger.account_id, &ledger.id).await.expect("ledger");
    let (note, _) = store.verified_checkpoint(&ledger.id, None).await.expect("checkpoint");
    let signed = SignedNote::parse(&note).expect("a signed note");
    let body = signed.verify(&[store.verifier_key()]).expect("the checkpoint verifies with the published key");
    let checkpoint = Checkpoint::parse_body(body).expect("a checkpoint");
    assert_eq!(checkpoint.size().get(), ledger.tree_size);
    for &seq in seqs {
        let links = store.chain_links(&ledger.id, seq, seq + 1).await.expect("hashes");
        let hashes = store.inclusion_proof(&ledger, seq, ledger.tree_size).await.expect("proof");
        let size = TreeSize(ledger.tree_size);
        verify_inclusion(seq, size, &links[0].leaf_hash, &hashes, checkpoint.root())
            .unwrap_or_else(|e| panic!("seq {seq} no longer proves: {e}"));
    }
}

fn days(n: u64) -> RetentionDays {
    RetentionDays::new(n).expect("days")
}

#[tokio::test]
async fn expired_events_become_tombstones_with_their_archive_and_a_hold_keeps_exactly_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (n, (store, url)) in both_backends(dir.path()).await.into_iter().enumerate() {
        let archive = ArchiveStore::Directory(dir.path().join(format!("archive-{n}")));
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "billing", &origin()).await.expect("ledger");
        // 20 old events, jane's and joe's taking turns, then 10 of today.
        let now = audit_core::OccurredAt::from_unix_millis(store::now_ms()).expect("now");
        let mut events: Vec<NewEvent> = (0..20)
            .map(|i| event_at(i, if i % 2 == 0 { "jane" } else { "joe" }, &format!("2025-01-{:02}T10:00:00Z", i + 1)))
            .collect();
        events.extend((20..30).map(|i| event_at(i, "joe", now.as_str())));
        store.append(&ledger, events).await.expect("append");
        while store.index_pending().await.expect("index") > 0 {}
        let before: Vec<_> = store.events_in_order(&ledger.id, 0, 30, 100).await.expect("read");

        // Without a policy nothing expires.
        let run = store.run_retention(&ledger.id, &archive, &origin(), None).await.expect("run");
        assert_eq!((run.archived, run.policy.is_none()), (0, true));

        let scope = HoldScope::new(None, None, Some("jane".into()), None).expect("scope");
        let hold =
            store.place_hold(&account.id, Some(&ledger), "C-1", "litigation", scope, &origin()).await.expect("hold");
        let covered = store.hold_coverage(&hold).await.expect("coverage");
        assert_eq!((covered.events, covered.uncounted), (10, 0), "jane's ten events");
        store.set_retention(&ledger, days(30), false, &origin()).await.expect("policy");
        let run = store.run_retention(&ledger.id, &archive, &origin(), None).await.expect("run");
        assert_eq!(run.archived, 10, "joe's ten old events");
        assert_eq!(store.hold_coverage(&hold).await.expect("coverage").events, 10, "the hold kept them");
        assert_eq!((run.held, run.held_by.iter().cloned().collect::<Vec<_>>()), (10, vec![hold.id.clone()]));
        assert_eq!(run.archivals.len(), 1);
        let record = &run.archivals[0];
        assert_eq!((record.start, record.end, record.events, record.tree_size), (1, 20, 10, 30));

        let after = store.events_in_order(&ledger.id, 0, 30, 100).await.expect("read");
        for (old, new) in before.iter().zip(&after) {
            let archived = old.seq < 20 && old.seq % 2 == 1;
            assert_eq!(new.event.is_none(), archived, "seq {}", old.seq);
            assert_eq!((new.leaf_hash, new.chain_hash, &new.id), (old.leaf_hash, old.chain_hash, &old.id));
        }
        proofs_verify(&store, &ledger, &(0..30).collect::<Vec<_>>()).await;
        let info = store.tombstone_info(&ledger.id, 3).await.expect("lookup").expect("seq 3 is archived");
        assert_eq!((info.archival.as_str(), info.sha256.as_str()), (record.id.as_str(), record.sha256.as_str()));
        assert_eq!(store.tombstone_info(&ledger.id, 2).await.expect("lookup"), None, "jane's seq 2 is held");
        // A tombstone is found by no filter.
        let joe = EventFilter { actor_id: Some("joe".into()), ..EventFilter::default() };
        let page = store.list_events(&ledger.id, &joe, None, 100).await.expect("filtered");
        assert_eq!(page.events.len(), 10, "today's ten only");

        // The file holds exactly what was removed, as it was.
        let bytes = archive.read(&record.location).await.expect("the archive file");
        assert_eq!(audit_core::Hash::digest(&bytes).to_string(), record.sha256);
        let members = unzip(&bytes);
        let manifest: Manifest = serde_json::from_slice(&members["manifest.json"]).expect("manifest");
        assert_eq!(manifest.export_id, record.id);
        assert_eq!((manifest.counts.events, manifest.counts.tombstones), (10, 0));
        assert!(manifest.filter.as_ref().expect("a selection").contains_key("archived_before"));
        let rows: Vec<serde_json::Value> = std::str::from_utf8(&members["events.jsonl"])
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("row"))
            .collect();
        let archived: Vec<_> = before.iter().filter(|e| e.seq < 20 && e.seq % 2 == 1).collect();
        assert_eq!(rows.len(), archived.len());
        for (row, old) in rows.iter().zip(archived) {
            assert_eq!(row["seq"], old.seq);
            assert_eq!(row["leaf_hash"], old.leaf_hash.to_string());
            let content: audit_core::Event = serde_json::from_value(row["event"].clone()).expect("event");
            assert_eq!(&content, old.event.as_ref().expect("content"));
        }

        // Releasing the hold lets the next run archive jane's old events.
        let released = store.release_hold(&account.id, &hold.id, "settled", &origin()).await.expect("release");
        assert_eq!(store.hold_coverage(&released).await.expect("coverage").events, 0, "a released hold keeps nothing");
        let run = store.run_retention(&ledger.id, &archive, &origin(), None).await.expect("run");
        assert_eq!((run.archived, run.held), (10, 0));
        let remaining = store.events_in_order(&ledger.id, 0, 30, 100).await.expect("read");
        assert_eq!(remaining.iter().filter(|e| e.event.is_none()).count(), 20);
        proofs_verify(&store, &ledger, &(0..30).collect::<Vec<_>>()).await;
        let again = store.run_retention(&ledger.id, &archive, &origin(), None).await.expect("run");
        assert_eq!(again.archived, 0, "nothing is archived twice");

        // No other path removes content, and the records cannot be undone.
        let id = ledger.id.as_str();
        for sql in [
            format!("UPDATE events SET content = NULL WHERE ledger_id = '{id}' AND seq = 25"),
            format!("DELETE FROM archival_ranges WHERE ledger_id = '{id}'"),
            format!("UPDATE archivals SET sha256 = 'forged' WHERE ledger_id = '{id}'"),
            format!("DELETE FROM archivals WHERE ledger_id = '{id}'"),
            format!(
                "INSERT INTO archival_ranges (ledger_id, start_seq, end_seq, archival_id) VALUES ('{id}', 5, 26, '{}')",
                record.id
            ),
        ] {
            let error = execute_raw(&url, &sql).await.expect_err(&format!("{sql} must be refused ({url})"));
            let text = error.to_string();
            assert!(text.contains("immutable"), "{sql}: {text}");
        }

        let system = store.system_ledger(&account.id).await.expect("system");
        let archived_events = EventFilter { action: Some("retention.archived".into()), ..EventFilter::default() };
        let page = store.list_events(&system, &archived_events, None, 10).await.expect("system events");
        assert_eq!(page.events.len(), 2);
        let metadata =
            serde_json::to_value(page.events[1].event.as_ref().expect("content")).expect("json")["metadata"].clone();
        assert_eq!(
            (metadata["sha256"].as_str(), metadata["events"].as_u64()),
            (Some(record.sha256.as_str()), Some(10))
        );
        let held = EventFilter { action: Some("retention.held".into()), ..EventFilter::default() };
        assert_eq!(store.list_events(&system, &held, None, 10).await.expect("held").events.len(), 1);
    }
}

#[tokio::test]
async fn a_crash_between_the_archive_file_and_the_tombstones_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (n, (store, _url)) in both_backends(dir.path()).await.into_iter().enumerate() {
        let root = dir.path().join(format!("archive-{n}"));
        let archive = ArchiveStore::Directory(root.clone());
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "old", &origin()).await.expect("ledger");
        let events = (0..12).map(|i| event_at(i, "joe", &format!("2024-03-{:02}T08:00:00.5+02:00", i + 1))).collect();
        store.append(&ledger, events).await.expect("append");
        store.set_retention(&ledger, days(365), true, &origin()).await.expect("policy");

        crash_archival_after_write(&store, true);
        store.run_retention(&ledger.id, &archive, &origin(), None).await.expect_err("the process died");
        let kept = store.events_in_order(&ledger.id, 0, 12, 100).await.expect("read");
        assert!(kept.iter().all(|e| e.event.is_some()), "nothing removed without its transaction");
        assert!(store.list_archivals(&ledger.id, 10).await.expect("list").is_empty());
        let orphans = std::fs::read_dir(root.join(ledger.id.as_str())).expect("dir").count();
        assert_eq!(orphans, 1, "the file that no record names stays, harmless");

        crash_archival_after_write(&store, false);
        let run = store.run_retention(&ledger.id, &archive, &origin(), None).await.expect("the next run");
        assert_eq!(run.archived, 12);
        let record = &run.archivals[0];
        // Consecutive seqs: a contiguous export with its range proof.
        let members = unzip(&archive.read(&record.location).await.expect("file"));
        let manifest: Manifest = serde_json::from_slice(&members["manifest.json"]).expect("manifest");
        assert_eq!((manifest.filter, manifest.range.start, manifest.range.end), (None, 0, 12));
        assert!(members.contains_key("proof.json"));
        proofs_verify(&store, &ledger, &(0..12).collect::<Vec<_>>()).await;
        assert_eq!(std::fs::read_dir(root.join(ledger.id.as_str())).expect("dir").count(), 2);
        // Archived before they were indexed: the index learns nothing of them.
        while store.index_pending().await.expect("index") > 0 {}
        let joe = EventFilter { actor_id: Some("joe".into()), ..EventFilter::default() };
        assert!(store.list_events(&ledger.id, &joe, None, 100).await.expect("filtered").events.is_empty());
        let all = store.list_events(&ledger.id, &EventFilter::default(), None, 100).await.expect("all");
        assert_eq!(all.events.iter().filter(|e| e.event.is_none()).count(), 12, "listed as tombstones");
    }
}

#[tokio::test]
async fn a_hold_counts_the_events_it_covers_in_the_index_and_in_the_unindexed_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (n, (store, _url)) in both_backends(dir.path()).await.into_iter().enumerate() {
        let archive = ArchiveStore::Directory(dir.path().join(format!("archive-{n}")));
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let billing = store.create_ledger(&account.id, "billing", &origin()).await.expect("ledger");
        let crm = store.create_ledger(&account.id, "crm", &origin()).await.expect("ledger");
        // billing: jane on the 1st, 3rd, 5th; joe on the 2nd, 4th, 6th of January 2025, indexed.
        let events = (0..6)
            .map(|i| event_at(i, if i % 2 == 0 { "jane" } else { "joe" }, &format!("2025-01-{:02}T10:00:00Z", i + 1)))
            .collect();
        store.append(&billing, events).await.expect("append");
        store.append(&crm, vec![event_at(50, "jane", "2025-01-02T10:00:00Z")]).await.expect("append");
        while store.index_pending().await.expect("index") > 0 {}
        // Two more of jane's, not indexed yet: counted from the tail.
        let tail = (6..8).map(|i| event_at(i, "jane", "2025-02-01T10:00:00Z")).collect();
        store.append(&billing, tail).await.expect("append");
        let billing = store.ledger(&account.id, &billing.id).await.expect("ledger");
        assert!(billing.indexed_size < billing.tree_size, "the tail is unindexed");

        let jane = HoldScope::new(None, None, Some("jane".into()), None).expect("scope");
        let hold = store.place_hold(&account.id, Some(&billing), "C-1", "r", jane, &origin()).await.expect("hold");
        let covered = store.hold_coverage(&hold).await.expect("coverage");
        assert_eq!((covered.events, covered.uncounted), (5, 0), "3 indexed and 2 in the tail, not crm's");

        // Account-wide, by time only: [2 Jan, 4 Jan) is billing's seqs 1, 2 and crm's one.
        let days_2_3 =
            HoldScope::new(Some("2025-01-02T00:00:00Z"), Some("2025-01-04T00:00:00Z"), None, None).expect("scope");
        let wide = store.place_hold(&account.id, None, "C-2", "r", days_2_3, &origin()).await.expect("hold");
        assert_eq!(store.hold_coverage(&wide).await.expect("coverage").events, 3);
        // Both scopes at once: jane on those days is billing's seq 2 and crm's one.
        let both =
            HoldScope::new(Some("2025-01-02T00:00:00Z"), Some("2025-01-04T00:00:00Z"), Some("jane".into()), None)
                .expect("scope");
        let narrow = store.place_hold(&account.id, None, "C-3", "r", both, &origin()).await.expect("hold");
        assert_eq!(store.hold_coverage(&narrow).await.expect("coverage").events, 2);

        // Tombstones are kept by nothing: once joe's events are archived, a
        // whole-ledger hold counts what still has content.
        for id in [&hold.id, &wide.id, &narrow.id] {
            store.release_hold(&account.id, id, "done", &origin()).await.expect("release");
        }
        store.set_retention(&billing, days(30), false, &origin()).await.expect("policy");
        let jane = HoldScope::new(None, None, Some("jane".into()), None).expect("scope");
        store.place_hold(&account.id, Some(&billing), "C-4", "r", jane, &origin()).await.expect("hold");
        let run = store.run_retention(&billing.id, &archive, &origin(), None).await.expect("run");
        assert_eq!(run.archived, 3, "joe's three");
        let everything = store
            .place_hold(&account.id, Some(&billing), "C-5", "r", HoldScope::default(), &origin())
            .await
            .expect("hold");
        assert_eq!(store.hold_coverage(&everything).await.expect("coverage").events, 5, "8 events, 3 tombstones");
    }
}
