//! The webhook outbox's deliveries: which are due, what each attempt
//! answered, retries, giving up, and disabling an endpoint that has failed
//! for too long (itself announced). The server's sender decides when to
//! retry; this records it, so a restart resumes exactly where it stood.

use std::time::Duration;

use zeroize::Zeroizing;

use super::endpoints::open_key;
use super::messages;
use crate::db::{on_db, write_tx};
use crate::system::outbox;
use crate::{now_ms, AccountId, Actor, Origin, Store, StoreError, SystemEvent};

/// A delivery to attempt now, with what signing and sending it needs.
pub struct DueDelivery {
    pub id: i64,
    /// The `webhook-id`: the message's, the same on every attempt.
    pub message_id: String,
    pub endpoint_id: String,
    pub account: AccountId,
    pub url: String,
    pub event_type: String,
    pub body: Vec<u8>,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    /// Since when the endpoint has been failing, if it is.
    pub failing_since_ms: Option<i64>,
    keys: Vec<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for DueDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueDelivery")
            .field("id", &self.id)
            .field("message_id", &self.message_id)
            .field("endpoint_id", &self.endpoint_id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl DueDelivery {
    /// The HMAC keys to sign with: the endpoint's secret, and during a
    /// rotation's overlap the previous one too.
    pub fn signing_keys(&self) -> &[Zeroizing<Vec<u8>>] {
        &self.keys
    }
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx: done.
    Delivered,
    /// Failed; try again at this time (Unix ms).
    RetryAt(i64),
    /// Failed for the last time (the schedule is spent, or the answer
    /// says retrying cannot help).
    GiveUp,
}

/// One attempt as it happened.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at_ms: i64,
    pub duration_ms: i64,
    /// The HTTP status, if the endpoint answered.
    pub http_status: Option<u16>,
    /// What went wrong (a timeout, a refused connection, a status), if it
    /// did.
    pub error: Option<String>,
    pub outcome: Outcome,
}

/// Disabling an endpoint with an attempt, if it is still failing for
/// `limit` ms when the attempt is recorded.
struct Disable<'a> {
    endpoint: &'a String,
    staged: &'a crate::system::Staged,
    reason: &'a str,
    limit: i64,
}

type DueRow =
    (i64, String, String, String, String, String, Vec<u8>, i64, Vec<u8>, Option<Vec<u8>>, Option<i64>, Option<i64>);

pub(super) fn count(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

impl Store {
    /// The pending deliveries due by `now` (oldest due first), at most
    /// `limit`, opened. One whose body or secret does not open is given up
    /// loudly instead: retrying cannot help it.
    pub async fn due_webhook_deliveries(&self, now: i64, limit: i64) -> Result<Vec<DueDelivery>, StoreError> {
        let rows: Vec<DueRow> = on_db!(&self.db.pool, |p| {
            sqlx::query_as(
                "SELECT d.id, d.message_id, d.endpoint_id, m.account_id, e.url, m.event_type, m.payload, d.attempts, \
                 e.secret, e.previous_secret, e.previous_until_ms, e.failing_since_ms \
                 FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id \
                 JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                 WHERE d.status = 'pending' AND d.next_attempt_ms <= $1 AND e.disabled_ms IS NULL \
                 ORDER BY d.next_attempt_ms, d.id LIMIT $2",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(p)
            .await?
        });
        let sealer = self.keys.webhook_box().await?;
        let mut due = Vec::with_capacity(rows.len());
        for (
            id,
            message_id,
            endpoint_id,
            account,
            url,
            event_type,
            payload,
            attempts,
            secret,
            previous,
            until,
            failing,
        ) in rows
        {
            let account = AccountId::from_stored(account);
            let opened = (|| {
                let body = sealer.open(&messages::aad(&account, &message_id), &payload).ok_or_else(|| {
                    StoreError::Integrity(format!("webhook message {message_id} failed authenticated decryption"))
                })?;
                let mut keys = vec![open_key(&sealer, &endpoint_id, &secret)?];
                if let (Some(previous), Some(until)) = (previous, until) {
                    if until > now {
                        keys.push(open_key(&sealer, &endpoint_id, &previous)?);
                    }
                }
                Ok::<_, StoreError>((body.to_vec(), keys))
            })();
            match opened {
                Ok((body, keys)) => due.push(DueDelivery {
                    id,
                    message_id,
                    endpoint_id,
                    account,
                    url,
                    event_type,
                    body,
                    attempt: count(attempts).saturating_add(1),
                    failing_since_ms: failing,
                    keys,
                }),
                Err(error) => {
                    tracing::error!(delivery = id, %error, "a webhook delivery was given up: it cannot be signed or sent");
                    let attempt = Attempt {
                        at_ms: now,
                        duration_ms: 0,
                        http_status: None,
                        error: Some(error.to_string()),
                        outcome: Outcome::GiveUp,
                    };
                    self.finish_attempt(id, count(attempts).saturating_add(1), &attempt, None).await?;
                }
            }
        }
        Ok(due)
    }

    /// Records an attempt of `due` and what becomes of it. A failure of an
    /// endpoint that has failed for `disable_after` (no success between)
    /// disables it: its pending deliveries are given up and the account is
    /// told (`webhook.disabled`, in the system ledger and to its other
    /// endpoints). Returns whether this attempt disabled it.
    pub async fn record_webhook_attempt(
        &self,
        due: &DueDelivery,
        attempt: &Attempt,
        disable_after: Duration,
    ) -> Result<bool, StoreError> {
        let limit = i64::try_from(disable_after.as_millis()).unwrap_or(i64::MAX);
        let since = due.failing_since_ms.unwrap_or(attempt.at_ms);
        let disables = attempt.outcome != Outcome::Delivered && attempt.at_ms.saturating_sub(since) >= limit;
        let disabling = if disables {
            let reason = format!(
                "every attempt failed for {} hours (last: {})",
                attempt.at_ms.saturating_sub(since) / 3_600_000,
                attempt.error.as_deref().unwrap_or("no answer")
            );
            let event = SystemEvent::WebhookDisabled {
                webhook: due.endpoint_id.clone(),
                url: due.url.clone(),
                failing_since_ms: since,
                reason: reason.clone(),
            };
            let origin = Origin::new(Actor::Job("webhooks"));
            Some((self.stage(&due.account, &origin, event).await?, reason))
        } else {
            None
        };
        let disabled = self
            .finish_attempt(
                due.id,
                due.attempt,
                attempt,
                disabling.as_ref().map(|(s, r)| Disable { endpoint: &due.endpoint_id, staged: s, reason: r, limit }),
            )
            .await?;
        if disabled {
            tracing::warn!(webhook = due.endpoint_id, "a webhook endpoint failing for too long was disabled");
            self.drain_outbox(&due.account).await;
        }
        Ok(disabled)
    }

    async fn finish_attempt(
        &self,
        delivery: i64,
        number: u32,
        attempt: &Attempt,
        disable: Option<Disable<'_>>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let status = attempt.http_status.map(i64::from);
        let (state, next, finished) = match attempt.outcome {
            Outcome::Delivered => ("delivered", None, Some(now)),
            Outcome::RetryAt(at) => ("pending", Some(at), None),
            Outcome::GiveUp => ("failed", None, Some(now)),
        };
        let disabled = write_tx!(&self.db, |tx| {
            let endpoint: Option<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
                "SELECT d.endpoint_id, e.disabled_ms, e.failing_since_ms FROM webhook_deliveries d \
                 JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1 AND d.status = 'pending'",
            )
            .bind(delivery)
            .fetch_optional(&mut *tx)
            .await?;
            // Deleted or finished meanwhile (its endpoint deleted): nothing
            // to record.
            let Some((endpoint, was_disabled, failing_since)) = endpoint else { return Ok(false) };
            sqlx::query(
                "INSERT INTO webhook_attempts (delivery_id, attempt, at_ms, duration_ms, http_status, error) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (delivery_id, attempt) DO NOTHING",
            )
            .bind(delivery)
            .bind(i64::from(number))
            .bind(attempt.at_ms)
            .bind(attempt.duration_ms)
            .bind(status)
            .bind(attempt.error.as_deref())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_ms = $3, last_attempt_ms = $4, \
                 last_status = $5, last_error = $6, finished_ms = $7 WHERE id = $8",
            )
            .bind(state)
            .bind(i64::from(number))
            .bind(next)
            .bind(attempt.at_ms)
            .bind(status)
            .bind(attempt.error.as_deref())
            .bind(finished)
            .bind(delivery)
            .execute(&mut *tx)
            .await?;
            if attempt.outcome == Outcome::Delivered {
                sqlx::query("UPDATE webhook_endpoints SET failing_since_ms = NULL WHERE id = $1")
                    .bind(&endpoint)
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query(
                    "UPDATE webhook_endpoints SET failing_since_ms = COALESCE(failing_since_ms, $1) WHERE id = $2",
                )
                .bind(attempt.at_ms)
                .bind(&endpoint)
                .execute(&mut *tx)
                .await?;
            }
            let mut disabled = false;
            if let Some(Disable { endpoint: id, staged, reason, limit }) = disable {
                // Judged again here: a success of another delivery to the
                // endpoint since the attempt was taken clears its failing.
                let still_failing = failing_since.is_some_and(|since| attempt.at_ms.saturating_sub(since) >= limit);
                if *id == endpoint && was_disabled.is_none() && still_failing {
                    sqlx::query("UPDATE webhook_endpoints SET disabled_ms = $1, disabled_reason = $2 WHERE id = $3")
                        .bind(now)
                        .bind(reason)
                        .bind(&endpoint)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_ms = NULL, finished_ms = $1, \
                         last_error = 'the endpoint was disabled' WHERE endpoint_id = $2 AND status = 'pending'",
                    )
                    .bind(now)
                    .bind(&endpoint)
                    .execute(&mut *tx)
                    .await?;
                    // Announced to the account's other endpoints: this one
                    // is disabled already, so the fan-out skips it.
                    outbox::insert((&mut *tx).into(), staged).await?;
                    disabled = true;
                }
            }
            tx.commit().await?;
            disabled
        });
        Ok(disabled)
    }
}
