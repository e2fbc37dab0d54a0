//! Every read verifies what the database holds: rows edited behind the
//! application's back (raw SQL, the triggers bypassed as an attacker with
//! database access would) are refused naming the event and recorded as
//! findings; listings scan the unindexed tail in bounded steps; the indexer
//! goes on past a record that does not open.

use store::testing::{blob_literal, record_in_format_1, tamper};
use store::{EventFilter, Ledger, Store, StoreError, MAX_TAIL_SCAN};

use crate::{both_backends, event};

async fn ledger_with(store: &Store, name: &str, events: u64) -> Ledger {
    let (account, _) = store.ensure_account("acme").await.expect("account");
    let ledger = store.create_ledger(&account.id, name, &store::testing::origin()).await.expect("ledger");
    let batch = (0..events).map(|n| event(Some(&format!("{name}-{n}")), "jane", n)).collect();
    store.append(&ledger, batch).await.expect("append");
    ledger
}

fn where_seq(ledger: &Ledger, seq: u64) -> String {
    format!("ledger_id = '{}' AND seq = {seq}", ledger.id.as_str())
}

async fn assert_refused(store: &Store, ledger: &Ledger, id: &str, seq: u64, says: &str) {
    let error = store.event(&ledger.id, id).await.expect_err("an edited row is refused");
    assert!(matches!(error, StoreError::Integrity(_)), "{error}");
    let text = error.to_string();
    assert!(text.contains(&format!("(seq {seq})")) && text.contains(ledger.id.as_str()), "names it: {text}");
    assert!(text.contains(says), "{text} should say {says:?}");
    let listing = store.list_events(&ledger.id, &EventFilter::default(), None, 500).await;
    assert!(matches!(listing, Err(StoreError::Integrity(_))), "the listing refuses it too: {listing:?}");
    let findings = store.integrity_findings(&ledger.id).await.expect("findings");
    let finding = findings.iter().find(|f| f.seq == seq).expect("recorded for the tamper monitor");
    assert!(finding.times >= 2 && finding.detail.contains(says), "{finding:?}");
}

#[tokio::test]
async fn every_column_of_an_event_row_edited_behind_the_applications_back_is_refused_on_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let bound = "a column of its row";
        // (column edited, the SQL SET clause, the id to read it by)
        let cases: [(&str, String, Option<&str>); 6] = [
            ("event_id", "event_id = 'forged'".into(), Some("forged")),
            ("occurred_ms", "occurred_ms = occurred_ms - 3600000".into(), None),
            ("received_ms", "received_ms = received_ms + 1".into(), None),
            ("leaf_hash", "leaf_hash = chain_hash".into(), None),
            ("chain_hash", "chain_hash = leaf_hash".into(), None),
            ("content", String::new(), None),
        ];
        for (column, set, read_as) in cases {
            let ledger = ledger_with(&store, column, 4).await;
            let set = if column == "content" {
                // Another row's record, valid in itself.
                format!("content = (SELECT content FROM events WHERE {})", where_seq(&ledger, 2))
            } else {
                set
            };
            let edited = tamper(&url, &format!("UPDATE events SET {set} WHERE {}", where_seq(&ledger, 1))).await;
            assert_eq!(edited.expect("tampered"), 1, "{column}");
            let id = read_as.map_or_else(|| format!("{column}-1"), str::to_owned);
            assert_refused(&store, &ledger, &id, 1, bound).await;
            // The rows around it are untouched and still read.
            for n in [0, 2, 3] {
                let stored = store.event(&ledger.id, &format!("{column}-{n}")).await.expect("intact row");
                assert_eq!(stored.seq, n);
            }
        }

        // A row moved to another seq does not open there.
        let ledger = ledger_with(&store, "moved", 3).await;
        tamper(&url, &format!("UPDATE events SET seq = 7 WHERE {}", where_seq(&ledger, 2))).await.expect("moved");
        assert_refused(&store, &ledger, "moved-2", 7, "failed authenticated decryption").await;
    }
}

#[tokio::test]
async fn records_of_the_earlier_format_still_read_and_their_columns_are_checked_against_the_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let ledger = ledger_with(&store, "old", 5).await;
        // Every row rewritten as a release before the hardening sealed it.
        for seq in 0..5 {
            let old = record_in_format_1(&store, &ledger.id, seq).await.expect("format 1");
            assert_eq!(old[0], 0x01);
            let sql =
                format!("UPDATE events SET content = {} WHERE {}", blob_literal(&url, &old), where_seq(&ledger, seq));
            tamper(&url, &sql).await.expect("rewritten");
        }
        let page = store.list_events(&ledger.id, &EventFilter::default(), None, 10).await.expect("old records read");
        assert_eq!(page.events.len(), 5);

        // Format 1 binds none of these columns: the content catches them.
        let cases = [
            (1, "event_id = 'forged'", "forged", "holds the content of event \"old-1\""),
            (2, "leaf_hash = chain_hash", "old-2", "does not hash to the row's leaf hash"),
            (3, "occurred_ms = occurred_ms - 86400000", "old-3", "occurred at another time"),
        ];
        for (seq, set, id, says) in cases {
            tamper(&url, &format!("UPDATE events SET {set} WHERE {}", where_seq(&ledger, seq))).await.expect("edit");
            assert_refused(&store, &ledger, id, seq, says).await;
        }
        // A time filter is answered from the content's time, not a column:
        // the row moved into the day before is refused, not listed there.
        let day_before = EventFilter {
            from_ms: Some(1_795_683_600_123 - 86_400_000 - 3_600_000),
            to_ms: Some(1_795_683_600_123 - 3_600_000),
            ..Default::default()
        };
        let listing = store.list_events(&ledger.id, &day_before, None, 10).await;
        assert!(matches!(listing, Err(StoreError::Integrity(_))), "{listing:?}");
        let findings = store.integrity_findings(&ledger.id).await.expect("findings");
        assert_eq!(findings.iter().map(|f| f.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(findings[0].event_id, "forged", "as its row says");
    }
}

#[tokio::test]
async fn a_record_that_does_not_open_is_recorded_and_the_rest_of_the_ledger_is_indexed() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let ledger = ledger_with(&store, "idx", 10).await;
        tamper(&url, &format!("UPDATE events SET received_ms = received_ms + 1 WHERE {}", where_seq(&ledger, 3)))
            .await
            .expect("tampered");
        // Indexed by a process that reads the records back (this one was
        // handed the terms at append and would not read them).
        let reader = store::Store::open(&url, store::testing::options()).await.expect("second store");
        while reader.index_pending().await.expect("indexing goes on") > 0 {}
        assert_eq!(store.indexed_size(&ledger.id).await.expect("indexed"), 10);
        let findings = store.integrity_findings(&ledger.id).await.expect("findings");
        assert_eq!(findings.len(), 1);
        assert_eq!((findings[0].seq, findings[0].event_id.as_str()), (3, "idx-3"));
        // The other events are searchable through the index.
        let filter = EventFilter { resource_id: Some("inv_5".into()), ..Default::default() };
        let page = store.list_events(&ledger.id, &filter, None, 10).await.expect("search");
        assert_eq!(page.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [5]);
    }
}

#[tokio::test]
async fn a_filtered_listing_scans_the_unindexed_tail_in_bounded_steps_and_a_cursor_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, _url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "tail", &store::testing::origin()).await.expect("ledger");
        store.append(&ledger, vec![event(None, "needle", 0)]).await.expect("needle");
        let hay = MAX_TAIL_SCAN + 300;
        for start in (0..hay).step_by(1000) {
            let batch = (start..hay.min(start + 1000)).map(|n| event(None, "hay", n)).collect();
            store.append(&ledger, batch).await.expect("hay");
        }
        assert_eq!(store.indexed_size(&ledger.id).await.expect("nothing indexed"), 0);
        let needle = EventFilter { actor_id: Some("needle".into()), ..Default::default() };

        // The first request stops after MAX_TAIL_SCAN rows with a cursor.
        let first = store.list_events(&ledger.id, &needle, None, 10).await.expect("first page");
        assert!(first.events.is_empty());
        let cursor = first.next_cursor.expect("a cursor to go on from");
        let second = store.list_events(&ledger.id, &needle, Some(&cursor), 10).await.expect("second page");
        assert_eq!(second.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [0]);
        assert!(second.next_cursor.is_none());

        // A page that fills stops at its limit whatever the tail's size.
        let hay_filter = EventFilter { actor_id: Some("hay".into()), ..Default::default() };
        let page = store.list_events(&ledger.id, &hay_filter, None, 3).await.expect("hay page");
        assert_eq!(page.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [hay, hay - 1, hay - 2]);
        assert!(page.next_cursor.is_some());

        // Once indexed, the same search is one page.
        while store.index_pending().await.expect("index") > 0 {}
        let indexed = store.list_events(&ledger.id, &needle, None, 10).await.expect("indexed search");
        assert_eq!(indexed.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [0]);
        assert!(indexed.next_cursor.is_none());
    }
}
