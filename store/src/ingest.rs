//! The ingest sequencer: one writer per ledger and process, with group commit.
//!
//! Requests for a ledger queue on its writer. The writer takes everything
//! queued (up to [`MAX_GROUP_EVENTS`]) into one transaction: it locks the
//! ledger's head row, assigns sequence numbers, computes leaf and chain
//! hashes and the new Merkle nodes with audit-core, writes events, nodes,
//! the new head and a signed checkpoint, commits (one fsync),
//! and only then answers every waiting request. A reply of success therefore
//! always means "durably committed".
//!
//! Several processes may append to one PostgreSQL ledger: the head row is
//! locked with `SELECT ... FOR UPDATE`, and a writer that finds the head moved
//! since its last commit reloads its Merkle frontier from the database, so
//! chains never fork. With SQLite (one process), writers of all ledgers take
//! turns on one process-wide lock, as SQLite has a single writer anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use audit_core::{
    chain_hash, Checkpoint, CompactRange, Event, EventId, Hash, KeyName, LedgerId, TreeSize, VerifierKey,
};
use ed25519_dalek::SigningKey;
use sqlx::Row as _;
use tokio::sync::{mpsc, oneshot};

use crate::nodes::{self, from_i64, is_stored_level, to_hash, to_i64};
use crate::sealing::{Dek, Keyring, DESTROYED};
use crate::{now_ms, on_pool, Ledger, Pool, Store, StoreError};

/// The most events one transaction takes; more wait for the next one.
const MAX_GROUP_EVENTS: usize = 10_000;
/// The most canonical event bytes one transaction takes (bounds memory).
const MAX_GROUP_BYTES: usize = 16 * 1024 * 1024;
/// How long a request waits for its commit before it is told the outcome is
/// unknown (it may still commit; a retry with the same ids is safe).
const COMMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
/// Requests queued per ledger before senders wait (back-pressure).
const QUEUE_DEPTH: usize = 1024;
/// A ledger's writer task ends after this long without requests (the next
/// request starts a new one), so idle ledgers hold no task or frontier.
const WRITER_IDLE: std::time::Duration = std::time::Duration::from_secs(300);
/// Rows per multi-row INSERT (below both backends' bind-parameter limits).
const INSERT_CHUNK: usize = 500;

/// Signs checkpoints: an Ed25519 key and the note key name (the host).
pub struct CheckpointSigner {
    name: KeyName,
    key: SigningKey,
    host: String,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner").field("name", &self.name).field("key", &"***").finish()
    }
}

impl CheckpointSigner {
    /// A signer for checkpoints of ledgers served at `host` (the origin
    /// prefix and the note key name).
    pub fn new(host: &str, key: SigningKey) -> Result<Self, StoreError> {
        let name = KeyName::new(host).map_err(|e| StoreError::Invalid(format!("invalid checkpoint key name: {e}")))?;
        Ok(Self { name, key, host: host.to_owned() })
    }

    /// The public verifier key, in the C2SP note format.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey::new(self.name.clone(), self.key.verifying_key())
    }

    fn sign(&self, origin: &str, size: u64, root: Hash) -> Result<String, StoreError> {
        let checkpoint =
            Checkpoint::new(origin, TreeSize(size), root).map_err(|e| StoreError::Signing(e.to_string()))?;
        checkpoint.sign(&self.name, &self.key).map_err(|e| StoreError::Signing(e.to_string()))
    }
}

/// An event to append, validated and normalised.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event: Event,
    /// Whether the client chose the id (only those can be retries).
    pub client_id: bool,
}

/// The outcome of one append request.
#[derive(Debug, Clone)]
pub struct Appended {
    /// The tree size that includes every event of the request.
    pub tree_size: u64,
    pub events: Vec<AppendedEvent>,
}

/// Where an event landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendedEvent {
    pub id: EventId,
    pub seq: u64,
    pub leaf_hash: Hash,
    pub chain_hash: Hash,
}

struct Job {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// The writers of this process.
pub(crate) struct Sequencer {
    pool: Pool,
    signer: Arc<CheckpointSigner>,
    writers: Mutex<HashMap<LedgerId, mpsc::Sender<Job>>>,
    keys: Arc<Keyring>,
    /// Append requests queued and not yet taken by their writer: the
    /// indexer's signal that ingestion has work waiting.
    backlog: Arc<std::sync::atomic::AtomicIsize>,
    /// How long an idle writer lives, in milliseconds (tests shorten it).
    pub(crate) writer_idle_ms: std::sync::atomic::AtomicU64,
    pub(crate) sqlite_writer: Arc<tokio::sync::Mutex<()>>,
    /// Woken after every commit: there is something to index.
    pub(crate) indexer: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer").field("signer", &self.signer).finish_non_exhaustive()
    }
}

impl Sequencer {
    pub(crate) fn new(
        pool: Pool,
        signer: CheckpointSigner,
        keys: Arc<Keyring>,
        sqlite_writer: Arc<tokio::sync::Mutex<()>>,
    ) -> Self {
        Self {
            pool,
            signer: Arc::new(signer),
            writers: Mutex::new(HashMap::new()),
            keys,
            backlog: Arc::new(std::sync::atomic::AtomicIsize::new(0)),
            writer_idle_ms: std::sync::atomic::AtomicU64::new(
                u64::try_from(WRITER_IDLE.as_millis()).unwrap_or(u64::MAX),
            ),
            sqlite_writer,
            indexer: Arc::new(tokio::sync::Notify::new()),
        }
    }

    pub(crate) fn origin_host(&self) -> &str {
        &self.signer.host
    }

    pub(crate) fn signer(&self) -> &CheckpointSigner {
        &self.signer
    }

    fn sender(&self, ledger: &Ledger) -> mpsc::Sender<Job> {
        // A poisoned lock only means another thread panicked while holding
        // it; the map itself is still usable.
        let mut writers = self.writers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(sender) = writers.get(&ledger.id).filter(|s| !s.is_closed()) {
            return sender.clone();
        }
        // Forget writers that ended while idle.
        writers.retain(|_, s| !s.is_closed());
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let idle = std::time::Duration::from_millis(self.writer_idle_ms.load(std::sync::atomic::Ordering::Relaxed));
        let writer = Writer {
            pool: self.pool.clone(),
            signer: self.signer.clone(),
            ledger: ledger.id.clone(),
            origin: ledger.origin.clone(),
            frontier: None,
            backlog: self.backlog.clone(),
            keys: self.keys.clone(),
            sqlite_writer: self.sqlite_writer.clone(),
            indexer: self.indexer.clone(),
        };
        tokio::spawn(writer.run(receiver, idle));
        writers.insert(ledger.id.clone(), sender.clone());
        sender
    }

    /// Append requests waiting for their writer to take them.
    pub(crate) fn backlog(&self) -> isize {
        self.backlog.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many ledgers have a live writer task in this process.
    #[cfg(feature = "testing")]
    pub(crate) fn active_writers(&self) -> usize {
        let writers = self.writers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        writers.values().filter(|s| !s.is_closed()).count()
    }
}

impl Store {
    /// Appends events to a ledger, all or nothing, and returns once they are
    /// durably committed. An event whose client-chosen id is already stored
    /// with the same content is answered with the stored record (a retry);
    /// with other content the whole request fails with
    /// [`StoreError::Conflict`].
    ///
    /// Callers check permissions; this does not (the system ledger is
    /// appended to through here as well).
    pub async fn append(&self, ledger: &Ledger, events: Vec<NewEvent>) -> Result<Appended, StoreError> {
        if events.is_empty() {
            return Err(StoreError::Invalid("no events to append".into()));
        }
        let (reply, answer) = oneshot::channel();
        let ingest = self.ingest.clone();
        let outcome = tokio::time::timeout(COMMIT_WAIT, async move {
            let mut job = Job { events, reply };
            // A writer that just ended for idleness refuses the job; the
            // next sender belongs to a fresh writer.
            for _ in 0..2 {
                match ingest.sender(ledger).send(job).await {
                    Ok(()) => {
                        // Counted after the send (no await in between, so a
                        // cancelled request cannot leave it counted); the
                        // writer may already have taken it, hence signed.
                        ingest.backlog.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        return answer.await.map_err(|_| StoreError::WriterGone)?;
                    }
                    Err(mpsc::error::SendError(returned)) => job = returned,
                }
            }
            Err(StoreError::WriterGone)
        })
        .await;
        outcome.map_err(|_| StoreError::CommitTimeout)?
    }

    /// Append requests of this process queued for their ledger's writer and
    /// not yet taken (a measure of ingest overload).
    pub fn ingest_backlog(&self) -> isize {
        self.ingest.backlog()
    }

    /// The public key that verifies this server's checkpoints.
    pub fn verifier_key(&self) -> VerifierKey {
        self.ingest.signer().verifier_key()
    }
}

struct Writer {
    pool: Pool,
    signer: Arc<CheckpointSigner>,
    ledger: LedgerId,
    origin: String,
    /// The Merkle frontier after the last commit of this writer; reloaded
    /// when the head moved (another process) or after a failed commit.
    frontier: Option<CompactRange>,
    backlog: Arc<std::sync::atomic::AtomicIsize>,
    keys: Arc<Keyring>,
    sqlite_writer: Arc<tokio::sync::Mutex<()>>,
    indexer: Arc<tokio::sync::Notify>,
}

/// One planned new row of `events`.
struct Row {
    seq: u64,
    event_id: String,
    occurred_ms: i64,
    received_ms: i64,
    content: Vec<u8>,
    leaf: Hash,
    chain: Hash,
}

/// Everything one group commit writes.
struct Plan {
    rows: Vec<Row>,
    nodes: Vec<(u8, u64, Hash)>,
    new_size: u64,
    new_chain: Hash,
    frontier: CompactRange,
}

impl Writer {
    async fn run(mut self, mut receiver: mpsc::Receiver<Job>, idle: std::time::Duration) {
        let mut closing = false;
        loop {
            let next = if closing {
                // Closed: no new jobs, but those already queued are served.
                receiver.recv().await
            } else {
                match tokio::time::timeout(idle, receiver.recv()).await {
                    Ok(next) => next,
                    Err(_) => {
                        receiver.close();
                        closing = true;
                        continue;
                    }
                }
            };
            let Some(first) = next else { break };
            self.backlog.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            let mut count = first.events.len();
            let mut bytes = job_bytes(&first);
            let mut jobs = vec![first];
            while count < MAX_GROUP_EVENTS && bytes < MAX_GROUP_BYTES {
                match receiver.try_recv() {
                    Ok(job) => {
                        self.backlog.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                        count += job.events.len();
                        bytes += job_bytes(&job);
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            match self.commit(&jobs).await {
                Ok(outcomes) => {
                    self.indexer.notify_one();
                    for (job, outcome) in jobs.into_iter().zip(outcomes) {
                        let _ = job.reply.send(outcome);
                    }
                }
                Err(StoreError::KeysDestroyed) => {
                    for job in jobs {
                        let _ = job.reply.send(Err(StoreError::KeysDestroyed));
                    }
                }
                Err(error) => {
                    tracing::error!(ledger = %self.ledger, %error, events = count, "append transaction failed; nothing of it was stored");
                    self.frontier = None;
                    for job in jobs {
                        // Key trouble is retryable (503), anything else a
                        // generic failure (500); nothing was stored either way.
                        let reply = match &error {
                            StoreError::Keys(detail) => StoreError::Keys(detail.clone()),
                            StoreError::KeyChanged => {
                                StoreError::Keys("the ledger's data key changed repeatedly during the commit".into())
                            }
                            _ => StoreError::Database(sqlx::Error::Protocol("the append transaction failed".into())),
                        };
                        let _ = job.reply.send(Err(reply));
                    }
                }
            }
        }
    }

    /// One transaction for a group of requests, sealed with the ledger's
    /// current data key (retried when a rotation lands meanwhile).
    async fn commit(&mut self, jobs: &[Job]) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
        let mut attempts = 0;
        loop {
            // Unwrapping (a KMS call on a cache miss) happens before any lock.
            let dek = self.keys.current(&self.ledger).await?;
            match self.commit_with(jobs, &dek).await {
                Err(StoreError::KeyChanged) if attempts < 3 => attempts += 1,
                outcome => return outcome,
            }
        }
    }

    /// One transaction for a group of requests. Returns each request's
    /// outcome; an error means the transaction failed as a whole.
    async fn commit_with(&mut self, jobs: &[Job], dek: &Dek) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
        let received_ms = now_ms();
        let ledger = self.ledger.clone();
        let pool = self.pool.clone();
        on_pool!(&pool, |p| {
            let _turn = match &self.pool {
                Pool::Sqlite(_) => Some(self.sqlite_writer.clone().lock_owned().await),
                Pool::Postgres(_) => None,
            };
            let mut tx = match &self.pool {
                Pool::Sqlite(_) => p.begin_with("BEGIN IMMEDIATE").await?,
                Pool::Postgres(_) => p.begin().await?,
            };
            if let Pool::Postgres(_) = &self.pool {
                // A stuck peer holding the head lock must not stall this
                // ledger forever on every node.
                sqlx::query("SET LOCAL lock_timeout = '10s'").execute(&mut *tx).await?;
                sqlx::query("SET LOCAL statement_timeout = '60s'").execute(&mut *tx).await?;
            }
            let lock_sql = match &self.pool {
                Pool::Sqlite(_) => {
                    "SELECT tree_size, chain_hash, root_hash, key_version FROM ledger_heads WHERE ledger_id = $1"
                }
                Pool::Postgres(_) => {
                    "SELECT tree_size, chain_hash, root_hash, key_version FROM ledger_heads WHERE ledger_id = $1 FOR UPDATE"
                }
            };
            let head = sqlx::query(lock_sql).bind(ledger.as_str()).fetch_optional(&mut *tx).await?;
            let head = head.ok_or(StoreError::NotFound("ledger"))?;
            let size = from_i64(head.try_get(0)?)?;
            let chain: Vec<u8> = head.try_get(1)?;
            let chain = to_hash(&chain)?;
            let head_root = to_hash(&head.try_get::<Vec<u8>, _>(2)?)?;
            // The head lock orders this commit with rotations and shredding:
            // every event is sealed with the version current at its commit.
            match head.try_get::<i64, _>(3)? {
                DESTROYED => return Err(StoreError::KeysDestroyed),
                version if version != i64::from(dek.version()) => return Err(StoreError::KeyChanged),
                _ => {}
            }

            let frontier = match self.frontier.take().filter(|f| f.size().get() == size) {
                Some(frontier) => frontier,
                None => {
                    let ids = CompactRange::node_ids(TreeSize(size));
                    let fetched = nodes::fetch(&mut *tx, &ledger, &ids).await?;
                    let hashes = ids
                        .iter()
                        .map(|id| audit_core::NodeSource::subtree(&fetched, id.level, id.index))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|_| StoreError::Corrupt("the Merkle frontier is missing nodes"))?;
                    let frontier = CompactRange::from_hashes(TreeSize(size), hashes)
                        .map_err(|_| StoreError::Corrupt("the Merkle frontier does not match the head"))?;
                    // Never extend (and sign) a tree that is not the one the
                    // head, and so the last checkpoint, committed to.
                    if !frontier.root().ct_eq(&head_root) {
                        return Err(StoreError::Corrupt("stored Merkle nodes do not match the ledger head's root"));
                    }
                    if size > 0 {
                        let last: Vec<u8> =
                            sqlx::query_scalar("SELECT chain_hash FROM events WHERE ledger_id = $1 AND seq = $2")
                                .bind(ledger.as_str())
                                .bind(to_i64(size - 1)?)
                                .fetch_one(&mut *tx)
                                .await?;
                        if !to_hash(&last)?.ct_eq(&chain) {
                            return Err(StoreError::Corrupt(
                                "the last event's chain hash does not match the ledger head",
                            ));
                        }
                    }
                    frontier
                }
            };

            // Stored records of client ids that may be retries.
            let mut client_ids: Vec<String> = Vec::new();
            for job in jobs {
                for new in &job.events {
                    if new.client_id {
                        client_ids.push(new.event.id().as_str().to_owned());
                    }
                }
            }
            let mut known: HashMap<String, AppendedEvent> = HashMap::new();
            for chunk in client_ids.chunks(INSERT_CHUNK) {
                let mut query = sqlx::QueryBuilder::new(
                    "SELECT event_id, seq, leaf_hash, chain_hash FROM events WHERE ledger_id = ",
                );
                query.push_bind(ledger.as_str()).push(" AND event_id IN (");
                let mut separated = query.separated(", ");
                for id in chunk {
                    separated.push_bind(id.as_str());
                }
                query.push(")");
                for row in query.build().fetch_all(&mut *tx).await? {
                    let id: String = row.try_get(0)?;
                    let record = AppendedEvent {
                        id: EventId::new(id.clone()).map_err(|_| StoreError::Corrupt("invalid stored event id"))?,
                        seq: from_i64(row.try_get(1)?)?,
                        leaf_hash: to_hash(&row.try_get::<Vec<u8>, _>(2)?)?,
                        chain_hash: to_hash(&row.try_get::<Vec<u8>, _>(3)?)?,
                    };
                    known.insert(id, record);
                }
            }

            let seal = self.keys.sealing().then_some(dek);
            let (plan, outcomes) = plan(jobs, &mut known, size, chain, frontier, received_ms, (ledger.as_str(), seal))?;
            if !plan.rows.is_empty() {
                for chunk in plan.rows.chunks(INSERT_CHUNK) {
                    let mut query = sqlx::QueryBuilder::new(
                        "INSERT INTO events (ledger_id, seq, event_id, occurred_ms, received_ms, content, leaf_hash, chain_hash) ",
                    );
                    query.push_values(chunk, |mut b, row| {
                        b.push_bind(ledger.as_str())
                            .push_bind(to_i64(row.seq).unwrap_or(i64::MAX))
                            .push_bind(row.event_id.as_str())
                            .push_bind(row.occurred_ms)
                            .push_bind(row.received_ms)
                            .push_bind(row.content.as_slice())
                            .push_bind(row.leaf.as_bytes().as_slice())
                            .push_bind(row.chain.as_bytes().as_slice());
                    });
                    query.build().execute(&mut *tx).await?;
                }
                for chunk in plan.nodes.chunks(INSERT_CHUNK) {
                    let mut query = sqlx::QueryBuilder::new("INSERT INTO merkle_nodes (ledger_id, level, idx, hash) ");
                    query.push_values(chunk, |mut b, (level, idx, hash)| {
                        b.push_bind(ledger.as_str())
                            .push_bind(i16::from(*level))
                            .push_bind(to_i64(*idx).unwrap_or(i64::MAX))
                            .push_bind(hash.as_bytes().as_slice());
                    });
                    query.build().execute(&mut *tx).await?;
                }
                let root = plan.frontier.root();
                let new_size = to_i64(plan.new_size)?;
                sqlx::query(
                    "UPDATE ledger_heads SET tree_size = $1, chain_hash = $2, root_hash = $3 WHERE ledger_id = $4",
                )
                .bind(new_size)
                .bind(plan.new_chain.as_bytes().as_slice())
                .bind(root.as_bytes().as_slice())
                .bind(ledger.as_str())
                .execute(&mut *tx)
                .await?;
                let note = self.signer.sign(&self.origin, plan.new_size, root)?;
                sqlx::query("INSERT INTO checkpoints (ledger_id, tree_size, root_hash, note, created_ms) VALUES ($1, $2, $3, $4, $5)")
                    .bind(ledger.as_str())
                    .bind(new_size)
                    .bind(root.as_bytes().as_slice())
                    .bind(note)
                    .bind(received_ms)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            self.frontier = Some(plan.frontier);
            Ok(outcomes)
        })
    }
}

fn job_bytes(job: &Job) -> usize {
    job.events.iter().map(|e| e.event.encoded_len()).sum()
}

/// Assigns sequence numbers and computes hashes for a group of requests.
/// A request that reuses a stored id with other content fails alone and
/// contributes nothing (all or nothing per request).
fn plan(
    jobs: &[Job],
    known: &mut HashMap<String, AppendedEvent>,
    size: u64,
    chain: Hash,
    frontier: CompactRange,
    received_ms: i64,
    (ledger, seal): (&str, Option<&Dek>),
) -> Result<(Plan, Vec<Result<Appended, StoreError>>), StoreError> {
    let mut plan = Plan { rows: Vec::new(), nodes: Vec::new(), new_size: size, new_chain: chain, frontier };
    let mut outcomes = Vec::with_capacity(jobs.len());
    'requests: for job in jobs {
        let request = &job.events;
        // First pass: conflicts, without touching the plan.
        let mut leaves = Vec::with_capacity(request.len());
        let mut pending: HashMap<&str, Hash> = HashMap::new();
        for new in request.iter() {
            let leaf = new.event.leaf_hash();
            let id = new.event.id().as_str();
            let stored = known.get(id).map(|k| k.leaf_hash).or_else(|| pending.get(id).copied());
            if let Some(stored) = stored {
                if !stored.ct_eq(&leaf) {
                    outcomes.push(Err(StoreError::Conflict(format!(
                        "event id {id:?} is already used by an event with other content"
                    ))));
                    continue 'requests;
                }
            } else {
                pending.insert(id, leaf);
            }
            leaves.push(leaf);
        }
        // Second pass: append what is new, answer retries with the record.
        let mut answered = Vec::with_capacity(request.len());
        for (new, leaf) in request.iter().zip(leaves) {
            let id = new.event.id().as_str();
            if let Some(record) = known.get(id) {
                answered.push(record.clone());
                continue;
            }
            let seq = plan.new_size;
            let chain = chain_hash(&plan.new_chain, &leaf);
            plan.frontier.push_with(leaf, |node, hash| {
                if is_stored_level(node.level) {
                    plan.nodes.push((node.level, node.index, *hash));
                }
            });
            let event = &new.event;
            // The normalised event (the same JSON as `Event::to_input`, without
            // cloning it first).
            let content = serde_json::to_vec(event).map_err(|_| StoreError::Corrupt("event does not serialise"))?;
            // Only the sealed record reaches the database.
            let content = match seal {
                Some(dek) => dek.seal(ledger, seq, &content)?,
                None => content,
            };
            plan.rows.push(Row {
                seq,
                event_id: id.to_owned(),
                occurred_ms: event.occurred_at().unix_millis(),
                received_ms,
                content,
                leaf,
                chain,
            });
            let record = AppendedEvent { id: event.id().clone(), seq, leaf_hash: leaf, chain_hash: chain };
            known.insert(id.to_owned(), record.clone());
            answered.push(record);
            plan.new_size += 1;
            plan.new_chain = chain;
        }
        outcomes.push(Ok(Appended { tree_size: plan.new_size, events: answered }));
    }
    // Every successful request is included in the final tree of the commit.
    for outcome in outcomes.iter_mut().flatten() {
        outcome.tree_size = plan.new_size;
    }
    Ok((plan, outcomes))
}
