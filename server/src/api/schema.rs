//! The JSON shapes of the /v1 API. Responses are built from these types and
//! the OpenAPI document is generated from them and from the handlers'
//! annotations, so the published description follows the code.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An actor or resource: `type`, `id` and an optional display `name`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Party {
    #[serde(rename = "type")]
    #[schema(example = "user")]
    pub kind: String,
    #[schema(example = "u_123")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "Jane Doe")]
    pub name: Option<String>,
}

/// One event as a client sends it. Unknown members are rejected; see
/// docs/FORMAT.md for the normalisation applied before hashing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventIn {
    /// Optional client id (1–128 of `[A-Za-z0-9._:-]`), also the idempotency key; else a UUIDv7.
    #[schema(example = "evt_0001")]
    pub id: Option<String>,
    pub actor: Party,
    #[schema(example = "invoice.updated")]
    pub action: String,
    pub resource: Party,
    /// Any RFC 3339 date-time; stored as UTC with milliseconds.
    #[schema(example = "2026-11-26T10:00:00.123Z")]
    pub occurred_at: String,
    /// Any JSON object (nesting at most 32 deep); absent means `{}`.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A batch: at most 1000 events and 4 MiB, stored all or nothing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchIn {
    pub events: Vec<EventIn>,
}

/// The body of an append: one event or a batch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AppendBody {
    One(Box<EventIn>),
    Batch(BatchIn),
}

/// Where an appended event landed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Appended {
    pub id: String,
    pub seq: u64,
    /// RFC 9162 leaf hash, lowercase hex.
    pub leaf_hash: String,
    /// Chain hash after this event, lowercase hex.
    pub chain_hash: String,
}

/// The answer to an append: every event and the tree size that includes them.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppendResponse {
    pub tree_size: u64,
    pub events: Vec<Appended>,
}

/// A stored event: the normalised event as ingested plus its place in the
/// ledger. A tombstoned event (retention) keeps only `id`, the hashes and
/// `tombstoned: true`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<Party>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<Party>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tombstoned: bool,
    /// A tombstone's archival: when its content was archived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<String>,
    /// A tombstone's archive file: the archival's id, where the file is and its SHA-256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveRef>,
    pub seq: u64,
    pub leaf_hash: String,
    pub chain_hash: String,
    pub received_at: Option<String>,
}

/// The archive file that holds a tombstone's content (docs/FORMAT.md §14).
#[derive(Debug, Serialize, ToSchema)]
pub struct ArchiveRef {
    /// The archival (`GET /v1/ledgers/{ledger}/archives`).
    pub id: String,
    /// `file:<ledger>/<archival>.zip` below the server's archive directory.
    pub location: String,
    pub sha256: String,
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<EventOut>,
    /// Pass as `cursor` for the next (older) page; null at the end. A
    /// filtered page can hold fewer than `limit` events (even none) and
    /// still carry a cursor: the server reads at most 2,048 not yet indexed
    /// events per request, and the cursor goes on from where it stopped.
    pub next_cursor: Option<String>,
}

/// RFC 9162 §2.1.3 inclusion proof (hashes leaf-side first, lowercase hex).
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub proof: Vec<String>,
}

/// RFC 9162 §2.1.4 consistency proof between tree sizes `from` and `to`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub proof: Vec<String>,
}

/// Range proof of leaves `[start, end)` (docs/FORMAT.md §9).
#[derive(Debug, Serialize, ToSchema)]
pub struct RangeProof {
    pub start: u64,
    pub end: u64,
    pub tree_size: u64,
    pub proof: Vec<String>,
}

/// A ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerOut {
    pub id: String,
    pub name: String,
    /// `user`, or `system` for the account's own audit trail.
    pub kind: String,
    /// Checkpoint origin, `<host>/ledgers/<id>`.
    pub origin: String,
    pub tree_size: u64,
    /// How many events the filter index covers; it trails `tree_size` by a
    /// short delay. Listings are exact either way.
    pub indexed_size: u64,
    pub created_at: Option<String>,
    /// When its scheduled deletion is due; absent unless one is scheduled
    /// (appends are refused meanwhile; `POST …/restore` cancels it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_at: Option<String>,
}

/// One data key version of a ledger (never key material).
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerKeyOut {
    pub version: u32,
    /// `current` (seals new events) or `previous` (opens the events it
    /// sealed). Which KEK wraps a key is the operator's, not the tenant's.
    pub state: String,
    /// The first seq sealed with this version.
    pub from_seq: u64,
    pub created_at: Option<String>,
}

/// A ledger's data keys, oldest first; the last one seals new events.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerKeys {
    pub ledger: String,
    pub versions: Vec<LedgerKeyOut>,
}

/// The outcome of a data key rotation.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedLedgerKey {
    pub ledger: String,
    /// The version that seals new events from now on.
    pub key_version: u32,
}

/// The ledgers a key can see.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerList {
    pub ledgers: Vec<LedgerOut>,
}

/// Creating a ledger.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLedger {
    pub name: String,
}

/// Creating an API key; omit `ledgers` for an account-wide key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    /// `read`, `write` or `admin`.
    #[schema(value_type = String, example = "write")]
    pub permission: store::Permission,
    pub ledgers: Option<Vec<String>>,
}

/// An API key. `secret` appears only in the response that created it.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyOut {
    pub id: String,
    pub name: String,
    /// The first characters of the secret, safe to display.
    pub prefix: String,
    #[schema(value_type = String)]
    pub permission: store::Permission,
    /// Null for account-wide keys.
    pub ledgers: Option<Vec<String>>,
    pub created_at: Option<String>,
    pub created_by: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    pub replaces: Option<String>,
    /// `active` or `revoked`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// The keys of the account.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyOut>,
}

/// RFC 9457 problem document; `field` names the offending input.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub field: Option<String>,
}

/// A Unix-ms time as the API writes times: normalised RFC 3339 (empty if out of range).
pub fn time(ms: i64) -> String {
    audit_core::OccurredAt::from_unix_millis(ms).map(String::from).unwrap_or_default()
}
