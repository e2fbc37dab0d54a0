//! AuditStore's verifiable formats.
//!
//! This crate is the public contract of section 3 of the design (and of `docs/FORMAT.md`):
//! the event model and its validation, RFC 8785 canonical JSON, the event hashes
//! (`metadata_hash`, `entry`, `leaf_hash`), the per-ledger hash chain, the RFC 9162 Merkle
//! tree with inclusion, consistency and range proofs, and C2SP signed checkpoints.
//!
//! It is pure on purpose: no I/O, no async, no clock and no randomness. Time, keys, fallback
//! ids and stored tree nodes come from the caller, so the same code runs in the server, in the
//! store and in the browser (it builds for `wasm32-unknown-unknown`).

#![forbid(unsafe_code)]
// Tests may unwrap: a panic is how they fail.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod chain;
pub mod checkpoint;
pub mod error;
pub mod event;
pub mod evidence;
pub mod export;
pub mod hash;
pub mod ids;
pub mod jcs;
pub mod merkle;
pub mod note;
pub mod numbers;

pub use chain::{chain_hash, genesis, verify_chain_segment, ChainLink};
pub use checkpoint::{ledger_origin, origin_names_ledger, Checkpoint};
pub use error::{ValidationError, VerifyError};
pub use event::{
    Action, Actor, Event, EventInput, Metadata, OccurredAt, PartyInput, Resource, MAX_EVENT_BYTES, MAX_METADATA_DEPTH,
};
pub use evidence::{Evidence, VerifiedEvidence};
pub use hash::Hash;
pub use ids::{EventId, LedgerId, Seq, TreeSize};
pub use merkle::{CompactRange, MemoryTree, NodeId, NodeSource, ProofError, UniformTree};
pub use note::{KeyName, SignedNote, VerifierKey};
