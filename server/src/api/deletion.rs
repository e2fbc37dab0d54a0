//! Ledger deletion (admin key): scheduled after a grace period, refused
//! while any active legal hold applies, cancelled by a restore within the
//! grace period. At its time the deletion job shreds the ledger's keys and
//! deletes it, recording its final checkpoint in the system ledger;
//! afterwards the ledger is "not found" to every key.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use store::lifecycle::deletion::LedgerDeletion;
use store::Permission;
use utoipa::ToSchema;

use super::auth::AdminCaller;
use super::error::ApiError;
use super::exports::Requester;
use super::schema::{time, Problem};
use crate::state::AppState;

/// The confirmation a deletion needs: the ledger's id again, in the query
/// (`?confirm=`) or the body.
#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Confirm {
    /// The ledger's id, again.
    confirm: Option<String>,
}

/// A ledger's deletion.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletionView {
    id: String,
    ledger: String,
    name: String,
    /// `scheduled`, `cancelled`, `deleting` or `deleted`.
    status: &'static str,
    requested_by: Requester,
    requested_at: String,
    /// When the deletion job deletes it (unless cancelled or held by then).
    delete_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cancelled_at: Option<String>,
}

impl From<&LedgerDeletion> for DeletionView {
    fn from(d: &LedgerDeletion) -> Self {
        Self {
            id: d.id.clone(),
            ledger: d.ledger.to_string(),
            name: d.name.clone(),
            status: d.status.as_str(),
            requested_by: Requester::new(&d.requested_by),
            requested_at: time(d.requested_ms),
            delete_at: time(d.delete_at_ms),
            cancelled_at: d.cancelled_ms.map(time),
        }
    }
}

/// Schedule the ledger's deletion (admin key), confirmed by naming the
/// ledger again (`?confirm=<id>` or `{"confirm": "<id>"}`). Answers 202 with
/// `delete_at`, after `--ledger-deletion-grace-hours` (168); 409 naming the
/// holds while any legal hold applies (recorded as `ledger.deletion_refused`).
#[utoipa::path(
    delete, path = "/ledgers/{ledger}", tag = "lifecycle",
    params(("ledger" = String, Path, description = "ledger id"), Confirm),
    request_body(content = Option<Confirm>, description = "or the confirmation in the body"),
    responses(
        (status = 202, description = "scheduled", body = DeletionView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "legal holds apply, it is scheduled already, or it is the system ledger", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn delete_ledger(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(ledger): Path<String>,
    query: Result<Query<Confirm>, QueryRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Admin).await?;
    let Query(query) = query?;
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        Confirm::default()
    } else {
        serde_json::from_slice::<Confirm>(&body).map_err(|e| ApiError::bad("confirm", format!("the body: {e}")))?
    };
    let confirm = query.confirm.or(from_body.confirm);
    if confirm.as_deref() != Some(ledger.id.as_str()) {
        return Err(ApiError::bad(
            "confirm",
            format!(
                "name the ledger again to delete it: ?confirm={} (or {{\"confirm\": \"{}\"}})",
                ledger.id, ledger.id
            ),
        ));
    }
    let grace_ms = i64::try_from(state.deletion_grace.as_millis()).unwrap_or(i64::MAX);
    let deletion = state.store.schedule_ledger_deletion(&ledger, grace_ms, &caller.origin()).await?;
    Ok((StatusCode::ACCEPTED, Json(DeletionView::from(&deletion))).into_response())
}

/// Cancel the ledger's scheduled deletion within its grace period (admin
/// key); appends are accepted again.
#[utoipa::path(
    post, path = "/ledgers/{ledger}/restore", tag = "lifecycle",
    params(("ledger" = String, Path, description = "ledger id")),
    responses(
        (status = 200, description = "cancelled", body = DeletionView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "no deletion is scheduled, or it is under way", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn restore_ledger(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(ledger): Path<String>,
) -> Result<Json<DeletionView>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Admin).await?;
    let deletion = state.store.cancel_ledger_deletion(&ledger, &caller.origin()).await?;
    Ok(Json(DeletionView::from(&deletion)))
}
