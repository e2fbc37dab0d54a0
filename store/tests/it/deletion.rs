//! Ledger deletion on both backends: refused while a hold applies (and
//! recorded), cancelled within its grace period, and at its time leaving no
//! content, no keys, no archive files, and the ledger's final checkpoint in
//! the system ledger; nothing deletes history behind its back.

use audit_core::{Checkpoint, SignedNote};
use store::lifecycle::archive::ArchiveStore;
use store::lifecycle::deletion::DeletionStatus;
use store::lifecycle::holds::HoldScope;
use store::lifecycle::retention::RetentionDays;
use store::testing::{execute_raw, fetch_blobs, origin};
use store::{EventFilter, StoreError};

use crate::{both_backends, event, system_metadata};

/// How many rows of `ledger` each history table still holds. Term rows
/// name their ledger by its number, which goes with the ledger: any term
/// row of a number no ledger has is one a deletion left behind.
async fn rows_left(url: &str, ledger: &str) -> Vec<(&'static str, usize)> {
    let mut left = Vec::new();
    for (table, column, of_ledger) in [
        ("events", "leaf_hash", format!("ledger_id = '{ledger}'")),
        ("merkle_nodes", "hash", format!("ledger_id = '{ledger}'")),
        ("checkpoints", "root_hash", format!("ledger_id = '{ledger}'")),
        ("ledger_keys", "wrapped", format!("ledger_id = '{ledger}'")),
        ("event_terms", "term", "ledger NOT IN (SELECT number FROM ledgers)".to_owned()),
    ] {
        let sql = format!("SELECT {column} FROM {table} WHERE {of_ledger}");
        left.push((table, fetch_blobs(url, &sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")).len()));
    }
    left
}

/// How many filter-index rows `ledger` has.
async fn terms_of(url: &str, ledger: &str) -> usize {
    let sql = format!("SELECT term FROM event_terms WHERE ledger = (SELECT number FROM ledgers WHERE id = '{ledger}')");
    fetch_blobs(url, &sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")).len()
}

#[tokio::test]
async fn a_ledger_is_deleted_only_unheld_after_its_grace_and_leaves_its_final_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (n, (store, url)) in both_backends(dir.path()).await.into_iter().enumerate() {
        let root = dir.path().join(format!("archive-{n}"));
        let archive = ArchiveStore::Directory(root.clone());
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let doomed = store.create_ledger(&account.id, "doomed", &origin()).await.expect("ledger");
        let kept = store.create_ledger(&account.id, "kept", &origin()).await.expect("ledger");
        store.append(&doomed, (0..40).map(|i| event(None, "jane", i)).collect()).await.expect("append");
        store.append(&kept, (0..5).map(|i| event(None, "joe", i)).collect()).await.expect("append");
        while store.index_pending().await.expect("index") > 0 {}
        // Some of it archived (events of 2026-11-26 are past one day), under a locked policy.
        store.set_retention(&doomed, RetentionDays::new(1).expect("days"), true, &origin()).await.expect("policy");
        let doomed_now = store.ledger(&account.id, &doomed.id).await.expect("ledger");
        let run = store.run_retention(&doomed.id, &archive, &origin(), None).await.expect("archival");
        assert_eq!(run.archived, 40);
        store.append(&doomed_now, (40..50).map(|i| event(None, "jane", i)).collect()).await.expect("append");
        let doomed = store.ledger(&account.id, &doomed.id).await.expect("ledger");

        // A hold refuses it, and the refusal is recorded.
        let hold = store
            .place_hold(&account.id, None, "Audit", "whole account", HoldScope::default(), &origin())
            .await
            .expect("hold");
        let error = store.schedule_ledger_deletion(&doomed, 0, &origin()).await.expect_err("held");
        assert!(matches!(&error, StoreError::Conflict(m) if m.contains(&hold.id) && m.contains("Audit")), "{error}");
        assert_eq!(system_metadata(&store, &account.id, "ledger.deletion_refused").await.len(), 1);
        store.release_hold(&account.id, &hold.id, "done", &origin()).await.expect("release");

        let system = store.ledger(&account.id, &account.system_ledger).await.expect("system");
        let error = store.schedule_ledger_deletion(&system, 0, &origin()).await.expect_err("system ledger");
        assert!(error.to_string().contains("only with its account"), "{error}");

        // Scheduled, then cancelled within the grace period.
        let week = 7 * 86_400_000;
        let scheduled = store.schedule_ledger_deletion(&doomed, week, &origin()).await.expect("scheduled");
        assert_eq!(scheduled.status, DeletionStatus::Scheduled);
        let listed = store.ledger(&account.id, &doomed.id).await.expect("ledger");
        assert_eq!(listed.delete_at_ms, Some(scheduled.delete_at_ms));
        let again = store.schedule_ledger_deletion(&listed, week, &origin()).await.expect_err("once");
        assert!(again.to_string().contains("scheduled already"), "{again}");
        assert_eq!(store.run_ledger_deletions(&archive, &origin()).await.expect("run"), 0, "not due yet");
        let cancelled = store.cancel_ledger_deletion(&listed, &origin()).await.expect("cancel");
        assert_eq!(cancelled.status, DeletionStatus::Cancelled);
        let restored = store.ledger(&account.id, &doomed.id).await.expect("ledger");
        assert_eq!(restored.delete_at_ms, None);

        // Due at once; a hold placed meanwhile keeps it until released.
        let due = store.schedule_ledger_deletion(&restored, 0, &origin()).await.expect("scheduled");
        let scope = HoldScope::new(None, None, Some("jane".into()), None).expect("scope");
        let late =
            store.place_hold(&account.id, Some(&restored), "Late", "found more", scope, &origin()).await.expect("hold");
        for _ in 0..2 {
            assert_eq!(store.run_ledger_deletions(&archive, &origin()).await.expect("run"), 0, "held");
        }
        let refusals = system_metadata(&store, &account.id, "ledger.deletion_refused").await;
        assert_eq!(refusals.len(), 2, "recorded once per change of the holds: {refusals:?}");
        assert_eq!(refusals[0]["holds"], serde_json::json!([late.id]));
        store.ledger(&account.id, &doomed.id).await.expect("still there");
        // Behind the store's back, nothing of it can be deleted while scheduled.
        let id = doomed.id.as_str();
        for sql in [
            format!("DELETE FROM events WHERE ledger_id = '{id}'"),
            format!("DELETE FROM checkpoints WHERE ledger_id = '{id}'"),
            format!("DELETE FROM ledgers WHERE id = '{id}'"),
            format!("UPDATE ledger_deletions SET status = 'deleting' WHERE ledger_id = '{id}' AND status = 'scheduled'"),
            format!("DELETE FROM ledger_deletions WHERE ledger_id = '{id}'"),
            format!(
                "INSERT INTO ledger_deletions (deletion_id, ledger_id, account_id, name, status, requested_by_type, \
                 requested_by_id, requested_ms, delete_at_ms) VALUES ('del_forged', '{}', '{}', 'k', 'deleting', 'x', 'x', 0, 0)",
                kept.id.as_str(),
                account.id.as_str()
            ),
        ] {
            let error = execute_raw(&url, &sql).await.expect_err(&format!("{sql} must be refused ({url})"));
            let text = error.to_string();
            assert!(
                ["append-only", "immutable", "legal hold", "kept as made", "starts scheduled"].iter().any(|w| text.contains(w)),
                "{sql}: {text}"
            );
        }
        store.release_hold(&account.id, &late.id, "closed", &origin()).await.expect("release");

        let (final_note, final_checkpoint) = store.verified_checkpoint(&doomed.id, None).await.expect("checkpoint");
        while store.index_pending().await.expect("index") > 0 {}
        assert_eq!(terms_of(&url, id).await, 50, "the unarchived events' terms, before the deletion");
        assert_eq!(store.run_ledger_deletions(&archive, &origin()).await.expect("run"), 1);
        let done = store.ledger_deletion(&due.id).await.expect("record");
        assert_eq!(done.status, DeletionStatus::Deleted);
        assert_eq!(done.final_tree_size, Some(50));
        assert_eq!(done.final_checkpoint.as_deref(), Some(final_note.as_str()));
        let missing = store.ledger(&account.id, &doomed.id).await.expect_err("gone");
        assert!(matches!(missing, StoreError::NotFound(_)), "{missing}");
        assert!(rows_left(&url, id).await.iter().all(|(_, n)| *n == 0), "{:?}", rows_left(&url, id).await);
        assert!(!root.join(id).exists(), "the archive files went with it");
        assert!(store.list_archivals(&doomed.id, 10).await.expect("list").is_empty());

        // The system ledger keeps its final checkpoint, which verifies.
        let deleted = system_metadata(&store, &account.id, "ledger.deleted").await;
        assert_eq!(deleted.len(), 1);
        assert_eq!(deleted[0]["final_tree_size"], 50);
        assert_eq!(deleted[0]["final_root"], final_checkpoint.root().to_string());
        let note = deleted[0]["final_checkpoint"].as_str().expect("note");
        let signed = SignedNote::parse(note).expect("note");
        let body = signed.verify(&[store.verifier_key()]).expect("signed");
        assert_eq!(Checkpoint::parse_body(body).expect("checkpoint").size().get(), 50);

        // The other ledger is untouched, and the record stays.
        let other = store.list_events(&kept.id, &EventFilter::default(), None, 100).await.expect("kept");
        assert!(other.events.len() == 5 && other.events.iter().all(|e| e.event.is_some()));
        let error = execute_raw(&url, &format!("DELETE FROM ledger_deletions WHERE deletion_id = '{}'", due.id))
            .await
            .expect_err("kept");
        assert!(error.to_string().contains("kept as made"), "{error}");
        let history = store.ledger_deletions(&account.id).await.expect("history");
        assert_eq!(
            history.iter().map(|d| d.status).collect::<Vec<_>>(),
            [DeletionStatus::Deleted, DeletionStatus::Cancelled]
        );
    }
}

#[tokio::test]
async fn an_account_is_deleted_with_every_ledger_only_while_nothing_of_it_is_held() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (n, (store, url)) in both_backends(dir.path()).await.into_iter().enumerate() {
        let archive = ArchiveStore::Directory(dir.path().join(format!("archive-{n}")));
        let (account, _) = store.ensure_account("leaving").await.expect("account");
        let (neighbour, _) = store.ensure_account("staying").await.expect("account");
        let mut ledgers = Vec::new();
        for name in ["billing", "auth"] {
            let ledger = store.create_ledger(&account.id, name, &origin()).await.expect("ledger");
            store.append(&ledger, (0..7).map(|i| event(None, "jane", i)).collect()).await.expect("append");
            ledgers.push(ledger);
        }
        let theirs = store.create_ledger(&neighbour.id, "billing", &origin()).await.expect("ledger");
        store.append(&theirs, vec![event(None, "joe", 1)]).await.expect("append");
        let new = store::NewApiKey {
            name: "w".into(),
            permission: store::Permission::Write,
            scope: store::KeyScope::AccountWide,
            created_by: None,
        };
        let (_, secret) = store.create_api_key(&account.id, new, &origin()).await.expect("key");

        let hold = store
            .place_hold(&account.id, Some(&ledgers[1]), "Case", "kept", HoldScope::default(), &origin())
            .await
            .expect("hold");
        let error = store.delete_account(&account.id, &archive, &origin()).await.expect_err("held");
        assert!(error.to_string().contains(&hold.id), "{error}");
        assert_eq!(system_metadata(&store, &account.id, "account.deletion_refused").await.len(), 1);
        assert!(store.account_by_name("leaving").await.expect("lookup").is_some(), "nothing was deleted");
        store.release_hold(&account.id, &hold.id, "closed", &origin()).await.expect("release");

        let deletions = store.delete_account(&account.id, &archive, &origin()).await.expect("deleted");
        assert_eq!(deletions.len(), 3, "two ledgers and the system ledger");
        assert!(deletions.iter().all(|d| d.status == DeletionStatus::Deleted && d.final_checkpoint.is_some()));
        assert_eq!(deletions[2].ledger, account.system_ledger, "the system ledger last");
        assert!(deletions[2].with_account);
        assert_eq!(deletions[0].final_tree_size, Some(7));
        assert!(store.account_by_name("leaving").await.expect("lookup").is_none());
        assert!(store.authenticate(secret.expose()).await.expect("auth").is_none(), "its keys are gone");
        for d in &deletions {
            assert!(rows_left(&url, d.ledger.as_str()).await.iter().all(|(_, n)| *n == 0));
        }
        // The deletion records outlive the account; the neighbour is untouched.
        assert_eq!(store.ledger_deletions(&account.id).await.expect("records").len(), 3);
        let kept = store.list_events(&theirs.id, &EventFilter::default(), None, 10).await.expect("theirs");
        assert_eq!(kept.events.len(), 1);
        assert!(store.ledger(&neighbour.id, &neighbour.system_ledger).await.is_ok());
    }
}
