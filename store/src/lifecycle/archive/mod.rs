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
mod s3;

use std::path::PathBuf;

use audit_core::LedgerId;

pub use records::{ArchivalRecord, TombstoneInfo, MAX_LISTED};
pub use run::{RetentionRun, MAX_BATCH_EVENTS};
pub use s3::S3Archive;

use crate::StoreError;

/// Where archive files are kept.
#[derive(Debug, Clone)]
pub enum ArchiveStore {
    /// A local directory: a file per archival, `<ledger>/<archival>.zip`
    /// below it, readable by its owner only.
    Directory(PathBuf),
    /// S3-compatible object storage: new files go to the bucket; files
    /// written to `directory` before stay readable (and deletable) there.
    S3 { bucket: S3Archive, directory: PathBuf },
}

/// The `<ledger>`, `<archival>.zip` of a location's path, when it is one
/// the stores make (so a stored location leads nowhere else).
fn ledger_and_name(path: &str) -> Option<(&str, &str)> {
    let (ledger, name) = path.split_once('/')?;
    LedgerId::new(ledger).ok()?;
    let stem = name.strip_suffix(".zip")?;
    (stem.starts_with("arc_") && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')).then_some((ledger, name))
}

impl ArchiveStore {
    fn directory(&self) -> &PathBuf {
        match self {
            ArchiveStore::Directory(root) | ArchiveStore::S3 { directory: root, .. } => root,
        }
    }

    /// Writes `bytes` as the file of archival `id` of `ledger`, durably, and
    /// reads it back: returns its location only once the stored file hashes
    /// to `sha256`.
    pub(crate) async fn put(
        &self,
        ledger: &LedgerId,
        id: &str,
        bytes: Vec<u8>,
        sha256: audit_core::Hash,
    ) -> Result<String, StoreError> {
        match self {
            ArchiveStore::Directory(root) => directory::put(root, ledger, id, bytes, sha256).await,
            ArchiveStore::S3 { bucket, .. } => bucket.put(ledger, id, bytes, sha256).await,
        }
    }

    /// Removes every archive file of `ledger` (its deletion: the files hold
    /// its events' content), wherever this store has kept them.
    pub(crate) async fn remove_ledger(&self, ledger: &LedgerId) -> Result<(), StoreError> {
        directory::remove_ledger(self.directory(), ledger).await?;
        if let ArchiveStore::S3 { bucket, .. } = self {
            bucket.remove_ledger(ledger).await?;
        }
        Ok(())
    }

    /// The bytes of the archive file at `location`, as this store wrote it.
    pub async fn read(&self, location: &str) -> Result<Vec<u8>, StoreError> {
        if location.starts_with(directory::LOCATION_SCHEME) {
            return directory::read(self.directory(), location).await;
        }
        match self {
            ArchiveStore::S3 { bucket, .. } => bucket.read(location).await,
            ArchiveStore::Directory(_) => Err(StoreError::Export(format!(
                "archive store: {location} is in object storage, and this server has no --archive-s3-bucket"
            ))),
        }
    }
}
