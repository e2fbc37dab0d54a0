//! The tamper monitor: every ledger re-verified behind the application's
//! back, as an outside verifier would, from what the database holds.
//!
//! A pass walks a ledger from the position it last verified (or, on a full
//! sweep, from genesis) to its head: each row's sealed record opened and
//! its content compared with its columns, the hash chain re-walked
//! (DESIGN.md §3), every stored Merkle node recomputed from the leaves
//! (RFC 9162 §2.1.1), every checkpoint's signature verified (C2SP
//! signed-note) and its root compared with the recomputed tree, the head
//! row compared with the tree, and every tombstone checked against the
//! recorded archivals. What it finds is named by kind and exact seq range
//! ([`AnomalyKind`]), recorded once and kept ([`Anomaly`]).

mod anomalies;
mod content;
mod kinds;
mod progress;
mod reads;
mod report;
mod run;
mod stale;
mod state;
mod walk;

pub use anomalies::Anomaly;
pub use kinds::AnomalyKind;
pub use report::{IntegrityReport, IntegrityStatus};
pub use run::{MonitorPass, PassKind};
