//! Checkpoints and Merkle proofs of a ledger, generated from the stored
//! nodes (RFC 9162 §2.1.3–2.1.4; range proofs as docs/FORMAT.md defines).

use audit_core::merkle::{consistency_proof, inclusion_proof, range_proof};
use audit_core::{Checkpoint, Evidence, Hash, LedgerId, Seq, TreeSize};

use super::nodes::{self, ProofSource, Recorder};
use crate::db::{from_i64, on_db, to_i64};
use crate::{Ledger, Store, StoreError};

impl Store {
    /// The latest signed checkpoint, or the one of exactly `tree_size`.
    pub async fn checkpoint(&self, ledger: &LedgerId, tree_size: Option<u64>) -> Result<String, StoreError> {
        // No ledger reaches sizes beyond the database's integers.
        if tree_size.is_some_and(|size| i64::try_from(size).is_err()) {
            return Err(StoreError::NotFound("checkpoint"));
        }
        let note: Option<String> = on_db!(&self.db.pool, |p| match tree_size {
            Some(size) => {
                sqlx::query_scalar("SELECT note FROM checkpoints WHERE ledger_id = $1 AND tree_size = $2")
                    .bind(ledger.as_str())
                    .bind(to_i64(size)?)
                    .fetch_optional(p)
                    .await?
            }
            None => {
                sqlx::query_scalar("SELECT note FROM checkpoints WHERE ledger_id = $1 ORDER BY tree_size DESC LIMIT 1")
                    .bind(ledger.as_str())
                    .fetch_optional(p)
                    .await?
            }
        });
        note.ok_or(StoreError::NotFound("checkpoint"))
    }

    /// [`Store::checkpoint`] opened with this instance's own key: a stored
    /// note that does not verify is corruption, never something to hand out
    /// or to prove against.
    pub async fn verified_checkpoint(
        &self,
        ledger: &LedgerId,
        tree_size: Option<u64>,
    ) -> Result<(String, Checkpoint), StoreError> {
        let note = self.checkpoint(ledger, tree_size).await?;
        let checkpoint = Checkpoint::open(&note, &[self.verifier_key()]).map_err(|_| {
            let which = tree_size.map_or_else(|| "latest".to_owned(), |size| format!("size {size}"));
            StoreError::Integrity(format!("the stored checkpoint ({which}) of ledger {ledger} does not verify"))
        })?;
        Ok((note, checkpoint))
    }

    /// The tree sizes of stored checkpoints, ascending, from `from_size` on
    /// (at most `limit`).
    pub async fn checkpoint_sizes(
        &self,
        ledger: &LedgerId,
        from_size: u64,
        limit: u32,
    ) -> Result<Vec<u64>, StoreError> {
        let sizes: Vec<i64> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar(
                "SELECT tree_size FROM checkpoints WHERE ledger_id = $1 AND tree_size >= $2 ORDER BY tree_size LIMIT $3",
            )
            .bind(ledger.as_str())
            .bind(to_i64(from_size)?)
            .bind(i64::from(limit))
            .fetch_all(p)
            .await?
        });
        sizes.into_iter().map(from_i64).collect()
    }

    /// RFC 9162 §2.1.3 inclusion proof of leaf `seq` in the tree of `tree_size`.
    pub async fn inclusion_proof(&self, ledger: &Ledger, seq: u64, tree_size: u64) -> Result<Vec<Hash>, StoreError> {
        check_size(ledger, tree_size)?;
        if seq >= tree_size {
            return Err(StoreError::Invalid(format!("seq {seq} is not below tree_size {tree_size}")));
        }
        self.prove(&ledger.id, |src| inclusion_proof(src, seq, TreeSize(tree_size)).map_err(|e| e.to_string())).await
    }

    /// RFC 9162 §2.1.4 consistency proof between two tree sizes.
    pub async fn consistency_proof(&self, ledger: &Ledger, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        check_size(ledger, to)?;
        if from == 0 || from > to {
            return Err(StoreError::Invalid(format!("from must be between 1 and to ({to}), got {from}")));
        }
        self.prove(&ledger.id, |src| consistency_proof(src, TreeSize(from), TreeSize(to)).map_err(|e| e.to_string()))
            .await
    }

    /// Range proof of leaves `[start, end)` in the tree of `tree_size` (docs/FORMAT.md).
    pub async fn range_proof(
        &self,
        ledger: &Ledger,
        start: u64,
        end: u64,
        tree_size: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        check_size(ledger, tree_size)?;
        if start >= end || end > tree_size {
            return Err(StoreError::Invalid(format!(
                "the range must satisfy start < end <= tree_size ({tree_size}), got [{start}, {end})"
            )));
        }
        self.prove(&ledger.id, |src| range_proof(src, start, end, TreeSize(tree_size)).map_err(|e| e.to_string())).await
    }

    /// Evidence of one event (docs/FORMAT.md §12): its content as every read checks it, the
    /// latest signed checkpoint and the RFC 9162 §2.1.3 inclusion proof at that checkpoint's
    /// size, which covers every committed event (checkpoints are signed in the commit).
    pub async fn evidence(&self, ledger: &Ledger, id: &str) -> Result<Evidence, StoreError> {
        let stored = self.event(&ledger.id, id).await?;
        let Some(event) = stored.event else {
            return Err(StoreError::Conflict(format!(
                "event {id:?} is a tombstone: its content was archived, and its evidence is in the archive"
            )));
        };
        let (note, checkpoint) = self.verified_checkpoint(&ledger.id, None).await?;
        let size = checkpoint.size();
        if stored.seq >= size.get() {
            return Err(StoreError::Corrupt("an event beyond the latest checkpoint"));
        }
        let proof =
            self.prove(&ledger.id, |src| inclusion_proof(src, stored.seq, size).map_err(|e| e.to_string())).await?;
        Ok(Evidence::new(event, Seq(stored.seq), proof, note))
    }

    /// Runs a proof generator twice: once to learn which nodes it reads,
    /// then on those nodes fetched in one round trip per table.
    async fn prove<F, E>(&self, ledger: &LedgerId, generate: F) -> Result<Vec<Hash>, StoreError>
    where
        F: Fn(&ProofSource) -> Result<Vec<Hash>, E>,
        E: std::fmt::Display,
    {
        let recording = ProofSource::Recording(Recorder::default());
        generate(&recording).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let ProofSource::Recording(recorder) = recording else { unreachable_source() };
        let fetched = nodes::fetch_from_pool(&self.db.pool, ledger, &recorder.into_ids()).await?;
        generate(&ProofSource::Fetched(fetched)).map_err(|e| StoreError::Proof(e.to_string()))
    }
}

/// The recording pass is constructed as `Recording` just above.
fn unreachable_source() -> ! {
    unreachable!("the recording pass uses a recording source")
}

fn check_size(ledger: &Ledger, tree_size: u64) -> Result<(), StoreError> {
    if tree_size == 0 || tree_size > ledger.tree_size {
        return Err(StoreError::Invalid(format!(
            "tree_size must be between 1 and the ledger's size ({}), got {tree_size}",
            ledger.tree_size
        )));
    }
    Ok(())
}
