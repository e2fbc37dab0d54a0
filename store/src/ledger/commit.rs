//! One group commit, step by step: lock the head, load and check the
//! Merkle frontier, answer retries from the stored records, write the plan,
//! sign the checkpoint; a system ledger's commit also drains its account's
//! outbox. All in one transaction, so a reply of success means everything
//! of the request is durably committed and nothing means none of it is.

use std::time::{Duration, Instant};

use audit_core::{CompactRange, Hash, LedgerId, TreeSize};
use sqlx::Row as _;

use super::plan::{plan, Head, Plan};
use super::sequencer::{Appended, Job, NewEvent, Writer};
use super::{bulk, nodes};
use crate::crypto::records::{Dek, DESTROYED};
use crate::crypto::secrets::SecretBox;
use crate::db::{from_i64, on_db, to_hash, to_i64, write_tx, Conn, PerBackend};
use crate::{now_ms, system, StoreError};

/// How far a ledger's filter index may trail its tree before the ledger's
/// commits wait for it, on PostgreSQL. (On SQLite appends and indexing take
/// turns on the one writer, and the indexer stops deferring to appends at a
/// smaller lag; see `indexer.rs`.)
const MAX_INDEX_LAG: u64 = 100_000;
/// The longest one commit waits for the index: an indexer that is stuck (a
/// key it cannot have, a failing ledger) slows the ledger's ingest but
/// never stops it.
const MAX_INDEX_WAIT: Duration = Duration::from_millis(250);

/// A ledger's head row, locked for the commit.
struct LockedHead {
    size: u64,
    chain: Hash,
    root: Hash,
    key_version: i64,
}

impl Writer {
    /// One transaction for a group of requests, sealed with the ledger's
    /// current data key (retried when a rotation lands meanwhile).
    pub(super) async fn commit(&mut self, jobs: &[Job]) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
        self.wait_for_index().await;
        // Key unwrapping (a KMS call on a cache miss) happens before any lock.
        let sealer = match &self.outbox_of {
            Some(_) => Some(self.keys.outbox_box().await?),
            None => None,
        };
        let mut attempts = 0;
        loop {
            let dek = self.keys.current(&self.ledger).await?;
            match self.commit_with(jobs, &dek, sealer.as_deref()).await {
                Err(StoreError::KeyChanged) if attempts < 3 => attempts += 1,
                outcome => return outcome,
            }
        }
    }

    /// Waits, up to [`MAX_INDEX_WAIT`], while the ledger's filter index
    /// trails its tree by more than [`MAX_INDEX_LAG`] events (PostgreSQL):
    /// under sustained load the indexer gets its share of the database and
    /// searchability trails by a bounded amount, where it fell ever further
    /// behind. Back-pressure reaches clients as slower commits, and beyond
    /// the append budget as 429/503 with Retry-After.
    async fn wait_for_index(&mut self) {
        let PerBackend::Postgres(pool) = &self.db.pool else { return };
        let Some(size) = self.frontier.as_ref().map(|frontier| frontier.size().get()) else { return };
        let started = Instant::now();
        while size.saturating_sub(self.indexed_at_least) > MAX_INDEX_LAG {
            let indexed: Result<Option<i64>, _> =
                sqlx::query_scalar("SELECT indexed_size FROM index_progress WHERE ledger_id = $1")
                    .bind(self.ledger.as_str())
                    .fetch_optional(pool)
                    .await;
            // An answer that cannot be had or read never holds the commit.
            let Ok(Some(indexed)) = indexed else { return };
            let Ok(indexed) = u64::try_from(indexed) else { return };
            self.indexed_at_least = self.indexed_at_least.max(indexed);
            if size.saturating_sub(self.indexed_at_least) <= MAX_INDEX_LAG || started.elapsed() >= MAX_INDEX_WAIT {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One transaction for a group of requests. Returns each request's
    /// outcome; an error means the transaction failed as a whole.
    async fn commit_with(
        &mut self,
        jobs: &[Job],
        dek: &Dek,
        sealer: Option<&SecretBox>,
    ) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
        let received_ms = now_ms();
        let ledger = self.ledger.clone();
        let db = self.db.clone();
        write_tx!(&db, |tx, sql| {
            for statement in sql.bounded_append {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            let head = lock_head((&mut *tx).into(), &ledger).await?;
            // The head lock orders this commit with rotations and shredding:
            // every event is sealed with the version current at its commit.
            match head.key_version {
                DESTROYED => return Err(StoreError::KeysDestroyed),
                version if version != i64::from(dek.version()) => return Err(StoreError::KeyChanged),
                _ => {}
            }
            let frontier = match self.frontier.take().filter(|f| f.size().get() == head.size) {
                Some(frontier) => frontier,
                None => load_frontier((&mut *tx).into(), &ledger, &head).await?,
            };

            // What the account's outbox holds comes first: those changes
            // committed before anything queued now.
            let drained = match (&self.outbox_of, sealer) {
                (Some(account), Some(sealer)) => system::outbox::take((&mut *tx).into(), account, sealer).await?,
                _ => Vec::new(),
            };
            // Each row is a request of its own: one that cannot be appended
            // (its id taken by other content) is set aside alone.
            let mut requests: Vec<&[NewEvent]> = Vec::with_capacity(drained.len() + jobs.len());
            requests.extend(drained.iter().map(|d| std::slice::from_ref(&d.event)));
            requests.extend(jobs.iter().map(|job| job.events.as_slice()));

            // Only client-chosen ids can be retries.
            let client_ids: Vec<&str> = requests
                .iter()
                .flat_map(|request| request.iter())
                .filter(|new| new.client_id())
                .map(|new| new.event().id().as_str())
                .collect();
            let mut known = bulk::stored_records((&mut *tx).into(), &ledger, &client_ids).await?;
            let seal = self.keys.sealing().then_some(dek);
            let head_state = Head { size: head.size, chain: head.chain, frontier };
            let (plan, mut outcomes) = plan(&requests, &mut known, head_state, received_ms, (ledger.as_str(), seal))?;
            let (mut appended, mut failed) = (Vec::new(), Vec::new());
            for (row, outcome) in drained.iter().zip(outcomes.drain(..drained.len())) {
                match outcome {
                    Ok(_) => appended.push(row.id),
                    // Never expected: an outbox event id stored with other
                    // content.
                    Err(error) => {
                        tracing::error!(%ledger, %error, "an outbox row was set aside: it cannot be appended");
                        failed.push(row.id);
                    }
                }
            }
            system::outbox::remove((&mut *tx).into(), &appended).await?;
            system::outbox::set_aside((&mut *tx).into(), &failed).await?;
            if !plan.rows.is_empty() {
                check_origin(&self.origin, &ledger)?;
                bulk::write_plan((&mut *tx).into(), &ledger, &plan).await?;
                let root = plan.frontier.root();
                let note = self.signer.sign(&self.origin, plan.new_size, root)?;
                write_head((&mut *tx).into(), &ledger, &plan, &note, received_ms).await?;
            }
            tx.commit().await?;
            // Durable now: the indexer may have the new events' terms. A
            // commit with events that have none (outbox events) hands over
            // nothing, and the indexer reads them back.
            if let Some(first) = plan.rows.first() {
                if let Some(terms) = plan.rows.iter().map(|row| row.terms).collect::<Option<Vec<_>>>() {
                    self.handoff.push(&ledger, first.seq, terms);
                }
            }
            self.frontier = Some(plan.frontier);
            Ok(outcomes)
        })
    }
}

/// Refuses to sign for an origin that does not name this ledger
/// (`<host>/ledgers/<id>`): a stored origin changed behind the
/// application's back would otherwise have the server sign checkpoints of
/// another log.
fn check_origin(origin: &str, ledger: &LedgerId) -> Result<(), StoreError> {
    if audit_core::origin_names_ledger(origin, ledger.as_str()) {
        Ok(())
    } else {
        Err(StoreError::Integrity(format!(
            "the stored origin {origin:?} of ledger {ledger} names another log; no checkpoint is signed for it"
        )))
    }
}

/// Locks the ledger's head row for the rest of the transaction (PostgreSQL
/// row lock; SQLite's write transaction excludes other writers already).
async fn lock_head(conn: Conn<'_>, ledger: &LedgerId) -> Result<LockedHead, StoreError> {
    on_db!(conn, |c, sql| {
        let statement = format!(
            "SELECT tree_size, chain_hash, root_hash, key_version FROM ledger_heads WHERE ledger_id = $1{}",
            sql.for_update
        );
        let head = sqlx::query(&statement).bind(ledger.as_str()).fetch_optional(&mut *c).await?;
        let head = head.ok_or(StoreError::NotFound("ledger"))?;
        Ok(LockedHead {
            size: from_i64(head.try_get(0)?)?,
            chain: to_hash(&head.try_get::<Vec<u8>, _>(1)?)?,
            root: to_hash(&head.try_get::<Vec<u8>, _>(2)?)?,
            key_version: head.try_get(3)?,
        })
    })
}

/// Reloads the Merkle frontier from the stored nodes (another process moved
/// the head, or the last commit failed) and checks it: a tree that is not
/// the one the head, and so the last checkpoint, committed to is never
/// extended or signed.
async fn load_frontier(mut conn: Conn<'_>, ledger: &LedgerId, head: &LockedHead) -> Result<CompactRange, StoreError> {
    let ids = CompactRange::node_ids(TreeSize(head.size));
    let fetched = nodes::fetch(conn.reborrow(), ledger, &ids).await?;
    let hashes = ids
        .iter()
        .map(|id| audit_core::NodeSource::subtree(&fetched, id.level, id.index))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| StoreError::Corrupt("the Merkle frontier is missing nodes"))?;
    let frontier = CompactRange::from_hashes(TreeSize(head.size), hashes)
        .map_err(|_| StoreError::Corrupt("the Merkle frontier does not match the head"))?;
    if !frontier.root().ct_eq(&head.root) {
        return Err(StoreError::Corrupt("stored Merkle nodes do not match the ledger head's root"));
    }
    if head.size > 0 {
        let last: Vec<u8> = on_db!(conn, |c| {
            sqlx::query_scalar("SELECT chain_hash FROM events WHERE ledger_id = $1 AND seq = $2")
                .bind(ledger.as_str())
                .bind(to_i64(head.size - 1)?)
                .fetch_one(&mut *c)
                .await?
        });
        if !to_hash(&last)?.ct_eq(&head.chain) {
            return Err(StoreError::Corrupt("the last event's chain hash does not match the ledger head"));
        }
    }
    Ok(frontier)
}

/// Moves the head to the planned tree and stores its signed checkpoint.
async fn write_head(
    conn: Conn<'_>,
    ledger: &LedgerId,
    plan: &Plan,
    note: &str,
    created_ms: i64,
) -> Result<(), StoreError> {
    let root = plan.frontier.root();
    let new_size = to_i64(plan.new_size)?;
    on_db!(conn, |c| {
        sqlx::query("UPDATE ledger_heads SET tree_size = $1, chain_hash = $2, root_hash = $3 WHERE ledger_id = $4")
            .bind(new_size)
            .bind(plan.new_chain.as_bytes().as_slice())
            .bind(root.as_bytes().as_slice())
            .bind(ledger.as_str())
            .execute(&mut *c)
            .await?;
        sqlx::query(
            "INSERT INTO checkpoints (ledger_id, tree_size, root_hash, note, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(ledger.as_str())
        .bind(new_size)
        .bind(root.as_bytes().as_slice())
        .bind(note)
        .bind(created_ms)
        .execute(&mut *c)
        .await?;
        Ok(())
    })
}
