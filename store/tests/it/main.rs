//! Store integration tests, one binary. Every test runs against a real
//! SQLite file and a real PostgreSQL database of its own.

mod archival;
mod archive_s3;
mod backends;
mod deletion;
mod encryption;
mod exports;
mod immutability;
mod ingest;
mod keys;
mod lifecycle;
mod monitor;
mod sessions;
mod system;
mod term_blocks;
mod upgrades;
mod users;
mod verified_reads;

use store::testing::{fresh_postgres_url, options, sqlite_url_in};
use store::{AccountId, EventFilter, NewEvent, Store};

/// Opens one store per backend: a SQLite file in `dir` and a fresh
/// PostgreSQL database. Returns each with its URL.
pub async fn both_backends(dir: &std::path::Path) -> Vec<(Store, String)> {
    let sqlite = sqlite_url_in(dir);
    let postgres = fresh_postgres_url().await.expect("test database");
    let mut stores = Vec::new();
    for url in [sqlite, postgres] {
        stores.push((Store::open(&url, options()).await.expect("opens"), url));
    }
    stores
}

/// A valid event with the given id, actor and metadata marker.
pub fn event(id: Option<&str>, actor: &str, n: u64) -> NewEvent {
    let input = serde_json::json!({
        "id": id,
        "actor": {"type": "user", "id": actor, "name": "Jane Doe"},
        "action": "invoice.updated",
        "resource": {"type": "invoice", "id": format!("inv_{n}")},
        "occurred_at": "2026-11-26T10:00:00.123456+01:00",
        "metadata": {"n": n, "note": "héllo"},
    });
    let mut input = input;
    if id.is_none() {
        input.as_object_mut().expect("object").remove("id");
    }
    let parsed: audit_core::EventInput = serde_json::from_value(input).expect("event input");
    let event = parsed
        .into_event(|| audit_core::EventId::new(uuid::Uuid::now_v7().to_string()).expect("uuid id"))
        .expect("valid event");
    NewEvent::new(event, id.is_some()).expect("new event")
}

/// The metadata of the events with `action` in `account`'s system ledger,
/// newest first.
pub async fn system_metadata(store: &Store, account: &AccountId, action: &str) -> Vec<serde_json::Value> {
    let system = store.system_ledger(account).await.expect("system ledger");
    let filter = EventFilter { action: Some(action.into()), ..EventFilter::default() };
    let page = store.list_events(&system, &filter, None, 100).await.expect("listing");
    page.events
        .iter()
        .map(|e| serde_json::to_value(e.event.as_ref().expect("content")).expect("json")["metadata"].clone())
        .collect()
}
