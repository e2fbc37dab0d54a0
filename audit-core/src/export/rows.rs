//! The rows of an export and the proof members (docs/FORMAT.md §13).

use serde::{Deserialize, Serialize};

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

/// A row as one JSON Lines line: `{"seq", "leaf_hash", "chain_hash", "event"}`, or with
/// `"tombstone": true` in place of `event`.
#[derive(Debug, Serialize, Deserialize)]
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

impl ExportRow {
    /// The row as one JSON Lines line, without its newline.
    pub fn to_jsonl(&self) -> Result<String, VerifyError> {
        let row = JsonlRow {
            seq: self.seq,
            leaf_hash: self.leaf_hash,
            chain_hash: self.chain_hash,
            event: self.event.clone(),
            tombstone: self.event.is_none(),
        };
        serde_json::to_string(&row).map_err(|e| malformed(format!("seq {}: the row does not encode: {e}", self.seq)))
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
