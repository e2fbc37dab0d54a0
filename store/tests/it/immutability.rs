use store::testing::execute_raw;

use crate::{both_backends, event};

#[tokio::test]
async fn the_database_refuses_to_rewrite_or_delete_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "l", &store::testing::origin()).await.expect("ledger");
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
        // Not even a content-only tombstone: no recorded archival covers
        // it, so it would be a tombstone without authority.
        let tombstone = format!("UPDATE events SET content = NULL WHERE ledger_id = '{id}' AND seq = 4");
        let error = execute_raw(&url, &tombstone).await.expect_err("an unarchived tombstone is refused");
        assert!(error.to_string().contains("no recorded archival"), "{error}");
        let page = store.list_events(&ledger.id, &Default::default(), None, 500).await.expect("page");
        let stored = store.event(&ledger.id, page.events[15].id.as_str()).await.expect("event");
        assert_eq!(stored.seq, 4);
        assert!(stored.event.is_some(), "the content is still there");
    }
}

#[tokio::test]
async fn a_ledgers_identity_cannot_be_changed_behind_the_applications_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let (other, _) = store.ensure_account("other").await.expect("account");
        let ledger = store.create_ledger(&account.id, "l", &store::testing::origin()).await.expect("ledger");
        let (id, system) = (ledger.id.as_str(), account.system_ledger.as_str());
        for sql in [
            // Signing checkpoints for another log's origin.
            format!("UPDATE ledgers SET origin = 'evil.example/ledgers/{id}' WHERE id = '{id}'"),
            // Opening the system ledger to write keys.
            format!("UPDATE ledgers SET kind = 'user' WHERE id = '{system}'"),
            // Moving a ledger to another account.
            format!("UPDATE ledgers SET account_id = '{}' WHERE id = '{id}'", other.id.as_str()),
            format!("UPDATE ledgers SET id = 'ldg_forged' WHERE id = '{id}'"),
            format!("DELETE FROM ledgers WHERE id = '{id}'"),
        ] {
            let error = execute_raw(&url, &sql).await.expect_err(&format!("{sql} must be refused ({url})"));
            assert!(error.to_string().contains("identity is immutable"), "{error}");
        }
        let kept = store.ledger(&account.id, &account.system_ledger).await.expect("system ledger");
        assert_eq!(kept.kind, store::LedgerKind::System);
        // Its bookkeeping columns stay writable (crypto-shredding sets one).
        execute_raw(&url, &format!("UPDATE ledgers SET keys_destroyed_ms = NULL WHERE id = '{id}'"))
            .await
            .expect("non-identity columns");
    }
}

#[tokio::test]
async fn a_checkpoint_is_never_signed_for_an_origin_that_names_another_ledger() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let victim = store.create_ledger(&account.id, "victim", &store::testing::origin()).await.expect("ledger");
        let target = store.create_ledger(&account.id, "target", &store::testing::origin()).await.expect("ledger");
        // An owner who can switch the guard off points one ledger's origin
        // at another log.
        let (off, on) = if url.starts_with("sqlite:") {
            ("DROP TRIGGER ledgers_identity_fixed;", "")
        } else {
            (
                "ALTER TABLE ledgers DISABLE TRIGGER ledgers_identity_fixed;",
                "ALTER TABLE ledgers ENABLE TRIGGER ledgers_identity_fixed;",
            )
        };
        let sql =
            format!("{off} UPDATE ledgers SET origin = '{}' WHERE id = '{}'; {on}", target.origin, victim.id.as_str());
        execute_raw(&url, &sql).await.expect("tampered");
        let tampered = store.ledger(&account.id, &victim.id).await.expect("ledger");
        let error = store.append(&tampered, vec![event(None, "u", 1)]).await.expect_err("not signed");
        assert!(matches!(error, store::StoreError::Integrity(_)), "{error}");
        assert!(store.checkpoint(&victim.id, None).await.is_err(), "no checkpoint was signed");
        assert_eq!(store.ledger(&account.id, &victim.id).await.expect("ledger").tree_size, 0, "nothing stored");
    }
}

#[tokio::test]
async fn sqlite_insert_or_replace_cannot_overwrite_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, url) = both_backends(dir.path()).await.remove(0);
    let (account, _) = store.ensure_account("acme").await.expect("account");
    let ledger = store.create_ledger(&account.id, "l", &store::testing::origin()).await.expect("ledger");
    store.append(&ledger, (0..3).map(|n| event(None, "u", n)).collect()).await.expect("append");
    let id = ledger.id.as_str();
    for sql in [
        format!(
            "INSERT OR REPLACE INTO events (ledger_id, seq, event_id, occurred_ms, received_ms, content, leaf_hash, chain_hash) \
             SELECT ledger_id, seq, 'forged', occurred_ms, received_ms, content, leaf_hash, chain_hash FROM events \
             WHERE ledger_id = '{id}' AND seq = 1"
        ),
        format!(
            "INSERT OR REPLACE INTO checkpoints (ledger_id, tree_size, root_hash, note, created_ms) \
             SELECT ledger_id, tree_size, root_hash, 'forged', created_ms FROM checkpoints WHERE ledger_id = '{id}'"
        ),
    ] {
        let error = execute_raw(&url, &sql).await.expect_err("REPLACE must be refused");
        assert!(error.to_string().contains("immutable") || error.to_string().contains("append-only"), "{error}");
    }
}

#[tokio::test]
async fn a_tampered_merkle_node_stops_appends_instead_of_being_signed() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "l", &store::testing::origin()).await.expect("ledger");
        // 16 events complete the stored level-4 node that the next append's
        // frontier is rebuilt from.
        store.append(&ledger, (0..16).map(|n| event(None, "u", n)).collect()).await.expect("append");
        let id = ledger.id.as_str();
        // An attacker with database access disables the guard first.
        let (disable, enable) = if url.starts_with("sqlite:") {
            ("DROP TRIGGER merkle_nodes_refuse_update".to_owned(), String::new())
        } else {
            (
                "ALTER TABLE merkle_nodes DISABLE TRIGGER ALL".to_owned(),
                "ALTER TABLE merkle_nodes ENABLE TRIGGER ALL".to_owned(),
            )
        };
        execute_raw(&url, &disable).await.expect("disable trigger");
        let zeros = if url.starts_with("sqlite:") { "zeroblob(32)" } else { "decode(repeat('00', 32), 'hex')" };
        let changed = execute_raw(&url, &format!("UPDATE merkle_nodes SET hash = {zeros} WHERE ledger_id = '{id}'"))
            .await
            .expect("tamper");
        assert_eq!(changed, 1);
        if !enable.is_empty() {
            execute_raw(&url, &enable).await.expect("enable trigger");
        }
        // A fresh process (no cached frontier) must refuse to extend it.
        let reopened = store::Store::open(&url, store::testing::options()).await.expect("reopen");
        let ledger = reopened.ledger(&account.id, &ledger.id).await.expect("ledger");
        let error = reopened.append(&ledger, vec![event(None, "u", 99)]).await.expect_err("append refused");
        assert!(!matches!(error, store::StoreError::Conflict(_)), "{error:?}");
        assert_eq!(reopened.ledger(&account.id, &ledger.id).await.expect("ledger").tree_size, 16, "nothing appended");
        assert_eq!(
            reopened.checkpoint_sizes(&ledger.id, 17, 10).await.expect("sizes"),
            Vec::<u64>::new(),
            "nothing signed"
        );
    }
}

#[tokio::test]
async fn a_process_with_another_kek_cannot_open_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (_store, url) in both_backends(dir.path()).await {
        // The signing key is stored wrapped: another KEK cannot unwrap it, so
        // the process refuses to start instead of signing with a new key.
        let other = store::testing::options_with(store::testing::local_keys_from(&[9]));
        let error = store::Store::open(&url, other).await.expect_err("refused");
        assert!(matches!(error, store::StoreError::Keys(_)), "{error}");
        assert!(error.to_string().contains("not in the local key file"), "{error}");
        store::Store::open(&url, store::testing::options()).await.expect("the right KEK still opens it");
    }
}

#[tokio::test]
async fn a_legacy_signing_key_is_imported_once_and_a_different_one_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = store::testing::sqlite_url_in(dir.path());
    let legacy = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
    let mut options = store::testing::options();
    options.legacy_signing_key = Some(legacy.clone());
    let store = store::Store::open(&url, options).await.expect("imports");
    assert_eq!(*store.verifier_key().verifying_key(), legacy.verifying_key());
    store.close().await;
    // Later opens use the stored (wrapped) key without the legacy one.
    let store = store::Store::open(&url, store::testing::options()).await.expect("reopens");
    assert_eq!(*store.verifier_key().verifying_key(), legacy.verifying_key());
}

#[tokio::test]
async fn the_postgres_application_role_runs_everything_but_cannot_rewrite_history() {
    let owner_url = store::testing::fresh_postgres_url().await.expect("test database");
    let owner = store::Store::open(&owner_url, store::testing::options()).await.expect("owner migrates");
    owner.close().await;
    // A login role that is only a member of auditstore_app, as docs/POSTGRES.md says.
    let role = format!("app_{}", uuid::Uuid::new_v4().simple());
    let database = owner_url.rsplit('/').next().expect("database name").split('?').next().expect("name").to_owned();
    store::testing::execute_raw(
        &owner_url,
        &format!("CREATE ROLE {role} LOGIN IN ROLE auditstore_app; GRANT CONNECT ON DATABASE {database} TO {role};"),
    )
    .await
    .expect("role");
    let scheme_end = owner_url.find("://").expect("scheme") + 3;
    let at = owner_url.find('@').expect("user");
    let app_url = format!("{}{role}{}", &owner_url[..scheme_end], &owner_url[at..]);

    let app = store::Store::open(&app_url, store::testing::options()).await.expect("the app role opens the store");
    let (account, _) = app.ensure_account("acme").await.expect("account");
    let ledger = app.create_ledger(&account.id, "l", &store::testing::origin()).await.expect("ledger");
    app.append(&ledger, (0..3).map(|n| crate::event(None, "jane", n)).collect()).await.expect("append");
    while app.index_pending().await.expect("index") > 0 {}
    let page = app.list_events(&ledger.id, &store::EventFilter::default(), None, 10).await.expect("read");
    assert_eq!(page.events.len(), 3);
    app.rotate_ledger_key(&ledger.id, &store::testing::origin()).await.expect("rotate");
    app.rewrap_keys().await.expect("rewrap");
    let doomed = app.create_ledger(&account.id, "doomed", &store::testing::origin()).await.expect("ledger");
    app.append(&doomed, vec![crate::event(None, "jane", 9)]).await.expect("append");
    app.destroy_ledger_keys(&doomed.id).await.expect("the app role may shred");
    let days = store::lifecycle::retention::RetentionDays::new(30).expect("days");
    app.set_retention(&ledger, days, true, &store::testing::origin()).await.expect("the app role sets retention");
    let scope = store::lifecycle::holds::HoldScope::default();
    let by = store::testing::origin();
    let hold = app.place_hold(&account.id, Some(&ledger), "case", "reason", scope, &by).await.expect("places holds");
    app.release_hold(&account.id, &hold.id, "done", &store::testing::origin()).await.expect("and releases them");
    // Archival: the one content change the app role may make.
    let expiring = app.create_ledger(&account.id, "expiring", &by).await.expect("ledger");
    app.append(&expiring, (0..4).map(|n| crate::event(None, "jane", n)).collect()).await.expect("append");
    let one_day = store::lifecycle::retention::RetentionDays::new(1).expect("days");
    app.set_retention(&expiring, one_day, false, &by).await.expect("policy");
    let archive = store::lifecycle::archive::ArchiveStore::Directory(tempfile::tempdir().expect("dir").keep());
    let run = app.run_retention(&expiring.id, &archive, &by, None).await.expect("the app role archives");
    assert_eq!(run.archived, 4);
    // Enough events for stored Merkle nodes (level 4: 16 leaves).
    let wide = app.create_ledger(&account.id, "wide", &by).await.expect("ledger");
    app.append(&wide, (0..20).map(|n| crate::event(None, "jane", n)).collect()).await.expect("append");
    // Ledger deletion: the one path that deletes history, for the app role too.
    // (`doomed`, whose keys were shredded above, is where a deletion often starts.)
    let doomed = app.ledger(&account.id, &doomed.id).await.expect("ledger");
    app.schedule_ledger_deletion(&doomed, 0, &by).await.expect("the app role schedules a deletion");
    assert_eq!(app.run_ledger_deletions(&archive, &by).await.expect("and carries it out"), 1);
    app.close().await;

    // Even with the triggers out of the way, the grants refuse rewriting.
    for sql in [
        "UPDATE events SET leaf_hash = chain_hash",
        "UPDATE checkpoints SET note = ''",
        "TRUNCATE events",
        "UPDATE legal_holds SET case_name = ''",
        "UPDATE archival_ranges SET end_seq = 0",
    ] {
        let error = store::testing::execute_raw(&app_url, sql).await.expect_err(sql);
        assert!(error.to_string().contains("permission denied"), "{sql}: {error}");
    }
    // Deleting is granted for ledger deletion only, which the triggers
    // confine to a deletion under way.
    for sql in [
        "DELETE FROM events",
        "DELETE FROM merkle_nodes",
        "DELETE FROM checkpoints",
        "DELETE FROM archivals",
        "DELETE FROM legal_holds",
        "DELETE FROM ledgers",
        "DELETE FROM ledger_heads",
    ] {
        let error = store::testing::execute_raw(&app_url, sql).await.expect_err(sql);
        let text = error.to_string();
        assert!(["immutable", "deleted only with", "append-only"].iter().any(|w| text.contains(w)), "{sql}: {text}");
    }
    // The content grant it holds for archival removes nothing uncovered.
    let error = store::testing::execute_raw(&app_url, "UPDATE events SET content = NULL").await.expect_err("refused");
    assert!(error.to_string().contains("no recorded archival"), "{error}");
}
