//! Server functions of ledgers: the list, the event explorer, one event,
//! the material for the browser's verification and the checkpoint key.

// The explorer's server function takes one argument per URL query field;
// the macro copies its signature into generated code.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::model::{CheckpointKey, EventList, EventRow, EvidenceFile, LedgerRow, ProofBundle};

#[cfg(feature = "ssr")]
use {
    super::support::{fail, origin, store_error, time},
    crate::auth,
    http::StatusCode,
    store::Role,
};

/// The account's ledgers with their size, last event and integrity (as
/// the store judges it for every surface).
#[server(endpoint = "list_ledgers")]
pub async fn list_ledgers() -> Result<Vec<LedgerRow>, ServerFnError> {
    use crate::model::Integrity;
    let (dashboard, user) = auth::require(Role::Auditor)?;
    let statuses = dashboard.store.ledger_statuses(&user.account_id).await.map_err(store_error)?;
    let interval = dashboard.settings.monitor_interval;
    let mut monitors = Vec::with_capacity(statuses.len());
    for status in &statuses {
        let report = dashboard.store.integrity_report(&status.ledger, interval).await.map_err(store_error)?;
        let now = store::now_ms();
        monitors.push(crate::model::MonitorRow {
            status: report.status.as_str().to_owned(),
            verified_size: report.verified_size,
            last_verified_at: report.last_verified_ms.map(time),
            age_seconds: report.last_verified_ms.map(|ms| u64::try_from(now.saturating_sub(ms) / 1000).unwrap_or(0)),
            open_anomalies: report.anomalies.iter().filter(|a| a.acknowledged_ms.is_none()).count(),
        });
    }
    Ok(statuses
        .into_iter()
        .zip(monitors)
        .map(|(status, monitor)| {
            let ledger = status.ledger;
            LedgerRow {
                monitor,
                id: ledger.id.as_str().to_owned(),
                name: ledger.name,
                kind: if ledger.kind == store::LedgerKind::System { "system".into() } else { "user".into() },
                events: ledger.tree_size,
                last_event_at: status.last_event_ms.map(time),
                created_at: time(ledger.created_ms),
                integrity: match status.integrity {
                    store::LedgerIntegrity::Empty => Integrity::Empty,
                    store::LedgerIntegrity::Verified { size } => Integrity::Verified { size },
                    store::LedgerIntegrity::Behind { size, tree_size } => Integrity::Behind { size, tree_size },
                    store::LedgerIntegrity::Failed { reason } => Integrity::Failed { reason },
                },
                delete_at: ledger.delete_at_ms.map(time),
            }
        })
        .collect())
}

/// Creates a ledger.
#[server(endpoint = "create_ledger")]
pub async fn create_ledger(csrf: String, name: String) -> Result<String, ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    let store = &dashboard.store;
    let ledger = store.create_ledger(&user.account_id, name.trim(), &origin(&user)).await.map_err(store_error)?;
    Ok(ledger.id.as_str().to_owned())
}

/// A page of a ledger's events, newest first. Empty filters are ignored;
/// `from` wins over `range` (`1h`, `24h`, `7d`, `30d`: occurred within the
/// last hour, day...); times are RFC 3339 or `YYYY-MM-DDTHH:MM` in UTC.
#[server(endpoint = "list_events")]
pub async fn list_events(
    ledger: String,
    actor: String,
    action: String,
    resource: String,
    from: String,
    to: String,
    range: String,
    cursor: String,
) -> Result<EventList, ServerFnError> {
    let (dashboard, user) = auth::require(Role::Auditor)?;
    let store = &dashboard.store;
    let ledger = own_ledger(store, &user, &ledger).await?;
    let some = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let from_ms = match parse_time("from", &from)? {
        Some(from) => Some(from),
        None => quick_range_ms(&range)?.map(|ms| store::now_ms() - ms),
    };
    let filter = store::EventFilter {
        actor_id: some(actor),
        action: some(action),
        resource_id: some(resource),
        from_ms,
        to_ms: parse_time("to", &to)?,
        ..store::EventFilter::default()
    };
    let cursor = some(cursor);
    let page = store.list_events(&ledger.id, &filter, cursor.as_deref(), 50).await.map_err(store_error)?;
    // Tombstones name their archive: one lookup for the page.
    let seqs: Vec<u64> = page.events.iter().filter(|e| e.event.is_none()).map(|e| e.seq).collect();
    let mut archives = store.tombstone_infos(&ledger.id, &seqs).await.map_err(store_error)?.into_iter();
    let mut events = Vec::with_capacity(page.events.len());
    for stored in page.events {
        let archive = if stored.event.is_none() { archives.next().flatten() } else { None };
        events.push(event_row(stored, archive)?);
    }
    Ok(EventList {
        ledger_id: ledger.id.as_str().to_owned(),
        ledger_name: ledger.name,
        events,
        next_cursor: page.next_cursor,
    })
}

/// The length of one of the explorer's quick ranges (`1h`, `24h`, `7d`,
/// `30d`), in ms.
#[cfg(feature = "ssr")]
pub(super) fn quick_range_ms(range: &str) -> Result<Option<i64>, ServerFnError> {
    Ok(match range {
        "1h" => Some(3_600_000),
        "24h" => Some(86_400_000),
        "7d" => Some(7 * 86_400_000),
        "30d" => Some(30 * 86_400_000),
        "" => None,
        _ => return Err(fail(StatusCode::BAD_REQUEST, "range must be 1h, 24h, 7d or 30d")),
    })
}

#[cfg(feature = "ssr")]
pub(super) fn parse_time(field: &str, value: &str) -> Result<Option<i64>, ServerFnError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    // `datetime-local` inputs send minutes without a zone: taken as UTC.
    let full = if value.len() == 16 { format!("{value}:00Z") } else { value.to_owned() };
    audit_core::OccurredAt::parse(&full).map(|t| Some(t.unix_millis())).map_err(|_| {
        fail(StatusCode::BAD_REQUEST, format!("{field} must be a date and time like 2026-11-26T10:00 (UTC)"))
    })
}

#[cfg(feature = "ssr")]
pub(super) async fn own_ledger(
    store: &store::Store,
    user: &store::User,
    id: &str,
) -> Result<store::Ledger, ServerFnError> {
    // Another account's ledger is "not found", never "forbidden".
    let id = audit_core::LedgerId::new(id).map_err(|_| fail(StatusCode::NOT_FOUND, "ledger not found"))?;
    store.ledger(&user.account_id, &id).await.map_err(store_error)
}

#[cfg(feature = "ssr")]
fn event_row(
    stored: store::StoredEvent,
    archive: Option<store::lifecycle::archive::TombstoneInfo>,
) -> Result<EventRow, ServerFnError> {
    let mut row = EventRow::new(
        stored.id.to_string(),
        stored.seq,
        time(stored.received_ms),
        stored.leaf_hash.to_hex(),
        stored.chain_hash.to_hex(),
    );
    let Some(event) = stored.event else {
        row.archive = archive.map(|info| crate::model::ArchiveRef {
            id: info.archival,
            sha256: info.sha256,
            archived_at: time(info.archived_ms),
        });
        return Ok(row);
    };
    // The normalised event as stored: its own serialisation is the stored JSON.
    let content = serde_json::to_string(&event).map_err(|e| {
        tracing::error!(seq = stored.seq, error = %e, "stored event content does not serialise");
        fail(StatusCode::INTERNAL_SERVER_ERROR, "Stored event content is inconsistent; it has been logged.")
    })?;
    Ok(row.with_content(&event, content))
}

/// One event with its hashes.
#[server(endpoint = "get_event")]
pub async fn get_event(ledger: String, event: String) -> Result<EventRow, ServerFnError> {
    let (dashboard, user) = auth::require(Role::Auditor)?;
    let ledger = own_ledger(&dashboard.store, &user, &ledger).await?;
    let stored = dashboard.store.event(&ledger.id, &event).await.map_err(store_error)?;
    let archive = match stored.event {
        Some(_) => None,
        None => dashboard.store.tombstone_info(&ledger.id, stored.seq).await.map_err(store_error)?,
    };
    event_row(stored, archive)
}

/// The latest signed checkpoint and the inclusion proof of the event at
/// `seq` at its size: raw material for the browser's own verification.
#[server(endpoint = "event_proof")]
pub async fn event_proof(ledger: String, seq: u64) -> Result<ProofBundle, ServerFnError> {
    let (dashboard, user) = auth::require(Role::Auditor)?;
    let store = &dashboard.store;
    let ledger = own_ledger(store, &user, &ledger).await?;
    // The size is read from the checkpoint as signed; the browser checks
    // the signature itself.
    let (checkpoint, body) = store.verified_checkpoint(&ledger.id, None).await.map_err(|error| match error {
        store::StoreError::Integrity(_) => {
            fail(StatusCode::INTERNAL_SERVER_ERROR, "The stored checkpoint does not verify.")
        }
        other => store_error(other),
    })?;
    let tree_size = body.size().0;
    let proof = store.inclusion_proof(&ledger, seq, tree_size).await.map_err(store_error)?;
    Ok(ProofBundle { seq, checkpoint, tree_size, proof: proof.iter().map(audit_core::Hash::to_hex).collect() })
}

/// The event's evidence file (docs/FORMAT.md §12), the same as
/// `GET /v1/ledgers/{ledger}/events/{id}/evidence` serves, to download and
/// verify offline with `auditstore verify`.
#[server(endpoint = "event_evidence")]
pub async fn event_evidence(ledger: String, event: String) -> Result<EvidenceFile, ServerFnError> {
    let (dashboard, user) = auth::require(Role::Auditor)?;
    let store = &dashboard.store;
    let ledger = own_ledger(store, &user, &ledger).await?;
    let evidence = store.evidence(&ledger, &event).await.map_err(store_error)?;
    let text = evidence.encode().map_err(|e| {
        tracing::error!(%e, "evidence does not encode");
        fail(StatusCode::INTERNAL_SERVER_ERROR, "The evidence could not be written; it has been logged.")
    })?;
    Ok(EvidenceFile { file_name: format!("{}-{}.tlog-proof", ledger.id, evidence.event().id()), text })
}

/// This instance's checkpoint verifier key and its fingerprint.
#[server(endpoint = "checkpoint_key")]
pub async fn get_checkpoint_key() -> Result<CheckpointKey, ServerFnError> {
    let (dashboard, _) = auth::require(Role::Auditor)?;
    let key = dashboard.store.verifier_key();
    Ok(CheckpointKey { fingerprint: crate::verify::fingerprint(&key), verifier_key: key.to_string() })
}
