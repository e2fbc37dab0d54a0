//! Retention archival: events past their ledger's retention that no active
//! legal hold covers are written, oldest first and in bounded batches, as a
//! verifiable export file (docs/FORMAT.md §13 and §14) to the archive
//! store; once the file is durably written and its digest read back, one
//! transaction records the archival and turns those events into
//! tombstones. A tombstone keeps its seq, event id, times, leaf and chain
//! hashes, and the Merkle nodes stay, so every proof and checkpoint still
//! verifies; only its content (the ciphertext) is gone.
//!
//! A crash between the file and the transaction leaves an archive file that
//! no record names, and every event as it was: nothing is removed without
//! its archive, and the next run archives the events again, into a new
//! file.

mod directory;
mod file;
mod records;
mod run;

use std::path::PathBuf;

pub use records::{ArchivalRecord, TombstoneInfo, MAX_LISTED};
pub use run::{RetentionRun, MAX_BATCH_EVENTS};

/// Where archive files are kept.
#[derive(Debug, Clone)]
pub enum ArchiveStore {
    /// A local directory: a file per archival, `<ledger>/<archival>.zip`
    /// below it, readable by its owner only.
    Directory(PathBuf),
}

impl ArchiveStore {
    /// Writes `bytes` as the file of archival `id` of `ledger`, durably, and
    /// reads it back: returns its location only once the stored file hashes
    /// to `sha256`.
    pub(crate) async fn put(
        &self,
        ledger: &audit_core::LedgerId,
        id: &str,
        bytes: Vec<u8>,
        sha256: audit_core::Hash,
    ) -> Result<String, crate::StoreError> {
        match self {
            ArchiveStore::Directory(root) => directory::put(root, ledger, id, bytes, sha256).await,
        }
    }

    /// Removes every archive file of `ledger` (its deletion: the files hold
    /// its events' content).
    pub(crate) async fn remove_ledger(&self, ledger: &audit_core::LedgerId) -> Result<(), crate::StoreError> {
        match self {
            ArchiveStore::Directory(root) => directory::remove_ledger(root, ledger).await,
        }
    }

    /// The bytes of the archive file at `location`, as this store wrote it.
    pub async fn read(&self, location: &str) -> Result<Vec<u8>, crate::StoreError> {
        match self {
            ArchiveStore::Directory(root) => directory::read(root, location).await,
        }
    }
}
