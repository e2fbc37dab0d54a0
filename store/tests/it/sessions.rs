//! Dashboard sessions as stored: under a hash of their id, on both backends.

use store::testing::execute_raw;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::SessionStore as _;

/// The sessions table of the backend `url` names.
fn table(url: &str) -> &'static str {
    if url.starts_with("sqlite:") {
        "tower_sessions"
    } else {
        "tower_sessions.session"
    }
}

/// How many rows match `condition` (an update that changes nothing counts them on both backends).
async fn rows(url: &str, condition: &str) -> u64 {
    let sql = format!("UPDATE {} SET expiry_date = expiry_date WHERE {condition}", table(url));
    execute_raw(url, &sql).await.expect("raw update")
}

#[tokio::test]
async fn a_session_is_stored_under_a_hash_of_its_id_and_found_by_the_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in crate::both_backends(dir.path()).await {
        let sessions = store.sessions();
        let expiry =
            tower_sessions::cookie::time::OffsetDateTime::now_utc() + tower_sessions::cookie::time::Duration::hours(1);
        let mut record = Record { id: Id::default(), data: Default::default(), expiry_date: expiry };
        record.data.insert("dashboard".into(), serde_json::json!({"csrf": "t"}));
        sessions.create(&mut record).await.expect("create");
        assert_eq!(
            rows(&url, &format!("id = '{}'", record.id)).await,
            0,
            "the cookie's id is not in the table ({url})"
        );
        assert_eq!(rows(&url, "true").await, 1, "the session is stored ({url})");
        let loaded = sessions.load(&record.id).await.expect("load").expect("found by its id");
        assert_eq!((loaded.id, &loaded.data), (record.id, &record.data));
        sessions.save(&loaded).await.expect("save");
        assert!(sessions.load(&record.id).await.expect("load").is_some(), "saved under the same hash");
        sessions.delete(&record.id).await.expect("delete");
        assert!(sessions.load(&record.id).await.expect("load").is_none());
        store.close().await;
    }
}
