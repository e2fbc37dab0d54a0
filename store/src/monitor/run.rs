//! One pass of the monitor over a ledger, and over every ledger: read the
//! rows in windows from where it stands, walk them (walk.rs), compare the
//! head and the ends of the ledger, and record what it found with its new
//! position in one transaction per window.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use audit_core::{Hash, LedgerId, NodeId};

use super::anomalies::record;
use super::content::Verdict;
use super::kinds::AnomalyKind;
use super::progress::save;
use super::state::WalkState;
use super::walk::{Next, RowInput, StoredCheckpoint, Walk};
use crate::db::{from_i64, on_db, to_hash, to_i64, write_tx};
use crate::ledger::event_rows::{raw_event, RawEvent, COLUMNS};
use crate::ledger::nodes::STRIDE;
use crate::{now_ms, Ledger, Store, StoreError};

/// Rows read and walked per window.
const WINDOW: usize = 1_000;
/// Altered records per window whose true seq is looked for among the
/// window's (each costs one decryption per row of the window).
const MAX_PLACE_SEARCHES: usize = 16;
/// A ledger whose deletion is due within this long is left alone: its rows
/// are about to go, on purpose.
const DELETION_MARGIN_MS: i64 = 60_000;

/// Whether a pass starts where the last one stopped or from genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassKind {
    Incremental,
    FullSweep,
}

/// What a pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorPass {
    pub ledger: LedgerId,
    /// Rows walked: the ledger's size verified so far.
    pub verified_size: u64,
    /// The ids of anomalies this pass recorded for the first time.
    pub new_anomalies: Vec<String>,
    /// Whether it walked from genesis.
    pub full_sweep: bool,
}

/// The head row as read.
struct Head {
    size: u64,
    chain: Hash,
    root: Hash,
}

impl Store {
    /// Verifies every ledger of every account once: a full sweep where the
    /// last one is older than `full_sweep_every` (or there was none), an
    /// incremental pass elsewhere. One ledger's failure does not stop the
    /// others; the first is returned after all were tried.
    pub async fn monitor_all(&self, full_sweep_every: Duration) -> Result<Vec<MonitorPass>, StoreError> {
        let sweep_ms = i64::try_from(full_sweep_every.as_millis()).unwrap_or(i64::MAX);
        let mut passes = Vec::new();
        let mut failure = None;
        for account in self.list_accounts().await? {
            for ledger in self.list_ledgers(&account).await? {
                let last_sweep = self.monitor_progress(&ledger.id).await?.and_then(|p| p.last_full_sweep_ms);
                let kind = match last_sweep {
                    Some(at) if now_ms().saturating_sub(at) < sweep_ms => PassKind::Incremental,
                    _ => PassKind::FullSweep,
                };
                match self.monitor_ledger(&ledger, kind).await {
                    Ok(Some(pass)) => passes.push(pass),
                    Ok(None) => {}
                    Err(error) => {
                        tracing::error!(ledger = %ledger.id, %error, "the monitor could not verify this ledger; it goes on");
                        failure.get_or_insert(error);
                    }
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(passes),
        }
    }

    /// Verifies `ledger` from where the monitor stands in it (or from
    /// genesis), records what it finds, and moves its position. `None` when
    /// the ledger is being deleted.
    pub async fn monitor_ledger(&self, ledger: &Ledger, kind: PassKind) -> Result<Option<MonitorPass>, StoreError> {
        if ledger.delete_at_ms.is_some_and(|at| at <= now_ms() + DELETION_MARGIN_MS) {
            return Ok(None);
        }
        let saved = self.monitor_progress(&ledger.id).await?;
        let full_sweep = kind == PassKind::FullSweep || saved.is_none();
        let state = match (&saved, full_sweep) {
            (Some(saved), false) => saved.state.clone(),
            _ => WalkState::genesis(&ledger.id),
        };
        let key = self.verifier_key();
        let mut walk = Walk::new(state, &key, &ledger.origin);
        let head = self.head(&ledger.id).await?;
        let verified_before = saved.as_ref().map_or(0, |p| p.state.size());
        if head.size < verified_before {
            self.head_behind(&ledger.id, &head, verified_before, &mut walk).await?;
            self.commit_window(ledger, &mut walk, true, full_sweep).await?;
            return Ok(Some(self.pass(ledger, &walk, full_sweep, Vec::new())));
        }
        let mut new_anomalies = Vec::new();
        let mut rows = self.rows_from(&ledger.id, walk.state.size(), head.size).await?;
        while !rows.is_empty() {
            let started = Some((Instant::now(), self.ingest.user_appends()));
            let more = rows.len() > WINDOW;
            let lookahead = if more { rows.pop() } else { None };
            self.walk_window(ledger, &head, &rows, lookahead.as_ref(), &mut walk).await?;
            if !more {
                break;
            }
            new_anomalies.extend(self.commit_window(ledger, &mut walk, false, false).await?);
            self.yield_to_appends(started).await;
            let from = walk.state.size();
            rows = self.rows_from(&ledger.id, from, head.size).await?;
        }
        self.check_ends(&ledger.id, &head, &mut walk).await?;
        new_anomalies.extend(self.commit_window(ledger, &mut walk, true, full_sweep).await?);
        Ok(Some(self.pass(ledger, &walk, full_sweep, new_anomalies)))
    }

    fn pass(&self, ledger: &Ledger, walk: &Walk<'_>, full_sweep: bool, new_anomalies: Vec<String>) -> MonitorPass {
        MonitorPass { ledger: ledger.id.clone(), verified_size: walk.state.size(), new_anomalies, full_sweep }
    }

    /// Walks one window of rows (`lookahead` is the row after it, if read).
    async fn walk_window(
        &self,
        ledger: &Ledger,
        head: &Head,
        rows: &[RawEvent],
        lookahead: Option<&RawEvent>,
        walk: &mut Walk<'_>,
    ) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else { return Ok(()) };
        let (from, to) = (walk.state.size(), last.seq + 1);
        let nodes = self.stored_nodes(&ledger.id, from, to).await?;
        let checkpoints = self.stored_checkpoints(&ledger.id, from, to).await?;
        let archived = self.archived_runs(&ledger.id, first.seq, to).await?;
        let mut verdicts = Vec::with_capacity(rows.len());
        for raw in rows {
            verdicts.push(self.content_verdict(&ledger.id, raw).await?);
        }
        let mut searches = 0;
        for (i, raw) in rows.iter().enumerate() {
            let mut moved_from = None;
            if matches!(verdicts[i], Verdict::Altered(_)) && searches < MAX_PLACE_SEARCHES {
                searches += 1;
                moved_from = self.opens_at(&ledger.id, raw, rows.iter().map(|r| r.seq)).await;
            }
            let next = match rows.get(i + 1).or(lookahead) {
                Some(next) if next.seq == raw.seq + 1 => {
                    Some(Next::Row { leaf: next.leaf_hash, chain: next.chain_hash })
                }
                Some(_) => None,
                None if raw.seq + 1 == head.size => Some(Next::Head { chain: head.chain }),
                None => None,
            };
            let covered = archived.iter().any(|&(start, end)| start <= raw.seq && raw.seq < end);
            let input = RowInput { raw, verdict: &verdicts[i], moved_from, archived: covered, next };
            walk.row(&input, &nodes, &checkpoints);
        }
        Ok(())
    }

    /// After the last row: the rows must reach the head, the head must be
    /// the walked tree, and nothing may lie beyond the signed tree.
    async fn check_ends(&self, ledger: &LedgerId, head: &Head, walk: &mut Walk<'_>) -> Result<(), StoreError> {
        let walked = walk.state.size();
        if walked < head.size {
            let detail =
                format!("the head counts {} events; the rows end after seq {}", head.size, walked.saturating_sub(1));
            walk.report(AnomalyKind::TruncatedTail, walked, head.size - 1, detail);
            walk.taint(walked, head.size - 1);
            let nodes = HashMap::new();
            walk.skip_to(head.size, &nodes, &[]);
            walk.state.chain = head.chain;
        }
        if head.size > 0 && !walk.state.chain.ct_eq(&head.chain) {
            let detail = "the head's chain hash is not the one the rows lead to".to_owned();
            walk.report(AnomalyKind::AlteredHead, head.size - 1, head.size - 1, detail);
        }
        if head.size > 0 && !walk.tainted_below(head.size) && !walk.state.frontier.root().ct_eq(&head.root) {
            let detail = "the head's root hash is not the root of the rows' tree".to_owned();
            walk.report(AnomalyKind::AlteredHead, head.size.saturating_sub(1), head.size.saturating_sub(1), detail);
        }
        // Read in this order, a commit between the reads cannot look like
        // an insertion: rows and head move together, and so do head and
        // checkpoint.
        let max_seq = self.max_seq(ledger).await?;
        let now_head = self.head(ledger).await?;
        let signed = self.max_checkpoint(ledger).await?;
        if let Some(max_seq) = max_seq.filter(|&m| m >= now_head.size) {
            let detail = format!("rows up to seq {max_seq} lie beyond the head's {} events", now_head.size);
            walk.report(AnomalyKind::InsertedRow, now_head.size, max_seq, detail);
        }
        if signed < now_head.size {
            let detail = format!("no signed checkpoint covers seqs {signed} to {}", now_head.size - 1);
            walk.report(AnomalyKind::InsertedRow, signed, now_head.size - 1, detail);
        }
        Ok(())
    }

    /// The head says fewer events than were verified: the rows were cut
    /// off, or the head was rewound over them.
    async fn head_behind(
        &self,
        ledger: &LedgerId,
        head: &Head,
        verified: u64,
        walk: &mut Walk<'_>,
    ) -> Result<(), StoreError> {
        let rows_end = self.max_seq(ledger).await?.map_or(0, |m| m + 1);
        let detail = format!("{verified} events were verified; the head now counts {}", head.size);
        if rows_end < verified {
            walk.report(AnomalyKind::TruncatedTail, rows_end.min(head.size), verified - 1, detail);
        } else {
            walk.report(AnomalyKind::AlteredHead, head.size, verified - 1, detail);
        }
        Ok(())
    }

    /// Records the walk's findings (all of them when `last`, else all but
    /// the newest, which the next window may extend) with its position,
    /// unless a deletion of the ledger began meanwhile.
    async fn commit_window(
        &self,
        ledger: &Ledger,
        walk: &mut Walk<'_>,
        last: bool,
        full_sweep: bool,
    ) -> Result<Vec<String>, StoreError> {
        let keep = if last { 0 } else { usize::from(!walk.found.is_empty()) };
        let take = walk.found.len() - keep;
        let found: Vec<_> = walk.found.drain(..take).collect();
        let prepared = self.prepare(&ledger.account_id, &ledger.id, found).await?;
        let now = now_ms();
        let new = write_tx!(&self.db, |tx| {
            let deleting: Option<String> = sqlx::query_scalar(
                "SELECT deletion_id FROM ledger_deletions WHERE ledger_id = $1 AND status IN ('deleting', 'deleted')",
            )
            .bind(ledger.id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if deleting.is_some() {
                return Ok(Vec::new());
            }
            let new = record((&mut *tx).into(), &ledger.account_id, &ledger.id, &prepared).await?;
            save((&mut *tx).into(), &ledger.id, &walk.state, now, full_sweep && last).await?;
            tx.commit().await?;
            new
        });
        if !new.is_empty() {
            self.drain_outbox(&ledger.account_id).await;
        }
        Ok(new)
    }

    async fn head(&self, ledger: &LedgerId) -> Result<Head, StoreError> {
        let row: Option<(i64, Vec<u8>, Vec<u8>)> = on_db!(&self.db.pool, |p| {
            sqlx::query_as("SELECT tree_size, chain_hash, root_hash FROM ledger_heads WHERE ledger_id = $1")
                .bind(ledger.as_str())
                .fetch_optional(p)
                .await?
        });
        let (size, chain, root) = row.ok_or(StoreError::NotFound("ledger head"))?;
        Ok(Head { size: from_i64(size)?, chain: to_hash(&chain)?, root: to_hash(&root)? })
    }

    /// Up to [`WINDOW`] + 1 rows from seq `from`, below `end`.
    async fn rows_from(&self, ledger: &LedgerId, from: u64, end: u64) -> Result<Vec<RawEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE ledger_id = $1 AND seq >= $2 AND seq < $3 ORDER BY seq LIMIT $4"
        );
        let limit = to_i64(WINDOW as u64 + 1)?;
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
    async fn stored_nodes(&self, ledger: &LedgerId, from: u64, to: u64) -> Result<HashMap<NodeId, Hash>, StoreError> {
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
    async fn stored_checkpoints(
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
    async fn archived_runs(&self, ledger: &LedgerId, from: u64, to: u64) -> Result<Vec<(u64, u64)>, StoreError> {
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

    async fn max_seq(&self, ledger: &LedgerId) -> Result<Option<u64>, StoreError> {
        let max: Option<i64> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT MAX(seq) FROM events WHERE ledger_id = $1")
                .bind(ledger.as_str())
                .fetch_one(p)
                .await?
        });
        max.map(from_i64).transpose()
    }

    async fn max_checkpoint(&self, ledger: &LedgerId) -> Result<u64, StoreError> {
        let max: Option<i64> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT MAX(tree_size) FROM checkpoints WHERE ledger_id = $1")
                .bind(ledger.as_str())
                .fetch_one(p)
                .await?
        });
        max.map_or(Ok(0), from_i64)
    }
}
