//! The export job's work: write each pending export into sealed chunks,
//! then mark it done with its digest and `export.completed`, in one
//! transaction. An export is `done` only in that transaction, after its
//! last chunk: one that a crash or a lost lease interrupted stays `running`
//! until the job's next run restarts it from the beginning (its chunks
//! dropped first), so nothing half-written is ever served. Every write of
//! a run names its attempt, so a run that was taken over stops at its next
//! write instead of mixing its chunks into the new run's.

use super::chunks::{self, ChunkSink};
use super::records::{ExportRecord, ExportStatus};
use super::{ExportPlan, ExportProgress};
use crate::db::{on_db, to_i64, write_tx};
use crate::system::{outbox, Actor, Origin, SystemEvent};
use crate::{now_ms, Store, StoreError};

/// Runs of one export that end in a retryable error (the key provider or
/// the database away for a moment) before it is given up as failed.
const MAX_ATTEMPTS: u64 = 3;
/// Runs of one export that a crash or a lost lease may interrupt before it
/// is given up as failed.
const MAX_INTERRUPTED: u64 = 5;

/// Why a run stopped writing.
enum Stop {
    /// Another run took the export over; it carries on from there.
    TakenOver,
    Error(StoreError),
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        Stop::Error(error)
    }
}

impl From<sqlx::Error> for Stop {
    fn from(error: sqlx::Error) -> Self {
        Stop::Error(error.into())
    }
}

fn origin() -> Origin {
    Origin::new(Actor::Job("exports"))
}

impl Store {
    /// Expires what is past its time, restarts what an earlier run left
    /// running, and writes every pending export, oldest first. Done and
    /// failed exports expire `ttl_ms` after they finish. Returns how many
    /// exports this run finished.
    pub async fn run_exports(&self, ttl_ms: i64) -> Result<usize, StoreError> {
        self.expire_exports().await?;
        self.restart_interrupted_exports(ttl_ms).await?;
        let mut finished = 0;
        while let Some(record) = self.next_pending_export().await? {
            self.run_export(record, ttl_ms).await?;
            finished += 1;
        }
        Ok(finished)
    }

    /// Every export left `running`: only the job writes exports, and it
    /// runs on one node at a time, so at the start of its run any such
    /// export belongs to a run that died. It starts again, unless runs died
    /// on it [`MAX_INTERRUPTED`] times (something about it stops the
    /// server), when it is given up.
    async fn restart_interrupted_exports(&self, ttl_ms: i64) -> Result<(), StoreError> {
        let running = self.exports_with_status(ExportStatus::Running, 100).await?;
        for record in running {
            if record.attempts >= MAX_INTERRUPTED {
                let reason = format!(
                    "the server stopped while writing this export {} times; request it again, or a smaller range",
                    record.attempts
                );
                self.end_export_run(&record, record.attempts, false, &reason, ttl_ms).await?;
                continue;
            }
            tracing::warn!(export = %record.id, attempt = record.attempts, "restarting an export an earlier run left unfinished");
            write_tx!(&self.db, |tx| {
                sqlx::query("UPDATE exports SET status = 'pending' WHERE export_id = $1 AND status = 'running'")
                    .bind(&record.id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            });
        }
        Ok(())
    }

    async fn run_export(&self, record: ExportRecord, ttl_ms: i64) -> Result<(), StoreError> {
        let attempt = self.start_export(&record).await?;
        match self.write_export_chunks(&record, attempt, ttl_ms).await {
            Ok(()) | Err(Stop::TakenOver) => Ok(()),
            Err(Stop::Error(error)) => {
                let retry = error.is_retryable() && attempt < MAX_ATTEMPTS;
                tracing::warn!(export = %record.id, attempt, %error, retry, "an export run failed");
                // What the requester reads: store errors that name the
                // problem (an altered event, a bad range) as they are, the
                // database's own words never.
                let reason = match &error {
                    StoreError::Database(_) | StoreError::Migrate(_) => {
                        "an internal error stopped the export; request it again".to_owned()
                    }
                    other => other.to_string(),
                };
                self.end_export_run(&record, attempt, retry, &reason, ttl_ms).await
            }
        }
    }

    /// Marks the export running as a new attempt and drops what an earlier
    /// attempt wrote; returns the attempt's number.
    async fn start_export(&self, record: &ExportRecord) -> Result<u64, StoreError> {
        let attempt = record.attempts + 1;
        write_tx!(&self.db, |tx| {
            sqlx::query(
                "UPDATE exports SET status = 'running', attempts = $2, started_ms = $3, events_scanned = 0, \
                 events_written = 0, proofs_written = 0, bytes = 0, chunks = 0 WHERE export_id = $1",
            )
            .bind(&record.id)
            .bind(to_i64(attempt)?)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            chunks::delete_all((&mut *tx).into(), &record.id).await?;
            tx.commit().await?;
        });
        Ok(attempt)
    }

    async fn write_export_chunks(&self, record: &ExportRecord, attempt: u64, ttl_ms: i64) -> Result<(), Stop> {
        let account = self.ledger_account(&record.ledger).await?;
        let ledger = self.ledger(&account, &record.ledger).await?;
        let sink = ChunkSink::default();
        let mut writer = self.export_writer(&ledger, ExportPlan::of(record), sink.clone()).await?;
        let mut n = 0u64;
        while writer.step().await? {
            n = self.store_chunks(record, attempt, n, sink.take_full(), writer.progress()).await?;
        }
        // Every row and proof is written: the writer's last progress is the finished export's.
        let progress = writer.progress();
        let (manifest, _) = writer.finish()?;
        let (rest, sha256, bytes) = sink.take_rest();
        let full = rest.len().saturating_sub(1);
        let mut rest = rest.into_iter();
        let before_last: Vec<Vec<u8>> = rest.by_ref().take(full).collect();
        let last = rest.next().unwrap_or_default();
        n = self.store_chunks(record, attempt, n, before_last, progress).await?;
        let event = SystemEvent::ExportCompleted {
            ledger: record.ledger.clone(),
            export: record.id.clone(),
            format: record.format.name(),
            start: record.start,
            end: record.end,
            events: manifest.counts.events,
            sha256: sha256.to_hex(),
        };
        let staged = self.stage(&account, &origin(), event).await?;
        let dek = self.keys.current(&record.ledger).await?;
        let finished = now_ms();
        let done = write_tx!(&self.db, |tx| {
            let claimed = sqlx::query(
                "UPDATE exports SET status = 'done', reason = NULL, events_scanned = $3, events_written = $4, \
                 bytes = $5, chunks = $6, sha256 = $7, finished_ms = $8, expires_ms = $9, proofs_written = $10 \
                 WHERE export_id = $1 AND attempts = $2 AND status = 'running'",
            )
            .bind(&record.id)
            .bind(to_i64(attempt)?)
            .bind(to_i64(progress.scanned)?)
            .bind(to_i64(progress.written)?)
            .bind(to_i64(bytes)?)
            .bind(to_i64(n + 1)?)
            .bind(sha256.to_hex())
            .bind(finished)
            .bind(finished.saturating_add(ttl_ms))
            .bind(to_i64(progress.proofs)?)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 1 {
                chunks::insert((&mut *tx).into(), &dek, record, n, true, &last).await?;
                outbox::insert((&mut *tx).into(), &staged).await?;
                tx.commit().await?;
            }
            claimed == 1
        });
        if !done {
            return Err(Stop::TakenOver);
        }
        self.drain_outbox(&account).await;
        tracing::info!(export = %record.id, events = manifest.counts.events, bytes, sha256 = %sha256, "export done");
        Ok(())
    }

    /// Stores the chunks filled since the last call with the writer's
    /// progress; returns the next chunk number.
    async fn store_chunks(
        &self,
        record: &ExportRecord,
        attempt: u64,
        mut n: u64,
        full: Vec<Vec<u8>>,
        progress: ExportProgress,
    ) -> Result<u64, Stop> {
        let dek = self.keys.current(&record.ledger).await?;
        let written: u64 = full.iter().map(|c| c.len() as u64).sum();
        let claimed = write_tx!(&self.db, |tx| {
            // The progress row first: its lock orders this write against a
            // run that takes the export over.
            let claimed = sqlx::query(
                "UPDATE exports SET events_scanned = $3, events_written = $4, bytes = bytes + $5, chunks = chunks + $6, \
                 proofs_written = $7 WHERE export_id = $1 AND attempts = $2 AND status = 'running'",
            )
            .bind(&record.id)
            .bind(to_i64(attempt)?)
            .bind(to_i64(progress.scanned)?)
            .bind(to_i64(progress.written)?)
            .bind(to_i64(written)?)
            .bind(to_i64(full.len() as u64)?)
            .bind(to_i64(progress.proofs)?)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 1 {
                for chunk in &full {
                    chunks::insert((&mut *tx).into(), &dek, record, n, false, chunk).await?;
                    n += 1;
                }
                tx.commit().await?;
            }
            claimed == 1
        });
        if claimed {
            Ok(n)
        } else {
            Err(Stop::TakenOver)
        }
    }

    /// Ends a run that failed: back to `pending` for another attempt, or
    /// `failed` with `reason` (its chunks dropped, `export.failed` recorded).
    async fn end_export_run(
        &self,
        record: &ExportRecord,
        attempt: u64,
        retry: bool,
        reason: &str,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        let account = self.ledger_account(&record.ledger).await?;
        let staged = if retry {
            None
        } else {
            let event = SystemEvent::ExportFailed {
                ledger: record.ledger.clone(),
                export: record.id.clone(),
                reason: reason.to_owned(),
            };
            Some(self.stage(&account, &origin(), event).await?)
        };
        let finished = now_ms();
        let status = if retry { ExportStatus::Pending } else { ExportStatus::Failed };
        write_tx!(&self.db, |tx| {
            let claimed = sqlx::query(
                "UPDATE exports SET status = $3, reason = $4, finished_ms = $5, expires_ms = $6 \
                 WHERE export_id = $1 AND attempts = $2 AND status = 'running'",
            )
            .bind(&record.id)
            .bind(to_i64(attempt)?)
            .bind(status.as_str())
            .bind(reason)
            .bind((!retry).then_some(finished))
            .bind((!retry).then_some(finished.saturating_add(ttl_ms)))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 1 {
                chunks::delete_all((&mut *tx).into(), &record.id).await?;
                if let Some(staged) = &staged {
                    outbox::insert((&mut *tx).into(), staged).await?;
                }
                tx.commit().await?;
            }
        });
        self.drain_outbox(&account).await;
        Ok(())
    }

    /// Drops the files of exports past their expiry; their records stay,
    /// `expired`.
    pub async fn expire_exports(&self) -> Result<u64, StoreError> {
        let now = now_ms();
        let due: Vec<String> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar(
                "SELECT export_id FROM exports WHERE status IN ('done', 'failed') AND expires_ms <= $1 \
                 ORDER BY expires_ms LIMIT 100",
            )
            .bind(now)
            .fetch_all(p)
            .await?
        });
        for id in &due {
            write_tx!(&self.db, |tx| {
                sqlx::query(
                    "UPDATE exports SET status = 'expired' WHERE export_id = $1 AND status IN ('done', 'failed')",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                chunks::delete_all((&mut *tx).into(), id).await?;
                tx.commit().await?;
            });
        }
        Ok(due.len() as u64)
    }
}
