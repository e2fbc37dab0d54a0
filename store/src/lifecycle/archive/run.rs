//! One retention run of a ledger: read its expired events oldest first (by
//! seq), keep those an active hold covers, and archive the rest in
//! batches bounded in events, bytes and seq span, each batch a file and a
//! transaction of its own.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use audit_core::LedgerId;

use super::file::runs;
use super::records::{ArchivalRecord, NewArchival};
use super::ArchiveStore;
use crate::db::{on_db, to_i64};
use crate::ledger::event_rows::{raw_event, COLUMNS};
use crate::lifecycle::holds::{HoldsOf, LegalHold};
use crate::lifecycle::retention::RetentionPolicy;
use crate::system::SystemEvent;
use crate::{now_ms, Ledger, Origin, Store, StoreError, StoredEvent};

/// The most events one archival (one file, one transaction) removes.
pub const MAX_BATCH_EVENTS: usize = 5_000;
/// About the most content one archival holds in memory and writes.
const MAX_BATCH_BYTES: usize = 8 << 20;
/// The widest seq span of one archival: a batch with gaps reads its whole
/// span's proofs, so a few expired events far apart go into separate files.
const MAX_BATCH_SPAN: u64 = 100_000;
/// Expired events read per query.
const WINDOW: i64 = 1_000;
/// While users append, an archival leaves the database and the cores to
/// them for this many times as long as its batch took, from the batch's
/// first read to its commit (the write path wins: archival gets at most a
/// fifth of the time under load)...
const YIELD_FACTOR: u32 = 4;
/// ...but never waits longer than this between two archivals.
const MAX_YIELD: Duration = Duration::from_secs(5);

/// Runs of one process archive one at a time (the retention job and
/// `POST …/retention/run`); across nodes, the job's lease and the
/// archival transaction's checks keep them apart.
static RUNNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What holds kept at a ledger's last run in this process: a run records
/// `retention.held` only when that changed, so a standing hold does not
/// write the same event every hour.
static LAST_HELD: Mutex<Option<HashMap<LedgerId, Held>>> = Mutex::new(None);

/// Expired events holds kept at a run, and the holds.
type Held = (u64, BTreeSet<String>);

/// What a retention run of a ledger did.
#[derive(Debug, Clone, Default)]
pub struct RetentionRun {
    /// The policy it ran under; `None`: the ledger has none (nothing expires).
    pub policy: Option<RetentionPolicy>,
    /// Events past retention before this `occurred_at` (Unix ms).
    pub cutoff_ms: Option<i64>,
    /// Events archived (now tombstones).
    pub archived: u64,
    /// The archivals it recorded, oldest first.
    pub archivals: Vec<ArchivalRecord>,
    /// Expired events that active holds kept, and those holds.
    pub held: u64,
    pub held_by: BTreeSet<String>,
    /// The run stopped at its batch limit; more may be expired.
    pub more: bool,
}

/// A batch being gathered.
#[derive(Default)]
struct Batch {
    events: Vec<StoredEvent>,
    bytes: usize,
    /// When its first event was read, and how many user appends had been
    /// queued by then: what the yield after it is measured from.
    started: Option<(Instant, u64)>,
}

impl Batch {
    /// Whether `next` must start a new batch.
    fn full_before(&self, next: &StoredEvent) -> bool {
        self.events.first().is_some_and(|first| {
            self.events.len() >= MAX_BATCH_EVENTS
                || self.bytes >= MAX_BATCH_BYTES
                || next.seq - first.seq >= MAX_BATCH_SPAN
        })
    }
}

impl Store {
    /// Archives what is past `ledger`'s retention and not held, in at most
    /// `max_batches` archivals (all of it with `None`). See the module doc.
    pub async fn run_retention(
        &self,
        ledger: &LedgerId,
        archive: &ArchiveStore,
        origin: &Origin,
        max_batches: Option<usize>,
    ) -> Result<RetentionRun, StoreError> {
        let _running = RUNNING.lock().await;
        let Some(policy) = self.retention_policy(ledger).await? else {
            return Ok(RetentionRun::default());
        };
        let account = self.ledger_account(ledger).await?;
        // The size the archives are proven at: read now, signed already.
        let ledger = self.ledger(&account, ledger).await?;
        let cutoff = policy.days.cutoff_ms(now_ms());
        let holds = self.legal_holds(&account, HoldsOf::Ledger(&ledger.id), true).await?;
        let hold_ids: BTreeSet<String> = holds.iter().map(|h| h.id.clone()).collect();
        let mut run = RetentionRun { policy: Some(policy.clone()), cutoff_ms: Some(cutoff), ..Default::default() };
        let mut batch = Batch::default();
        let mut cursor = 0;
        'windows: loop {
            // A batch's time starts with the read of its first event.
            let window_read = Instant::now();
            let window = self.expired_window(&ledger, cursor, cutoff).await?;
            let exhausted = window.len() < WINDOW as usize;
            for stored in window {
                cursor = stored.seq + 1;
                let Some(event) = &stored.event else { continue };
                let keeping: Vec<&LegalHold> = holds.iter().filter(|h| h.scope.covers(event)).collect();
                if !keeping.is_empty() {
                    run.held += 1;
                    run.held_by.extend(keeping.iter().map(|h| h.id.clone()));
                    continue;
                }
                if batch.full_before(&stored) {
                    let mut full = std::mem::take(&mut batch);
                    let started = full.started.take();
                    self.archive_batch(&ledger, &policy, cutoff, full, &hold_ids, archive, origin, &mut run).await?;
                    self.yield_to_appends(started).await;
                    if max_batches.is_some_and(|max| run.archivals.len() >= max) {
                        run.more = true;
                        break 'windows;
                    }
                }
                batch.bytes += event.encoded_len();
                batch.events.push(stored);
                batch.started.get_or_insert_with(|| (window_read, self.ingest.user_appends()));
            }
            if exhausted {
                break;
            }
        }
        if !batch.events.is_empty() {
            self.archive_batch(&ledger, &policy, cutoff, batch, &hold_ids, archive, origin, &mut run).await?;
        }
        self.record_held(&ledger, &run, origin).await;
        if run.archived > 0 {
            // The removed ciphertext is overwritten in the database file
            // (secure_delete); its old pages leave the WAL here.
            if let Err(error) = self.db.truncate_wal("events").await {
                tracing::warn!(%error, "the WAL could not be truncated after archival");
            }
        }
        Ok(run)
    }

    /// Runs retention on every ledger that has a policy (the background
    /// job). One ledger's failure does not stop the others; the first is
    /// returned once all ran. Returns how many events were archived.
    pub async fn run_all_retention(&self, archive: &ArchiveStore, origin: &Origin) -> Result<u64, StoreError> {
        let ledgers: Vec<String> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT ledger_id FROM retention_policies ORDER BY ledger_id").fetch_all(p).await?
        });
        let (mut archived, mut failure) = (0, None);
        for id in ledgers {
            let Ok(id) = LedgerId::new(id) else { continue };
            match self.run_retention(&id, archive, origin, None).await {
                Ok(run) => archived += run.archived,
                Err(error) => {
                    tracing::error!(ledger = %id, %error, "retention archival failed for this ledger; the others go on");
                    failure.get_or_insert(error);
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(archived),
        }
    }

    /// When users appended while the batch begun at `started` was archived
    /// (or are waiting now), waits [`YIELD_FACTOR`] times as long as the
    /// batch took (at most [`MAX_YIELD`]): archival is background work.
    pub(crate) async fn yield_to_appends(&self, started: Option<(Instant, u64)>) {
        let Some((at, appends_before)) = started else { return };
        if self.ingest.backlog() > 0 || self.ingest.user_appends() != appends_before {
            tokio::time::sleep((at.elapsed() * YIELD_FACTOR).min(MAX_YIELD)).await;
        }
    }

    /// Up to [`WINDOW`] events of `ledger` from seq `from` below its size,
    /// with content and `occurred_at` before `cutoff`, in seq order, each
    /// verified as every read is.
    async fn expired_window(&self, ledger: &Ledger, from: u64, cutoff: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE ledger_id = $1 AND seq >= $2 AND seq < $3 \
             AND content IS NOT NULL AND occurred_ms < $4 ORDER BY seq LIMIT $5"
        );
        let rows = on_db!(&self.db.pool, |p| {
            sqlx::query(&sql)
                .bind(ledger.id.as_str())
                .bind(to_i64(from)?)
                .bind(to_i64(ledger.tree_size)?)
                .bind(cutoff)
                .bind(WINDOW)
                .fetch_all(p)
                .await?
                .iter()
                .map(raw_event)
                .collect::<Result<Vec<_>, _>>()?
        });
        self.reveal_all(&ledger.id, rows).await
    }

    /// Writes `batch`'s archive file, then records it and tombstones its
    /// events (see the module doc of `archive`).
    #[allow(clippy::too_many_arguments)]
    async fn archive_batch(
        &self,
        ledger: &Ledger,
        policy: &RetentionPolicy,
        cutoff: i64,
        batch: Batch,
        holds: &BTreeSet<String>,
        archive: &ArchiveStore,
        origin: &Origin,
        run: &mut RetentionRun,
    ) -> Result<(), StoreError> {
        let id = format!("arc_{}", uuid::Uuid::now_v7().simple());
        let (manifest, bytes) = self.archive_file(ledger, &id, ledger.tree_size, &batch.events, cutoff).await?;
        let sha256 = audit_core::Hash::digest(&bytes);
        let size = bytes.len() as u64;
        let location = archive.put(&ledger.id, &id, bytes, sha256).await?;
        #[cfg(feature = "testing")]
        if self.ingest.archival_crashes.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StoreError::Export("testing: the process died after writing the archive file".into()));
        }
        let runs = runs(&batch.events);
        let (by_type, by_id) = origin.actor().parts();
        let record = ArchivalRecord {
            id,
            ledger: ledger.id.clone(),
            start: manifest.range.start,
            end: manifest.range.end,
            events: manifest.counts.events,
            tree_size: manifest.tree_size,
            location,
            sha256: sha256.to_string(),
            bytes: size,
            policy_days: policy.days.get(),
            cutoff_ms: cutoff,
            by: (by_type.to_owned(), by_id.to_owned()),
            created_ms: now_ms(),
        };
        let event = SystemEvent::Archived {
            ledger: ledger.id.clone(),
            archival: record.id.clone(),
            start: record.start,
            end: record.end,
            events: record.events,
            runs: runs.clone(),
            sha256: record.sha256.clone(),
            location: record.location.clone(),
            policy_days: record.policy_days,
            cutoff_ms: cutoff,
        };
        let staged = self.stage(&ledger.account_id, origin, event).await?;
        let new = NewArchival { record: &record, account: &ledger.account_id, runs: &runs, holds, staged: &staged };
        self.commit_archival(new).await?;
        run.archived += record.events;
        run.archivals.push(record);
        Ok(())
    }

    /// Records `retention.held` when holds kept expired events, unless this
    /// process recorded the same for the ledger at its last run.
    async fn record_held(&self, ledger: &Ledger, run: &RetentionRun, origin: &Origin) {
        let current = (run.held, run.held_by.clone());
        let changed = {
            let mut last = LAST_HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let map = last.get_or_insert_with(HashMap::new);
            map.insert(ledger.id.clone(), current.clone()).as_ref() != Some(&current)
        };
        if run.held == 0 || !changed {
            return;
        }
        let event = SystemEvent::RetentionHeld {
            ledger: ledger.id.clone(),
            events: run.held,
            holds: run.held_by.iter().cloned().collect(),
            cutoff_ms: run.cutoff_ms.unwrap_or_default(),
        };
        if let Err(error) = self.record_system_event(&ledger.account_id, origin, event).await {
            tracing::error!(ledger = %ledger.id, %error, "the holds' refusal to archive could not be recorded");
        }
    }
}
