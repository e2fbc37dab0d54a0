//! Webhook messages: the body each subscribed endpoint receives for a
//! platform action, staged with the action's system event and written in
//! the same transaction as the change (so a committed change is always
//! announced, and nothing is announced that did not commit).

use audit_core::Event;
use serde_json::{json, Map, Value};

use super::types::{announced_by, WebhookEventType};
use crate::crypto::secrets::SecretBox;
use crate::db::{on_db, Conn};
use crate::{AccountId, StoreError, SystemEvent};

/// A message ready for the webhook outbox: its id (the `webhook-id` of
/// every delivery and retry), type and sealed body.
#[derive(Debug, Clone)]
pub(crate) struct StagedMessage {
    pub(crate) id: String,
    pub(crate) event_type: WebhookEventType,
    pub(crate) sealed: Vec<u8>,
}

/// The associated data of a sealed body: whose and which message, so a
/// body copied to another row fails to open.
pub(crate) fn aad(account: &AccountId, message: &str) -> Vec<u8> {
    let mut aad = b"auditstore/v1/webhook-message\0".to_vec();
    aad.extend_from_slice(account.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(message.as_bytes());
    aad
}

/// The types `event` announces (none for most actions: those need no
/// message at all).
pub(crate) fn types_of(event: &SystemEvent) -> Vec<(WebhookEventType, Map<String, Value>)> {
    announced_by(event)
}

/// The messages of one action: for each type, the body
/// `{"type", "timestamp", "data"}` (Standard Webhooks), whose data holds
/// the action's metadata fields, the account, who did it and to what, and
/// the whole system event as the system ledger stores it (so a receiver
/// can look it up there and verify its inclusion).
pub(crate) fn stage(
    types: Vec<(WebhookEventType, Map<String, Value>)>,
    account: &AccountId,
    event: &Event,
    sealer: &SecretBox,
) -> Result<Vec<StagedMessage>, StoreError> {
    let mut staged = Vec::with_capacity(types.len());
    for (event_type, overrides) in types {
        let mut data = event.metadata().as_map().clone();
        data.insert("account_id".into(), Value::String(account.as_str().to_owned()));
        data.insert("actor".into(), json!({"type": event.actor().kind(), "id": event.actor().id()}));
        data.insert("resource".into(), json!({"type": event.resource().kind(), "id": event.resource().id()}));
        let system_event =
            serde_json::to_value(event).map_err(|_| StoreError::Corrupt("system event does not serialise"))?;
        data.insert("system_event".into(), system_event);
        data.extend(overrides);
        let body = json!({
            "type": event_type.as_str(),
            "timestamp": event.occurred_at().as_str(),
            "data": data,
        });
        let body = serde_json::to_vec(&body).map_err(|_| StoreError::Corrupt("webhook body does not serialise"))?;
        let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
        let sealed = sealer.seal(&aad(account, &id), &body)?;
        staged.push(StagedMessage { id, event_type, sealed });
    }
    Ok(staged)
}

/// Writes the messages of an action and one pending delivery per enabled
/// endpoint of the account subscribed to each type, inside the change's
/// transaction. A type no endpoint wants costs one indexed read.
pub(crate) async fn fan_out(
    mut conn: Conn<'_>,
    account: &AccountId,
    messages: &[StagedMessage],
    now_ms: i64,
) -> Result<(), StoreError> {
    for message in messages {
        let wanted: i64 = on_db!(conn.reborrow(), |c| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM webhook_subscriptions s JOIN webhook_endpoints e ON e.id = s.endpoint_id \
                 WHERE s.event_type = $1 AND e.account_id = $2 AND e.disabled_ms IS NULL",
            )
            .bind(message.event_type.as_str())
            .bind(account.as_str())
            .fetch_one(&mut *c)
            .await?
        });
        if wanted == 0 {
            continue;
        }
        on_db!(conn.reborrow(), |c| {
            sqlx::query(
                "INSERT INTO webhook_messages (id, account_id, event_type, payload, created_ms) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&message.id)
            .bind(account.as_str())
            .bind(message.event_type.as_str())
            .bind(message.sealed.as_slice())
            .bind(now_ms)
            .execute(&mut *c)
            .await?;
            sqlx::query(
                "INSERT INTO webhook_deliveries (message_id, endpoint_id, status, attempts, next_attempt_ms, created_ms) \
                 SELECT $1, e.id, 'pending', 0, $2, $2 FROM webhook_subscriptions s \
                 JOIN webhook_endpoints e ON e.id = s.endpoint_id \
                 WHERE s.event_type = $3 AND e.account_id = $4 AND e.disabled_ms IS NULL",
            )
            .bind(&message.id)
            .bind(now_ms)
            .bind(message.event_type.as_str())
            .bind(account.as_str())
            .execute(&mut *c)
            .await?;
        });
    }
    Ok(())
}
