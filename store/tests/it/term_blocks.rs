//! The SQLite filter index is kept in blocks of 65,536 events (see
//! `store/src/ledger/term_blocks.rs`): searches, pages and hold counts walk
//! them newest first and find every event whichever block it is in.

use store::lifecycle::holds::HoldScope;
use store::testing::{options, origin, sqlite_url_in};
use store::{EventFilter, Store};

use crate::event;

const BLOCK: u64 = 1 << 16;

#[tokio::test]
async fn searches_pages_and_hold_counts_cross_the_index_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&sqlite_url_in(dir.path()), options()).await.expect("store");
    let (account, _) = store.ensure_account("acme").await.expect("account");
    let ledger = store.create_ledger(&account.id, "big", &origin()).await.expect("ledger");
    // Two full blocks and part of a third; one event in 1,000 is rare's.
    let total = 2 * BLOCK + 4_000;
    let actor = |n: u64| if n.is_multiple_of(1_000) { "rare" } else { "jane" };
    for start in (0..total).step_by(1_000) {
        let events = (start..(start + 1_000).min(total)).map(|n| event(None, actor(n), n)).collect();
        store.append(&ledger, events).await.expect("append");
    }
    while store.index_pending().await.expect("index") > 0 {}
    assert_eq!(store.indexed_size(&ledger.id).await.expect("indexed"), total);

    // One event a term, on both sides of each boundary.
    for n in [0, BLOCK - 1, BLOCK, 2 * BLOCK - 1, 2 * BLOCK, total - 1] {
        let filter = EventFilter { resource_id: Some(format!("inv_{n}")), ..EventFilter::default() };
        let page = store.list_events(&ledger.id, &filter, None, 10).await.expect("page");
        assert_eq!(page.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [n], "inv_{n}");
        assert!(page.next_cursor.is_none());
    }
    // Two terms: the second is looked up in the first one's block.
    for n in [65_000, 66_000, 131_000, 132_000] {
        let filter =
            EventFilter { actor_id: Some("rare".into()), resource_id: Some(format!("inv_{n}")), ..Default::default() };
        let page = store.list_events(&ledger.id, &filter, None, 10).await.expect("page");
        assert_eq!(page.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [n], "rare and inv_{n}");
    }
    // Its tampered twin: a pair no event has finds nothing in any block.
    let filter =
        EventFilter { actor_id: Some("rare".into()), resource_id: Some("inv_65001".into()), ..Default::default() };
    assert!(store.list_events(&ledger.id, &filter, None, 10).await.expect("page").events.is_empty());

    // Pages of 7 walk every one of rare's events newest first, with pages
    // that end and start in different blocks.
    let filter = EventFilter { actor_id: Some("rare".into()), ..EventFilter::default() };
    let (mut seen, mut cursor) = (Vec::new(), None);
    loop {
        let page = store.list_events(&ledger.id, &filter, cursor.as_deref(), 7).await.expect("page");
        seen.extend(page.events.iter().map(|e| e.seq));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<u64> = (0..total).rev().filter(|n| n.is_multiple_of(1_000)).collect();
    assert_eq!(seen, expected);

    // A hold's count adds every block up.
    let scope = HoldScope::new(None, None, Some("rare".into()), None).expect("scope");
    let hold = store.place_hold(&account.id, Some(&ledger), "C-1", "litigation", scope, &origin()).await.expect("hold");
    let covered = store.hold_coverage(&hold).await.expect("coverage");
    assert_eq!((covered.events, covered.uncounted), (expected.len() as u64, 0));
}
