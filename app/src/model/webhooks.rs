//! Webhook endpoints and their deliveries, as the webhooks page shows them.

use serde::{Deserialize, Serialize};

/// An endpoint (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRow {
    pub id: String,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    /// `enabled` or `disabled`.
    pub status: String,
    pub disabled_reason: Option<String>,
    /// Since when every attempt failed, while they do.
    pub failing_since: Option<String>,
    pub created_at: String,
    /// Until when the secret before the last rotation signs too.
    pub previous_secret_until: Option<String>,
    /// The most recent deliveries, newest first.
    pub deliveries: Vec<DeliveryRow>,
}

/// One message to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub message_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub created_at: String,
    /// The last attempt's HTTP status or error, if any.
    pub last_result: Option<String>,
    pub next_attempt_at: Option<String>,
}

/// An event type an endpoint can subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTypeRow {
    pub name: String,
    pub about: String,
}

/// The webhooks page: the endpoints and the types to choose from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhooksPage {
    pub webhooks: Vec<WebhookRow>,
    pub event_types: Vec<EventTypeRow>,
}

/// A signing secret, shown once after creation or rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewWebhookSecret {
    pub id: String,
    pub url: String,
    pub secret: String,
}
