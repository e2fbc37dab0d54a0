//! The client: sending (`record` through the background queue, `append`
//! now), reading, and verified reads (docs/SDK.md §2, §5, §6).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use audit_core::{Hash, VerifierKey};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::config::{Config, Report, WhenFull};
use crate::sender::{self, Command, FlushReport, Stats};
use crate::transport::Transport;
use crate::verify::{self, VerifiedCheckpoint};
use crate::Error;

/// An AuditStore client; cheap to clone (clones share the queue).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    ledger: Option<String>,
    verifier: Option<VerifierKey>,
    queue: mpsc::Sender<Command>,
    when_full: WhenFull,
    on_drop: Option<Report>,
    batch_bytes: usize,
    stats: Arc<Stats>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("ledger", &self.inner.ledger).finish_non_exhaustive()
    }
}

/// Where an appended event landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendedEvent {
    pub id: String,
    pub seq: u64,
    pub leaf_hash: Hash,
    pub chain_hash: Hash,
}

/// The answer to an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// A tree size that includes every event of the batch.
    pub tree_size: u64,
    pub events: Vec<AppendedEvent>,
}

/// A stored event: the normalised event as the API answers it, with its
/// place in the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The whole answer (`id`, `actor`, `action`, `resource`,
    /// `occurred_at`, `metadata`, `seq`, `leaf_hash`, `chain_hash`, …).
    pub json: Value,
    pub id: String,
    pub seq: u64,
    pub leaf_hash: Hash,
    pub chain_hash: Hash,
    /// Archived by retention: only the hashes remain.
    pub tombstoned: bool,
}

/// The filters of a listing; empty ones are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub actor_type: Option<String>,
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// RFC 3339, included.
    pub from: Option<String>,
    /// RFC 3339, excluded.
    pub to: Option<String>,
    pub limit: Option<u32>,
}

/// A page of events, newest first, and the cursor of the next.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    pub next_cursor: Option<String>,
}

/// Every page of a listing, one at a time.
#[derive(Debug)]
pub struct Pages {
    client: Client,
    ledger: String,
    filter: EventFilter,
    cursor: Option<String>,
    done: bool,
}

impl Pages {
    /// The next page, or `None` once the last was returned.
    pub async fn next_page(&mut self) -> Result<Option<Vec<StoredEvent>>, Error> {
        if self.done {
            return Ok(None);
        }
        let page = self.client.list_page(&self.ledger, &self.filter, self.cursor.as_deref()).await?;
        self.cursor = page.next_cursor;
        self.done = self.cursor.is_none();
        Ok(Some(page.events))
    }
}

fn hash(value: &Value, what: &str) -> Result<Hash, Error> {
    value.as_str().and_then(|h| Hash::from_hex(h).ok()).ok_or_else(|| Error::Protocol(format!("{what} is not a hash")))
}

fn number(value: &Value, what: &str) -> Result<u64, Error> {
    value.as_u64().ok_or_else(|| Error::Protocol(format!("{what} is not a number")))
}

fn stored(json: Value) -> Result<StoredEvent, Error> {
    Ok(StoredEvent {
        id: json["id"].as_str().ok_or_else(|| Error::Protocol("an event without id".into()))?.to_owned(),
        seq: number(&json["seq"], "seq")?,
        leaf_hash: hash(&json["leaf_hash"], "leaf_hash")?,
        chain_hash: hash(&json["chain_hash"], "chain_hash")?,
        tombstoned: json["tombstoned"].as_bool().unwrap_or(false),
        json,
    })
}

fn hashes(value: &Value) -> Result<Vec<Hash>, Error> {
    value
        .as_array()
        .ok_or_else(|| Error::Protocol("a proof is a list".into()))?
        .iter()
        .map(|h| hash(h, "a proof hash"))
        .collect()
}

/// A path segment or query value, percent-encoded (RFC 3986 unreserved
/// characters kept).
pub(crate) fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The current time as AuditStore writes it (RFC 3339, milliseconds, UTC).
fn now() -> String {
    let ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    audit_core::OccurredAt::from_unix_millis(i64::try_from(ms).unwrap_or(0)).map(String::from).unwrap_or_default()
}

impl Client {
    /// A client, with its background sender started on the current Tokio
    /// runtime (call it from inside one).
    pub fn new(config: Config) -> Result<Self, Error> {
        config.check()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Config("a Client is made inside a Tokio runtime (its sender is a task)".into()));
        }
        let transport = Transport::new(&config)?;
        let stats = Arc::new(Stats::default());
        let queue = sender::spawn(transport.clone(), &config, stats.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                transport,
                ledger: config.ledger.clone(),
                verifier: config.verifier_key.clone(),
                queue,
                when_full: config.when_full,
                on_drop: config.on_drop.clone(),
                batch_bytes: config.batch_bytes,
                stats,
                closed: AtomicBool::new(false),
            }),
        })
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// The pinned verifier key.
    pub(crate) fn verifier(&self) -> Result<&VerifierKey, Error> {
        self.inner
            .verifier
            .as_ref()
            .ok_or_else(|| Error::Config("no verifier key is pinned (Config::verifier_key)".into()))
    }

    /// The event with a client-side UUIDv7 `id` and `occurred_at` when it
    /// has none, and its size.
    fn prepare(&self, mut event: Value) -> Result<(Value, usize), Error> {
        let object = event.as_object_mut().ok_or_else(|| Error::Config("an event is a JSON object".into()))?;
        object.entry("id").or_insert_with(|| Value::String(uuid::Uuid::now_v7().to_string()));
        object.entry("occurred_at").or_insert_with(|| Value::String(now()));
        let bytes = serde_json::to_vec(&event).map_err(|e| Error::Config(e.to_string()))?.len();
        if bytes + 13 > self.inner.batch_bytes {
            return Err(Error::Config(format!("the event is {bytes} bytes, more than a batch may carry")));
        }
        Ok((event, bytes))
    }

    fn ledger_or_default(&self, ledger: Option<&str>) -> Result<String, Error> {
        ledger
            .map(str::to_owned)
            .or_else(|| self.inner.ledger.clone())
            .ok_or_else(|| Error::Config("no ledger given (Config::ledger)".into()))
    }

    /// Queues an event for the configured ledger and returns at once; the
    /// background sender delivers it. When the queue is full: `Drop`
    /// reports it to `on_drop`, `Block` answers `QueueFull` (use
    /// [`Client::record_wait`] to wait for room).
    pub fn record(&self, event: Value) -> Result<(), Error> {
        self.record_to(None, event)
    }

    /// [`Client::record`] for another ledger.
    pub fn record_to(&self, ledger: Option<&str>, event: Value) -> Result<(), Error> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        let ledger = self.ledger_or_default(ledger)?;
        let (event, bytes) = self.prepare(event)?;
        match self.inner.queue.try_send(Command::Event { ledger, event, bytes }) {
            Ok(()) => {
                self.inner.stats.recorded.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(Command::Event { event, .. })) => self.full(event),
            Err(mpsc::error::TrySendError::Full(_)) => Err(Error::QueueFull),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Error::Closed),
        }
    }

    fn full(&self, event: Value) -> Result<(), Error> {
        match self.inner.when_full {
            WhenFull::Drop => {
                self.inner.stats.dropped.fetch_add(1, Ordering::SeqCst);
                let events = [event];
                match &self.inner.on_drop {
                    Some(report) => report(&Error::QueueFull, &events),
                    None => tracing::warn!("the AuditStore queue is full: an event was dropped"),
                }
                Ok(())
            }
            WhenFull::Block(_) => Err(Error::QueueFull),
        }
    }

    /// Queues an event, waiting for room as `WhenFull::Block` allows.
    pub async fn record_wait(&self, event: Value) -> Result<(), Error> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        let ledger = self.ledger_or_default(None)?;
        let (event, bytes) = self.prepare(event)?;
        let WhenFull::Block(wait) = self.inner.when_full else {
            return self.record(event);
        };
        match self.inner.queue.send_timeout(Command::Event { ledger, event, bytes }, wait).await {
            Ok(()) => {
                self.inner.stats.recorded.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => Err(Error::QueueFull),
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(Error::Closed),
        }
    }

    /// Waits (at most `timeout`) until every event recorded before the call
    /// is acknowledged or given up; the report says how many are left.
    pub async fn flush(&self, timeout: Duration) -> Result<FlushReport, Error> {
        self.control(Command::Flush, timeout).await
    }

    /// Stops `record`, flushes, and stops the sender.
    pub async fn close(&self, timeout: Duration) -> Result<FlushReport, Error> {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.control(Command::Close, timeout).await
    }

    async fn control(&self, make: fn(oneshot::Sender<()>) -> Command, timeout: Duration) -> Result<FlushReport, Error> {
        let (done, wait) = oneshot::channel();
        let sent = tokio::time::timeout(timeout, async {
            if self.inner.queue.send(make(done)).await.is_ok() {
                let _ = wait.await;
            }
        })
        .await;
        let _ = sent;
        Ok(self.inner.stats.report())
    }

    /// What became of the events recorded so far.
    pub fn report(&self) -> FlushReport {
        self.inner.stats.report()
    }

    /// Appends `events` now (ids assigned to those without), with the
    /// retries of docs/SDK.md §3, and answers where each landed.
    pub async fn append(&self, ledger: Option<&str>, events: Vec<Value>) -> Result<Appended, Error> {
        let ledger = self.ledger_or_default(ledger)?;
        let events: Vec<Value> =
            events.into_iter().map(|e| self.prepare(e).map(|(e, _)| e)).collect::<Result<_, _>>()?;
        let body = json!({"events": events});
        let answer = self
            .inner
            .transport
            .json(Method::POST, &format!("/ledgers/{}/events", url_escape(&ledger)), Some(&body))
            .await?;
        let landed =
            answer["events"].as_array().ok_or_else(|| Error::Protocol("an append answers its events".into()))?;
        Ok(Appended {
            tree_size: number(&answer["tree_size"], "tree_size")?,
            events: landed
                .iter()
                .map(|e| {
                    Ok(AppendedEvent {
                        id: e["id"].as_str().unwrap_or_default().to_owned(),
                        seq: number(&e["seq"], "seq")?,
                        leaf_hash: hash(&e["leaf_hash"], "leaf_hash")?,
                        chain_hash: hash(&e["chain_hash"], "chain_hash")?,
                    })
                })
                .collect::<Result<_, Error>>()?,
        })
    }

    /// One event by id.
    pub async fn get_event(&self, ledger: &str, id: &str) -> Result<StoredEvent, Error> {
        let path = format!("/ledgers/{}/events/{}", url_escape(ledger), url_escape(id));
        stored(self.inner.transport.json(Method::GET, &path, None).await?)
    }

    /// One event by id, proven included in the latest signed checkpoint:
    /// its leaf hash computed here from its content, the proof checked
    /// against the checkpoint's root, the checkpoint's signature against
    /// the pinned key.
    pub async fn get_verified_event(&self, ledger: &str, id: &str) -> Result<(StoredEvent, VerifiedCheckpoint), Error> {
        let event = self.get_event(ledger, id).await?;
        if event.tombstoned {
            return Err(Error::Verification(format!("event {id} is a tombstone: its content is archived")));
        }
        let local = verify::leaf_hash(&event.json)?;
        if !local.ct_eq(&event.leaf_hash) {
            return Err(Error::Verification(format!(
                "event {id}'s content does not hash to the leaf hash it came with"
            )));
        }
        let checkpoint = self.checkpoint(ledger, None).await?;
        let proof = self.inclusion_proof(ledger, event.seq, Some(checkpoint.tree_size)).await?;
        verify::verify_inclusion(&event.json, event.seq, &proof, &checkpoint)?;
        Ok((event, checkpoint))
    }

    async fn list_page(&self, ledger: &str, filter: &EventFilter, cursor: Option<&str>) -> Result<EventPage, Error> {
        let mut query: Vec<String> = [
            ("actor_type", &filter.actor_type),
            ("actor_id", &filter.actor_id),
            ("action", &filter.action),
            ("resource_type", &filter.resource_type),
            ("resource_id", &filter.resource_id),
            ("from", &filter.from),
            ("to", &filter.to),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", url_escape(v))))
        .collect();
        if let Some(limit) = filter.limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(cursor) = cursor {
            query.push(format!("cursor={}", url_escape(cursor)));
        }
        let path = format!("/ledgers/{}/events?{}", url_escape(ledger), query.join("&"));
        let page = self.inner.transport.json(Method::GET, &path, None).await?;
        let events = page["events"].as_array().ok_or_else(|| Error::Protocol("a page holds events".into()))?;
        Ok(EventPage {
            events: events.iter().cloned().map(stored).collect::<Result<_, _>>()?,
            next_cursor: page["next_cursor"].as_str().map(str::to_owned),
        })
    }

    /// One page of events, newest first.
    pub async fn list_events(&self, ledger: &str, filter: &EventFilter) -> Result<EventPage, Error> {
        self.list_page(ledger, filter, None).await
    }

    /// Every page of a listing, following its cursor.
    pub fn pages(&self, ledger: &str, filter: EventFilter) -> Pages {
        Pages { client: self.clone(), ledger: ledger.to_owned(), filter, cursor: None, done: false }
    }

    /// The signed checkpoint note, as the server answers it (unverified).
    pub async fn checkpoint_note(&self, ledger: &str, tree_size: Option<u64>) -> Result<String, Error> {
        let size = tree_size.map(|n| format!("?tree_size={n}")).unwrap_or_default();
        self.inner.transport.text(&format!("/ledgers/{}/checkpoint{size}", url_escape(ledger))).await
    }

    /// The checkpoint, its signature verified against the pinned key and
    /// its origin checked to name the ledger.
    pub async fn checkpoint(&self, ledger: &str, tree_size: Option<u64>) -> Result<VerifiedCheckpoint, Error> {
        let note = self.checkpoint_note(ledger, tree_size).await?;
        let checkpoint = verify::verify_checkpoint(&note, self.verifier()?)?;
        if !audit_core::origin_names_ledger(&checkpoint.origin, ledger) {
            return Err(Error::Verification(format!(
                "the checkpoint is of {}, not of ledger {ledger}",
                checkpoint.origin
            )));
        }
        if tree_size.is_some_and(|n| n != checkpoint.tree_size) {
            return Err(Error::Verification("the checkpoint is of another tree size than asked".into()));
        }
        Ok(checkpoint)
    }

    /// The RFC 9162 inclusion proof of leaf `seq` (default: in the current tree).
    pub async fn inclusion_proof(&self, ledger: &str, seq: u64, tree_size: Option<u64>) -> Result<Vec<Hash>, Error> {
        let size = tree_size.map(|n| format!("&tree_size={n}")).unwrap_or_default();
        let path = format!("/ledgers/{}/proofs/inclusion?seq={seq}{size}", url_escape(ledger));
        hashes(&self.inner.transport.json(Method::GET, &path, None).await?["proof"])
    }

    /// The RFC 9162 consistency proof from size `from` to `to` (default: the current size).
    pub async fn consistency_proof(&self, ledger: &str, from: u64, to: Option<u64>) -> Result<Vec<Hash>, Error> {
        let to = to.map(|n| format!("&to={n}")).unwrap_or_default();
        let path = format!("/ledgers/{}/proofs/consistency?from={from}{to}", url_escape(ledger));
        hashes(&self.inner.transport.json(Method::GET, &path, None).await?["proof"])
    }

    /// The tamper monitor's verdict on the ledger (`status`, `verified_size`, anomalies…).
    pub async fn integrity(&self, ledger: &str) -> Result<Value, Error> {
        self.inner.transport.json(Method::GET, &format!("/ledgers/{}/integrity", url_escape(ledger)), None).await
    }

    /// The event's evidence file (FORMAT.md §12), for [`crate::verify_evidence`].
    pub async fn evidence(&self, ledger: &str, id: &str) -> Result<String, Error> {
        self.inner.transport.text(&format!("/ledgers/{}/events/{}/evidence", url_escape(ledger), url_escape(id))).await
    }
}
