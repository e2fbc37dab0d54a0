//! Staleness, reported: a ledger not verified for more than twice the
//! monitor's interval (the monitor stopped, switched off everywhere or
//! falling behind) is announced once per episode as `integrity.stale`, in
//! the system ledger and to webhooks, so the monitor cannot go quiet
//! without someone being told.

use std::time::Duration;

use audit_core::LedgerId;

use crate::db::{on_db, write_tx};
use crate::system::outbox;
use crate::{now_ms, AccountId, Actor, Origin, Store, StoreError, SystemEvent};

type Row = (String, String, i64, Option<i64>, Option<i64>);

impl Store {
    /// Reports every ledger whose last verification (or, never verified,
    /// its creation) is older than twice `interval` and not reported yet
    /// for that verification. Returns how many it reported.
    pub async fn report_stale_ledgers(&self, interval: Duration) -> Result<usize, StoreError> {
        let limit = i64::try_from(interval.as_millis().saturating_mul(2)).unwrap_or(i64::MAX);
        let rows: Vec<Row> = on_db!(&self.db.pool, |p| {
            sqlx::query_as(
                "SELECT l.id, l.account_id, l.created_ms, p.last_verified_ms, r.since_ms FROM ledgers l \
                 LEFT JOIN monitor_progress p ON p.ledger_id = l.id \
                 LEFT JOIN integrity_stale_reports r ON r.ledger_id = l.id ORDER BY l.id",
            )
            .fetch_all(p)
            .await?
        });
        let now = now_ms();
        let mut reported = 0;
        for (ledger, account, created_ms, last_verified_ms, reported_since) in rows {
            let since = last_verified_ms.unwrap_or(created_ms);
            if now.saturating_sub(since) <= limit || reported_since == Some(since) {
                continue;
            }
            let ledger = LedgerId::new(ledger).map_err(|_| StoreError::Corrupt("a ledger row holds a bad id"))?;
            let account = AccountId::from_stored(account);
            let event = SystemEvent::IntegrityStale {
                ledger: ledger.clone(),
                last_verified_ms,
                since_ms: since,
                limit_ms: limit,
            };
            let staged = self.stage(&account, &Origin::new(Actor::Job("monitor-watch")), event).await?;
            write_tx!(&self.db, |tx| {
                sqlx::query(
                    "INSERT INTO integrity_stale_reports (ledger_id, since_ms, reported_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (ledger_id) DO UPDATE SET since_ms = excluded.since_ms, reported_ms = excluded.reported_ms",
                )
                .bind(ledger.as_str())
                .bind(since)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                outbox::insert((&mut *tx).into(), &staged).await?;
                tx.commit().await?;
            });
            self.drain_outbox(&account).await;
            tracing::warn!(%ledger, "a ledger's verification is stale: integrity.stale reported");
            reported += 1;
        }
        Ok(reported)
    }
}
