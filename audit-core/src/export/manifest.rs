//! The manifest of an export file (docs/FORMAT.md §13): what the file covers and the digest of
//! every other member.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::VerifyError;
use crate::hash::Hash;

/// The `format` of every version-1 export manifest.
pub const EXPORT_FORMAT_V1: &str = "auditstore-export/v1";

/// The member names of a version-1 export, besides the manifest itself.
pub mod members {
    /// The manifest.
    pub const MANIFEST: &str = "manifest.json";
    /// The signed checkpoint (docs/FORMAT.md §10) the proofs lead to.
    pub const CHECKPOINT: &str = "checkpoint.txt";
    /// The verifier key of the checkpoint, as the server published it (self-asserted).
    pub const VERIFIER_KEY: &str = "checkpoint.vkey";
    /// The proof material: a range proof for a contiguous export, or nothing here and one
    /// inclusion proof per event in [`INCLUSION`] for a filtered one.
    pub const PROOF: &str = "proof.json";
    /// One inclusion proof per event of a filtered export, in the events' order.
    pub const INCLUSION: &str = "inclusion.jsonl";
    /// The events in JSON Lines.
    pub const EVENTS_JSONL: &str = "events.jsonl";
    /// The events in CSV.
    pub const EVENTS_CSV: &str = "events.csv";
    /// The events in Parquet.
    pub const EVENTS_PARQUET: &str = "events.parquet";
}

/// The events' format inside the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventsFormat {
    /// JSON Lines: one row a line.
    Jsonl,
    /// CSV (RFC 4180) under a header line, formula cells neutralised ([`super::csv_rows`]).
    Csv,
    /// Parquet, one typed column per CSV column (`parquet_rows`, feature `parquet`).
    Parquet,
}

impl EventsFormat {
    /// The member that holds the events in this format.
    pub fn member(self) -> &'static str {
        match self {
            EventsFormat::Jsonl => members::EVENTS_JSONL,
            EventsFormat::Csv => members::EVENTS_CSV,
            EventsFormat::Parquet => members::EVENTS_PARQUET,
        }
    }

    /// The format's name, as the manifest and the API spell it.
    pub fn name(self) -> &'static str {
        match self {
            EventsFormat::Jsonl => "jsonl",
            EventsFormat::Csv => "csv",
            EventsFormat::Parquet => "parquet",
        }
    }
}

/// The seqs `[start, end)` an export covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeqRange {
    /// The first seq covered.
    pub start: u64,
    /// One past the last seq covered.
    pub end: u64,
}

/// How many rows the events member holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Rows in all, tombstones included.
    pub events: u64,
    /// Rows whose content retention removed.
    pub tombstones: u64,
}

/// The SHA-256 and length of one member, over its uncompressed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberDigest {
    /// Hex SHA-256 of the member's bytes.
    pub sha256: Hash,
    /// The member's length in bytes.
    pub bytes: u64,
}

/// `manifest.json` (docs/FORMAT.md §13).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`EXPORT_FORMAT_V1`].
    pub format: String,
    /// The export's id.
    pub export_id: String,
    /// The ledger's id.
    pub ledger: String,
    /// The checkpoint origin, `<host>/ledgers/<ledger>`.
    pub origin: String,
    /// When the export was written (RFC 3339, UTC).
    pub created_at: String,
    /// The events' format.
    pub events_format: EventsFormat,
    /// The seqs covered.
    pub range: SeqRange,
    /// The explorer filter the export applied, as given; `null` for a contiguous export.
    pub filter: Option<serde_json::Map<String, serde_json::Value>>,
    /// The size of the signed tree the proofs lead to.
    pub tree_size: u64,
    /// The rows in the events member.
    pub counts: Counts,
    /// Every other member by name.
    pub members: BTreeMap<String, MemberDigest>,
}

impl Manifest {
    /// Checks an archive's member names (docs/FORMAT.md §13, step 1): each once, exactly the
    /// manifest and the members it lists, and exactly those an export of its kind has (its
    /// rows, the checkpoint and key, and `proof.json` or, when filtered, `inclusion.jsonl`).
    pub fn check_member_names(&self, names: &[String]) -> Result<(), VerifyError> {
        let malformed = VerifyError::MalformedExport;
        let unique: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        if unique.len() != names.len() {
            return Err(malformed("the archive holds a member name twice".into()));
        }
        let listed: BTreeSet<&str> =
            self.members.keys().map(String::as_str).chain(std::iter::once(members::MANIFEST)).collect();
        if unique != listed {
            let extra: Vec<&&str> = unique.difference(&listed).collect();
            let missing: Vec<&&str> = listed.difference(&unique).collect();
            return Err(malformed(format!(
                "the archive's members differ from the manifest's: extra {extra:?}, missing {missing:?}"
            )));
        }
        let proofs = if self.filter.is_some() { members::INCLUSION } else { members::PROOF };
        let kind: BTreeSet<&str> =
            [self.events_format.member(), members::CHECKPOINT, members::VERIFIER_KEY, proofs, members::MANIFEST].into();
        if listed != kind {
            return Err(malformed(format!(
                "the manifest lists the members {listed:?}; an export of its kind has {kind:?}"
            )));
        }
        Ok(())
    }

    /// Checks a member's SHA-256 and length against the manifest's.
    pub fn check_digest(&self, name: &str, got: &MemberDigest) -> Result<(), VerifyError> {
        match self.members.get(name) {
            Some(want) if want == got => Ok(()),
            Some(want) => Err(VerifyError::MalformedExport(format!(
                "the member {name} has SHA-256 {} ({} bytes), the manifest says {} ({} bytes)",
                got.sha256, got.bytes, want.sha256, want.bytes
            ))),
            None => Err(VerifyError::MalformedExport(format!("the manifest lists no digest for {name}"))),
        }
    }
}
