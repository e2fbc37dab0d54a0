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
