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

use audit_core::{CompactRange, Event, EventId, Hash, LedgerId, VerifierKey};
use tokio::sync::{mpsc, oneshot};

use super::handoff::{EventTerms, TermHandoff};
use super::signer::CheckpointSigner;
use crate::crypto::keyring::Keyring;
use crate::db::Db;
use crate::{AccountId, Ledger, LedgerKind, Store, StoreError};

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
/// An event to append, validated and normalised, with its leaf hash and
/// stored JSON computed when it is made: that happens in the request's own
/// task, on any core, while the ledger's writer plans a commit holding the
/// database's write lock (SQLite has one writer), so it must not encode and
/// hash each event there.
#[derive(Debug, Clone)]
pub struct NewEvent {
    event: Event,
    client_id: bool,
    leaf: Hash,
    content: Vec<u8>,
    /// Its filter-index terms, when the request's task could compute them
    /// (handed to the indexer after the commit; see `handoff.rs`).
    terms: Option<EventTerms>,
}

impl NewEvent {
    /// `client_id` says whether the client chose the id (only those can be
    /// retries).
    pub fn new(event: Event, client_id: bool) -> Result<Self, StoreError> {
        let leaf = event.leaf_hash();
        // The normalised event (the same JSON as `Event::to_input`, without
        // cloning it first).
        let content = serde_json::to_vec(&event).map_err(|_| StoreError::Corrupt("event does not serialise"))?;
        Ok(Self { event, client_id, leaf, content, terms: None })
    }

    pub fn event(&self) -> &Event {
        &self.event
    }

    /// Whether the client chose the id.
    pub fn client_id(&self) -> bool {
        self.client_id
    }

    /// The RFC 9162 §2.1.1 leaf hash of the event's entry.
    pub(crate) fn leaf(&self) -> Hash {
        self.leaf
    }

    /// The stored JSON of the event, before sealing.
    pub(crate) fn content(&self) -> &[u8] {
        &self.content
    }

    /// The filter-index terms computed for the event, if any.
    pub(crate) fn terms(&self) -> Option<EventTerms> {
        self.terms
    }
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

/// One append request waiting for its ledger's writer. A request with no
/// events asks a system ledger's writer to drain the account's outbox.
pub(super) struct Job {
    pub(super) events: Vec<NewEvent>,
    pub(super) reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// The writers of this process.
pub(crate) struct Sequencer {
    db: Db,
    signer: Arc<CheckpointSigner>,
    writers: Mutex<HashMap<LedgerId, mpsc::Sender<Job>>>,
    keys: Arc<Keyring>,
    /// Append requests queued and not yet taken by their writer: the
    /// indexer's signal that ingestion has work waiting.
    backlog: Arc<std::sync::atomic::AtomicIsize>,
    /// Append requests to applications' ledgers ever queued here (not the
    /// system ledgers'): background work sees from it whether users wrote
    /// while it ran, even when no request is waiting at that instant.
    user_appends: std::sync::atomic::AtomicU64,
    /// How long an idle writer lives, in milliseconds (tests shorten it).
    pub(crate) writer_idle_ms: std::sync::atomic::AtomicU64,
    /// Tests only: drains after a change are skipped, as if the process had
    /// died between the change's commit and the append of its event.
    #[cfg(feature = "testing")]
    pub(crate) outbox_paused: std::sync::atomic::AtomicBool,
    /// Tests only: an archival stops right after its file is written, as if
    /// the process had died before its transaction.
    #[cfg(feature = "testing")]
    pub(crate) archival_crashes: std::sync::atomic::AtomicBool,
    /// Woken after every commit: there is something to index.
    pub(crate) indexer: Arc<tokio::sync::Notify>,
    /// The terms of committed events, for the indexer.
    pub(crate) handoff: Arc<TermHandoff>,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer").field("signer", &self.signer).finish_non_exhaustive()
    }
}

impl Sequencer {
    pub(crate) fn new(db: Db, signer: CheckpointSigner, keys: Arc<Keyring>) -> Self {
        Self {
            db,
            signer: Arc::new(signer),
            writers: Mutex::new(HashMap::new()),
            keys,
            backlog: Arc::new(std::sync::atomic::AtomicIsize::new(0)),
            user_appends: std::sync::atomic::AtomicU64::new(0),
            writer_idle_ms: std::sync::atomic::AtomicU64::new(
                u64::try_from(WRITER_IDLE.as_millis()).unwrap_or(u64::MAX),
            ),
            #[cfg(feature = "testing")]
            outbox_paused: std::sync::atomic::AtomicBool::new(false),
            #[cfg(feature = "testing")]
            archival_crashes: std::sync::atomic::AtomicBool::new(false),
            indexer: Arc::new(tokio::sync::Notify::new()),
            handoff: Arc::default(),
        }
    }

    pub(crate) fn origin_host(&self) -> &str {
        self.signer.host()
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
            db: self.db.clone(),
            signer: self.signer.clone(),
            ledger: ledger.id.clone(),
            origin: ledger.origin.clone(),
            outbox_of: (ledger.kind == LedgerKind::System).then(|| ledger.account_id.clone()),
            frontier: None,
            indexed_at_least: 0,
            backlog: self.backlog.clone(),
            keys: self.keys.clone(),
            indexer: self.indexer.clone(),
            handoff: self.handoff.clone(),
        };
        tokio::spawn(writer.run(receiver, idle));
        writers.insert(ledger.id.clone(), sender.clone());
        sender
    }

    /// Append requests waiting for their writer to take them.
    pub(crate) fn backlog(&self) -> isize {
        self.backlog.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Append requests to applications' ledgers queued so far.
    pub(crate) fn user_appends(&self) -> u64 {
        self.user_appends.load(std::sync::atomic::Ordering::Relaxed)
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
        self.submit(ledger, events).await
    }

    /// Queues a request on the ledger's writer and waits for its commit. A
    /// request without events is a drain of a system ledger's outbox.
    pub(crate) async fn submit(&self, ledger: &Ledger, mut events: Vec<NewEvent>) -> Result<Appended, StoreError> {
        // The filter-index terms are computed here, in the request's own
        // task, while the writer commits other requests. Without the index
        // key (a KMS outage) the indexer reads the events back later.
        if !events.is_empty() {
            if let Ok(index) = self.keys.index_key(&ledger.id).await {
                for new in &mut events {
                    new.terms = Some(super::indexer::event_terms(new.event(), &index));
                }
            }
        }
        let (reply, answer) = oneshot::channel();
        let ingest = self.ingest.clone();
        if ledger.kind != LedgerKind::System {
            ingest.user_appends.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
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

/// The task that appends to one ledger: it takes queued requests in
/// groups and commits each group in one transaction (`commit.rs`).
pub(super) struct Writer {
    pub(super) db: Db,
    pub(super) signer: Arc<CheckpointSigner>,
    pub(super) ledger: LedgerId,
    pub(super) origin: String,
    /// For a system ledger, its account: every commit also appends what
    /// the account's outbox holds.
    pub(super) outbox_of: Option<AccountId>,
    /// The Merkle frontier after the last commit of this writer; reloaded
    /// when the head moved (another process) or after a failed commit.
    pub(super) frontier: Option<CompactRange>,
    /// How many of the ledger's events were in the filter index when this
    /// writer last looked (its progress only moves forward), so most
    /// commits need not ask again.
    pub(super) indexed_at_least: u64,
    backlog: Arc<std::sync::atomic::AtomicIsize>,
    pub(super) keys: Arc<Keyring>,
    indexer: Arc<tokio::sync::Notify>,
    pub(super) handoff: Arc<TermHandoff>,
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
                            // Tampering found on the way is named, never
                            // hidden behind a generic failure.
                            StoreError::Integrity(detail) => StoreError::Integrity(detail.clone()),
                            StoreError::Corrupt(detail) => StoreError::Corrupt(detail),
                            _ => StoreError::AppendFailed,
                        };
                        let _ = job.reply.send(Err(reply));
                    }
                }
            }
        }
    }
}

fn job_bytes(job: &Job) -> usize {
    job.events.iter().map(|e| e.content.len()).sum()
}
