//! A database an earlier release wrote opens migrated, with what it held.

use store::testing::{
    execute_raw, fetch_blobs, fetch_texts, fresh_postgres_url, migrate_before, options, sqlite_url_in,
};
use store::Store;

use crate::event;

/// The migration that compacted the filter index.
const COMPACT_TERMS: i64 = 20261211000000;

/// A 32-byte term as earlier releases stored it (a full HMAC), in the SQL
/// of the backend.
fn old_term(sqlite: bool, fill: u8) -> String {
    let hex: String = (0..32u8).map(|i| format!("{:02x}", fill.wrapping_add(i))).collect();
    if sqlite {
        format!("X'{hex}'")
    } else {
        format!("'\\x{hex}'::bytea")
    }
}

async fn number_of(url: &str, ledger: &str) -> String {
    let sql = format!("SELECT CAST(number AS TEXT) FROM ledgers WHERE id = '{ledger}'");
    let numbers = fetch_texts(url, &sql).await.expect("number");
    assert_eq!(numbers.len(), 1, "{sql}");
    numbers[0].clone()
}

#[tokio::test]
async fn the_old_term_index_keeps_each_rows_ledger_and_the_first_half_of_its_term() {
    let dir = tempfile::tempdir().expect("tempdir");
    let urls = [sqlite_url_in(dir.path()), fresh_postgres_url().await.expect("database")];
    for (n, url) in urls.into_iter().enumerate() {
        let sqlite = url.starts_with("sqlite:");
        let scratch = dir.path().join(format!("migrations-{n}"));
        std::fs::create_dir(&scratch).expect("scratch");
        migrate_before(&url, COMPACT_TERMS, &scratch).await.expect("the earlier schema");
        let (a, b) = (old_term(sqlite, 0x10), old_term(sqlite, 0x80));
        execute_raw(
            &url,
            &format!(
                "INSERT INTO accounts (id, name, created_ms) VALUES ('acc_u', 'upgraded', 0); \
                 INSERT INTO ledgers (id, account_id, name, kind, origin, created_ms) VALUES \
                   ('ldg_b', 'acc_u', 'second', 'user', 'h/ledgers/ldg_b', 2), \
                   ('ldg_a', 'acc_u', 'first', 'user', 'h/ledgers/ldg_a', 1); \
                 INSERT INTO event_terms (ledger_id, term, seq) VALUES \
                   ('ldg_a', {a}, 0), ('ldg_a', {b}, 0), ('ldg_a', {a}, 1), ('ldg_b', {a}, 0), ('ldg_gone', {b}, 9);"
            ),
        )
        .await
        .expect("an earlier release's rows");

        let store = Store::open(&url, options()).await.expect("opens and migrates");
        let (first, second) = (number_of(&url, "ldg_a").await, number_of(&url, "ldg_b").await);
        assert_ne!(first, second, "{url}");
        let rows = |ledger: &str| {
            let sql = format!("SELECT term FROM event_terms WHERE ledger = {ledger} ORDER BY term, seq");
            let url = url.clone();
            async move { fetch_blobs(&url, &sql).await.expect("terms") }
        };
        // The first half of each term; on SQLite after the block its event
        // is in (the term blocks migration; all of these are in block 0).
        let prefix = |fill: u8| {
            let block: &[u8] = if sqlite { &[0; 6] } else { &[] };
            [block, &(0..16u8).map(|i| fill.wrapping_add(i)).collect::<Vec<u8>>()].concat()
        };
        assert_eq!(rows(&first).await, [prefix(0x10), prefix(0x10), prefix(0x80)], "{url}");
        assert_eq!(rows(&second).await, [prefix(0x10)], "{url}");
        let all = fetch_blobs(&url, "SELECT term FROM event_terms").await.expect("terms");
        assert_eq!(all.len(), 4, "the row of a ledger that no longer exists is gone ({url})");

        // A ledger made after the upgrade takes a number of its own, and its
        // terms are indexed under it, 16 bytes each (after the 6 of their
        // block on SQLite).
        let (account, _) = store.ensure_account("after").await.expect("account");
        let later = store.create_ledger(&account.id, "later", &store::testing::origin()).await.expect("ledger");
        let third = number_of(&url, later.id.as_str()).await;
        assert!(![&first, &second].contains(&&third), "{third} ({url})");
        store.append(&later, (0..3).map(|i| event(None, "jane", i)).collect()).await.expect("append");
        while store.index_pending().await.expect("index") > 0 {}
        let terms = rows(&third).await;
        assert_eq!(terms.len(), 15, "five terms an event ({url})");
        let stored = if sqlite { 22 } else { 16 };
        assert!(terms.iter().all(|t| t.len() == stored), "{url}");
        let found = store
            .list_events(
                &later.id,
                &store::EventFilter { actor_id: Some("jane".into()), ..Default::default() },
                None,
                10,
            )
            .await
            .expect("filtered through the index");
        assert_eq!(found.events.len(), 3, "{url}");

        // The number is as fixed as the ledger's id.
        let error = execute_raw(&url, &format!("UPDATE ledgers SET number = 999 WHERE id = '{}'", later.id))
            .await
            .expect_err("a ledger's number is fixed");
        let text = error.to_string();
        assert!(text.contains("immutable") || text.contains("can only be updated to DEFAULT"), "{text}");
    }
}

/// The migration that put SQLite's filter index in blocks.
const TERM_BLOCKS: i64 = 20261212000000;

#[tokio::test]
async fn the_sqlite_term_index_is_moved_into_blocks_with_every_row_found_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = sqlite_url_in(dir.path());
    let scratch = dir.path().join("migrations");
    std::fs::create_dir(&scratch).expect("scratch");
    migrate_before(&url, TERM_BLOCKS, &scratch).await.expect("the earlier schema");
    // Term rows as the earlier release wrote them (16 bytes, no block), at
    // seqs on both sides of block boundaries.
    let term = |fill: u8| format!("X'{}'", (0..16u8).map(|i| format!("{:02x}", fill ^ i)).collect::<String>());
    execute_raw(
        &url,
        &format!(
            "INSERT INTO accounts (id, name, created_ms) VALUES ('acc_u', 'upgraded', 0); \
             INSERT INTO ledgers (id, account_id, name, kind, origin, created_ms) VALUES \
               ('ldg_a', 'acc_u', 'first', 'user', 'h/ledgers/ldg_a', 1); \
             INSERT INTO event_terms (ledger, term, seq) VALUES \
               (1, {a}, 0), (1, {a}, 65535), (1, {a}, 65536), (1, {b}, 65536), (1, {a}, 200000), (2, {b}, 7);",
            a = term(0x10),
            b = term(0xA0),
        ),
    )
    .await
    .expect("an earlier release's rows");
    Store::open(&url, options()).await.expect("opens and migrates");
    let rows = fetch_blobs(&url, "SELECT term FROM event_terms ORDER BY ledger, term, seq").await.expect("terms");
    let stored = |block: u8, fill: u8| [vec![0, 0, 0, 0, 0, block], (0..16u8).map(|i| fill ^ i).collect()].concat();
    assert_eq!(
        rows,
        [stored(0, 0x10), stored(0, 0x10), stored(1, 0x10), stored(1, 0xA0), stored(3, 0x10), stored(0, 0xA0)],
        "each row leads with seq >> 16, as six bytes"
    );
    let seqs =
        fetch_texts(&url, "SELECT CAST(seq AS TEXT) FROM event_terms ORDER BY ledger, term, seq").await.expect("seqs");
    assert_eq!(seqs, ["0", "65535", "65536", "65536", "200000", "7"]);
}
