//! What the records-lifecycle pages show: a ledger's retention policy, its
//! archives and its deletion, and legal holds with what they cover.

use serde::{Deserialize, Serialize};

/// A ledger's Retention page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleView {
    pub ledger_id: String,
    pub ledger_name: String,
    /// `user` or `system` (deleted only with its account).
    pub kind: String,
    pub events: u64,
    /// `None`: no policy, events are kept forever.
    pub policy: Option<PolicyView>,
    pub archives: Vec<ArchiveRow>,
    /// The deletion scheduled now, if any.
    pub deletion: Option<DeletionRow>,
    /// Active legal holds that apply to the ledger (their ids and cases).
    pub holds: Vec<(String, String)>,
    /// The grace period a deletion waits, in hours.
    pub grace_hours: u64,
}

/// A retention policy as set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyView {
    pub days: u32,
    pub locked: bool,
    pub set_by: String,
    pub set_at: String,
    pub locked_at: Option<String>,
}

/// One archival: an archive file and the tombstones it accounts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRow {
    pub id: String,
    pub from_seq: u64,
    /// Included.
    pub to_seq: u64,
    pub events: u64,
    pub bytes: u64,
    pub sha256: String,
    pub location: String,
    /// Events that happened before this were past the policy.
    pub archived_before: String,
    pub archived_by: String,
    pub archived_at: String,
}

/// A ledger's scheduled deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionRow {
    pub id: String,
    /// `scheduled` or `deleting`.
    pub status: String,
    pub requested_by: String,
    pub requested_at: String,
    pub delete_at: String,
}

/// One legal hold on a Holds page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRow {
    pub id: String,
    pub case: String,
    pub reason: String,
    /// The ledger it holds (id, name); `None`: every ledger of the account.
    pub ledger: Option<(String, String)>,
    /// The scope as `field = value` pairs; empty: every event.
    pub scope: Vec<(String, String)>,
    pub placed_by: String,
    pub placed_at: String,
    pub released: Option<ReleaseRow>,
    /// Events with content it covers now.
    pub covers: u64,
    /// Newer events not examined for the count (the filter index trails
    /// ingest); covered all the same when they match.
    pub uncounted: u64,
}

/// A hold's release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRow {
    pub by: String,
    pub at: String,
    pub reason: String,
}

/// The archive a tombstone's content went to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRef {
    pub id: String,
    pub sha256: String,
    pub archived_at: String,
}

/// An anomaly of the tamper monitor no owner has acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyRow {
    pub id: String,
    pub ledger: String,
    /// Empty once the ledger is deleted (its findings stay).
    pub ledger_name: String,
    pub kind: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub detail: String,
    pub advice: String,
    pub found_at: String,
}
