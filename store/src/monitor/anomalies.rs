//! Recorded anomalies: one row per ledger, kind and seq range, found once
//! (its `integrity.anomaly` system event committed with it) and seen again
//! by later passes, acknowledged once by an owner, never removed.

use audit_core::LedgerId;

use super::kinds::AnomalyKind;
use super::walk::Found;
use crate::db::{from_i64, on_db, to_i64, write_tx, Conn};
use crate::system::{outbox, Staged};
use crate::{now_ms, AccountId, Origin, Store, StoreError, SystemEvent};

/// An anomaly as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    pub id: String,
    pub account: AccountId,
    pub ledger: LedgerId,
    pub kind: AnomalyKind,
    pub first_seq: u64,
    pub last_seq: u64,
    pub detail: String,
    pub found_ms: i64,
    pub last_seen_ms: i64,
    pub acknowledged_ms: Option<i64>,
    /// Who acknowledged it (`user:<id>` and the like).
    pub acknowledged_by: Option<String>,
}

impl Anomaly {
    /// What to do next (by kind).
    pub fn advice(&self) -> &'static str {
        self.kind.advice()
    }
}

type Row = (String, String, String, String, i64, i64, String, i64, i64, Option<i64>, Option<String>);

const COLUMNS: &str = "anomaly_id, account_id, ledger_id, kind, first_seq, last_seq, detail, found_ms, last_seen_ms, \
                       acknowledged_ms, acknowledged_by";

fn anomaly(row: Row) -> Result<Anomaly, StoreError> {
    let (id, account, ledger, kind, first, last, detail, found_ms, last_seen_ms, acknowledged_ms, acknowledged_by) =
        row;
    Ok(Anomaly {
        id,
        account: AccountId::from_stored(account),
        ledger: LedgerId::new(ledger).map_err(|_| StoreError::Corrupt("an anomaly names an invalid ledger id"))?,
        kind: kind.parse().map_err(|_| StoreError::Corrupt("an anomaly has an unknown kind"))?,
        first_seq: from_i64(first)?,
        last_seq: from_i64(last)?,
        detail,
        found_ms,
        last_seen_ms,
        acknowledged_ms,
        acknowledged_by,
    })
}

/// A finding ready to record: its new id and its system event, prepared
/// before the transaction (sealing needs the outbox key).
pub(super) struct Prepared {
    id: String,
    found: Found,
    staged: Staged,
}

impl Store {
    /// Prepares `found` of `ledger` for [`record`].
    pub(super) async fn prepare(
        &self,
        account: &AccountId,
        ledger: &LedgerId,
        found: Vec<Found>,
    ) -> Result<Vec<Prepared>, StoreError> {
        let origin = Origin::new(crate::Actor::Job("monitor"));
        let mut prepared = Vec::with_capacity(found.len());
        for found in found {
            let id = format!("anm_{}", uuid::Uuid::now_v7().simple());
            let event = SystemEvent::IntegrityAnomaly {
                ledger: ledger.clone(),
                anomaly: id.clone(),
                kind: found.kind,
                first_seq: found.first,
                last_seq: found.last,
                detail: found.detail.clone(),
            };
            let staged = self.stage(account, &origin, event).await?;
            prepared.push(Prepared { id, found, staged });
        }
        Ok(prepared)
    }

    /// The anomalies of `ledger`, newest first.
    pub async fn anomalies(&self, ledger: &LedgerId) -> Result<Vec<Anomaly>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM integrity_anomalies WHERE ledger_id = $1 ORDER BY found_ms DESC, first_seq");
        let rows: Vec<Row> = on_db!(&self.db.pool, |p| sqlx::query_as(&sql).bind(ledger.as_str()).fetch_all(p).await?);
        rows.into_iter().map(anomaly).collect()
    }

    /// The anomalies of every ledger of `account` that no owner has
    /// acknowledged yet, newest first: what the dashboard's banner shows.
    pub async fn open_anomalies(&self, account: &AccountId) -> Result<Vec<Anomaly>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM integrity_anomalies WHERE account_id = $1 AND acknowledged_ms IS NULL \
             ORDER BY found_ms DESC, first_seq"
        );
        let rows: Vec<Row> =
            on_db!(&self.db.pool, |p| sqlx::query_as(&sql).bind(account.as_str()).fetch_all(p).await?);
        rows.into_iter().map(anomaly).collect()
    }

    /// Records that `origin` acknowledged anomaly `id` of `account` (once:
    /// a second acknowledgement changes nothing and answers the first).
    /// The finding stays; the acknowledgement is a system event.
    pub async fn acknowledge_anomaly(
        &self,
        account: &AccountId,
        id: &str,
        origin: &Origin,
    ) -> Result<Anomaly, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM integrity_anomalies WHERE anomaly_id = $1 AND account_id = $2");
        let row: Option<Row> =
            on_db!(&self.db.pool, |p| sqlx::query_as(&sql).bind(id).bind(account.as_str()).fetch_optional(p).await?);
        let found = anomaly(row.ok_or(StoreError::NotFound("anomaly"))?)?;
        if found.acknowledged_ms.is_some() {
            return Ok(found);
        }
        let (kind, by) = origin.actor().parts();
        let by = format!("{kind}:{by}");
        let event = SystemEvent::AnomalyAcknowledged { ledger: found.ledger.clone(), anomaly: found.id.clone() };
        let staged = self.stage(account, origin, event).await?;
        let now = now_ms();
        write_tx!(&self.db, |tx| {
            let updated = sqlx::query(
                "UPDATE integrity_anomalies SET acknowledged_ms = $1, acknowledged_by = $2 \
                 WHERE anomaly_id = $3 AND acknowledged_ms IS NULL",
            )
            .bind(now)
            .bind(&by)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 1 {
                outbox::insert((&mut *tx).into(), &staged).await?;
            }
            tx.commit().await?;
        });
        self.drain_outbox(account).await;
        Ok(Anomaly { acknowledged_ms: Some(now), acknowledged_by: Some(by), ..found })
    }
}

/// Records `prepared` findings of `ledger` inside the pass's transaction:
/// a new kind and range is inserted with its system event; one already
/// recorded is only seen again. Returns the ids of the new ones.
pub(super) async fn record(
    mut conn: Conn<'_>,
    account: &AccountId,
    ledger: &LedgerId,
    prepared: &[Prepared],
) -> Result<Vec<String>, StoreError> {
    let now = now_ms();
    let mut new = Vec::new();
    for p in prepared {
        let (first, last) = (to_i64(p.found.first)?, to_i64(p.found.last)?);
        let kind = p.found.kind.as_str();
        let seen = on_db!(conn.reborrow(), |c| {
            sqlx::query(
                "UPDATE integrity_anomalies SET last_seen_ms = $1 \
                 WHERE ledger_id = $2 AND kind = $3 AND first_seq = $4 AND last_seq = $5 AND last_seen_ms <= $1",
            )
            .bind(now)
            .bind(ledger.as_str())
            .bind(kind)
            .bind(first)
            .bind(last)
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        if seen > 0 {
            continue;
        }
        let inserted = on_db!(conn.reborrow(), |c| {
            sqlx::query(
                "INSERT INTO integrity_anomalies (anomaly_id, account_id, ledger_id, kind, first_seq, last_seq, detail, \
                 found_ms, last_seen_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                 ON CONFLICT (ledger_id, kind, first_seq, last_seq) DO NOTHING",
            )
            .bind(&p.id)
            .bind(account.as_str())
            .bind(ledger.as_str())
            .bind(kind)
            .bind(first)
            .bind(last)
            .bind(&p.found.detail)
            .bind(now)
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        if inserted == 0 {
            continue;
        }
        outbox::insert(conn.reborrow(), &p.staged).await?;
        tracing::error!(%ledger, kind, first, last, detail = %p.found.detail, "tamper monitor: integrity anomaly");
        new.push(p.id.clone());
    }
    Ok(new)
}
