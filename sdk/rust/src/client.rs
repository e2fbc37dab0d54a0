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

pub(crate) fn hash(value: &Value, what: &str) -> Result<Hash, Error> {
    value.as_str().and_then(|h| Hash::from_hex(h).ok()).ok_or_else(|| Error::Protocol(format!("{what} is not a hash")))
}

pub(crate) fn number(value: &Value, what: &str) -> Result<u64, Error> {
    value.as_u64().ok_or_else(|| Error::Protocol(format!("{what} is not a number")))
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
        self.enqueue(ledger, event, matches!(self.inner.when_full, WhenFull::Drop))
    }

    /// Queues an event if there is room, else drops it and reports it to
    /// `on_drop`, whatever `when_full` says: never waits and never answers
    /// `QueueFull` (the middleware's way, docs/SDK.md §8).
    pub fn record_nowait(&self, event: Value) -> Result<(), Error> {
        self.enqueue(None, event, true)
    }

    fn enqueue(&self, ledger: Option<&str>, event: Value, drop_when_full: bool) -> Result<(), Error> {
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
            Err(mpsc::error::TrySendError::Full(Command::Event { event, .. })) if drop_when_full => self.dropped(event),
            Err(mpsc::error::TrySendError::Full(_)) => Err(Error::QueueFull),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Error::Closed),
        }
    }

    fn dropped(&self, event: Value) -> Result<(), Error> {
        self.inner.stats.dropped.fetch_add(1, Ordering::SeqCst);
        let events = [event];
        match &self.inner.on_drop {
            Some(report) => report(&Error::QueueFull, &events),
            None => tracing::warn!("the AuditStore queue is full: an event was dropped"),
        }
        Ok(())
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
}
