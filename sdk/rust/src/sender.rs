//! The background sender (docs/SDK.md §2): events from the bounded queue,
//! in order, batched per ledger (at most `batch_size` events and
//! `batch_bytes` bytes a request), sent when a batch is full or
//! `flush_interval` after its first event, one request at a time. A flush
//! travels through the same queue, so it answers once every event recorded
//! before it is acknowledged or given up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::config::{Config, Report};
use crate::transport::Transport;

/// `{"events":[` and `]}`.
const ENVELOPE_BYTES: usize = 13;

pub(crate) enum Command {
    Event { ledger: String, event: Value, bytes: usize },
    Flush(oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
}

/// What became of the events recorded so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlushReport {
    /// Acknowledged by the server (durably committed).
    pub delivered: u64,
    /// Given up (a 4xx, or retries spent) and reported to `on_error`.
    pub failed: u64,
    /// Dropped because the queue was full, reported to `on_drop`.
    pub dropped: u64,
    /// Still queued or in flight (a flush that timed out).
    pub pending: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) recorded: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

impl Stats {
    pub(crate) fn report(&self) -> FlushReport {
        let recorded = self.recorded.load(Ordering::SeqCst);
        let delivered = self.delivered.load(Ordering::SeqCst);
        let failed = self.failed.load(Ordering::SeqCst);
        FlushReport {
            delivered,
            failed,
            dropped: self.dropped.load(Ordering::SeqCst),
            pending: recorded.saturating_sub(delivered + failed),
        }
    }
}

struct Batch {
    ledger: String,
    events: Vec<Value>,
    bytes: usize,
    since: Instant,
}

struct Worker {
    transport: Transport,
    stats: Arc<Stats>,
    on_error: Option<Report>,
    batch_size: usize,
    batch_bytes: usize,
    flush_interval: Duration,
    batches: Vec<Batch>,
}

/// Starts the worker on the current Tokio runtime.
pub(crate) fn spawn(transport: Transport, config: &Config, stats: Arc<Stats>) -> mpsc::Sender<Command> {
    let (tx, rx) = mpsc::channel(config.queue_size);
    let worker = Worker {
        transport,
        stats,
        on_error: config.on_error.clone(),
        batch_size: config.batch_size,
        batch_bytes: config.batch_bytes,
        flush_interval: config.flush_interval,
        batches: Vec::new(),
    };
    tokio::spawn(worker.run(rx));
    tx
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            let due = self.batches.iter().map(|b| b.since + self.flush_interval).min();
            let command = tokio::select! {
                command = rx.recv() => command,
                () = sleep_until(due) => {
                    self.send_due().await;
                    continue;
                }
            };
            match command {
                Some(Command::Event { ledger, event, bytes }) => self.add(ledger, event, bytes).await,
                Some(Command::Flush(done)) => {
                    self.send_all().await;
                    let _ = done.send(());
                }
                Some(Command::Close(done)) => {
                    // No command after this one: a `record` that passed the
                    // closed check just before it still sends its event
                    // into the channel, and that event is sent here too.
                    rx.close();
                    while let Some(command) = rx.recv().await {
                        match command {
                            Command::Event { ledger, event, bytes } => self.add(ledger, event, bytes).await,
                            Command::Flush(later) | Command::Close(later) => drop(later.send(())),
                        }
                    }
                    self.send_all().await;
                    let _ = done.send(());
                    return;
                }
                None => {
                    self.send_all().await;
                    return;
                }
            }
        }
    }

    async fn add(&mut self, ledger: String, event: Value, bytes: usize) {
        // A batch this event would overflow goes first.
        if let Some(i) = self.batches.iter().position(|b| b.ledger == ledger) {
            if self.batches[i].bytes + bytes + 1 > self.batch_bytes {
                let full = self.batches.remove(i);
                self.send(full).await;
            }
        }
        let i = match self.batches.iter().position(|b| b.ledger == ledger) {
            Some(i) => i,
            None => {
                self.batches.push(Batch { ledger, events: Vec::new(), bytes: ENVELOPE_BYTES, since: Instant::now() });
                self.batches.len() - 1
            }
        };
        let batch = &mut self.batches[i];
        batch.events.push(event);
        batch.bytes += bytes + 1;
        if batch.events.len() >= self.batch_size {
            let full = self.batches.remove(i);
            self.send(full).await;
        }
    }

    /// Sends the batches whose first event has waited `flush_interval`.
    async fn send_due(&mut self) {
        let now = Instant::now();
        while let Some(i) = self.batches.iter().position(|b| b.since + self.flush_interval <= now) {
            let batch = self.batches.remove(i);
            self.send(batch).await;
        }
    }

    async fn send_all(&mut self) {
        for batch in std::mem::take(&mut self.batches) {
            self.send(batch).await;
        }
    }

    /// One batch, with the transport's retries; a failure is reported and
    /// the worker goes on with the next batch.
    async fn send(&self, batch: Batch) {
        let count = u64::try_from(batch.events.len()).unwrap_or(u64::MAX);
        let path = format!("/ledgers/{}/events", batch.ledger);
        let body = json!({"events": batch.events});
        match self.transport.json(Method::POST, &path, Some(&body)).await {
            Ok(_) => {
                self.stats.delivered.fetch_add(count, Ordering::SeqCst);
            }
            Err(error) => {
                self.stats.failed.fetch_add(count, Ordering::SeqCst);
                let events = body["events"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                match &self.on_error {
                    Some(report) => report(&error, events),
                    None => {
                        tracing::warn!(%error, events = count, ledger = batch.ledger, "AuditStore events were given up")
                    }
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
