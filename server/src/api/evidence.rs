//! Per-event evidence: one event with its inclusion proof and the signed
//! checkpoint, as a C2SP tlog-proof file that `auditstore verify` checks
//! offline (docs/FORMAT.md §12).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use store::Permission;

use super::auth::Caller;
use super::error::ApiError;
use super::schema::Problem;
use crate::state::AppState;

/// The media type of evidence files: text, one C2SP tlog-proof.
pub const EVIDENCE_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// Evidence of one event: a C2SP tlog-proof (`c2sp.org/tlog-proof@v1`)
/// whose extra data is the event's canonical JSON, with the inclusion proof
/// at the latest signed checkpoint and that checkpoint (docs/FORMAT.md §12).
/// Verify it offline with `auditstore verify FILE --key VKEY`.
#[utoipa::path(
    get, path = "/ledgers/{ledger}/events/{id}/evidence", tag = "proofs",
    params(("ledger" = String, Path, description = "ledger id"), ("id" = String, Path, description = "event id")),
    responses(
        (status = 200, content_type = "text/plain", body = String, description = "the evidence file"),
        (status = 404, body = Problem),
        (status = 409, description = "the event is a tombstone", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn evidence(
    State(state): State<AppState>,
    caller: Caller,
    Path((ledger, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Read).await?;
    let text = state.store.evidence(&ledger, &id).await?.encode().map_err(|e| ApiError::Internal(e.to_string()))?;
    // Ledger and event ids are of [A-Za-z0-9._:-], safe in a quoted file name.
    let disposition = format!("attachment; filename=\"{}-{id}.tlog-proof\"", ledger.id);
    Ok(([(header::CONTENT_TYPE, EVIDENCE_CONTENT_TYPE.to_owned()), (header::CONTENT_DISPOSITION, disposition)], text)
        .into_response())
}
