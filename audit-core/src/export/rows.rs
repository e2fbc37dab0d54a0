//! The rows of an export and the proof members (docs/FORMAT.md §13).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::VerifyError;
use crate::event::Event;
use crate::hash::Hash;

/// One event of an export: its place in the ledger and its content, absent for a tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    /// The event's seq.
    pub seq: u64,
    /// The stored leaf hash.
    pub leaf_hash: Hash,
    /// The stored chain hash.
    pub chain_hash: Hash,
    /// The normalised event; `None` once retention removed it (a tombstone).
    pub event: Option<Event>,
}

/// What the verifier checks of a row: its seq, its stored hashes, and the leaf hash its
/// content hashes to, recomputed by the reader that made this value (none for a tombstone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowHashes {
    seq: u64,
    leaf_hash: Hash,
    chain_hash: Hash,
    content_leaf: Option<Hash>,
}

impl RowHashes {
    pub(crate) fn new(seq: u64, leaf_hash: Hash, chain_hash: Hash, content_leaf: Option<Hash>) -> Self {
        Self { seq, leaf_hash, chain_hash, content_leaf }
    }
    /// The row's seq.
    pub fn seq(&self) -> u64 {
        self.seq
    }
    /// The stored leaf hash.
    pub fn leaf_hash(&self) -> Hash {
        self.leaf_hash
    }
    /// The stored chain hash.
    pub fn chain_hash(&self) -> Hash {
        self.chain_hash
    }
    /// The leaf hash of the row's content, `None` for a tombstone.
    pub fn content_leaf(&self) -> Option<Hash> {
        self.content_leaf
    }
}

/// A row as one JSON Lines line: `{"seq", "leaf_hash", "chain_hash", "event"}`, or with
/// `"tombstone": true` in place of `event`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonlRow {
    seq: u64,
    leaf_hash: Hash,
    chain_hash: Hash,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event: Option<Event>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    tombstone: bool,
}

fn malformed(why: impl Into<String>) -> VerifyError {
    VerifyError::MalformedExport(why.into())
}

/// A row as it is written: the event with its metadata in canonical form.
#[derive(Serialize)]
struct JsonlRowOut<'a> {
    seq: u64,
    leaf_hash: Hash,
    chain_hash: Hash,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<CanonicalEvent<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tombstone: bool,
}

/// An event's members in the order [`Event`] serialises them, `metadata` as `JCS(metadata)`.
#[derive(Serialize)]
struct CanonicalEvent<'a> {
    id: &'a crate::EventId,
    actor: &'a crate::Actor,
    action: &'a crate::Action,
    resource: &'a crate::Resource,
    occurred_at: &'a crate::OccurredAt,
    metadata: Box<RawValue>,
}

impl ExportRow {
    /// The row as one JSON Lines line, without its newline; `metadata` is written as
    /// `JCS(metadata)` (docs/FORMAT.md §13), so that readers can hash it as it stands.
    pub fn to_jsonl(&self) -> Result<String, VerifyError> {
        let encode = |e: &dyn std::fmt::Display| malformed(format!("seq {}: the row does not encode: {e}", self.seq));
        let event = match &self.event {
            None => None,
            Some(event) => {
                let metadata = event.metadata().canonical_json().map_err(|e| encode(&e))?;
                let metadata = String::from_utf8(metadata).map_err(|e| encode(&e))?;
                Some(CanonicalEvent {
                    id: event.id(),
                    actor: event.actor(),
                    action: event.action(),
                    resource: event.resource(),
                    occurred_at: event.occurred_at(),
                    metadata: RawValue::from_string(metadata).map_err(|e| encode(&e))?,
                })
            }
        };
        let row = JsonlRowOut {
            seq: self.seq,
            leaf_hash: self.leaf_hash,
            chain_hash: self.chain_hash,
            tombstone: event.is_none(),
            event,
        };
        serde_json::to_string(&row).map_err(|e| encode(&e))
    }

    /// The row's hashes, with the leaf hash of its content recomputed.
    pub fn hashes(&self) -> RowHashes {
        RowHashes::new(self.seq, self.leaf_hash, self.chain_hash, self.event.as_ref().map(Event::leaf_hash))
    }

    /// Parses one JSON Lines line: exactly one of `event` and `"tombstone": true`.
    pub fn from_jsonl(line: &str) -> Result<Self, VerifyError> {
        let row: JsonlRow = serde_json::from_str(line).map_err(|e| malformed(format!("a row does not parse: {e}")))?;
        match (&row.event, row.tombstone) {
            (Some(_), false) | (None, true) => {}
            _ => return Err(malformed(format!("seq {}: a row has either an event or \"tombstone\": true", row.seq))),
        }
        Ok(Self { seq: row.seq, leaf_hash: row.leaf_hash, chain_hash: row.chain_hash, event: row.event })
    }
}

/// `proof.json` of a contiguous export: the range proof of `[start, end)` in the checkpoint's
/// tree (docs/FORMAT.md §9) and the chain hash before the range, from which the chain is
/// re-walked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeProofMember {
    /// `"range"`.
    pub kind: String,
    /// The first seq covered.
    pub start: u64,
    /// One past the last seq covered.
    pub end: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// `chain_hash[start - 1]`, the genesis hash when `start` is 0.
    pub chain_hash_before: Hash,
    /// The range proof's hashes, in walk order.
    pub hashes: Vec<Hash>,
}

/// One line of `inclusion.jsonl` (a filtered export): the inclusion proof of the event at
/// `seq` in the checkpoint's tree (RFC 9162 §2.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionLine {
    /// The event's seq.
    pub seq: u64,
    /// The proof's hashes, leaf to root.
    pub hashes: Vec<Hash>,
}
