//! The deletion job's work: each deletion whose time has come begins (the
//! database refuses that while an active hold applies), the ledger's keys
//! are destroyed, its final checkpoint recorded, its archive files removed
//! and its rows deleted in bounded batches, and a last transaction removes
//! the ledger itself with its `ledger.deleted` event. Every step can be
//! repeated, so a deletion a crash interrupted resumes where it was.

use audit_core::LedgerId;

use super::records::{deletion_from_row, COLUMNS};
use super::{DeletionStatus, LedgerDeletion};
use crate::db::{on_db, to_i64, write_tx};
use crate::lifecycle::archive::ArchiveStore;
use crate::lifecycle::holds::HoldsOf;
use crate::system::{outbox, SystemEvent};
use crate::{now_ms, Origin, Store, StoreError};

/// Rows (seqs, tree sizes, node indices) deleted per transaction: a large
/// ledger goes in steps, so no transaction holds SQLite's writer long.
const DELETE_BATCH: u64 = 10_000;

/// The tables deleted in batches: how their rows name the ledger (`$1`, its
/// id), and the column they are walked along.
const BATCHED: [(&str, &str, &str); 4] = [
    ("event_terms", "ledger = (SELECT number FROM ledgers WHERE id = $1)", "seq"),
    ("events", "ledger_id = $1", "seq"),
    ("merkle_nodes", "ledger_id = $1", "idx"),
    ("checkpoints", "ledger_id = $1", "tree_size"),
];

impl Store {
    /// Carries out every deletion whose time has come, and resumes those a
    /// crash interrupted. Returns how many ledgers were deleted. One
    /// deletion's failure does not stop the others; the first is returned.
    pub async fn run_ledger_deletions(&self, archive: &ArchiveStore, origin: &Origin) -> Result<usize, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM ledger_deletions WHERE status = 'deleting' \
             OR (status = 'scheduled' AND delete_at_ms <= $1) ORDER BY delete_at_ms, deletion_id"
        );
        let due = on_db!(&self.db.pool, |p| {
            sqlx::query(&sql)
                .bind(now_ms())
                .fetch_all(p)
                .await?
                .iter()
                .map(deletion_from_row)
                .collect::<Result<Vec<_>, _>>()?
        });
        let (mut deleted, mut failure) = (0, None);
        for deletion in due {
            match self.carry_out(&deletion, archive, origin).await {
                Ok(true) => deleted += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::error!(ledger = %deletion.ledger, %error, "ledger deletion failed; it resumes at the next run");
                    failure.get_or_insert(error);
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(deleted),
        }
    }

    /// One deletion; false when active holds refused it.
    pub(super) async fn carry_out(
        &self,
        deletion: &LedgerDeletion,
        archive: &ArchiveStore,
        origin: &Origin,
    ) -> Result<bool, StoreError> {
        if deletion.status == DeletionStatus::Scheduled && !self.begin_deletion(deletion, origin).await? {
            return Ok(false);
        }
        let ledger = &deletion.ledger;
        // Nothing can be appended once the keys are gone, so the last
        // signed checkpoint is final from here on.
        self.destroy_ledger_keys(ledger).await?;
        let mut current = self.ledger_deletion(&deletion.id).await?;
        if current.final_tree_size.is_none() {
            self.record_final_checkpoint(&current).await?;
            current = self.ledger_deletion(&deletion.id).await?;
        }
        let size = current.final_tree_size.ok_or(StoreError::Corrupt("a deletion under way lost its final size"))?;
        archive.remove_ledger(ledger).await?;
        for (table, of_ledger, column) in BATCHED {
            self.delete_in_batches(ledger, table, of_ledger, column, size).await?;
        }
        self.finish_deletion(&current, origin).await?;
        Ok(true)
    }

    /// Moves a due deletion to `deleting`, unless active holds apply: then
    /// it stays scheduled, and the refusal is recorded when the holds that
    /// refuse it changed since the last time.
    async fn begin_deletion(&self, deletion: &LedgerDeletion, origin: &Origin) -> Result<bool, StoreError> {
        let holds = self.legal_holds(&deletion.account, HoldsOf::Ledger(&deletion.ledger), true).await?;
        if !holds.is_empty() {
            let ids: Vec<String> = holds.iter().map(|h| h.id.clone()).collect();
            if deletion.refused_by.as_ref() != Some(&ids) {
                let event = SystemEvent::LedgerDeletionRefused {
                    ledger: deletion.ledger.clone(),
                    name: deletion.name.clone(),
                    holds: ids.clone(),
                };
                let staged = self.stage(&deletion.account, origin, event).await?;
                let text = serde_json::to_string(&ids).map_err(|_| StoreError::Corrupt("hold ids do not serialise"))?;
                write_tx!(&self.db, |tx| {
                    sqlx::query("UPDATE ledger_deletions SET refused_by = $2 WHERE deletion_id = $1")
                        .bind(&deletion.id)
                        .bind(&text)
                        .execute(&mut *tx)
                        .await?;
                    outbox::insert((&mut *tx).into(), &staged).await?;
                    tx.commit().await?;
                });
                self.drain_outbox(&deletion.account).await;
            }
            return Ok(false);
        }
        write_tx!(&self.db, |tx, sql| {
            // Ordered with placing holds; the trigger checks them again.
            sqlx::query(&format!("SELECT id FROM accounts WHERE id = $1{}", sql.for_update))
                .bind(deletion.account.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE ledger_deletions SET status = 'deleting', started_ms = $2 \
                 WHERE deletion_id = $1 AND status = 'scheduled'",
            )
            .bind(&deletion.id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Records the ledger's last signed checkpoint in its deletion (none for
    /// a ledger that never had an event: size 0, the empty tree's root).
    async fn record_final_checkpoint(&self, deletion: &LedgerDeletion) -> Result<(), StoreError> {
        let ledger = self.ledger(&deletion.account, &deletion.ledger).await?;
        let (note, size, root) = if ledger.tree_size == 0 {
            (None, 0, audit_core::hash::empty_root())
        } else {
            let (note, checkpoint) = self.verified_checkpoint(&deletion.ledger, None).await?;
            (Some(note), checkpoint.size().get(), *checkpoint.root())
        };
        write_tx!(&self.db, |tx| {
            sqlx::query(
                "UPDATE ledger_deletions SET final_checkpoint = $2, final_tree_size = $3, final_root = $4 \
                 WHERE deletion_id = $1 AND status = 'deleting'",
            )
            .bind(&deletion.id)
            .bind(note.as_deref())
            .bind(to_i64(size)?)
            .bind(root.to_string())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes `ledger`'s rows of `table`, [`DELETE_BATCH`] values of
    /// `column` a transaction, up to `size` (every one of them is below it
    /// or, for checkpoints, at most it).
    async fn delete_in_batches(
        &self,
        ledger: &LedgerId,
        table: &str,
        of_ledger: &str,
        column: &str,
        size: u64,
    ) -> Result<(), StoreError> {
        let sql = format!("DELETE FROM {table} WHERE {of_ledger} AND {column} >= $2 AND {column} < $3");
        let mut from = 0;
        while from <= size {
            let to = from.saturating_add(DELETE_BATCH);
            write_tx!(&self.db, |tx| {
                sqlx::query(&sql).bind(ledger.as_str()).bind(to_i64(from)?).bind(to_i64(to)?).execute(&mut *tx).await?;
                tx.commit().await?;
            });
            from = to;
        }
        Ok(())
    }

    /// `ledger.deleted` for `deletion`, with its final checkpoint.
    async fn stage_deleted(
        &self,
        deletion: &LedgerDeletion,
        origin: &Origin,
    ) -> Result<crate::system::Staged, StoreError> {
        let event = SystemEvent::LedgerDeleted {
            ledger: deletion.ledger.clone(),
            name: deletion.name.clone(),
            deletion: deletion.id.clone(),
            final_tree_size: deletion.final_tree_size.unwrap_or_default(),
            final_root: deletion.final_root.clone().unwrap_or_default(),
            final_checkpoint: deletion.final_checkpoint.clone().unwrap_or_default(),
        };
        self.stage(&deletion.account, origin, event).await
    }

    /// The last step: the ledger's remaining rows and the ledger itself go,
    /// the deletion is `deleted`, and `ledger.deleted` records the final
    /// checkpoint, all in one transaction.
    async fn finish_deletion(&self, deletion: &LedgerDeletion, origin: &Origin) -> Result<(), StoreError> {
        // The system ledger's own deletion has no system ledger left to be
        // recorded in; its record (and the operator's output) keeps it.
        let staged = if deletion.with_account { None } else { Some(self.stage_deleted(deletion, origin).await?) };
        let id = deletion.ledger.as_str();
        write_tx!(&self.db, |tx| {
            for sql in [
                "DELETE FROM export_chunks WHERE export_id IN (SELECT export_id FROM exports WHERE ledger_id = $1)",
                "DELETE FROM exports WHERE ledger_id = $1",
                "DELETE FROM archival_ranges WHERE ledger_id = $1",
                "DELETE FROM archivals WHERE ledger_id = $1",
                "DELETE FROM retention_policies WHERE ledger_id = $1",
                "DELETE FROM legal_holds WHERE ledger_id = $1",
                "DELETE FROM integrity_findings WHERE ledger_id = $1",
                "DELETE FROM api_key_ledgers WHERE ledger_id = $1",
                "DELETE FROM ledger_keys WHERE ledger_id = $1",
                // Anything the batches left (a row beyond the recorded size).
                "DELETE FROM event_terms WHERE ledger = (SELECT number FROM ledgers WHERE id = $1)",
                "DELETE FROM events WHERE ledger_id = $1",
                "DELETE FROM merkle_nodes WHERE ledger_id = $1",
                "DELETE FROM checkpoints WHERE ledger_id = $1",
                "DELETE FROM index_progress WHERE ledger_id = $1",
                "DELETE FROM monitor_progress WHERE ledger_id = $1",
                "DELETE FROM integrity_stale_reports WHERE ledger_id = $1",
                "DELETE FROM ledger_heads WHERE ledger_id = $1",
                "DELETE FROM ledgers WHERE id = $1",
            ] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
            sqlx::query(
                "UPDATE ledger_deletions SET status = 'deleted', deleted_ms = $2 WHERE deletion_id = $1 AND status = 'deleting'",
            )
            .bind(&deletion.id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            if let Some(staged) = &staged {
                outbox::insert((&mut *tx).into(), staged).await?;
            }
            tx.commit().await?;
        });
        self.ingest.handoff.forget(&deletion.ledger);
        if staged.is_some() {
            self.drain_outbox(&deletion.account).await;
        }
        // The ciphertext left is unreadable without the destroyed keys; on
        // SQLite its overwritten pages also leave the WAL.
        if let Err(error) = self.db.truncate_wal("events").await {
            tracing::warn!(%error, "the WAL could not be truncated after a ledger deletion");
        }
        Ok(())
    }
}
