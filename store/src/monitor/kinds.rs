//! The kinds of anomaly the monitor names, with what to do about each.

use std::fmt;
use std::str::FromStr;

/// What was found wrong, by its cause where the evidence tells it apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnomalyKind {
    /// A row's sealed record does not open for its row, or its content
    /// disagrees with its columns (id, time, leaf hash).
    AlteredContent,
    /// A leaf or chain hash column no longer follows from the chain.
    AlteredHash,
    /// Rows beyond the signed tree: no checkpoint covers them.
    InsertedRow,
    /// Seqs missing below the head: rows removed from the middle.
    DeletedRow,
    /// Rows holding the events of other seqs.
    ReorderedRows,
    /// Seqs missing at the end: the tail was cut off.
    TruncatedTail,
    /// A stored Merkle node differs from the one recomputed from the leaves.
    BadNode,
    /// A checkpoint whose signature does not verify, or that names another log.
    BadCheckpoint,
    /// A signed checkpoint whose root is not the recomputed tree's.
    InconsistentCheckpoint,
    /// Content removed where no recorded archival covers the seq.
    ForgedTombstone,
    /// A sealed record whose data key does not exist.
    UndecryptableRow,
    /// The head row's size, chain hash or root differs from the recomputed tree.
    AlteredHead,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 12] = [
        AnomalyKind::AlteredContent,
        AnomalyKind::AlteredHash,
        AnomalyKind::InsertedRow,
        AnomalyKind::DeletedRow,
        AnomalyKind::ReorderedRows,
        AnomalyKind::TruncatedTail,
        AnomalyKind::BadNode,
        AnomalyKind::BadCheckpoint,
        AnomalyKind::InconsistentCheckpoint,
        AnomalyKind::ForgedTombstone,
        AnomalyKind::UndecryptableRow,
        AnomalyKind::AlteredHead,
    ];

    /// The name in the API, the database and the system event.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::AlteredContent => "altered_content",
            AnomalyKind::AlteredHash => "altered_hash",
            AnomalyKind::InsertedRow => "inserted_row",
            AnomalyKind::DeletedRow => "deleted_row",
            AnomalyKind::ReorderedRows => "reordered_rows",
            AnomalyKind::TruncatedTail => "truncated_tail",
            AnomalyKind::BadNode => "bad_node",
            AnomalyKind::BadCheckpoint => "bad_checkpoint",
            AnomalyKind::InconsistentCheckpoint => "inconsistent_checkpoint",
            AnomalyKind::ForgedTombstone => "forged_tombstone",
            AnomalyKind::UndecryptableRow => "undecryptable_row",
            AnomalyKind::AlteredHead => "altered_head",
        }
    }

    /// What an operator and the customer should do next.
    pub fn advice(self) -> &'static str {
        match self {
            AnomalyKind::AlteredContent => {
                "The stored content of these events was changed outside AuditStore. Compare them with an export \
                 or archive taken before; verify the leaf hashes against a signed checkpoint (auditstore verify); \
                 restore the rows from a backup and find who had write access to the database."
            }
            AnomalyKind::AlteredHash => {
                "A leaf or chain hash column was changed outside AuditStore. The signed checkpoints still commit \
                 to the original leaves: verify exports of this range against a checkpoint signed before, restore \
                 the rows from a backup and review database access."
            }
            AnomalyKind::InsertedRow => {
                "Rows were added outside AuditStore: no signed checkpoint covers them. Treat these events as \
                 forged, remove them from the database with a backup at hand, and review database access."
            }
            AnomalyKind::DeletedRow => {
                "Events were removed outside AuditStore. The signed checkpoints still commit to them: restore \
                 the rows from a backup or an export, verify the range against a checkpoint, and review database \
                 access."
            }
            AnomalyKind::ReorderedRows => {
                "Rows were moved between seqs outside AuditStore. Restore their order from a backup, verify the \
                 range against a signed checkpoint, and review database access."
            }
            AnomalyKind::TruncatedTail => {
                "The newest events were cut off outside AuditStore. Signed checkpoints and earlier verification \
                 still commit to them: restore them from a backup and review database access."
            }
            AnomalyKind::BadNode => {
                "A stored Merkle node differs from the tree of the leaves, so proofs over this range would fail. \
                 Restore the node from a backup (it can be recomputed from the leaves) and review database access."
            }
            AnomalyKind::BadCheckpoint => {
                "A stored checkpoint does not carry a valid signature of this instance for this ledger. Verify \
                 with checkpoints saved by clients or witnesses, restore it from a backup and review database \
                 access."
            }
            AnomalyKind::InconsistentCheckpoint => {
                "A signed checkpoint commits to another tree than the stored leaves: the leaves or the \
                 checkpoint were changed. Verify exports against checkpoints saved outside AuditStore and restore \
                 from a backup."
            }
            AnomalyKind::ForgedTombstone => {
                "Event content was removed without a recorded retention archival. The leaf hashes still identify \
                 the events: restore the content from a backup or an earlier export and review database access."
            }
            AnomalyKind::UndecryptableRow => {
                "The data key these records name does not exist. Check the key provider and the ledger_keys \
                 table against a backup; the records cannot be read until the key is restored."
            }
            AnomalyKind::AlteredHead => {
                "The ledger's head row disagrees with the verified tree. Appends would sign a wrong tree: restore \
                 the head from a backup (it follows from the rows) and review database access."
            }
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AnomalyKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AnomalyKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown anomaly kind {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for kind in AnomalyKind::ALL {
            assert_eq!(kind.as_str().parse::<AnomalyKind>(), Ok(kind));
        }
        assert!("altered".parse::<AnomalyKind>().is_err());
    }
}
