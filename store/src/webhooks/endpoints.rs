//! Webhook endpoints: where an account's messages go, which types each
//! wants, and its signing secret (`whsec_` + base64 of 32 random bytes, as
//! Standard Webhooks writes it), sealed at rest and shown once.

use std::time::Duration;

use base64::Engine as _;
use rand::RngCore as _;
use zeroize::Zeroizing;

use super::types::WebhookEventType;
use crate::crypto::secrets::SecretBox;
use crate::db::{on_db, write_tx};
use crate::system::outbox;
use crate::{now_ms, AccountId, Origin, Store, StoreError, SystemEvent};

/// The most endpoints an account may have.
pub const MAX_ENDPOINTS: i64 = 20;

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// An endpoint as listed (never its secret).
#[derive(Debug, Clone)]
pub struct WebhookEndpoint {
    pub id: String,
    pub account: AccountId,
    pub url: String,
    pub description: String,
    pub events: Vec<WebhookEventType>,
    /// Who created it, as (`type`, `id`) of their system event's actor.
    pub created_by: (String, String),
    pub created_ms: i64,
    pub secret_rotated_ms: Option<i64>,
    /// Until when the secret before the last rotation also signs.
    pub previous_secret_until_ms: Option<i64>,
    /// Since when every attempt failed (cleared by a success).
    pub failing_since_ms: Option<i64>,
    pub disabled_ms: Option<i64>,
    pub disabled_reason: Option<String>,
}

impl WebhookEndpoint {
    /// Whether messages are delivered to it.
    pub fn is_enabled(&self) -> bool {
        self.disabled_ms.is_none()
    }
}

/// A signing secret, `whsec_…`: handed out once, when created or rotated.
pub struct WebhookSecret(Zeroizing<String>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(redacted)")
    }
}

impl WebhookSecret {
    fn generate() -> (Self, Zeroizing<Vec<u8>>) {
        let mut key = Zeroizing::new(vec![0u8; 32]);
        rand::rng().fill_bytes(&mut key);
        let text = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(&*key));
        (Self(Zeroizing::new(text)), key)
    }

    /// The secret's text, to show its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The associated data of a sealed secret: the endpoint's id, so a secret
/// copied to another endpoint fails to open.
pub(crate) fn secret_aad(endpoint: &str) -> Vec<u8> {
    let mut aad = b"auditstore/v1/webhook-secret\0".to_vec();
    aad.extend_from_slice(endpoint.as_bytes());
    aad
}

fn check_fields(url: &str, description: &str, events: &[WebhookEventType]) -> Result<(), StoreError> {
    if url.is_empty() || url.len() > MAX_URL_LEN || url.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!("url: must be 1 to {MAX_URL_LEN} bytes without control characters")));
    }
    if description.chars().count() > 200 || description.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "description: must be at most 200 characters without control characters".into(),
        ));
    }
    if events.is_empty() {
        return Err(StoreError::Invalid("events: name at least one event type".into()));
    }
    Ok(())
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

const COLUMNS: &str = "id, account_id, url, description, created_by_type, created_by_id, created_ms, \
                       secret_rotated_ms, previous_until_ms, failing_since_ms, disabled_ms, disabled_reason";

impl Store {
    /// Creates an endpoint of `account` for `events`, with its
    /// `webhook.created` system event. The URL is stored as given: the
    /// server checks where it points (scheme, addresses) before this.
    pub async fn create_webhook(
        &self,
        account: &AccountId,
        url: &str,
        description: &str,
        events: &[WebhookEventType],
        origin: &Origin,
    ) -> Result<(WebhookEndpoint, WebhookSecret), StoreError> {
        check_fields(url, description, events)?;
        let id = format!("wh_{}", uuid::Uuid::now_v7().simple());
        let (secret, key) = WebhookSecret::generate();
        let sealed = self.keys.webhook_box().await?.seal(&secret_aad(&id), &key)?;
        let mut events = events.to_vec();
        events.sort();
        events.dedup();
        let names: Vec<&'static str> = events.iter().map(|t| t.as_str()).collect();
        let event = SystemEvent::WebhookCreated { webhook: id.clone(), url: url.to_owned(), events: names.clone() };
        let staged = self.stage(account, origin, event).await?;
        let (by_type, by_id) = origin.actor().parts();
        let now = now_ms();
        write_tx!(&self.db, |tx| {
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_endpoints WHERE account_id = $1")
                .bind(account.as_str())
                .fetch_one(&mut *tx)
                .await?;
            if count >= MAX_ENDPOINTS {
                return Err(StoreError::Conflict(format!(
                    "the account has {count} webhook endpoints, the most it may have; delete one first"
                )));
            }
            sqlx::query(
                "INSERT INTO webhook_endpoints (id, account_id, url, description, secret, created_ms, \
                 created_by_type, created_by_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(account.as_str())
            .bind(url)
            .bind(description)
            .bind(sealed.as_slice())
            .bind(now)
            .bind(by_type)
            .bind(by_id)
            .execute(&mut *tx)
            .await?;
            for name in &names {
                sqlx::query("INSERT INTO webhook_subscriptions (endpoint_id, event_type) VALUES ($1, $2)")
                    .bind(&id)
                    .bind(*name)
                    .execute(&mut *tx)
                    .await?;
            }
            outbox::insert((&mut *tx).into(), &staged).await?;
            tx.commit().await?;
        });
        self.drain_outbox(account).await;
        Ok((self.webhook(account, &id).await?, secret))
    }

    /// The endpoints of `account`, oldest first.
    pub async fn webhooks(&self, account: &AccountId) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM webhook_endpoints WHERE account_id = $1 ORDER BY created_ms, id");
        let rows: Vec<Row> =
            on_db!(&self.db.pool, |p| sqlx::query_as(&sql).bind(account.as_str()).fetch_all(p).await?);
        let mut endpoints = Vec::with_capacity(rows.len());
        for row in rows {
            endpoints.push(self.endpoint_from(row).await?);
        }
        Ok(endpoints)
    }

    /// The endpoint `id` of `account`.
    pub async fn webhook(&self, account: &AccountId, id: &str) -> Result<WebhookEndpoint, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM webhook_endpoints WHERE account_id = $1 AND id = $2");
        let row: Option<Row> = on_db!(&self.db.pool, |p| {
            sqlx::query_as(&sql).bind(account.as_str()).bind(id).fetch_optional(p).await?
        });
        match row {
            Some(row) => self.endpoint_from(row).await,
            None => Err(StoreError::NotFound("webhook")),
        }
    }

    async fn endpoint_from(&self, row: Row) -> Result<WebhookEndpoint, StoreError> {
        let (
            id,
            account,
            url,
            description,
            by_type,
            by_id,
            created_ms,
            rotated,
            previous_until,
            failing,
            disabled,
            why,
        ) = row;
        let names: Vec<String> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar(
                "SELECT event_type FROM webhook_subscriptions WHERE endpoint_id = $1 ORDER BY event_type",
            )
            .bind(&id)
            .fetch_all(p)
            .await?
        });
        // A type this version does not know (a newer node wrote it) is
        // left out of the listing, not an error.
        let mut events: Vec<WebhookEventType> = names.iter().filter_map(|n| WebhookEventType::parse(n)).collect();
        events.sort();
        Ok(WebhookEndpoint {
            id,
            account: AccountId::from_stored(account),
            url,
            description,
            events,
            created_by: (by_type, by_id),
            created_ms,
            secret_rotated_ms: rotated,
            previous_secret_until_ms: previous_until.filter(|until| *until > now_ms()),
            failing_since_ms: failing,
            disabled_ms: disabled,
            disabled_reason: why,
        })
    }

    /// Gives the endpoint a new secret, returned once. The old one keeps
    /// signing beside it (a second `v1,` signature) for `overlap`, so a
    /// receiver can switch without refusing a message meanwhile.
    pub async fn rotate_webhook_secret(
        &self,
        account: &AccountId,
        id: &str,
        overlap: Duration,
        origin: &Origin,
    ) -> Result<(WebhookEndpoint, WebhookSecret), StoreError> {
        let endpoint = self.webhook(account, id).await?;
        let (secret, key) = WebhookSecret::generate();
        let sealed = self.keys.webhook_box().await?.seal(&secret_aad(id), &key)?;
        let event = SystemEvent::WebhookSecretRotated { webhook: id.to_owned(), url: endpoint.url.clone() };
        let staged = self.stage(account, origin, event).await?;
        let now = now_ms();
        let until = now.saturating_add(i64::try_from(overlap.as_millis()).unwrap_or(i64::MAX));
        write_tx!(&self.db, |tx| {
            let done = sqlx::query(
                "UPDATE webhook_endpoints SET previous_secret = secret, previous_until_ms = $1, secret = $2, \
                 secret_rotated_ms = $3 WHERE account_id = $4 AND id = $5",
            )
            .bind(until)
            .bind(sealed.as_slice())
            .bind(now)
            .bind(account.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::NotFound("webhook"));
            }
            outbox::insert((&mut *tx).into(), &staged).await?;
            tx.commit().await?;
        });
        self.drain_outbox(account).await;
        Ok((self.webhook(account, id).await?, secret))
    }

    /// Deletes the endpoint with its pending deliveries and history, with
    /// its `webhook.deleted` system event.
    pub async fn delete_webhook(&self, account: &AccountId, id: &str, origin: &Origin) -> Result<(), StoreError> {
        let endpoint = self.webhook(account, id).await?;
        let event = SystemEvent::WebhookDeleted { webhook: id.to_owned(), url: endpoint.url };
        let staged = self.stage(account, origin, event).await?;
        write_tx!(&self.db, |tx| {
            sqlx::query(
                "DELETE FROM webhook_attempts WHERE delivery_id IN \
                 (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            for sql in [
                "DELETE FROM webhook_deliveries WHERE endpoint_id = $1",
                "DELETE FROM webhook_subscriptions WHERE endpoint_id = $1",
            ] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
            let done = sqlx::query("DELETE FROM webhook_endpoints WHERE account_id = $1 AND id = $2")
                .bind(account.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::NotFound("webhook"));
            }
            outbox::insert((&mut *tx).into(), &staged).await?;
            tx.commit().await?;
        });
        self.drain_outbox(account).await;
        Ok(())
    }

    /// Enables a disabled endpoint again (messages from now on; the ones
    /// given up while it was disabled stay given up).
    pub async fn enable_webhook(
        &self,
        account: &AccountId,
        id: &str,
        origin: &Origin,
    ) -> Result<WebhookEndpoint, StoreError> {
        let endpoint = self.webhook(account, id).await?;
        if endpoint.is_enabled() {
            return Ok(endpoint);
        }
        let event = SystemEvent::WebhookEnabled { webhook: id.to_owned(), url: endpoint.url };
        let staged = self.stage(account, origin, event).await?;
        write_tx!(&self.db, |tx| {
            sqlx::query(
                "UPDATE webhook_endpoints SET disabled_ms = NULL, disabled_reason = NULL, failing_since_ms = NULL \
                 WHERE account_id = $1 AND id = $2",
            )
            .bind(account.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            outbox::insert((&mut *tx).into(), &staged).await?;
            tx.commit().await?;
        });
        self.drain_outbox(account).await;
        self.webhook(account, id).await
    }
}

/// Opens a sealed signing key of endpoint `id`.
pub(crate) fn open_key(sealer: &SecretBox, id: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    sealer.open(&secret_aad(id), sealed).ok_or_else(|| {
        StoreError::Integrity(format!("the signing secret of webhook {id} failed authenticated decryption"))
    })
}
