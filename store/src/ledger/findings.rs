//! Integrity findings: stored events that a read or the indexer found
//! altered (they do not open, or their content disagrees with their row),
//! kept per ledger for the tamper monitor and an operator. A finding is
//! evidence: it is updated when seen again, never removed by the
//! application (PostgreSQL's application role has no DELETE on it).

use audit_core::LedgerId;

use crate::db::{from_i64, on_db, to_i64};
use crate::{now_ms, Store, StoreError};

/// What was found wrong with one stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrityFinding {
    pub seq: u64,
    /// The event id as its row says (which may be the altered part).
    pub event_id: String,
    /// The latest description of what failed.
    pub detail: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// How many times it was found.
    pub times: u64,
}

impl Store {
    /// Records (or counts again) a finding. Never fails its caller: the
    /// integrity error is answered whether or not the record lands, and a
    /// failure to record is logged.
    pub(crate) async fn record_finding(&self, ledger: &LedgerId, seq: u64, event_id: &str, detail: &str) {
        tracing::error!(%ledger, seq, %detail, "integrity check failed on a stored event");
        let now = now_ms();
        let recorded: Result<(), StoreError> = async {
            on_db!(&self.db.pool, |p| {
                sqlx::query(
                    "INSERT INTO integrity_findings \
                     (ledger_id, seq, event_id, detail, first_seen_ms, last_seen_ms, times) \
                     VALUES ($1, $2, $3, $4, $5, $5, 1) \
                     ON CONFLICT (ledger_id, seq) DO UPDATE SET event_id = excluded.event_id, \
                     detail = excluded.detail, last_seen_ms = excluded.last_seen_ms, \
                     times = integrity_findings.times + 1",
                )
                .bind(ledger.as_str())
                .bind(to_i64(seq)?)
                .bind(event_id)
                .bind(detail)
                .bind(now)
                .execute(p)
                .await?;
            });
            Ok(())
        }
        .await;
        if let Err(error) = recorded {
            tracing::error!(%ledger, seq, %error, "the integrity finding could not be recorded");
        }
    }

    /// The findings of a ledger, by seq.
    pub async fn integrity_findings(&self, ledger: &LedgerId) -> Result<Vec<IntegrityFinding>, StoreError> {
        let rows: Vec<(i64, String, String, i64, i64, i64)> = on_db!(&self.db.pool, |p| {
            sqlx::query_as(
                "SELECT seq, event_id, detail, first_seen_ms, last_seen_ms, times FROM integrity_findings \
                 WHERE ledger_id = $1 ORDER BY seq",
            )
            .bind(ledger.as_str())
            .fetch_all(p)
            .await?
        });
        rows.into_iter()
            .map(|(seq, event_id, detail, first_seen_ms, last_seen_ms, times)| {
                Ok(IntegrityFinding {
                    seq: from_i64(seq)?,
                    event_id,
                    detail,
                    first_seen_ms,
                    last_seen_ms,
                    times: from_i64(times)?,
                })
            })
            .collect()
    }
}
