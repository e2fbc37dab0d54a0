//! One pass of the monitor over a ledger, and over every ledger: read the
//! rows in windows from where it stands, walk them (walk.rs), compare the
//! head and the ends of the ledger, and record what it found with its new
//! position in one transaction per window.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use audit_core::LedgerId;

use super::anomalies::record;
use super::content::Verdict;
use super::kinds::AnomalyKind;
use super::progress::{save as save_position, Progress};
use super::reads::Head;
use super::state::WalkState;
use super::walk::{Next, RowInput, Walk};
use crate::db::write_tx;
use crate::ledger::event_rows::RawEvent;
use crate::lifecycle::archive::{ArchivalRecord, ArchiveStore};
use crate::{now_ms, Ledger, Store, StoreError};
use sha2::Digest as _;

/// Rows read and walked per window, at most and at first; the least.
const MAX_WINDOW: usize = 1_000;
const FIRST_WINDOW: usize = 32;
const MIN_WINDOW: usize = 16;
/// The sealed content a window aims to hold: windows shrink for large
/// events, so a pass's memory stays bounded whatever the events' size.
const WINDOW_BYTES: usize = 2 << 20;
/// Altered records per window whose true seq is looked for among the
/// window's (each costs one decryption per row of the window).
const MAX_PLACE_SEARCHES: usize = 16;
/// A ledger whose deletion is due within this long is left alone: its rows
/// are about to go, on purpose.
const DELETION_MARGIN_MS: i64 = 60_000;

/// What a window's commit saves besides its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Save {
    Findings,
    /// The walk's position, verified now.
    Position,
    /// The walk's position at the end of a full sweep.
    SweptPosition,
}

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

impl Store {
    /// Verifies every ledger of every account once: a full sweep where the
    /// last one is older than `full_sweep_every` (or there was none), an
    /// incremental pass elsewhere; full sweeps read each archive file from
    /// `archive`. One ledger's failure does not stop the others; the first
    /// is returned after all were tried.
    pub async fn monitor_all(
        &self,
        full_sweep_every: Duration,
        archive: Option<&ArchiveStore>,
    ) -> Result<Vec<MonitorPass>, StoreError> {
        let sweep_ms = i64::try_from(full_sweep_every.as_millis()).unwrap_or(i64::MAX);
        let mut passes = Vec::new();
        let mut failure = None;
        for account in self.list_accounts().await? {
            for ledger in self.list_ledgers(&account).await? {
                let saved = self.monitor_progress(&ledger.id).await?;
                let kind = match saved.as_ref().and_then(|p| p.last_full_sweep_ms) {
                    Some(at) if now_ms().saturating_sub(at) < sweep_ms => PassKind::Incremental,
                    _ => PassKind::FullSweep,
                };
                match self.pass_over(&ledger, kind, archive, saved).await {
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
    /// genesis), records what it finds, and moves its position. A full
    /// sweep also reads each archive file of the ledger from `archive` and
    /// compares it with its recorded digest. `None` when the ledger is
    /// being deleted.
    pub async fn monitor_ledger(
        &self,
        ledger: &Ledger,
        kind: PassKind,
        archive: Option<&ArchiveStore>,
    ) -> Result<Option<MonitorPass>, StoreError> {
        let saved = self.monitor_progress(&ledger.id).await?;
        self.pass_over(ledger, kind, archive, saved).await
    }

    /// [`Store::monitor_ledger`] from the position `saved` already read.
    async fn pass_over(
        &self,
        ledger: &Ledger,
        kind: PassKind,
        archive: Option<&ArchiveStore>,
        saved: Option<Progress>,
    ) -> Result<Option<MonitorPass>, StoreError> {
        if ledger.delete_at_ms.is_some_and(|at| at <= now_ms() + DELETION_MARGIN_MS) {
            return Ok(None);
        }
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
            // Nothing was walked: the findings are recorded, the position
            // (and when it was last verified) stays.
            self.commit_window(ledger, &mut walk, true, Save::Findings).await?;
            return Ok(Some(self.pass(ledger, &walk, full_sweep, Vec::new())));
        }
        let mut new_anomalies = Vec::new();
        let mut window = FIRST_WINDOW;
        let mut rows = self.rows_from(&ledger.id, walk.state.size(), head.size, window).await?;
        while !rows.is_empty() {
            let started = Some((Instant::now(), self.ingest.user_appends()));
            let more = rows.len() > window;
            let lookahead = if more { rows.pop() } else { None };
            self.walk_window(ledger, &head, &rows, lookahead.as_ref(), &mut walk).await?;
            if !more {
                break;
            }
            // A full sweep keeps the incremental position until it is done,
            // so the verified size never goes back while it runs.
            let save = if full_sweep { Save::Findings } else { Save::Position };
            new_anomalies.extend(self.commit_window(ledger, &mut walk, false, save).await?);
            self.yield_to_appends(started).await;
            let bytes: usize = rows.iter().map(|r| r.content.as_ref().map_or(64, Vec::len)).sum();
            window = (WINDOW_BYTES * rows.len() / bytes.max(1)).clamp(MIN_WINDOW, MAX_WINDOW);
            let from = walk.state.size();
            rows = self.rows_from(&ledger.id, from, head.size, window).await?;
        }
        self.check_ends(&ledger.id, &head, &mut walk).await?;
        if let Some(archive) = archive.filter(|_| full_sweep) {
            self.check_archives(&ledger.id, archive, &mut walk).await?;
        }
        let save = if full_sweep { Save::SweptPosition } else { Save::Position };
        new_anomalies.extend(self.commit_window(ledger, &mut walk, true, save).await?);
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

    /// Reads every archive file of `ledger` and compares it with the digest
    /// its archival recorded: tombstones are only as good as the file that
    /// holds their content. A file that is missing or altered makes the
    /// archival's tombstones forged; a store that does not answer stops the
    /// pass (it is retried, and is not tampering).
    async fn check_archives(
        &self,
        ledger: &LedgerId,
        archive: &ArchiveStore,
        walk: &mut Walk<'_>,
    ) -> Result<(), StoreError> {
        let mut from = 0;
        loop {
            let page = self.archivals_from(ledger, from, 100).await?;
            let Some(last) = page.last() else { break };
            from = last.end;
            for record in page {
                check_archive(archive, &record, walk).await?;
            }
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
        save: Save,
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
            if save != Save::Findings {
                save_position((&mut *tx).into(), &ledger.id, &walk.state, now, save == Save::SweptPosition).await?;
            }
            tx.commit().await?;
            new
        });
        if !new.is_empty() {
            self.drain_outbox(&ledger.account_id).await;
        }
        Ok(new)
    }
}

/// Compares one archive file with its recorded digest (see
/// [`Store::check_archives`]).
async fn check_archive(archive: &ArchiveStore, record: &ArchivalRecord, walk: &mut Walk<'_>) -> Result<(), StoreError> {
    let problem = match archive.read(&record.location).await {
        Ok(bytes) if hex::encode(sha2::Sha256::digest(&bytes)) == record.sha256 => return Ok(()),
        Ok(_) => "does not hash to its recorded SHA-256",
        Err(StoreError::NotFound(_)) => "is missing from the archive store (its recorded SHA-256 cannot be checked)",
        Err(other) => return Err(other),
    };
    let detail = format!("the archive file of archival {} ({}) {problem}", record.id, record.location);
    walk.report(AnomalyKind::ForgedTombstone, record.start, record.end.saturating_sub(1), detail);
    Ok(())
}
