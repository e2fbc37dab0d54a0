//! The checkpoint tracker (docs/SDK.md §7): the last checkpoint verified
//! per ledger, kept in a store, and every newer checkpoint proven
//! consistent with it (RFC 9162 §2.1.4) before it replaces it, as Go's
//! sumdb client keeps its tree head. Two trees of one size are a
//! [`Error::Fork`]; a smaller tree a [`Error::Rollback`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use audit_core::{Hash, TreeSize};
use serde::{Deserialize, Serialize};

use crate::error::ForkNotes;
use crate::verify::VerifiedCheckpoint;
use crate::{Client, Error};

/// What the tracker keeps of a ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedCheckpoint {
    pub tree_size: u64,
    /// Lowercase hex.
    pub root: String,
    pub note: String,
}

/// Where the tracker keeps its checkpoints.
pub trait CheckpointStore: Send + Sync {
    fn load(&self, ledger: &str) -> Result<Option<TrackedCheckpoint>, Error>;
    fn save(&self, ledger: &str, checkpoint: &TrackedCheckpoint) -> Result<(), Error>;
}

/// In memory, for tests and short-lived processes.
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<HashMap<String, TrackedCheckpoint>>);

impl CheckpointStore for MemoryStore {
    fn load(&self, ledger: &str) -> Result<Option<TrackedCheckpoint>, Error> {
        Ok(self.0.lock().map_err(|_| Error::Store("poisoned".into()))?.get(ledger).cloned())
    }

    fn save(&self, ledger: &str, checkpoint: &TrackedCheckpoint) -> Result<(), Error> {
        self.0.lock().map_err(|_| Error::Store("poisoned".into()))?.insert(ledger.to_owned(), checkpoint.clone());
        Ok(())
    }
}

/// A JSON file of `{ledger: checkpoint}`, replaced atomically (written to a
/// temporary file beside it and renamed), so a crash leaves the old or the
/// new one. Saves hold an exclusive lock on `<file>.lock` beside it, so the
/// stores of every thread and process sharing the file take turns and none
/// loses another's ledger.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    fn read(&self) -> Result<HashMap<String, TrackedCheckpoint>, Error> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Store(format!("{} is not a checkpoint file: {e}", self.path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashMap::new()),
            Err(e) => Err(Error::Store(format!("{}: {e}", self.path.display()))),
        }
    }

    /// `<file><suffix>` beside the store.
    fn beside(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(suffix);
        self.path.with_file_name(name)
    }
}

impl CheckpointStore for FileStore {
    fn load(&self, ledger: &str) -> Result<Option<TrackedCheckpoint>, Error> {
        // No lock: the file is only ever replaced whole, by a rename.
        Ok(self.read()?.remove(ledger))
    }

    fn save(&self, ledger: &str, checkpoint: &TrackedCheckpoint) -> Result<(), Error> {
        let io = |e: std::io::Error| Error::Store(format!("{}: {e}", self.path.display()));
        // Each save rewrites the whole file from what it read, so two at once
        // would lose one ledger. The lock is the operating system's (flock,
        // LockFileEx), held on a file that is never replaced, and let go when
        // the handle is dropped, a crash included.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.beside(".lock"))
            .map_err(io)?;
        lock.lock().map_err(io)?;
        let mut all = self.read()?;
        all.insert(ledger.to_owned(), checkpoint.clone());
        let bytes = serde_json::to_vec_pretty(&all).map_err(|e| Error::Store(e.to_string()))?;
        // A temporary file beside the store, flushed to disk before it
        // replaces the store: a crash leaves the old or the new.
        let temporary = self.beside(&format!(".{}.tmp", std::process::id()));
        let mut file = std::fs::File::create(&temporary).map_err(io)?;
        std::io::Write::write_all(&mut file, &bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&temporary, &self.path).map_err(io)
    }
}

/// Verifies every checkpoint it is shown against the last one it verified.
pub struct CheckpointTracker<S: CheckpointStore> {
    client: Client,
    store: S,
    // One `track` at a time: two concurrent ones could otherwise store an
    // older tree over a newer one.
    turn: tokio::sync::Mutex<()>,
}

impl<S: CheckpointStore> std::fmt::Debug for CheckpointTracker<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointTracker").finish_non_exhaustive()
    }
}

impl<S: CheckpointStore> CheckpointTracker<S> {
    /// A tracker proving consistency through `client` (which pins the
    /// verifier key).
    pub fn new(client: Client, store: S) -> Self {
        Self { client, store, turn: tokio::sync::Mutex::new(()) }
    }

    /// The checkpoint stored for `ledger`, if any.
    pub fn stored(&self, ledger: &str) -> Result<Option<TrackedCheckpoint>, Error> {
        self.store.load(ledger)
    }

    /// Fetches the ledger's latest checkpoint and tracks it.
    pub async fn update(&self, ledger: &str) -> Result<VerifiedCheckpoint, Error> {
        let checkpoint = self.client.checkpoint(ledger, None).await?;
        self.track(ledger, &checkpoint.note).await
    }

    /// Checks `note` (signature first, then consistency with what is
    /// stored) and stores it when it is newer.
    pub async fn track(&self, ledger: &str, note: &str) -> Result<VerifiedCheckpoint, Error> {
        let seen = crate::verify::verify_checkpoint(note, self.client.verifier()?)?;
        if !audit_core::origin_names_ledger(&seen.origin, ledger) {
            return Err(Error::Verification(format!("the checkpoint is of {}, not of ledger {ledger}", seen.origin)));
        }
        let _turn = self.turn.lock().await;
        // Every tree extends the empty one.
        let Some(stored) = self.store.load(ledger)?.filter(|s| s.tree_size > 0) else {
            self.save(ledger, &seen)?;
            return Ok(seen);
        };
        let stored_root = Hash::from_hex(&stored.root).map_err(|_| Error::Store("a stored root is not hex".into()))?;
        if seen.tree_size < stored.tree_size {
            return Err(Error::Rollback { ledger: ledger.to_owned(), stored: stored.tree_size, seen: seen.tree_size });
        }
        if seen.tree_size == stored.tree_size {
            if seen.root.ct_eq(&stored_root) {
                return Ok(seen);
            }
            return Err(Error::Fork {
                ledger: ledger.to_owned(),
                size: seen.tree_size,
                stored: stored.root,
                seen: seen.root.to_hex(),
                notes: Box::new(ForkNotes { stored: stored.note, seen: seen.note }),
            });
        }
        let proof = self.client.consistency_proof(ledger, stored.tree_size, Some(seen.tree_size)).await?;
        audit_core::merkle::verify_consistency(
            TreeSize(stored.tree_size),
            TreeSize(seen.tree_size),
            &stored_root,
            &seen.root,
            &proof,
        )
        .map_err(|e| Error::Fork {
            ledger: ledger.to_owned(),
            size: stored.tree_size,
            stored: stored.root.clone(),
            seen: format!("{} at size {} ({e})", seen.root.to_hex(), seen.tree_size),
            notes: Box::new(ForkNotes { stored: stored.note.clone(), seen: seen.note.clone() }),
        })?;
        self.save(ledger, &seen)?;
        Ok(seen)
    }

    fn save(&self, ledger: &str, checkpoint: &VerifiedCheckpoint) -> Result<(), Error> {
        let tracked = TrackedCheckpoint {
            tree_size: checkpoint.tree_size,
            root: checkpoint.root.to_hex(),
            note: checkpoint.note.clone(),
        };
        self.store.save(ledger, &tracked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(tree_size: u64) -> TrackedCheckpoint {
        TrackedCheckpoint { tree_size, root: String::new(), note: String::new() }
    }

    #[test]
    fn saves_made_at_once_through_many_stores_of_one_file_all_land() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("checkpoints.json");
        // Each thread has a store of its own, so only the file lock keeps
        // their read, change and rename apart.
        std::thread::scope(|scope| {
            for thread in 0..8u64 {
                let file = &file;
                scope.spawn(move || {
                    let store = FileStore::new(file);
                    for i in 0..10 {
                        store.save(&format!("ledger-{thread}-{i}"), &checkpoint(thread * 10 + i + 1)).expect("a save");
                    }
                });
            }
        });
        let all = FileStore::new(&file);
        for thread in 0..8u64 {
            for i in 0..10 {
                let stored = all.load(&format!("ledger-{thread}-{i}")).expect("a load");
                assert_eq!(stored.map(|c| c.tree_size), Some(thread * 10 + i + 1), "ledger-{thread}-{i}");
            }
        }
        let mut left: Vec<_> =
            std::fs::read_dir(dir.path()).expect("the folder").filter_map(Result::ok).map(|e| e.file_name()).collect();
        left.sort();
        assert_eq!(left, ["checkpoints.json", "checkpoints.json.lock"], "no temporary file left");
    }
}
