//! What a pass reads besides the walk: the head row, windows of rows, and
//! the stored nodes, checkpoints and archival runs a window ends.

use std::collections::HashMap;

use audit_core::{Hash, LedgerId, NodeId};

use super::walk::StoredCheckpoint;
use crate::db::{from_i64, on_db, to_hash, to_i64};
use crate::ledger::event_rows::{raw_event, RawEvent, COLUMNS};
use crate::ledger::nodes::STRIDE;
use crate::{Store, StoreError};

/// The head row as read.
pub(super) struct Head {
    pub(super) size: u64,
    pub(super) chain: Hash,
    pub(super) root: Hash,
}

impl Store {
    pub(super) async fn head(&self, ledger: &LedgerId) -> Result<Head, StoreError> {
        let row: Option<(i64, Vec<u8>, Vec<u8>)> = on_db!(&self.db.pool, |p| {
            sqlx::query_as("SELECT tree_size, chain_hash, root_hash FROM ledger_heads WHERE ledger_id = $1")
                .bind(ledger.as_str())
                .fetch_optional(p)
                .await?
        });
        let (size, chain, root) = row.ok_or(StoreError::NotFound("ledger head"))?;
        Ok(Head { size: from_i64(size)?, chain: to_hash(&chain)?, root: to_hash(&root)? })
    }

    /// Up to `window` + 1 rows from seq `from`, below `end` (the one more
    /// is the lookahead the window's last row is judged with).
    pub(super) async fn rows_from(
        &self,
        ledger: &LedgerId,
        from: u64,
        end: u64,
        window: usize,
    ) -> Result<Vec<RawEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE ledger_id = $1 AND seq >= $2 AND seq < $3 ORDER BY seq LIMIT $4"
        );
        let limit = to_i64(window as u64 + 1)?;
        on_db!(&self.db.pool, |p| {
            let rows = sqlx::query(&sql)
                .bind(ledger.as_str())
                .bind(to_i64(from)?)
                .bind(to_i64(end)?)
                .bind(limit)
                .fetch_all(p)
                .await?;
            rows.iter().map(raw_event).collect()
        })
    }

    /// The stored nodes whose subtree ends within `(from, to]`: the ones
    /// that walking leaves `from..to` completes.
    pub(super) async fn stored_nodes(
        &self,
        ledger: &LedgerId,
        from: u64,
        to: u64,
    ) -> Result<HashMap<NodeId, Hash>, StoreError> {
        let mut nodes = HashMap::new();
        let mut level = STRIDE;
        while level < 64 && (1u64 << level) <= to {
            let (lo, hi) = (from >> level, to >> level);
            if lo < hi {
                let rows: Vec<(i64, Vec<u8>)> = on_db!(&self.db.pool, |p| {
                    sqlx::query_as("SELECT idx, hash FROM merkle_nodes WHERE ledger_id = $1 AND level = $2 AND idx >= $3 AND idx < $4")
                        .bind(ledger.as_str())
                        .bind(i64::from(level))
                        .bind(to_i64(lo)?)
                        .bind(to_i64(hi)?)
                        .fetch_all(p)
                        .await?
                });
                for (index, hash) in rows {
                    nodes.insert(NodeId { level, index: from_i64(index)? }, to_hash(&hash)?);
                }
            }
            level += STRIDE;
        }
        Ok(nodes)
    }

    /// The checkpoints of sizes within `(from, to]`.
    pub(super) async fn stored_checkpoints(
        &self,
        ledger: &LedgerId,
        from: u64,
        to: u64,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows: Vec<(i64, Vec<u8>, String)> = on_db!(&self.db.pool, |p| {
            sqlx::query_as(
                "SELECT tree_size, root_hash, note FROM checkpoints WHERE ledger_id = $1 AND tree_size > $2 AND tree_size <= $3 \
                 ORDER BY tree_size",
            )
            .bind(ledger.as_str())
            .bind(to_i64(from)?)
            .bind(to_i64(to)?)
            .fetch_all(p)
            .await?
        });
        rows.into_iter()
            .map(|(size, root, note)| Ok(StoredCheckpoint { size: from_i64(size)?, root: to_hash(&root)?, note }))
            .collect()
    }

    /// The recorded archival runs `[start, end)` that overlap `[from, to)`.
    pub(super) async fn archived_runs(
        &self,
        ledger: &LedgerId,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, u64)>, StoreError> {
        let rows: Vec<(i64, i64)> = on_db!(&self.db.pool, |p| {
            sqlx::query_as("SELECT start_seq, end_seq FROM archival_ranges WHERE ledger_id = $1 AND end_seq > $2 AND start_seq < $3")
                .bind(ledger.as_str())
                .bind(to_i64(from)?)
                .bind(to_i64(to)?)
                .fetch_all(p)
                .await?
        });
        rows.into_iter().map(|(start, end)| Ok((from_i64(start)?, from_i64(end)?))).collect()
    }

    pub(super) async fn max_seq(&self, ledger: &LedgerId) -> Result<Option<u64>, StoreError> {
        let max: Option<i64> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT MAX(seq) FROM events WHERE ledger_id = $1")
                .bind(ledger.as_str())
                .fetch_one(p)
                .await?
        });
        max.map(from_i64).transpose()
    }

    pub(super) async fn max_checkpoint(&self, ledger: &LedgerId) -> Result<u64, StoreError> {
        let max: Option<i64> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT MAX(tree_size) FROM checkpoints WHERE ledger_id = $1")
                .bind(ledger.as_str())
                .fetch_one(p)
                .await?
        });
        max.map_or(Ok(0), from_i64)
    }
}
