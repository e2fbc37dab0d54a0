use audit_core::merkle::{verify_consistency, verify_inclusion, verify_range};
use audit_core::{verify_chain_segment, Checkpoint, Seq, TreeSize};
use store::{EventFilter, StoreError};

use crate::{both_backends, event};

/// Checks everything a reader could check: the chain from genesis, every
/// inclusion proof against the signed checkpoint, a consistency and a range
/// proof.
async fn verify_everything(
    store: &store::Store,
    account: &store::AccountId,
    ledger_id: &audit_core::LedgerId,
    first: u64,
) {
    let ledger = store.ledger(account, ledger_id).await.expect("ledger");
    let n = ledger.tree_size;
    let links = store.chain_links(&ledger.id, 0, n).await.expect("links");
    assert_eq!(links.len() as u64, n);
    verify_chain_segment(&audit_core::genesis(&ledger.id), Seq(0), &links).expect("chain verifies");

    let note = store.checkpoint(&ledger.id, None).await.expect("checkpoint");
    let checkpoint = Checkpoint::open_for_origin(&note, &[store.verifier_key()], &ledger.origin).expect("signed by us");
    assert_eq!(checkpoint.size(), TreeSize(n));
    for (seq, link) in links.iter().enumerate() {
        let proof = store.inclusion_proof(&ledger, seq as u64, n).await.expect("proof");
        verify_inclusion(seq as u64, TreeSize(n), &link.leaf_hash, &proof, checkpoint.root())
            .expect("inclusion verifies");
    }
    if n >= 2 {
        // The checkpoint of the first commit is consistent with the latest.
        let old = store.checkpoint(&ledger.id, Some(first)).await.expect("first checkpoint");
        let old = Checkpoint::open(&old, &[store.verifier_key()]).expect("old checkpoint");
        let proof = store.consistency_proof(&ledger, first, n).await.expect("consistency");
        verify_consistency(TreeSize(first), TreeSize(n), old.root(), checkpoint.root(), &proof).expect("consistent");
        let mut forged = proof.clone();
        forged[0] = audit_core::hash::leaf_hash(b"forged");
        assert!(verify_consistency(TreeSize(first), TreeSize(n), old.root(), checkpoint.root(), &forged).is_err());
        let leaves: Vec<_> = links[1..n as usize].iter().map(|l| l.leaf_hash).collect();
        let proof = store.range_proof(&ledger, 1, n, n).await.expect("range");
        verify_range(1, n, TreeSize(n), &leaves, &proof, checkpoint.root()).expect("range verifies");
        // The tampered twin: a changed leaf must not verify.
        let mut tampered = leaves.clone();
        tampered[0] = audit_core::hash::leaf_hash(b"forged");
        assert!(verify_range(1, n, TreeSize(n), &tampered, &proof, checkpoint.root()).is_err());
    }
}

#[tokio::test]
async fn appends_are_chained_proven_and_read_back_on_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "billing", &store::testing::origin()).await.expect("ledger");

        let one = store.append(&ledger, vec![event(Some("evt_1"), "u_1", 1)]).await.expect("append one");
        assert_eq!(one.tree_size, 1);
        assert_eq!(one.events[0].seq, 0);
        let batch: Vec<_> = (2..40).map(|n| event(None, &format!("u_{}", n % 3), n)).collect();
        let appended = store.append(&ledger, batch).await.expect("append batch");
        assert_eq!(appended.tree_size, 39);
        assert_eq!(appended.events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..39).collect::<Vec<_>>());

        verify_everything(&store, &account.id, &ledger.id, 1).await;

        let stored = store.event(&ledger.id, "evt_1").await.expect("read back");
        let content = serde_json::to_value(stored.event.expect("content")).expect("json");
        assert_eq!(content["occurred_at"], "2026-11-26T09:00:00.123Z", "normalised to UTC milliseconds ({url})");
        assert_eq!(content["metadata"]["note"], "héllo");
        // What a client reads back hashes to the stored leaf.
        let input: audit_core::EventInput = serde_json::from_value(content).expect("input");
        let event = input.into_event(|| unreachable!("id present")).expect("valid");
        assert_eq!(event.leaf_hash(), stored.leaf_hash);
        assert_eq!(stored.leaf_hash, one.events[0].leaf_hash);
    }
}

#[tokio::test]
async fn retries_are_idempotent_and_conflicting_reuse_fails_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, _) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "l", &store::testing::origin()).await.expect("ledger");
        let first = store.append(&ledger, vec![event(Some("evt_a"), "u_1", 1)]).await.expect("append");
        let retry = store.append(&ledger, vec![event(Some("evt_a"), "u_1", 1)]).await.expect("retry");
        assert_eq!(first.events, retry.events, "a retry returns the stored record");
        let ledger = store.ledger(&account.id, &ledger.id).await.expect("ledger");
        assert_eq!(ledger.tree_size, 1, "no duplicate");

        // Same id, other content, in a batch with a new event: nothing stored.
        let conflict = store
            .append(&ledger, vec![event(Some("evt_new"), "u_1", 5), event(Some("evt_a"), "u_2", 1)])
            .await
            .expect_err("conflict");
        assert!(matches!(conflict, StoreError::Conflict(_)), "{conflict:?}");
        assert!(matches!(store.event(&ledger.id, "evt_new").await, Err(StoreError::NotFound(_))), "all or nothing");
        assert_eq!(store.ledger(&account.id, &ledger.id).await.expect("ledger").tree_size, 1);
    }
}

#[tokio::test]
async fn concurrent_appends_share_commits_without_forking_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, _) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "busy", &store::testing::origin()).await.expect("ledger");
        let mut tasks = Vec::new();
        for client in 0..16u64 {
            let store = store.clone();
            let ledger = ledger.clone();
            tasks.push(tokio::spawn(async move {
                for round in 0..5u64 {
                    let batch = (0..10).map(|i| event(None, "u_c", client * 1000 + round * 10 + i)).collect();
                    store.append(&ledger, batch).await.expect("append");
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let ledger = store.ledger(&account.id, &ledger.id).await.expect("ledger");
        assert_eq!(ledger.tree_size, 16 * 5 * 10);
        let first = store.checkpoint_sizes(&ledger.id, 0, 1).await.expect("sizes")[0];
        verify_everything(&store, &account.id, &ledger.id, first).await;
    }
}

/// Copies of a batch (a client's retries) sent while the batch is being
/// committed, or just after, are answered with the records it wrote and
/// stored once, whether they land in its group or a later one.
#[tokio::test]
async fn retries_sent_while_their_batch_commits_are_answered_with_its_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "retries", &store::testing::origin()).await.expect("ledger");
        store.append(&ledger, vec![event(None, "u_r", 0)]).await.expect("first commit");
        for round in 0..2u64 {
            // A batch large enough that its transaction takes a while, and
            // copies of it sent a moment apart: some land in its group,
            // some in the next.
            let mut tasks = Vec::new();
            for delay_ms in [0, 2, 5, 10, 20, 40, 80] {
                let (store, ledger) = (store.clone(), ledger.clone());
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                    let batch = (0..3_000)
                        .map(|i| event(Some(&format!("evt_{round}_{i}")), "u_r", round * 10_000 + i))
                        .collect();
                    store.append(&ledger, batch).await.expect("append or retry")
                }));
            }
            let mut answers = Vec::new();
            for task in tasks {
                answers.push(task.await.expect("task"));
            }
            for copy in &answers {
                assert_eq!(copy.events, answers[0].events, "round {round}: every copy has the same records ({url})");
            }
        }
        let ledger = store.ledger(&account.id, &ledger.id).await.expect("ledger");
        assert_eq!(ledger.tree_size, 1 + 2 * 3_000, "each event stored once ({url})");
        let first = store.checkpoint_sizes(&ledger.id, 0, 1).await.expect("sizes")[0];
        verify_everything(&store, &account.id, &ledger.id, first).await;
    }
}

/// A writer keeps the Merkle frontier its own last commit left. Two
/// processes appending in turns to one ledger each find it stale every time
/// (the other moved the head): it must be reloaded, or the chain would fork
/// or the insert collide. A retry of an id the other process committed is
/// still answered with its stored record, and the same id with other
/// content is still a conflict.
#[tokio::test]
async fn two_processes_appending_in_turns_neither_fork_the_chain_nor_lose_retries() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (first_process, url) in both_backends(dir.path()).await {
        let second_process = store::Store::open(&url, store::testing::options()).await.expect("second store");
        let (account, _) = first_process.ensure_account("acme").await.expect("account");
        let ledger =
            first_process.create_ledger(&account.id, "turns", &store::testing::origin()).await.expect("ledger");
        let processes = [&first_process, &second_process];
        for round in 0..6u64 {
            let process = processes[usize::from(round % 2 == 1)];
            let batch = (0..7).map(|i| event(Some(&format!("evt_{round}_{i}")), "u_t", round * 10 + i)).collect();
            let appended = process.append(&ledger, batch).await.expect("append");
            assert_eq!(appended.tree_size, (round + 1) * 7, "round {round} ({url})");
        }
        // The first process last committed round 4; round 5 is the second's.
        let retry = first_process.append(&ledger, vec![event(Some("evt_5_3"), "u_t", 53)]).await.expect("retry");
        assert_eq!((retry.tree_size, retry.events[0].seq), (42, 38), "the stored record ({url})");
        let conflict =
            first_process.append(&ledger, vec![event(Some("evt_5_4"), "u_other", 54)]).await.expect_err("conflict");
        assert!(matches!(conflict, StoreError::Conflict(_)), "{conflict:?} ({url})");
        let ledger = first_process.ledger(&account.id, &ledger.id).await.expect("ledger");
        assert_eq!(ledger.tree_size, 42, "nothing added by the retry or the conflict ({url})");
        let first = first_process.checkpoint_sizes(&ledger.id, 0, 1).await.expect("sizes")[0];
        verify_everything(&first_process, &account.id, &ledger.id, first).await;
        verify_everything(&second_process, &account.id, &ledger.id, first).await;
    }
}
/// The terms of a ledger's event index, as `term:seq` in hex, in order.
async fn term_rows(url: &str, ledger: &audit_core::LedgerId) -> Vec<String> {
    let of = format!(
        "FROM event_terms WHERE ledger = (SELECT number FROM ledgers WHERE id = '{ledger}') ORDER BY seq, term"
    );
    let terms = store::testing::fetch_blobs(url, &format!("SELECT term {of}")).await.expect("terms");
    let seqs = store::testing::fetch_texts(url, &format!("SELECT CAST(seq AS TEXT) {of}")).await.expect("seqs");
    terms.iter().zip(seqs).map(|(term, seq)| format!("{}:{seq}", hex::encode(term))).collect()
}

/// Forgets a ledger's filter index, behind the application's back.
async fn unindex(url: &str, ledger: &audit_core::LedgerId) {
    store::testing::execute_raw(
        url,
        &format!(
            "DELETE FROM event_terms WHERE ledger = (SELECT number FROM ledgers WHERE id = '{ledger}'); \
             UPDATE index_progress SET indexed_size = 0 WHERE ledger_id = '{ledger}'"
        ),
    )
    .await
    .expect("unindexed");
}

/// The indexer writes the terms the append path handed it, without reading
/// the events back, and they are the terms it reads back from the stored
/// records when it was handed none (another process, a restart).
#[tokio::test]
async fn handed_over_terms_are_the_terms_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "handoff", &store::testing::origin()).await.expect("ledger");
        for start in (0..3_000).step_by(500) {
            let events = (start..start + 500).map(|n| event(None, &format!("u_{}", n % 7), n)).collect();
            store.append(&ledger, events).await.expect("append");
        }
        // A second process on the database was handed nothing: it reads.
        let reader = store::Store::open(&url, store::testing::options()).await.expect("second store");
        reader.index_pending().await.expect("index by reading");
        assert_eq!(reader.indexed_size(&ledger.id).await.expect("indexed"), 3_000);
        let read_back = term_rows(&url, &ledger.id).await;
        assert_eq!(read_back.len(), 3_000 * 5, "five terms an event ({url})");

        // The stored records made unreadable: only handed-over terms can
        // index them now.
        unindex(&url, &ledger.id).await;
        let garbage = store::testing::blob_literal(&url, b"not a sealed record");
        store::testing::tamper(
            &url,
            &format!("UPDATE events SET content = {garbage} WHERE ledger_id = '{}'", ledger.id),
        )
        .await
        .expect("tampered");
        store.index_pending().await.expect("index the handed-over terms");
        assert_eq!(store.indexed_size(&ledger.id).await.expect("indexed"), 3_000);
        assert_eq!(term_rows(&url, &ledger.id).await, read_back, "the same rows ({url})");

        // The tampered twin: what is read back from these records indexes
        // nothing (they do not open).
        unindex(&url, &ledger.id).await;
        let another = store::Store::open(&url, store::testing::options()).await.expect("third store");
        another.index_pending().await.expect("index by reading");
        assert!(term_rows(&url, &ledger.id).await.is_empty(), "nothing indexed from tampered records ({url})");
    }
}

/// One indexing transaction covers many events, read a few thousand at a
/// time: none is lost or indexed twice at the seams between reads.
#[tokio::test]
async fn a_large_index_batch_finds_every_event_across_its_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "big", &store::testing::origin()).await.expect("ledger");
        let total = 12_001;
        for start in (0..total).step_by(1_000) {
            let events = (start..(start + 1_000).min(total)).map(|n| event(None, "jane", n)).collect();
            store.append(&ledger, events).await.expect("append");
        }
        // Another process, which was handed no terms, reads every event.
        let reader = store::Store::open(&url, store::testing::options()).await.expect("second store");
        reader.index_pending().await.expect("index");
        assert_eq!(store.indexed_size(&ledger.id).await.expect("indexed"), total, "one batch ({url})");
        for n in [0, 4_999, 5_000, 5_001, 9_999, 10_000, 12_000] {
            let filter = EventFilter { resource_id: Some(format!("inv_{n}")), ..EventFilter::default() };
            let page = store.list_events(&ledger.id, &filter, None, 10).await.expect("page");
            let seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
            assert_eq!(seqs, [n], "inv_{n} ({url})");
        }
    }
}

#[tokio::test]
async fn filters_and_cursor_pagination_find_exactly_the_matching_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, _) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "l", &store::testing::origin()).await.expect("ledger");
        let batch = (0..30).map(|n| event(None, &format!("u_{}", n % 3), n)).collect();
        store.append(&ledger, batch).await.expect("append");

        let filter = EventFilter { actor_id: Some("u_1".into()), ..EventFilter::default() };
        let all_pages = |filter: EventFilter| {
            let store = store.clone();
            let ledger = ledger.id.clone();
            async move {
                let mut seen = Vec::new();
                let mut cursor = None;
                loop {
                    let page = store.list_events(&ledger, &filter, cursor.as_deref(), 4).await.expect("page");
                    seen.extend(page.events.iter().map(|e| e.seq));
                    match page.next_cursor {
                        Some(next) => cursor = Some(next),
                        None => break,
                    }
                }
                seen
            }
        };
        // Nothing indexed yet: every match comes from the unindexed tail.
        assert_eq!(store.indexed_size(&ledger.id).await.expect("indexed"), 0);
        let expected: Vec<u64> = (0..30).rev().filter(|n| n % 3 == 1).collect();
        assert_eq!(all_pages(filter.clone()).await, expected, "newest first, each once (tail)");
        // Indexed: the same answer through event_terms.
        // (The system ledger's `ledger.created` is indexed too.)
        assert_eq!(store.index_pending().await.expect("index"), 31);
        assert_eq!(store.indexed_size(&ledger.id).await.expect("indexed"), 30);
        assert_eq!(all_pages(filter.clone()).await, expected, "the same through the index");
        // Mixed: ten more events, not indexed; pages span tail and index.
        store
            .append(&ledger, (30..40).map(|n| event(None, &format!("u_{}", n % 3), n)).collect())
            .await
            .expect("append");
        let expected: Vec<u64> = (0..40).rev().filter(|n| n % 3 == 1).collect();
        assert_eq!(all_pages(filter.clone()).await, expected, "tail then index, no gap or repeat");

        let none =
            EventFilter { actor_id: Some("u_1".into()), resource_id: Some("inv_2".into()), ..EventFilter::default() };
        assert!(store.list_events(&ledger.id, &none, None, 50).await.expect("page").events.is_empty());
        assert!(matches!(
            store.list_events(&ledger.id, &filter, Some("garbage"), 5).await,
            Err(StoreError::Invalid(_))
        ));
    }
}

#[tokio::test]
async fn idle_writers_end_and_the_next_append_starts_a_fresh_one_that_continues_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, _url) in crate::both_backends(dir.path()).await {
        assert_eq!(store::testing::writers(&store, Some(std::time::Duration::from_millis(50))), 0);
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "l", &store::testing::origin()).await.expect("ledger");
        // Recording the creation used the system ledger's writer; it idles out.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(store::testing::writers(&store, None), 0);
        let first = store.append(&ledger, vec![crate::event(None, "jane", 1)]).await.expect("append");
        assert_eq!(store::testing::writers(&store, None), 1);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(store::testing::writers(&store, None), 0, "the idle writer ended");
        let second = store.append(&ledger, vec![crate::event(None, "jane", 2)]).await.expect("append again");
        assert_eq!(second.events[0].seq, 1);
        let links = store.chain_links(&ledger.id, 0, 2).await.expect("links");
        assert_eq!(links[0].chain_hash, first.events[0].chain_hash);
        assert_eq!(audit_core::chain_hash(&links[0].chain_hash, &links[1].leaf_hash), links[1].chain_hash);
    }
}
