//! Server functions of the Exports page: start an export from the
//! explorer's filters, and list a ledger's exports with their progress.
//! The file itself is downloaded from
//! `/ledgers/{ledger}/exports/{id}/download` (server/src/downloads.rs).

// The export's server function takes one argument per form field; the
// macro copies its signature into generated code.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::model::ExportRow;

#[cfg(feature = "ssr")]
use {
    super::ledgers::{own_ledger, parse_time, quick_range_ms},
    super::support::{fail, origin, store_error, time, who},
    crate::auth,
    http::StatusCode,
    store::Role,
};

/// Starts an export of the ledger (auditors and up): the format, an
/// optional seq range, and the explorer's filters as its page sends them
/// (a quick `range` becomes a `from` time now). Returns the export's id.
#[server(endpoint = "start_export")]
pub async fn start_export(
    csrf: String,
    ledger: String,
    format: String,
    actor: String,
    action: String,
    resource: String,
    from: String,
    to: String,
    range: String,
    from_seq: String,
    to_seq: String,
) -> Result<String, ServerFnError> {
    use audit_core::export::EventsFormat;
    use store::lifecycle::exports::{ExportFilter, ExportRequest};
    let (dashboard, user) = auth::require_mutation(Role::Auditor, &csrf)?;
    let store = &dashboard.store;
    let ledger = own_ledger(store, &user, &ledger).await?;
    let format = match format.as_str() {
        "jsonl" => EventsFormat::Jsonl,
        "csv" => EventsFormat::Csv,
        "parquet" => EventsFormat::Parquet,
        _ => return Err(fail(StatusCode::BAD_REQUEST, "The format must be JSON Lines, CSV or Parquet.")),
    };
    let some = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let seq = |field: &str, value: String| {
        some(value)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| fail(StatusCode::BAD_REQUEST, format!("{field} must be a whole number (a seq)")))
            })
            .transpose()
    };
    let from_ms = match parse_time("from", &from)? {
        Some(ms) => Some(ms),
        None => quick_range_ms(&range)?.map(|ms| store::now_ms() - ms),
    };
    let text = |ms: Option<i64>| ms.map(time);
    let filter = ExportFilter {
        actor_id: some(actor),
        action: some(action),
        resource_id: some(resource),
        from: text(from_ms),
        to: text(parse_time("to", &to)?),
        ..ExportFilter::default()
    };
    let request =
        ExportRequest { format, from_seq: seq("From seq", from_seq)?, to_seq: seq("To seq", to_seq)?, filter };
    let record = store.request_export(&ledger, &request, &origin(&user)).await.map_err(store_error)?;
    Ok(record.id)
}

/// The ledger's exports, newest first, with their progress.
#[server(endpoint = "list_exports")]
pub async fn list_exports(ledger: String) -> Result<Vec<ExportRow>, ServerFnError> {
    let (dashboard, user) = auth::require(Role::Auditor)?;
    let store = &dashboard.store;
    let ledger = own_ledger(store, &user, &ledger).await?;
    let records = store.list_exports(&ledger.id, 50).await.map_err(store_error)?;
    // Users by their email, as the people page shows them.
    let users = store.list_users(&user.account_id).await.map_err(store_error)?;
    let mut rows = Vec::with_capacity(records.len());
    for record in records {
        let requested_by = who(&users, &record.requested_by);
        rows.push(ExportRow {
            status: record.status.as_str().to_owned(),
            reason: record.reason.clone(),
            format: record.format.name().to_owned(),
            filter: record
                .filter
                .as_ref()
                .map(|f| {
                    f.to_map()
                        .into_iter()
                        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                        .collect()
                })
                .unwrap_or_default(),
            from_seq: record.start,
            to_seq: record.end - 1,
            events_total: record.events_total(),
            events_scanned: record.events_scanned,
            events_written: record.events_written,
            proofs_written: record.proofs_written,
            bytes: record.bytes,
            sha256: record.sha256.clone(),
            requested_by,
            created_at: time(record.created_ms),
            finished_at: record.finished_ms.map(time),
            expires_at: record.expires_ms.map(time),
            id: record.id,
        });
    }
    Ok(rows)
}
