//! Server functions of webhooks: the endpoints with their recent
//! deliveries (every role sees them), and for admins creation, secret
//! rotation, enabling and deletion. A URL is checked by the server's own
//! destination rules (https, public addresses after DNS) before it is
//! stored, exactly as /v1 checks it.

use leptos::prelude::*;

use crate::model::{NewWebhookSecret, WebhooksPage};

#[cfg(feature = "ssr")]
use {
    super::support::{fail, origin, store_error, time},
    crate::auth,
    crate::model::{DeliveryRow, EventTypeRow, WebhookRow},
    http::StatusCode,
    store::webhooks::WebhookEventType,
    store::Role,
};

/// Deliveries shown per endpoint.
#[cfg(feature = "ssr")]
const DELIVERIES_SHOWN: i64 = 10;

/// How long the previous secret signs beside a new one.
#[cfg(feature = "ssr")]
const ROTATION_OVERLAP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The account's endpoints with their recent deliveries.
#[server(endpoint = "list_webhooks")]
pub async fn list_webhooks() -> Result<WebhooksPage, ServerFnError> {
    let (dashboard, user) = auth::require(Role::Auditor)?;
    let store = &dashboard.store;
    let endpoints = store.webhooks(&user.account_id).await.map_err(store_error)?;
    let mut webhooks = Vec::with_capacity(endpoints.len());
    for e in endpoints {
        let deliveries =
            store.webhook_deliveries(&user.account_id, &e.id, DELIVERIES_SHOWN).await.map_err(store_error)?;
        webhooks.push(WebhookRow {
            status: if e.is_enabled() { "enabled" } else { "disabled" }.to_owned(),
            events: e.events.iter().map(|t| t.as_str().to_owned()).collect(),
            disabled_reason: e.disabled_reason.clone(),
            failing_since: e.failing_since_ms.map(time),
            created_at: time(e.created_ms),
            previous_secret_until: e.previous_secret_until_ms.map(time),
            deliveries: deliveries
                .into_iter()
                .map(|d| DeliveryRow {
                    last_result: match (d.last_status, d.last_error) {
                        (_, Some(error)) => Some(error),
                        (Some(status), None) => Some(format!("HTTP {status}")),
                        (None, None) => None,
                    },
                    next_attempt_at: d.next_attempt_ms.map(time),
                    created_at: time(d.created_ms),
                    message_id: d.message_id,
                    event_type: d.event_type,
                    status: d.status,
                    attempts: d.attempts,
                })
                .collect(),
            id: e.id,
            url: e.url,
            description: e.description,
        });
    }
    let event_types = WebhookEventType::ALL
        .iter()
        .map(|t| EventTypeRow { name: t.as_str().to_owned(), about: t.about().to_owned() })
        .collect();
    Ok(WebhooksPage { webhooks, event_types })
}

/// Creates an endpoint for `events` (comma-separated type names); the
/// signing secret is returned once.
#[server(endpoint = "create_webhook")]
pub async fn create_webhook(
    csrf: String,
    url: String,
    description: String,
    events: String,
) -> Result<NewWebhookSecret, ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    auth::needs_script()?;
    let mut types = Vec::new();
    for name in events.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let t = WebhookEventType::parse(name)
            .ok_or_else(|| fail(StatusCode::BAD_REQUEST, format!("{name} is not an event type")))?;
        types.push(t);
    }
    if types.is_empty() {
        return Err(fail(StatusCode::BAD_REQUEST, "Choose at least one event type."));
    }
    let url = dashboard
        .webhook_urls
        .check(url.trim())
        .await
        .map_err(|refusal| fail(StatusCode::BAD_REQUEST, format!("The URL {refusal}.")))?;
    let store = &dashboard.store;
    let (endpoint, secret) = store
        .create_webhook(&user.account_id, &url, description.trim(), &types, &origin(&user))
        .await
        .map_err(store_error)?;
    Ok(NewWebhookSecret { id: endpoint.id, url: endpoint.url, secret: secret.expose().to_owned() })
}

/// A new signing secret for the endpoint; the previous one signs beside it
/// for a day. Returned once.
#[server(endpoint = "rotate_webhook_secret")]
pub async fn rotate_webhook_secret(csrf: String, id: String) -> Result<NewWebhookSecret, ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    auth::needs_script()?;
    let (endpoint, secret) = dashboard
        .store
        .rotate_webhook_secret(&user.account_id, id.trim(), ROTATION_OVERLAP, &origin(&user))
        .await
        .map_err(store_error)?;
    Ok(NewWebhookSecret { id: endpoint.id, url: endpoint.url, secret: secret.expose().to_owned() })
}

/// Enables an endpoint disabled after failing for too long.
#[server(endpoint = "enable_webhook")]
pub async fn enable_webhook(csrf: String, id: String) -> Result<(), ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    dashboard.store.enable_webhook(&user.account_id, id.trim(), &origin(&user)).await.map_err(store_error)?;
    Ok(())
}

/// Deletes an endpoint and its pending deliveries.
#[server(endpoint = "delete_webhook")]
pub async fn delete_webhook(csrf: String, id: String) -> Result<(), ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    dashboard.store.delete_webhook(&user.account_id, id.trim(), &origin(&user)).await.map_err(store_error)?;
    Ok(())
}
