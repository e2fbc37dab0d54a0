use store::testing::execute_raw;

use crate::{both_backends, event};

#[tokio::test]
async fn the_database_refuses_to_rewrite_or_delete_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "l").await.expect("ledger");
        store.append(&ledger, (0..20).map(|n| event(None, "u", n)).collect()).await.expect("append");
        let id = ledger.id.as_str();
        for sql in [
            format!("UPDATE events SET event_id = 'forged' WHERE ledger_id = '{id}' AND seq = 3"),
            format!("UPDATE events SET content = NULL, leaf_hash = chain_hash WHERE ledger_id = '{id}' AND seq = 3"),
            format!("DELETE FROM events WHERE ledger_id = '{id}' AND seq = 3"),
            format!("UPDATE merkle_nodes SET hash = hash WHERE ledger_id = '{id}'"),
            format!("DELETE FROM checkpoints WHERE ledger_id = '{id}'"),
        ] {
            let result = execute_raw(&url, &sql).await;
            let error = result.expect_err(&format!("{sql} must be refused ({url})"));
            assert!(error.to_string().contains("immutable") || error.to_string().contains("append-only"), "{error}");
        }
        // The one permitted change: retention's tombstone (content only).
        let tombstoned =
            execute_raw(&url, &format!("UPDATE events SET content = NULL WHERE ledger_id = '{id}' AND seq = 4")).await;
        assert_eq!(tombstoned.expect("tombstone allowed"), 1);
        let page = store.list_events(&ledger.id, &Default::default(), None, 500).await.expect("page");
        let stored = store.event(&ledger.id, page.events[15].id.as_str()).await.expect("event");
        assert_eq!(stored.seq, 4);
        assert!(stored.event.is_none(), "tombstoned content is gone; hashes stay");
    }
}
