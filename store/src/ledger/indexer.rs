//! The filter index, trailing the commit.
//!
//! Equality filters (actor, action, resource) use `event_terms`, one row per
//! term and event. Writing those rows inside the append transaction put five
//! random B-tree inserts on every event's critical path, and they, not
//! hashing or fsync, bounded ingestion. So events commit without them, and
//! this indexer writes their terms afterwards in sorted bulk, recording in
//! `index_progress` how far each ledger is indexed, in the same transaction
//! as the terms. The event itself is durable at commit; only its
//! searchability trails, by a delay the ledger reports (`indexed_size`
//! against `tree_size`). Listings stay exact meanwhile: the unindexed tail
//! is filtered directly (see `events.rs`).

use std::borrow::Cow;
use std::time::Duration;

use super::event_rows::{raw_event, RawEvent, COLUMNS};
use super::handoff::{EventTerms, Held};
use super::term_blocks::{StoredTerm, TermLayout};
use crate::crypto::records::{integrity, Dek, Term, DESTROYED};
use crate::db::{from_i64, on_db, to_i64, write_tx};
use crate::{Backend, Store, StoreError};

/// Events indexed per transaction. The terms are HMACs, so they land all
/// over their B-tree, and every page a transaction touches is written to the
/// WAL once per transaction: a larger batch dirties each page for more rows.
/// 20,000 (against 5,000) took sustained SQLite ingest with client ids from
/// 20.1k to 25.7k events/s and from 20.5k to 23.5k events per server
/// CPU-second (one 60 s run each, together with the WAL setting in
/// `db/open.rs`). With the compact term rows, 50,000 ingested as fast (22.9k
/// and 23.7k against 23.1k and 22.7k events/s, 19.6k and 20.1k against 19.6k
/// and 19.5k per CPU-second, alternating 60 s runs) and, read in slices,
/// held less (207 MB against 231-241 MB peak RSS). An append waiting behind
/// such a batch (SQLite has one writer) waits a fraction of a second.
const INDEX_BATCH: u64 = 50_000;
/// Events read (and opened) at a time while a batch's terms are computed:
/// only the terms of a batch are held together, not all its records.
const READ_SLICE: usize = 5_000;
/// On SQLite, indexing waits while appends are queued (writes win, DESIGN
/// §5), but never while a ledger trails by this many events or more...
const MAX_DEFERRED_EVENTS: u64 = 50_000;
/// ...nor for longer than this: under steady load a ledger's searchability
/// trails its commits by a bounded delay.
const MAX_DEFER: Duration = Duration::from_secs(2);
/// How often the indexer looks for work when no commit woke it.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// The searchable fields of an event, by the names filters use.
pub(crate) const FIELDS: [(&str, &str, Option<&str>); 5] = [
    ("actor.type", "actor", Some("type")),
    ("actor.id", "actor", Some("id")),
    ("action", "action", None),
    ("resource.type", "resource", Some("type")),
    ("resource.id", "resource", Some("id")),
];

/// The blind-index terms of an event, in the order of [`FIELDS`]: HMACs
/// under the ledger's index key, so the index holds nothing a dictionary
/// could reverse without the key. The append path hands them to the indexer
/// (see `handoff.rs`); filters of unindexed events compare against them.
pub(crate) fn event_terms(event: &audit_core::Event, index: &Dek) -> EventTerms {
    std::array::from_fn(|i| {
        let (field, outer, inner) = FIELDS[i];
        let value = match (outer, inner) {
            ("actor", Some("type")) => event.actor().kind(),
            ("actor", _) => event.actor().id(),
            ("resource", Some("type")) => event.resource().kind(),
            ("resource", _) => event.resource().id(),
            _ => event.action().as_str(),
        };
        index.term(field, value)
    })
}

/// The searchable fields of a stored record, parsed without building a
/// JSON tree (the indexer reads every event once).
#[derive(serde::Deserialize)]
struct Searchable<'a> {
    #[serde(borrow)]
    actor: SearchableParty<'a>,
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow)]
    resource: SearchableParty<'a>,
}

#[derive(serde::Deserialize)]
struct SearchableParty<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
}

/// The terms of a stored record, in the order of [`FIELDS`]; `None` when it
/// does not hold an event.
fn record_terms(record: &[u8], index: &Dek) -> Option<[Term; 5]> {
    let fields: Searchable<'_> = serde_json::from_slice(record).ok()?;
    let values = [&fields.actor.kind, &fields.actor.id, &fields.action, &fields.resource.kind, &fields.resource.id];
    Some(std::array::from_fn(|i| index.term(FIELDS[i].0, values[i])))
}

/// Appends the term rows of the event `seq`, as the backend's layout
/// stores them (see `term_blocks.rs`).
fn push_stored(
    terms: &mut Vec<(StoredTerm, i64)>,
    layout: TermLayout,
    seq: u64,
    found: EventTerms,
) -> Result<(), StoreError> {
    let stored_seq = to_i64(seq)?;
    terms.extend(found.iter().map(|term| (layout.stored(term, seq), stored_seq)));
    Ok(())
}

impl Store {
    /// Starts the background indexer of this process. It wakes after every
    /// commit (and at least every half second) and indexes what trails.
    /// Several processes may run it against one PostgreSQL: term rows are
    /// idempotent and progress only moves forward.
    pub fn spawn_indexer(&self) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut deferring_since: Option<std::time::Instant> = None;
            loop {
                let _ = tokio::time::timeout(IDLE_POLL, store.ingest.indexer.notified()).await;
                loop {
                    let overdue = deferring_since.is_some_and(|since| since.elapsed() >= MAX_DEFER);
                    match store.index_round(!overdue, true).await {
                        Ok((0, false)) => {
                            deferring_since = None;
                            break;
                        }
                        Ok((0, true)) => {
                            // Appends are queued: let them commit first.
                            deferring_since.get_or_insert_with(std::time::Instant::now);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Ok((_, deferred)) => {
                            if !deferred {
                                deferring_since = None;
                            }
                        }
                        Err(error) => {
                            tracing::error!(%error, "indexing failed; retrying");
                            tokio::time::sleep(IDLE_POLL).await;
                            break;
                        }
                    }
                }
            }
        })
    }

    /// Indexes one batch of every ledger that trails; returns how many
    /// events were indexed (0 when nothing trails).
    pub async fn index_pending(&self) -> Result<u64, StoreError> {
        self.index_round(false, false).await.map(|(indexed, _)| indexed)
    }

    /// One indexing pass. With `defer`, a SQLite ledger that trails by less
    /// than [`MAX_DEFERRED_EVENTS`] is left for later while appends are
    /// queued. Returns how many events were indexed and whether any ledger
    /// was deferred.
    async fn index_round(&self, defer: bool, keep_going: bool) -> Result<(u64, bool), StoreError> {
        let pending: Vec<(String, i64, i64)> = on_db!(&self.db.pool, |p| {
            sqlx::query_as(
                "SELECT p.ledger_id, p.indexed_size, h.tree_size FROM index_progress p \
                 JOIN ledger_heads h ON h.ledger_id = p.ledger_id WHERE p.indexed_size < h.tree_size",
            )
            .fetch_all(p)
            .await?
        });
        let mut indexed = 0;
        let mut deferred = false;
        for (ledger, from, size) in pending {
            let from = from_i64(from)?;
            let size = from_i64(size)?;
            let busy = self.backend() == Backend::Sqlite && self.ingest.backlog() > 0;
            if defer && busy && size - from < MAX_DEFERRED_EVENTS {
                deferred = true;
                continue;
            }
            match self.index_range(&ledger, from, size.min(from + INDEX_BATCH)).await {
                Ok(n) => indexed += n,
                // One ledger's trouble (a tampered record, an unavailable
                // key) must not stop the others from being indexed.
                Err(error) if keep_going => {
                    tracing::error!(%ledger, %error, "indexing this ledger failed; the others go on");
                }
                Err(error) => return Err(error),
            }
        }
        Ok((indexed, deferred))
    }

    async fn index_range(&self, ledger: &str, from: u64, to: u64) -> Result<u64, StoreError> {
        let ledger_id = audit_core::LedgerId::new(ledger).map_err(|_| StoreError::Corrupt("invalid ledger id"))?;
        let index = match self.keys.index_key(&ledger_id).await {
            Ok(index) => index,
            // Nothing of a shredded ledger is searchable any more.
            Err(StoreError::KeysDestroyed) => {
                self.ingest.handoff.forget(&ledger_id);
                return self.skip_range(ledger, to).await;
            }
            Err(error) => return Err(error),
        };
        // The terms this process's appends handed over need not be read
        // back; up to the first event they do not cover, the stored records
        // are read.
        let (to, handed) = match self.ingest.handoff.take(&ledger_id, from, to) {
            Held::From(held) if !held.is_empty() => (from + held.len() as u64, held),
            Held::Gap(Some(next)) if next < to => (next, Vec::new()),
            _ => (to, Vec::new()),
        };
        let mut terms = Vec::with_capacity(usize::try_from(to - from).unwrap_or(0) * FIELDS.len());
        if handed.is_empty() {
            self.read_terms(&ledger_id, &index, from, to, &mut terms).await?;
        } else {
            let layout = TermLayout::of(self.backend());
            for (seq, found) in (from..to).zip(handed) {
                push_stored(&mut terms, layout, seq, found)?;
            }
        }
        // Sorted bulk, before the writer's turn is taken: neighbouring rows
        // land on neighbouring pages.
        terms.sort_unstable();
        self.write_terms(ledger, from, to, &terms).await
    }

    /// Reads the events of `[from, to)` back and appends their terms.
    async fn read_terms(
        &self,
        ledger_id: &audit_core::LedgerId,
        index: &Dek,
        from: u64,
        to: u64,
        terms: &mut Vec<(StoredTerm, i64)>,
    ) -> Result<(), StoreError> {
        let ledger = ledger_id.as_str();
        let sql = format!("SELECT {COLUMNS} FROM events WHERE ledger_id = $1 AND seq >= $2 AND seq < $3");
        // The events are read a slice at a time: only their terms are kept
        // for the batch, not every record of it at once.
        for start in (from..to).step_by(READ_SLICE) {
            let end = start.saturating_add(READ_SLICE as u64).min(to);
            let rows = on_db!(&self.db.pool, |p| {
                sqlx::query(&sql)
                    .bind(ledger)
                    .bind(to_i64(start)?)
                    .bind(to_i64(end)?)
                    .fetch_all(p)
                    .await?
                    .iter()
                    .map(raw_event)
                    .collect::<Result<Vec<_>, _>>()?
            });
            self.terms_of_rows(ledger_id, index, rows, terms).await?;
        }
        Ok(())
    }

    /// Writes the sorted terms of `[from, to)` and records the ledger as
    /// indexed up to `to`; returns how many events that was.
    async fn write_terms(
        &self,
        ledger: &str,
        from: u64,
        to: u64,
        terms: &[(StoredTerm, i64)],
    ) -> Result<u64, StoreError> {
        let destroyed = write_tx!(&self.db, |tx, sql| {
            // The number the ledger's term rows name it by; none once the
            // ledger is deleted, and then nothing of it is indexed.
            let number: Option<i64> = sqlx::query_scalar("SELECT number FROM ledgers WHERE id = $1")
                .bind(ledger)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(number) = number else {
                tx.rollback().await?;
                return Ok(0);
            };
            super::bulk::insert_terms((&mut *tx).into(), number, terms).await?;
            // Keys destroyed since the terms were computed: none are kept.
            // FOR SHARE (PostgreSQL) waits for a concurrent destruction,
            // which locks the head row FOR UPDATE, and then sees it; one
            // that comes later waits for this commit and deletes the terms
            // with the rest. The lock is taken last, as it also holds the
            // ledger's appends (their FOR UPDATE) until the commit: taken
            // first, it held them for the whole batch of inserts.
            let version_sql = format!("SELECT key_version FROM ledger_heads WHERE ledger_id = $1{}", sql.for_share);
            let version: Option<i64> = sqlx::query_scalar(&version_sql).bind(ledger).fetch_optional(&mut *tx).await?;
            if version == Some(DESTROYED) {
                tx.rollback().await?;
                true
            } else {
                // Events archived since their terms were computed keep
                // none: an archival locks the head row FOR UPDATE, so it
                // committed before the lock above was granted, or commits
                // after this and deletes these terms itself. Ranges never
                // overlap, so the last one starting below `to` is the only
                // one that can reach into the batch.
                let last_end: Option<i64> = sqlx::query_scalar(
                    "SELECT end_seq FROM archival_ranges WHERE ledger_id = $1 AND start_seq < $2 \
                     ORDER BY start_seq DESC LIMIT 1",
                )
                .bind(ledger)
                .bind(to_i64(to)?)
                .fetch_optional(&mut *tx)
                .await?;
                let first = to_i64(from)?;
                if last_end.is_some_and(|end| end > first) {
                    sqlx::query(
                        "DELETE FROM event_terms WHERE ledger = $4 AND seq >= $2 AND seq < $3 AND seq IN \
                         (SELECT seq FROM events WHERE ledger_id = $1 AND seq >= $2 AND seq < $3 AND content IS NULL)",
                    )
                    .bind(ledger)
                    .bind(to_i64(from)?)
                    .bind(to_i64(to)?)
                    .bind(number)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query("UPDATE index_progress SET indexed_size = $1 WHERE ledger_id = $2 AND indexed_size < $1")
                    .bind(to_i64(to)?)
                    .bind(ledger)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                false
            }
        });
        if destroyed {
            // Marked indexed without terms, as for any shredded ledger.
            return self.skip_range(ledger, to).await;
        }
        Ok(to - from)
    }

    /// Appends the terms of `rows` (with their seq) to `terms`. A record
    /// that does not open is recorded as a finding and left out of the
    /// index; the rest of the ledger is indexed. A key that cannot be had
    /// (the KMS unreachable) stops the batch, to be retried.
    async fn terms_of_rows(
        &self,
        ledger_id: &audit_core::LedgerId,
        index: &Dek,
        rows: Vec<RawEvent>,
        terms: &mut Vec<(StoredTerm, i64)>,
    ) -> Result<(), StoreError> {
        let ledger = ledger_id.as_str();
        let layout = TermLayout::of(self.backend());
        for raw in rows {
            // A tombstoned event has nothing left to search.
            let Some(record) = &raw.content else { continue };
            let row = raw.binding();
            let terms_of_row = match self.keys.open(ledger_id, &row, record).await {
                Ok(plain) => {
                    record_terms(&plain, index).ok_or_else(|| integrity(ledger, &row, "does not hold a valid event"))
                }
                Err(error) => Err(error),
            };
            match terms_of_row {
                Ok(found) => push_stored(terms, layout, raw.seq, found)?,
                Err(StoreError::Integrity(detail)) => self.record_finding(ledger_id, raw.seq, &raw.id, &detail).await,
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Marks `[.., to)` of a shredded ledger as indexed without terms.
    async fn skip_range(&self, ledger: &str, to: u64) -> Result<u64, StoreError> {
        on_db!(&self.db.pool, |p| {
            sqlx::query("UPDATE index_progress SET indexed_size = $1 WHERE ledger_id = $2 AND indexed_size < $1")
                .bind(to_i64(to)?)
                .bind(ledger)
                .execute(p)
                .await?;
        });
        Ok(0)
    }

    /// How many of a ledger's events are in the filter index.
    pub async fn indexed_size(&self, ledger: &audit_core::LedgerId) -> Result<u64, StoreError> {
        let size: Option<i64> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT indexed_size FROM index_progress WHERE ledger_id = $1")
                .bind(ledger.as_str())
                .fetch_optional(p)
                .await?
        });
        from_i64(size.ok_or(StoreError::NotFound("ledger"))?)
    }
}
