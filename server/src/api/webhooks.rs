//! Webhook endpoints (account-wide admin key): create one for a list of
//! event types (its `whsec_` signing secret is in that answer only), list,
//! read, rotate its secret, enable a disabled one, delete, and read its
//! recent deliveries. Every change is recorded in the system ledger.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use store::webhooks::{Delivery, WebhookEndpoint, WebhookEventType};
use utoipa::ToSchema;

use super::auth::{AdminCaller, Caller};
use super::error::ApiError;
use super::exports::Requester;
use super::holds::text_error;
use super::schema::{time, Problem};
use super::JsonBody;
use crate::state::AppState;

/// How long the secret before a rotation keeps signing beside the new one.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// Deliveries a listing returns.
const DELIVERIES_LISTED: i64 = 50;

/// An endpoint to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where to POST: `https://` (plain `http://` only to private addresses the operator allows).
    #[schema(example = "https://hooks.example.com/auditstore")]
    url: String,
    /// The event types to deliver (GET /v1/webhooks/event-types lists them).
    #[schema(example = json!(["integrity.anomaly", "integrity.stale"]))]
    events: Vec<String>,
    /// What it is for (at most 200 characters).
    #[serde(default)]
    description: String,
}

/// An endpoint; `secret` only when it was just created or rotated.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    id: String,
    url: String,
    description: String,
    events: Vec<&'static str>,
    /// `enabled` or `disabled`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<String>,
    /// Since when every attempt failed, while they do.
    #[serde(skip_serializing_if = "Option::is_none")]
    failing_since: Option<String>,
    created_by: Requester,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_rotated_at: Option<String>,
    /// Until when the previous secret signs too (a second `v1,` signature).
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_secret_valid_until: Option<String>,
    /// The signing secret (`whsec_…`): shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl From<&WebhookEndpoint> for WebhookView {
    fn from(e: &WebhookEndpoint) -> Self {
        Self {
            id: e.id.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            events: e.events.iter().map(|t| t.as_str()).collect(),
            status: if e.is_enabled() { "enabled" } else { "disabled" },
            disabled_at: e.disabled_ms.map(time),
            disabled_reason: e.disabled_reason.clone(),
            failing_since: e.failing_since_ms.map(time),
            created_by: Requester::new(&e.created_by),
            created_at: time(e.created_ms),
            secret_rotated_at: e.secret_rotated_ms.map(time),
            previous_secret_valid_until: e.previous_secret_until_ms.map(time),
            secret: None,
        }
    }
}

/// The account's endpoints, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    webhooks: Vec<WebhookView>,
}

/// One message to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The message's `webhook-id`, the same on every attempt.
    message_id: String,
    #[schema(example = "integrity.anomaly")]
    event_type: String,
    /// `pending`, `delivered` or `failed` (given up).
    status: String,
    attempts: u32,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_attempt_at: Option<String>,
    /// The HTTP status of the last attempt, if the endpoint answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<String>,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        Self {
            message_id: d.message_id.clone(),
            event_type: d.event_type.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            created_at: time(d.created_ms),
            next_attempt_at: d.next_attempt_ms.map(time),
            last_attempt_at: d.last_attempt_ms.map(time),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            finished_at: d.finished_ms.map(time),
        }
    }
}

/// An endpoint's recent deliveries, newest first (at most 50).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    deliveries: Vec<DeliveryView>,
}

/// An event type an endpoint can subscribe to.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeView {
    #[schema(example = "integrity.anomaly")]
    name: &'static str,
    description: &'static str,
}

/// Every event type.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeList {
    event_types: Vec<EventTypeView>,
}

/// Webhooks see every ledger's events: only an admin key (admin keys are
/// account-wide, store `api_keys`) manages them.
fn require_account_admin(caller: &Caller) -> Result<(), ApiError> {
    caller.require_admin()
}

fn parse_events(names: &[String]) -> Result<Vec<WebhookEventType>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad("events", "name at least one event type (GET /v1/webhooks/event-types)"));
    }
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            WebhookEventType::parse(name).ok_or_else(|| {
                ApiError::bad(
                    format!("events[{i}]"),
                    format!("{name:?} is not an event type (GET /v1/webhooks/event-types)"),
                )
            })
        })
        .collect()
}

/// Create a webhook endpoint (account-wide admin key). The URL must be
/// `https://` and resolve to public addresses only (unless the operator
/// allows private ones); the signing secret is in this answer only.
#[utoipa::path(
    post, path = "/webhooks", tag = "webhooks",
    request_body = CreateWebhook,
    responses(
        (status = 201, body = WebhookView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 409, description = "the account has the most endpoints it may have", body = Problem),
        (status = 422, description = "the URL points where webhooks may not go", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn create_webhook(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    JsonBody(body): JsonBody<CreateWebhook>,
) -> Result<Response, ApiError> {
    require_account_admin(&caller)?;
    let events = parse_events(&body.events)?;
    let destinations = state.webhook_destinations;
    let url = destinations.parse(body.url.trim()).map_err(|e| ApiError::bad("url", format!("url: the URL {e}")))?;
    destinations.resolve(&url).await.map_err(|e| ApiError::Unprocessable(format!("url: the URL {e}")))?;
    let (endpoint, secret) = state
        .store
        .create_webhook(&caller.0.account_id, url.as_str(), body.description.trim(), &events, &caller.origin())
        .await
        .map_err(text_error)?;
    let mut view = WebhookView::from(&endpoint);
    view.secret = Some(secret.expose().to_owned());
    let location = format!("/v1/webhooks/{}", endpoint.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(view)).into_response())
}

/// List the account's webhook endpoints (account-wide admin key); never
/// their secrets.
#[utoipa::path(
    get, path = "/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
pub async fn list_webhooks(State(state): State<AppState>, caller: Caller) -> Result<Json<WebhookList>, ApiError> {
    require_account_admin(&caller)?;
    let endpoints = state.store.webhooks(&caller.0.account_id).await?;
    Ok(Json(WebhookList { webhooks: endpoints.iter().map(WebhookView::from).collect() }))
}

/// The event types an endpoint can subscribe to (any key).
#[utoipa::path(
    get, path = "/webhooks/event-types", tag = "webhooks",
    responses((status = 200, body = EventTypeList), (status = 401, body = Problem)),
    security(("bearer" = []))
)]
pub async fn event_types(_caller: Caller) -> Json<EventTypeList> {
    let event_types =
        WebhookEventType::ALL.iter().map(|t| EventTypeView { name: t.as_str(), description: t.about() }).collect();
    Json(EventTypeList { event_types })
}

/// One webhook endpoint (account-wide admin key).
#[utoipa::path(
    get, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 200, body = WebhookView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn get_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    require_account_admin(&caller)?;
    let endpoint = state.store.webhook(&caller.0.account_id, &id).await?;
    Ok(Json(WebhookView::from(&endpoint)))
}

/// Delete a webhook endpoint and its pending deliveries (account-wide admin key).
#[utoipa::path(
    delete, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 204, description = "deleted"), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_account_admin(&caller)?;
    state.store.delete_webhook(&caller.0.account_id, &id, &caller.origin()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate an endpoint's signing secret (account-wide admin key). The new
/// secret is in this answer only; the previous one keeps signing beside it
/// for 24 hours, so receivers can switch without refusing a message.
#[utoipa::path(
    post, path = "/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 200, body = WebhookView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    require_account_admin(&caller)?;
    let (endpoint, secret) =
        state.store.rotate_webhook_secret(&caller.0.account_id, &id, ROTATION_OVERLAP, &caller.origin()).await?;
    let mut view = WebhookView::from(&endpoint);
    view.secret = Some(secret.expose().to_owned());
    Ok(Json(view))
}

/// Enable an endpoint disabled after failing for too long (account-wide
/// admin key): new messages are delivered again.
#[utoipa::path(
    post, path = "/webhooks/{id}/enable", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 200, body = WebhookView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn enable_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    require_account_admin(&caller)?;
    let endpoint = state.store.enable_webhook(&caller.0.account_id, &id, &caller.origin()).await?;
    Ok(Json(WebhookView::from(&endpoint)))
}

/// An endpoint's recent deliveries, newest first (account-wide admin key).
#[utoipa::path(
    get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 200, body = DeliveryList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DeliveryList>, ApiError> {
    require_account_admin(&caller)?;
    let deliveries = state.store.webhook_deliveries(&caller.0.account_id, &id, DELIVERIES_LISTED).await?;
    Ok(Json(DeliveryList { deliveries: deliveries.iter().map(DeliveryView::from).collect() }))
}
