//! The system-event outbox: a change and its system event commit together,
//! and nothing is lost or doubled when the process dies in between.

use store::testing::{execute_raw, fetch_blobs, options, origin, pause_outbox};
use store::{AccountId, EventFilter, Store, StoredEvent};

/// The system ledger's events with `action`.
async fn system_events(store: &Store, account: &AccountId, action: &str) -> Vec<StoredEvent> {
    let system = store.system_ledger(account).await.expect("system ledger");
    let filter = EventFilter { action: Some(action.into()), ..EventFilter::default() };
    store.list_events(&system, &filter, None, 100).await.expect("listing").events
}

async fn outbox_rows(url: &str) -> usize {
    fetch_blobs(url, "SELECT sealed FROM system_outbox").await.expect("outbox").len()
}

#[tokio::test]
async fn a_change_recorded_before_a_crash_is_appended_once_after_the_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in crate::both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        // The process "dies" after the change's commit, before the append.
        pause_outbox(&store, true);
        let ledger = store.create_ledger(&account.id, "billing", &origin()).await.expect("ledger");
        assert!(system_events(&store, &account.id, "ledger.created").await.is_empty(), "not appended yet");
        assert_eq!(outbox_rows(&url).await, 1, "but committed with the change");
        // Nothing of the event is readable in the outbox row.
        let sealed = fetch_blobs(&url, "SELECT sealed FROM system_outbox").await.expect("row");
        assert!(!sealed[0].windows(7).any(|w| w == b"billing"), "the outbox row is sealed");
        execute_raw(
            &url,
            "CREATE TABLE outbox_copy AS SELECT account_id, event_id, sealed, created_ms FROM system_outbox",
        )
        .await
        .expect("copy");
        store.close().await;

        // A fresh process on the same database drains what was left.
        let restarted = Store::open(&url, options()).await.expect("reopens");
        assert_eq!(restarted.drain_outboxes().await.expect("drain"), 1);
        let recorded = system_events(&restarted, &account.id, "ledger.created").await;
        assert_eq!(recorded.len(), 1, "appended exactly once");
        let event = serde_json::to_value(recorded[0].event.as_ref().expect("content")).expect("json");
        assert_eq!(event["resource"]["id"], ledger.id.as_str());
        assert_eq!(event["actor"], serde_json::json!({"type": "cli", "id": "test"}));
        assert_eq!(event["metadata"]["name"], "billing");
        assert_eq!(outbox_rows(&url).await, 0, "drained rows are deleted with the append");

        // A row appended again (a drain that ran twice) is answered as a
        // retry: same id, same content, no second event.
        execute_raw(
            &url,
            "INSERT INTO system_outbox (account_id, event_id, sealed, created_ms) \
             SELECT account_id, event_id, sealed, created_ms FROM outbox_copy",
        )
        .await
        .expect("replay");
        assert_eq!(restarted.drain_outboxes().await.expect("drain"), 1);
        assert_eq!(system_events(&restarted, &account.id, "ledger.created").await.len(), 1, "never doubled");
        assert_eq!(outbox_rows(&url).await, 0);
        restarted.close().await;
    }
}

#[tokio::test]
async fn a_refused_change_records_nothing_and_a_tampered_outbox_row_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in crate::both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        store.create_ledger(&account.id, "billing", &origin()).await.expect("ledger");
        // The same name again is refused: neither a ledger nor an event.
        store.create_ledger(&account.id, "billing", &origin()).await.expect_err("duplicate refused");
        assert_eq!(system_events(&store, &account.id, "ledger.created").await.len(), 1);
        assert_eq!(outbox_rows(&url).await, 0, "the refused change left no outbox row");

        // An outbox row moved to another event id does not open: it is set
        // aside, loudly, and appends nothing...
        pause_outbox(&store, true);
        store.create_ledger(&account.id, "other", &origin()).await.expect("ledger");
        execute_raw(&url, "UPDATE system_outbox SET event_id = 'forged-0000'").await.expect("tamper");
        assert_eq!(store.drain_outboxes().await.expect("drain"), 1);
        assert_eq!(system_events(&store, &account.id, "ledger.created").await.len(), 1);
        let aside = fetch_blobs(&url, "SELECT sealed FROM system_outbox WHERE failed_ms IS NOT NULL").await;
        assert_eq!(aside.expect("rows").len(), 1, "kept for the monitor and an operator");
        // ...and the account's later events still go in.
        pause_outbox(&store, false);
        store.create_ledger(&account.id, "later", &origin()).await.expect("ledger");
        assert_eq!(system_events(&store, &account.id, "ledger.created").await.len(), 2);
        assert_eq!(store.drain_outboxes().await.expect("nothing pending"), 0);
    }
}
