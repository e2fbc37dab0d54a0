//! What server functions hand to the pages: plain data, serialisable on
//! both sides, with no secrets beyond what the page must show.

use serde::{Deserialize, Serialize};

mod lifecycle;
mod webhooks;

pub use lifecycle::*;
pub use webhooks::*;

/// The signed-in user, as the pages see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub user_id: String,
    pub email: String,
    /// `owner`, `admin` or `auditor`.
    pub role: String,
    pub account_name: String,
    pub system_ledger: String,
}

impl Viewer {
    /// Whether the viewer may manage ledgers and keys.
    pub fn is_admin(&self) -> bool {
        self.role == "owner" || self.role == "admin"
    }

    /// Whether the viewer may manage users.
    pub fn is_owner(&self) -> bool {
        self.role == "owner"
    }
}

/// The session as every page needs it: who is signed in (if anyone) and
/// the token that every state-changing request must carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub viewer: Option<Viewer>,
    pub csrf: String,
    /// The email of a user created in this session whose TOTP enrolment
    /// is not confirmed yet.
    pub enrolling: Option<String>,
}

/// One row of the ledgers page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub events: u64,
    pub last_event_at: Option<String>,
    pub created_at: String,
    /// What the integrity check of the latest checkpoint found.
    pub integrity: Integrity,
    /// When its scheduled deletion is due; appends are refused until it is cancelled.
    pub delete_at: Option<String>,
    /// What the tamper monitor says of it.
    pub monitor: MonitorRow,
}

/// The tamper monitor's verdict on a ledger, as the ledgers page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorRow {
    /// `ok`, `anomaly`, `pending` or `stale`.
    pub status: String,
    pub verified_size: u64,
    /// When it last verified the ledger, and how many seconds ago.
    pub last_verified_at: Option<String>,
    pub age_seconds: Option<u64>,
    /// Anomalies no owner has acknowledged.
    pub open_anomalies: usize,
}

/// The result of checking a ledger's latest signed checkpoint on the
/// server: its signature against the instance key, and that it covers
/// every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Integrity {
    /// No event yet, so nothing to check.
    Empty,
    /// The latest checkpoint's signature verifies and it covers `size` events.
    Verified { size: u64 },
    /// The checkpoint is older than the ledger (being written right now).
    Behind { size: u64, tree_size: u64 },
    /// The checkpoint does not verify or cannot be read.
    Failed { reason: String },
}

/// One event in a listing or on its detail page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    pub id: String,
    pub seq: u64,
    pub actor_type: String,
    pub actor_id: String,
    pub actor_name: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub resource_name: Option<String>,
    pub occurred_at: String,
    pub received_at: String,
    /// The metadata, pretty-printed.
    pub metadata_pretty: String,
    pub leaf_hash: String,
    pub chain_hash: String,
    /// The event exactly as stored (normalised input JSON): what the
    /// browser re-hashes to verify it. `None` once tombstoned.
    pub content_json: Option<String>,
    /// A tombstone's archive: where retention put its content.
    pub archive: Option<ArchiveRef>,
}

impl EventRow {
    /// An event's place in its ledger, without content (as it stands once
    /// retention tombstoned it); [`EventRow::with_content`] adds the rest.
    pub fn new(id: String, seq: u64, received_at: String, leaf_hash: String, chain_hash: String) -> Self {
        Self {
            id,
            seq,
            actor_type: String::new(),
            actor_id: String::new(),
            actor_name: None,
            action: String::new(),
            resource_type: String::new(),
            resource_id: String::new(),
            resource_name: None,
            occurred_at: String::new(),
            received_at,
            metadata_pretty: String::new(),
            leaf_hash,
            chain_hash,
            content_json: None,
            archive: None,
        }
    }

    /// Whether retention archived the content: only the hashes are left.
    pub fn is_tombstone(&self) -> bool {
        self.content_json.is_none()
    }

    /// The fields the pages show, taken from `event`, whose stored JSON is
    /// `content_json`. The one mapping from content to what is displayed:
    /// the server renders with it and the browser's verification checks the
    /// page against it.
    pub fn with_content(self, event: &audit_core::Event, content_json: String) -> Self {
        Self {
            actor_type: event.actor().kind().to_owned(),
            actor_id: event.actor().id().to_owned(),
            actor_name: event.actor().name().map(str::to_owned),
            action: event.action().as_str().to_owned(),
            resource_type: event.resource().kind().to_owned(),
            resource_id: event.resource().id().to_owned(),
            resource_name: event.resource().name().map(str::to_owned),
            occurred_at: event.occurred_at().as_str().to_owned(),
            metadata_pretty: serde_json::to_string_pretty(event.metadata().as_map()).unwrap_or_default(),
            content_json: Some(content_json),
            ..self
        }
    }
}

/// A page of events, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventList {
    pub ledger_id: String,
    pub ledger_name: String,
    pub events: Vec<EventRow>,
    pub next_cursor: Option<String>,
}

/// What the browser needs to verify an event without trusting the
/// server's word: the latest signed checkpoint and an inclusion proof of the
/// event at the checkpoint's size (RFC 9162 §2.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofBundle {
    pub seq: u64,
    pub checkpoint: String,
    pub tree_size: u64,
    /// Hex SHA-256 hashes, leaf to root.
    pub proof: Vec<String>,
}

/// An event's evidence file (docs/FORMAT.md §12, a C2SP tlog-proof) and the
/// name to save it under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceFile {
    pub file_name: String,
    pub text: String,
}

/// The instance's checkpoint verifier key (C2SP signed-note format) and its
/// fingerprint, for pinning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointKey {
    pub verifier_key: String,
    pub fingerprint: String,
}

/// One API key on the keys page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub permission: String,
    /// "All ledgers" or the ledger names.
    pub scope: String,
    pub created_by: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

/// A key just created or rotated: its secret is shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKeySecret {
    pub id: String,
    pub name: String,
    pub secret: String,
}

/// One user on the users page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub enrolled: bool,
    pub created_at: String,
}

/// TOTP enrolment material, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    pub email: String,
    pub secret_base32: String,
    pub otpauth_url: String,
    pub qr_png_base64: String,
}

/// One export of the ledger's Exports page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRow {
    pub id: String,
    /// `pending`, `running`, `done`, `failed` or `expired`.
    pub status: String,
    pub reason: Option<String>,
    pub format: String,
    /// The filter as `field = value` pairs; empty for a contiguous export.
    pub filter: Vec<(String, String)>,
    pub from_seq: u64,
    pub to_seq: u64,
    pub events_total: u64,
    pub events_scanned: u64,
    pub events_written: u64,
    /// A filtered export's inclusion proofs written so far.
    pub proofs_written: u64,
    pub bytes: u64,
    pub sha256: Option<String>,
    /// Who asked: `user:<email>` for dashboard users, else the actor.
    pub requested_by: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub expires_at: Option<String>,
}

impl ExportRow {
    /// Whether the job has yet to finish it.
    pub fn unfinished(&self) -> bool {
        self.status == "pending" || self.status == "running"
    }

    /// The progress bar's value, its maximum, and its words. A filtered export reads its range
    /// and writes the rows that match, then reads it again for each written row's inclusion
    /// proof: once the first pass is through, the bar shows the second.
    pub fn progress(&self) -> (u64, u64, String) {
        let read =
            format!("{} of {} events read, {} written", self.events_scanned, self.events_total, self.events_written);
        if !self.filter.is_empty() && self.events_scanned == self.events_total && self.events_written > 0 {
            let proven = format!("{} of {} inclusion proofs written", self.proofs_written, self.events_written);
            (self.proofs_written, self.events_written, format!("{read}; {proven}"))
        } else {
            (self.events_scanned, self.events_total, read)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ExportRow;

    fn running(filter: Vec<(String, String)>, scanned: u64, written: u64, proofs: u64) -> ExportRow {
        ExportRow {
            id: "exp_1".into(),
            status: "running".into(),
            reason: None,
            format: "jsonl".into(),
            filter,
            from_seq: 0,
            to_seq: 999,
            events_total: 1000,
            events_scanned: scanned,
            events_written: written,
            proofs_written: proofs,
            bytes: 0,
            sha256: None,
            requested_by: "user:ada@example.com".into(),
            created_at: String::new(),
            finished_at: None,
            expires_at: None,
        }
    }

    #[test]
    fn a_filtered_export_shows_its_proofs_pass_once_its_rows_pass_is_through() {
        let filter = vec![("actor_id".to_owned(), "jane".to_owned())];
        let (value, max, words) = running(filter.clone(), 400, 50, 0).progress();
        assert_eq!((value, max), (400, 1000));
        assert_eq!(words, "400 of 1000 events read, 50 written");
        let (value, max, words) = running(filter, 1000, 120, 30).progress();
        assert_eq!((value, max), (30, 120));
        assert_eq!(words, "1000 of 1000 events read, 120 written; 30 of 120 inclusion proofs written");
        // A contiguous export has one pass.
        assert_eq!(running(Vec::new(), 1000, 1000, 0).progress().0, 1000);
    }
}
