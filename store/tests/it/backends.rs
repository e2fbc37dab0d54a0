use store::testing::{fresh_postgres_url, options, sqlite_url_in};
use store::{Backend, Store};

#[tokio::test]
async fn both_backends_open_migrate_and_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (url, backend) in [
        (sqlite_url_in(dir.path()), Backend::Sqlite),
        (fresh_postgres_url().await.expect("test database"), Backend::Postgres),
    ] {
        let store = Store::open(&url, options()).await.expect("opens");
        assert_eq!(store.backend(), backend);
        store.ping().await.expect("migrated and reachable");
        store.close().await;
        // Migrations are recorded: a second open applies nothing and works.
        let store = Store::open(&url, options()).await.expect("reopens");
        store.ping().await.expect("still migrated");
        store.close().await;
    }
}

#[tokio::test]
async fn an_unreachable_postgres_is_an_error_not_a_hang() {
    // Port 1 on loopback refuses connections at once.
    let result = Store::open("postgres://nobody@127.0.0.1:1/none", options()).await;
    assert!(result.is_err());
}

/// The database, its WAL and its shared-memory file are this user's only
/// (0600), whatever the process umask: they hold wrapped keys, hashes of
/// credentials and every event's ciphertext.
#[tokio::test]
async fn a_new_sqlite_database_and_its_wal_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&sqlite_url_in(dir.path()), options()).await.expect("opens");
    let (account, _) = store.ensure_account("acme").await.expect("account");
    let origin = store::Origin::new(store::Actor::Cli("test"));
    let ledger = store.create_ledger(&account.id, "l", &origin).await.expect("ledger");
    store.append(&ledger, vec![crate::event(Some("e1"), "u", 1)]).await.expect("append");
    for name in ["auditstore.db", "auditstore.db-wal", "auditstore.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(name)).expect(name).permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{name} is {mode:o}");
    }
    store.close().await;
}
