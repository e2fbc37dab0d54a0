//! The AuditStore client, following docs/SDK.md (the behaviour every
//! AuditStore SDK shares).
//!
//! - **Send**: [`Client::record`] queues an event without waiting for the
//!   network; a background task sends batches (up to 1,000 events / 4 MiB),
//!   every event carrying a client-side UUIDv7 `id` so retries are
//!   idempotent, retried with full-jitter backoff that honours
//!   `Retry-After`. [`Client::flush`] and [`Client::close`] deliver what is
//!   queued. [`Client::append`] sends one batch now and returns the
//!   server's seqs and hashes.
//! - **Read**: events, pages with their cursor, checkpoints, proofs,
//!   integrity.
//! - **Verify, trusting nothing of ours**: leaf hashes computed locally
//!   (RFC 8785 JCS and RFC 9162, by `audit-core`, the code the server and
//!   the browser run), checkpoint signatures checked against a pinned key,
//!   inclusion proofs, evidence files, and a [`CheckpointTracker`] that
//!   persists the last verified checkpoint and proves every newer one
//!   consistent with it, failing loudly on a fork or a rollback.
//! - **Middleware**: [`AuditLayer`], a tower layer for axum and any tower
//!   service, records one event per request.
//!
//! ```no_run
//! # async fn demo() -> Result<(), auditstore_client::Error> {
//! use auditstore_client::{Client, Config};
//! use serde_json::json;
//!
//! let client = Client::new(Config::new("https://audit.example.com", "auds_…").ledger("ldg_…"))?;
//! client.record(json!({
//!     "actor": {"type": "user", "id": "u_42"},
//!     "action": "invoice.updated",
//!     "resource": {"type": "invoice", "id": "inv_7"},
//! }))?;
//! client.close(std::time::Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod client;
mod config;
mod error;
mod exports;
mod layer;
mod reads;
mod sender;
mod tracker;
mod transport;
mod verify;

pub use client::{Appended, AppendedEvent, Client};
pub use config::{ApiKey, Config, WhenFull};
pub use error::{Error, ForkNotes, Problem};
pub use exports::verify_file_sha256;
pub use layer::{ActorFn, AuditHandle, AuditLayer, AuditService, ClientIpFn, RouteFn};
pub use reads::{EventFilter, EventPage, Pages, StoredEvent};
pub use sender::FlushReport;
pub use tracker::{CheckpointStore, CheckpointTracker, FileStore, MemoryStore, TrackedCheckpoint};
pub use verify::{
    leaf_hash, verify_checkpoint, verify_evidence, verify_inclusion, VerifiedCheckpoint, VerifiedEvidence,
};

/// Re-exported for verifier keys and hashes.
pub use audit_core::{Hash, VerifierKey};
