//! Ledger deletion: scheduled with a grace period (appends are refused from
//! then on), cancelled within it, and at its time, unless an active legal
//! hold applies, carried out by the deletion job (`run.rs`): the ledger's
//! last signed checkpoint is recorded, its data keys are destroyed
//! (crypto-shredding), its rows and archive files deleted, and the deletion
//! recorded in the account's system ledger with that final checkpoint.
//! Afterwards the ledger is "not found" to every key. The system ledger is
//! deleted only with its account.

mod account;
mod records;
mod run;

pub use records::{DeletionStatus, LedgerDeletion};

use audit_core::OccurredAt;

use crate::db::write_tx;
use crate::lifecycle::holds::{HoldsOf, LegalHold};
use crate::system::{outbox, SystemEvent};
use crate::{now_ms, Ledger, LedgerKind, Origin, Store, StoreError};

/// The holds as a refusal names them: id and case.
fn named(holds: &[LegalHold]) -> String {
    holds.iter().map(|h| format!("{} ({})", h.id, h.case)).collect::<Vec<_>>().join(", ")
}

impl Store {
    /// Schedules the deletion of `ledger` `grace_ms` from now, with its
    /// `ledger.deletion_scheduled` system event. Refused (409) while an
    /// active legal hold applies to it (the refusal is recorded as
    /// `ledger.deletion_refused`), when one is scheduled already, and for
    /// the system ledger.
    pub async fn schedule_ledger_deletion(
        &self,
        ledger: &Ledger,
        grace_ms: i64,
        origin: &Origin,
    ) -> Result<LedgerDeletion, StoreError> {
        if ledger.kind == LedgerKind::System {
            return Err(StoreError::Conflict("the system ledger is deleted only with its account".into()));
        }
        if let Some(at) = ledger.delete_at_ms {
            let at = OccurredAt::from_unix_millis(at).map(String::from).unwrap_or_default();
            return Err(StoreError::Conflict(format!("the ledger's deletion is scheduled already, for {at}")));
        }
        let holds = self.legal_holds(&ledger.account_id, HoldsOf::Ledger(&ledger.id), true).await?;
        if !holds.is_empty() {
            return Err(self.refuse_deletion(ledger, &holds, origin).await);
        }
        let requested_ms = now_ms();
        let delete_at_ms = requested_ms.saturating_add(grace_ms.max(0));
        let id = format!("del_{}", uuid::Uuid::now_v7().simple());
        let event = SystemEvent::LedgerDeletionScheduled {
            ledger: ledger.id.clone(),
            name: ledger.name.clone(),
            deletion: id.clone(),
            delete_at_ms,
        };
        let staged = self.stage(&ledger.account_id, origin, event).await?;
        let (by_type, by_id) = origin.actor().parts();
        write_tx!(&self.db, |tx, sql| {
            // Ordered with placing holds (see `place_hold`).
            sqlx::query(&format!("SELECT id FROM accounts WHERE id = $1{}", sql.for_update))
                .bind(ledger.account_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let held: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM legal_holds WHERE account_id = $1 AND released_ms IS NULL \
                 AND (ledger_id IS NULL OR ledger_id = $2)",
            )
            .bind(ledger.account_id.as_str())
            .bind(ledger.id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            if held > 0 {
                return Err(StoreError::Conflict(
                    "a legal hold was placed meanwhile; the ledger cannot be deleted".into(),
                ));
            }
            sqlx::query(
                "INSERT INTO ledger_deletions (deletion_id, ledger_id, account_id, name, status, requested_by_type, \
                 requested_by_id, requested_ms, delete_at_ms) VALUES ($1, $2, $3, $4, 'scheduled', $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(ledger.id.as_str())
            .bind(ledger.account_id.as_str())
            .bind(&ledger.name)
            .bind(by_type)
            .bind(by_id)
            .bind(requested_ms)
            .bind(delete_at_ms)
            .execute(&mut *tx)
            .await?;
            let scheduled = sqlx::query("UPDATE ledgers SET delete_at_ms = $1 WHERE id = $2 AND delete_at_ms IS NULL")
                .bind(delete_at_ms)
                .bind(ledger.id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if scheduled == 0 {
                return Err(StoreError::Conflict("the ledger's deletion was scheduled meanwhile".into()));
            }
            outbox::insert((&mut *tx).into(), &staged).await?;
            tx.commit().await?;
        });
        self.drain_outbox(&ledger.account_id).await;
        self.ledger_deletion(&id).await
    }

    /// Cancels the scheduled deletion of `ledger` (within its grace period),
    /// with its `ledger.deletion_cancelled` system event; appends are
    /// accepted again.
    pub async fn cancel_ledger_deletion(&self, ledger: &Ledger, origin: &Origin) -> Result<LedgerDeletion, StoreError> {
        let Some(open) = self.open_deletion(&ledger.id).await? else {
            return Err(StoreError::Conflict("the ledger is not scheduled for deletion".into()));
        };
        if open.status != DeletionStatus::Scheduled {
            return Err(StoreError::Conflict(
                "the ledger's deletion is under way; it can no longer be cancelled".into(),
            ));
        }
        let event = SystemEvent::LedgerDeletionCancelled {
            ledger: ledger.id.clone(),
            name: ledger.name.clone(),
            deletion: open.id.clone(),
        };
        let staged = self.stage(&ledger.account_id, origin, event).await?;
        let (by_type, by_id) = origin.actor().parts();
        write_tx!(&self.db, |tx| {
            let cancelled = sqlx::query(
                "UPDATE ledger_deletions SET status = 'cancelled', cancelled_by_type = $2, cancelled_by_id = $3, \
                 cancelled_ms = $4 WHERE deletion_id = $1 AND status = 'scheduled'",
            )
            .bind(&open.id)
            .bind(by_type)
            .bind(by_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if cancelled == 0 {
                return Err(StoreError::Conflict(
                    "the ledger's deletion began meanwhile; it can no longer be cancelled".into(),
                ));
            }
            sqlx::query("UPDATE ledgers SET delete_at_ms = NULL WHERE id = $1")
                .bind(ledger.id.as_str())
                .execute(&mut *tx)
                .await?;
            outbox::insert((&mut *tx).into(), &staged).await?;
            tx.commit().await?;
        });
        self.drain_outbox(&ledger.account_id).await;
        self.ledger_deletion(&open.id).await
    }

    /// Records that active `holds` refused deleting `ledger` and returns the
    /// error the caller gets (409 naming them).
    async fn refuse_deletion(&self, ledger: &Ledger, holds: &[LegalHold], origin: &Origin) -> StoreError {
        let event = SystemEvent::LedgerDeletionRefused {
            ledger: ledger.id.clone(),
            name: ledger.name.clone(),
            holds: holds.iter().map(|h| h.id.clone()).collect(),
        };
        if let Err(error) = self.record_system_event(&ledger.account_id, origin, event).await {
            tracing::error!(ledger = %ledger.id, %error, "a deletion refused by holds could not be recorded");
        }
        StoreError::Conflict(format!("the ledger cannot be deleted while legal holds apply: {}", named(holds)))
    }
}
