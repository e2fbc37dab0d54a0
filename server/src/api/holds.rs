//! Legal holds (admin key): on one ledger or on every ledger of the
//! account, scoped by `occurred_at` range, actor id and resource id, with
//! no expiry. Events an active hold covers are never archived and a ledger
//! any active hold covers is never deleted. Placing and releasing are
//! recorded in the account's system ledger.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use store::lifecycle::holds::{HoldScope, HoldsOf, LegalHold};
use store::Permission;
use utoipa::ToSchema;

use super::auth::AdminCaller;
use super::error::ApiError;
use super::exports::Requester;
use super::schema::{time, Problem};
use super::JsonBody;
use crate::state::AppState;

/// Which events of the ledger (or account) a hold covers: every field
/// given must match; none given (or no scope) covers every event.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeBody {
    /// `occurred_at` from (included), RFC 3339.
    from: Option<String>,
    /// `occurred_at` to (excluded), RFC 3339.
    to: Option<String>,
    /// The exact `actor.id`.
    actor_id: Option<String>,
    /// The exact `resource.id`.
    resource_id: Option<String>,
}

/// A legal hold to place.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    /// The case or matter the hold is for (1 to 200 characters).
    #[schema(example = "SEC-2026-17")]
    case: String,
    /// Why (1 to 2000 characters).
    reason: String,
    #[serde(default)]
    scope: Option<ScopeBody>,
}

/// A release of a hold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseBody {
    /// Why the hold is released (1 to 2000 characters).
    reason: String,
}

/// Which holds a listing returns.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HoldsQuery {
    /// Only the active holds (default: active and released).
    active: Option<bool>,
}

/// A legal hold.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldView {
    id: String,
    /// The ledger held; `null` for a hold on every ledger of the account.
    ledger: Option<String>,
    case: String,
    reason: String,
    /// The fields given when it was placed; `{}` covers every event.
    #[schema(value_type = Object)]
    scope: serde_json::Map<String, serde_json::Value>,
    /// `active` or `released`.
    status: &'static str,
    placed_by: Requester,
    placed_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    released_by: Option<Requester>,
    #[serde(skip_serializing_if = "Option::is_none")]
    released_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    release_reason: Option<String>,
}

/// Holds, active first, newest first within each.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldList {
    holds: Vec<HoldView>,
}

impl From<&LegalHold> for HoldView {
    fn from(h: &LegalHold) -> Self {
        Self {
            id: h.id.clone(),
            ledger: h.ledger.as_ref().map(ToString::to_string),
            case: h.case.clone(),
            reason: h.reason.clone(),
            scope: h.scope.to_map(),
            status: if h.is_active() { "active" } else { "released" },
            placed_by: Requester::new(&h.placed_by),
            placed_at: time(h.placed_ms),
            released_by: h.released.as_ref().map(|r| Requester::new(&r.by)),
            released_at: h.released.as_ref().map(|r| time(r.ms)),
            release_reason: h.released.as_ref().map(|r| r.reason.clone()),
        }
    }
}

fn parse_scope(scope: Option<ScopeBody>) -> Result<HoldScope, ApiError> {
    let scope = scope.unwrap_or_default();
    HoldScope::new(scope.from.as_deref(), scope.to.as_deref(), scope.actor_id, scope.resource_id).map_err(text_error)
}

fn created(hold: &LegalHold) -> Response {
    let location = format!("/v1/holds/{}", hold.id);
    (StatusCode::CREATED, [(header::LOCATION, location)], Json(HoldView::from(hold))).into_response()
}

/// A store refusal as a 400 naming the field its detail starts with.
pub(super) fn text_error(error: store::StoreError) -> ApiError {
    match error {
        store::StoreError::Invalid(detail) => {
            let field = detail.split(':').next().unwrap_or("body").to_owned();
            ApiError::bad(field, detail)
        }
        other => other.into(),
    }
}

/// Place a legal hold on the ledger (admin key).
#[utoipa::path(
    post, path = "/ledgers/{ledger}/holds", tag = "lifecycle",
    params(("ledger" = String, Path, description = "ledger id")),
    request_body = HoldBody,
    responses(
        (status = 201, body = HoldView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "the account has the most active holds it may have", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn place_ledger_hold(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(ledger): Path<String>,
    JsonBody(body): JsonBody<HoldBody>,
) -> Result<Response, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Admin).await?;
    let scope = parse_scope(body.scope)?;
    let hold = state
        .store
        .place_hold(&ledger.account_id, Some(&ledger), &body.case, &body.reason, scope, &caller.origin())
        .await
        .map_err(text_error)?;
    Ok(created(&hold))
}

/// The holds that apply to the ledger (admin key): its own and the
/// account-wide ones.
#[utoipa::path(
    get, path = "/ledgers/{ledger}/holds", tag = "lifecycle",
    params(("ledger" = String, Path, description = "ledger id"), HoldsQuery),
    responses((status = 200, body = HoldList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn list_ledger_holds(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(ledger): Path<String>,
    query: Result<Query<HoldsQuery>, QueryRejection>,
) -> Result<Json<HoldList>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Admin).await?;
    let Query(query) = query?;
    let active = query.active.unwrap_or(false);
    let holds = state.store.legal_holds(&ledger.account_id, HoldsOf::Ledger(&ledger.id), active).await?;
    Ok(Json(HoldList { holds: holds.iter().map(HoldView::from).collect() }))
}

/// Place a legal hold on every ledger of the account, present and future
/// (admin key; admin keys are account-wide).
#[utoipa::path(
    post, path = "/holds", tag = "lifecycle",
    request_body = HoldBody,
    responses(
        (status = 201, body = HoldView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 409, description = "the account has the most active holds it may have", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn place_account_hold(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    JsonBody(body): JsonBody<HoldBody>,
) -> Result<Response, ApiError> {
    let scope = parse_scope(body.scope)?;
    let hold = state
        .store
        .place_hold(&caller.0.account_id, None, &body.case, &body.reason, scope, &caller.origin())
        .await
        .map_err(text_error)?;
    Ok(created(&hold))
}

/// Every hold of the account (admin key): account-wide ones and those of
/// each ledger.
#[utoipa::path(
    get, path = "/holds", tag = "lifecycle",
    params(HoldsQuery),
    responses((status = 200, body = HoldList), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
pub async fn list_account_holds(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    query: Result<Query<HoldsQuery>, QueryRejection>,
) -> Result<Json<HoldList>, ApiError> {
    let Query(query) = query?;
    let active = query.active.unwrap_or(false);
    let holds = state.store.legal_holds(&caller.0.account_id, HoldsOf::Account, active).await?;
    Ok(Json(HoldList { holds: holds.iter().map(HoldView::from).collect() }))
}

/// One hold (admin key).
#[utoipa::path(
    get, path = "/holds/{id}", tag = "lifecycle",
    params(("id" = String, Path, description = "hold id")),
    responses((status = 200, body = HoldView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn get_hold(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<HoldView>, ApiError> {
    Ok(Json(HoldView::from(&state.store.legal_hold(&caller.0.account_id, &id).await?)))
}

/// Release a hold, once, with a reason (admin key). What it kept may then be archived by the next
/// retention run.
#[utoipa::path(
    post, path = "/holds/{id}/release", tag = "lifecycle",
    params(("id" = String, Path, description = "hold id")),
    request_body = ReleaseBody,
    responses(
        (status = 200, body = HoldView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "the hold was already released", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn release_hold(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReleaseBody>,
) -> Result<Json<HoldView>, ApiError> {
    let released = state
        .store
        .release_hold(&caller.0.account_id, &id, &body.reason, &caller.origin())
        .await
        .map_err(text_error)?;
    Ok(Json(HoldView::from(&released)))
}
