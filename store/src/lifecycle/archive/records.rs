//! The `archivals` and `archival_ranges` tables: what each archival
//! removed, where its file is and what it hashes to; and the transaction
//! that records an archival and tombstones its events together.

use std::collections::BTreeSet;

use audit_core::LedgerId;

use crate::db::{from_i64, on_db, to_i64, write_tx};
use crate::system::{outbox, Staged};
use crate::{AccountId, Store, StoreError};

/// The most archivals a listing returns.
pub const MAX_LISTED: u32 = 1_000;

/// An archival as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivalRecord {
    pub id: String,
    pub ledger: LedgerId,
    /// The seqs `[start, end)` the file covers (its archived events are the
    /// runs in `ranges`, within).
    pub start: u64,
    pub end: u64,
    pub events: u64,
    pub tree_size: u64,
    /// `file:<ledger>/<archival>.zip` (below the archive directory).
    pub location: String,
    /// Hex SHA-256 of the file.
    pub sha256: String,
    pub bytes: u64,
    pub policy_days: u32,
    /// Events `occurred_at` before this (Unix ms) were past the policy.
    pub cutoff_ms: i64,
    /// Who ran it, as (`type`, `id`) of its system event's actor.
    pub by: (String, String),
    pub created_ms: i64,
}

/// What a tombstone reads back with: the archival that removed its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TombstoneInfo {
    pub archival: String,
    pub location: String,
    pub sha256: String,
    pub archived_ms: i64,
}

/// An archival about to be recorded.
pub(super) struct NewArchival<'a> {
    pub(super) record: &'a ArchivalRecord,
    pub(super) account: &'a AccountId,
    /// The maximal runs of archived seqs.
    pub(super) runs: &'a [(u64, u64)],
    /// The active holds the batch was chosen under: the archival is refused
    /// if any other is active when it commits.
    pub(super) holds: &'a BTreeSet<String>,
    pub(super) staged: &'a Staged,
}

const COLUMNS: &str = "archival_id, ledger_id, start_seq, end_seq, events, tree_size, location, sha256, bytes, \
                       policy_days, cutoff_ms, by_type, by_id, created_ms";

fn record_from_row<R>(row: &R) -> Result<ArchivalRecord, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let ledger: String = row.try_get(1)?;
    Ok(ArchivalRecord {
        id: row.try_get(0)?,
        ledger: LedgerId::new(ledger).map_err(|_| StoreError::Corrupt("an archival names a bad ledger id"))?,
        start: from_i64(row.try_get(2)?)?,
        end: from_i64(row.try_get(3)?)?,
        events: from_i64(row.try_get(4)?)?,
        tree_size: from_i64(row.try_get(5)?)?,
        location: row.try_get(6)?,
        sha256: row.try_get(7)?,
        bytes: from_i64(row.try_get(8)?)?,
        policy_days: u32::try_from(row.try_get::<i64, _>(9)?)
            .map_err(|_| StoreError::Corrupt("an archival's policy days are out of range"))?,
        cutoff_ms: row.try_get(10)?,
        by: (row.try_get(11)?, row.try_get(12)?),
        created_ms: row.try_get(13)?,
    })
}

impl Store {
    /// The archivals of `ledger`, newest first (at most [`MAX_LISTED`]).
    /// Up to `limit` archivals of `ledger` whose range starts at `from` or
    /// later, by range: the monitor pages through all of them with it.
    pub(crate) async fn archivals_from(
        &self,
        ledger: &LedgerId,
        from: u64,
        limit: u32,
    ) -> Result<Vec<ArchivalRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM archivals WHERE ledger_id = $1 AND start_seq >= $2 ORDER BY start_seq LIMIT $3"
        );
        Ok(on_db!(&self.db.pool, |p| {
            sqlx::query(&sql)
                .bind(ledger.as_str())
                .bind(crate::db::to_i64(from)?)
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?
                .iter()
                .map(record_from_row)
                .collect::<Result<Vec<_>, _>>()?
        }))
    }

    pub async fn list_archivals(&self, ledger: &LedgerId, limit: u32) -> Result<Vec<ArchivalRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM archivals WHERE ledger_id = $1 ORDER BY created_ms DESC, archival_id DESC LIMIT $2"
        );
        Ok(on_db!(&self.db.pool, |p| {
            sqlx::query(&sql)
                .bind(ledger.as_str())
                .bind(i64::from(limit.clamp(1, MAX_LISTED)))
                .fetch_all(p)
                .await?
                .iter()
                .map(record_from_row)
                .collect::<Result<Vec<_>, _>>()?
        }))
    }

    /// The archival `id` of `ledger`.
    pub async fn archival(&self, ledger: &LedgerId, id: &str) -> Result<ArchivalRecord, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM archivals WHERE ledger_id = $1 AND archival_id = $2");
        let record = on_db!(&self.db.pool, |p| {
            sqlx::query(&sql)
                .bind(ledger.as_str())
                .bind(id)
                .fetch_optional(p)
                .await?
                .map(|row| record_from_row(&row))
                .transpose()?
        });
        record.ok_or(StoreError::NotFound("archival"))
    }

    /// The archival whose range covers `seq` of `ledger`, if any: what a
    /// tombstone reads back with.
    pub async fn tombstone_info(&self, ledger: &LedgerId, seq: u64) -> Result<Option<TombstoneInfo>, StoreError> {
        Ok(self.tombstone_infos(ledger, &[seq]).await?.pop().flatten())
    }

    /// [`Store::tombstone_info`] of each of `seqs` (of one page: one query
    /// for all of them), in the same order.
    pub async fn tombstone_infos(
        &self,
        ledger: &LedgerId,
        seqs: &[u64],
    ) -> Result<Vec<Option<TombstoneInfo>>, StoreError> {
        let (Some(&low), Some(&high)) = (seqs.iter().min(), seqs.iter().max()) else { return Ok(Vec::new()) };
        // The ranges that can cover any of them: ranges never overlap, so
        // those are the last one starting at or below the lowest and those
        // starting up to the highest, an index range either way (never a
        // walk over the ledger's earlier ranges).
        let sql = "SELECT r.start_seq, r.end_seq, a.archival_id, a.location, a.sha256, a.created_ms \
                   FROM archival_ranges r JOIN archivals a ON a.archival_id = r.archival_id \
                   WHERE r.ledger_id = $1 AND r.start_seq <= $2 AND r.end_seq > $3 AND r.start_seq >= COALESCE( \
                   (SELECT MAX(x.start_seq) FROM archival_ranges x WHERE x.ledger_id = $1 AND x.start_seq <= $3), $3) \
                   ORDER BY r.start_seq";
        let rows: Vec<(i64, i64, String, String, String, i64)> = on_db!(&self.db.pool, |p| {
            sqlx::query_as(sql).bind(ledger.as_str()).bind(to_i64(high)?).bind(to_i64(low)?).fetch_all(p).await?
        });
        let mut ranges = Vec::with_capacity(rows.len());
        for (start, end, archival, location, sha256, archived_ms) in rows {
            ranges.push((from_i64(start)?, from_i64(end)?, TombstoneInfo { archival, location, sha256, archived_ms }));
        }
        Ok(seqs
            .iter()
            .map(|&seq| {
                let i = ranges.partition_point(|(start, _, _)| *start <= seq);
                i.checked_sub(1).and_then(|i| ranges.get(i)).filter(|(_, end, _)| seq < *end).map(|r| r.2.clone())
            })
            .collect())
    }

    /// Records `new` and tombstones its runs in one transaction, with its
    /// system event. Refused (nothing changed) when a hold other than those
    /// it was chosen under became active, or when any of its events is a
    /// tombstone already (another archival got there first).
    pub(super) async fn commit_archival(&self, new: NewArchival<'_>) -> Result<(), StoreError> {
        let r = new.record;
        write_tx!(&self.db, |tx, sql| {
            // Orders the archival with the indexer's batches of the ledger
            // (see `index_range`), so no term of a tombstone survives.
            sqlx::query(&format!("SELECT key_version FROM ledger_heads WHERE ledger_id = $1{}", sql.for_update))
                .bind(r.ledger.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            // Holds are placed under the same lock (see `place_hold`).
            sqlx::query(&format!("SELECT id FROM accounts WHERE id = $1{}", sql.for_update))
                .bind(new.account.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let active: Vec<String> = sqlx::query_scalar(
                "SELECT hold_id FROM legal_holds WHERE account_id = $1 AND released_ms IS NULL \
                 AND (ledger_id IS NULL OR ledger_id = $2)",
            )
            .bind(new.account.as_str())
            .bind(r.ledger.as_str())
            .fetch_all(&mut *tx)
            .await?;
            if let Some(hold) = active.iter().find(|h| !new.holds.contains(*h)) {
                return Err(StoreError::Conflict(format!(
                    "legal hold {hold} was placed while the archival ran; nothing was archived, run it again"
                )));
            }
            sqlx::query(
                "INSERT INTO archivals (archival_id, account_id, ledger_id, start_seq, end_seq, events, tree_size, \
                 location, sha256, bytes, policy_days, cutoff_ms, by_type, by_id, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(&r.id)
            .bind(new.account.as_str())
            .bind(r.ledger.as_str())
            .bind(to_i64(r.start)?)
            .bind(to_i64(r.end)?)
            .bind(to_i64(r.events)?)
            .bind(to_i64(r.tree_size)?)
            .bind(&r.location)
            .bind(&r.sha256)
            .bind(to_i64(r.bytes)?)
            .bind(i64::from(r.policy_days))
            .bind(r.cutoff_ms)
            .bind(&r.by.0)
            .bind(&r.by.1)
            .bind(r.created_ms)
            .execute(&mut *tx)
            .await?;
            let mut tombstoned = 0;
            for (start, end) in new.runs {
                let (start, end) = (to_i64(*start)?, to_i64(*end)?);
                sqlx::query(
                    "INSERT INTO archival_ranges (ledger_id, start_seq, end_seq, archival_id) VALUES ($1, $2, $3, $4)",
                )
                .bind(r.ledger.as_str())
                .bind(start)
                .bind(end)
                .bind(&r.id)
                .execute(&mut *tx)
                .await?;
                tombstoned += sqlx::query(
                    "UPDATE events SET content = NULL \
                     WHERE ledger_id = $1 AND seq >= $2 AND seq < $3 AND content IS NOT NULL",
                )
                .bind(r.ledger.as_str())
                .bind(start)
                .bind(end)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                // The blind-index terms would still say who did what.
                sqlx::query(
                    "DELETE FROM event_terms WHERE ledger = (SELECT number FROM ledgers WHERE id = $1) \
                     AND seq >= $2 AND seq < $3",
                )
                .bind(r.ledger.as_str())
                .bind(start)
                .bind(end)
                .execute(&mut *tx)
                .await?;
            }
            if tombstoned != r.events {
                return Err(StoreError::Conflict(format!(
                    "{} of the archival's {} events were tombstones already; nothing was archived, run it again",
                    r.events - tombstoned.min(r.events),
                    r.events
                )));
            }
            outbox::insert((&mut *tx).into(), new.staged).await?;
            tx.commit().await?;
        });
        self.drain_outbox(new.account).await;
        Ok(())
    }
}
