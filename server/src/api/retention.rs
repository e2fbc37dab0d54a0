//! A ledger's retention policy (admin key): how many days its events are
//! kept after their `occurred_at` before archival may tombstone them. A
//! locked policy can only be lengthened; every change and every refused
//! change is recorded in the account's system ledger.

use audit_core::OccurredAt;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use store::lifecycle::retention::{RetentionDays, RetentionPolicy};
use store::Permission;
use utoipa::ToSchema;

use super::auth::AdminCaller;
use super::error::ApiError;
use super::exports::Requester;
use super::schema::Problem;
use super::JsonBody;
use crate::state::AppState;

/// A retention policy to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    /// Days events are kept after their `occurred_at`: 1 to 36500.
    #[schema(example = 2555)]
    days: u64,
    /// Lock the policy: from then on it can only be lengthened, never
    /// shortened, unlocked or removed, by anyone. Default false.
    #[serde(default)]
    locked: bool,
}

/// A ledger's retention policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionView {
    ledger: String,
    /// Days events are kept after their `occurred_at`.
    days: u32,
    locked: bool,
    /// Who set the policy last.
    set_by: Requester,
    set_at: String,
    /// When the policy was locked.
    #[serde(skip_serializing_if = "Option::is_none")]
    locked_at: Option<String>,
}

fn time(ms: i64) -> String {
    OccurredAt::from_unix_millis(ms).map(String::from).unwrap_or_default()
}

impl From<&RetentionPolicy> for RetentionView {
    fn from(p: &RetentionPolicy) -> Self {
        Self {
            ledger: p.ledger.to_string(),
            days: p.days.get(),
            locked: p.locked,
            set_by: Requester::new(&p.set_by),
            set_at: time(p.set_ms),
            locked_at: p.locked_ms.map(time),
        }
    }
}

/// The ledger's retention policy (admin key); 404 when it has none (its
/// events are kept forever).
#[utoipa::path(
    get, path = "/ledgers/{ledger}/retention", tag = "lifecycle",
    params(("ledger" = String, Path, description = "ledger id")),
    responses(
        (status = 200, body = RetentionView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, description = "no such ledger, or no policy: events are kept forever", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn get_retention(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(ledger): Path<String>,
) -> Result<Json<RetentionView>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Admin).await?;
    let policy = state.store.retention_policy(&ledger.id).await?.ok_or(ApiError::NotFound("retention policy"))?;
    Ok(Json(RetentionView::from(&policy)))
}

/// Set the ledger's retention policy (admin key). A locked policy only
/// lengthens: shortening or unlocking it is 409, and recorded.
#[utoipa::path(
    put, path = "/ledgers/{ledger}/retention", tag = "lifecycle",
    params(("ledger" = String, Path, description = "ledger id")),
    request_body = RetentionBody,
    responses(
        (status = 200, body = RetentionView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "the policy is locked: it can only be lengthened", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn put_retention(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(ledger): Path<String>,
    JsonBody(body): JsonBody<RetentionBody>,
) -> Result<Json<RetentionView>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Admin).await?;
    let days = RetentionDays::new(body.days).map_err(|e| ApiError::bad("days", e.to_string()))?;
    let policy = state.store.set_retention(&ledger, days, body.locked, &caller.origin()).await?;
    Ok(Json(RetentionView::from(&policy)))
}

/// Remove the ledger's unlocked retention policy (admin key): its events
/// are kept forever again. A locked policy is never removed (409).
#[utoipa::path(
    delete, path = "/ledgers/{ledger}/retention", tag = "lifecycle",
    params(("ledger" = String, Path, description = "ledger id")),
    responses(
        (status = 204, description = "removed"), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "the policy is locked: it is never removed", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn delete_retention(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(ledger): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Admin).await?;
    state.store.remove_retention(&ledger, &caller.origin()).await?;
    Ok(StatusCode::NO_CONTENT)
}
