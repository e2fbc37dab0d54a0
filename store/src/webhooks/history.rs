//! What the API and the dashboard list of an endpoint's deliveries, and
//! the pruning of old ones (finished deliveries are kept 30 days by the
//! server's sender job).

use super::deliveries::count;
use crate::db::{on_db, write_tx};
use crate::{AccountId, Store, StoreError};

/// A delivery as the API and the dashboard list it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub message_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub next_attempt_ms: Option<i64>,
    pub last_attempt_ms: Option<i64>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub finished_ms: Option<i64>,
    pub created_ms: i64,
}

type DeliveryRow =
    (i64, String, String, String, i64, Option<i64>, Option<i64>, Option<i64>, Option<String>, Option<i64>, i64);

impl Store {
    /// The most recent deliveries to endpoint `id` of `account`, newest
    /// first.
    pub async fn webhook_deliveries(
        &self,
        account: &AccountId,
        id: &str,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        // The endpoint must be the account's.
        self.webhook(account, id).await?;
        let rows: Vec<DeliveryRow> = on_db!(&self.db.pool, |p| {
            sqlx::query_as(
                "SELECT d.id, d.message_id, m.event_type, d.status, d.attempts, d.next_attempt_ms, d.last_attempt_ms, \
                 d.last_status, d.last_error, d.finished_ms, d.created_ms \
                 FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id \
                 WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2",
            )
            .bind(id)
            .bind(limit)
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    message_id,
                    event_type,
                    status,
                    attempts,
                    next,
                    last,
                    last_status,
                    last_error,
                    finished,
                    created,
                )| {
                    Delivery {
                        id,
                        message_id,
                        event_type,
                        status,
                        attempts: count(attempts),
                        next_attempt_ms: next,
                        last_attempt_ms: last,
                        last_status: last_status.and_then(|s| u16::try_from(s).ok()),
                        last_error,
                        finished_ms: finished,
                        created_ms: created,
                    }
                },
            )
            .collect())
    }

    /// Deletes finished deliveries (and their attempts) that finished
    /// before `before_ms`, and the messages no delivery refers to any more.
    /// Returns how many deliveries went.
    pub async fn prune_webhook_history(&self, before_ms: i64) -> Result<u64, StoreError> {
        let pruned = write_tx!(&self.db, |tx| {
            sqlx::query(
                "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries \
                 WHERE status <> 'pending' AND finished_ms < $1)",
            )
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
            let pruned = sqlx::query("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND finished_ms < $1")
                .bind(before_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "DELETE FROM webhook_messages WHERE created_ms < $1 AND NOT EXISTS \
                 (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = webhook_messages.id)",
            )
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            pruned
        });
        Ok(pruned)
    }
}
