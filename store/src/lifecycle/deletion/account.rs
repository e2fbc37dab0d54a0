//! Account termination: every ledger of the account is deleted as a ledger
//! deletion is (keys shredded, final checkpoint kept in its deletion
//! record), the system ledger last, and then the account itself with its
//! users, keys and pending system events. Refused while any legal hold of
//! the account is active.

use crate::db::write_tx;
use crate::lifecycle::archive::ArchiveStore;
use crate::lifecycle::holds::HoldsOf;
use crate::system::SystemEvent;
use crate::{now_ms, AccountId, LedgerKind, Origin, Store, StoreError};

use super::{named, DeletionStatus, LedgerDeletion};

impl Store {
    /// Deletes `account` and every ledger of it, now (no grace period: the
    /// operator asked at the command line). Returns the deletions, the
    /// system ledger's last. Refused (409) while any active hold applies to
    /// anything of the account, which is recorded as
    /// `account.deletion_refused`.
    pub async fn delete_account(
        &self,
        account: &AccountId,
        archive: &ArchiveStore,
        origin: &Origin,
    ) -> Result<Vec<LedgerDeletion>, StoreError> {
        let holds = self.legal_holds(account, HoldsOf::Account, true).await?;
        if !holds.is_empty() {
            let event = SystemEvent::AccountDeletionRefused {
                account: account.clone(),
                holds: holds.iter().map(|h| h.id.clone()).collect(),
            };
            if let Err(error) = self.record_system_event(account, origin, event).await {
                tracing::error!(%account, %error, "an account deletion refused by holds could not be recorded");
            }
            return Err(StoreError::Conflict(format!(
                "the account cannot be deleted while legal holds apply: {}",
                named(&holds)
            )));
        }
        let mut ledgers = self.list_ledgers(account).await?;
        // The system ledger last: it records the others' deletions.
        ledgers.sort_by_key(|l| l.kind == LedgerKind::System);
        let mut done = Vec::with_capacity(ledgers.len());
        for ledger in ledgers {
            let deletion = match self.open_deletion(&ledger.id).await? {
                Some(open) => open,
                None => self.insert_due_deletion(&ledger, origin).await?,
            };
            if !self.carry_out(&deletion, archive, origin).await? {
                return Err(StoreError::Conflict(format!(
                    "a legal hold was placed on ledger {} meanwhile; the account is not deleted",
                    ledger.id
                )));
            }
            done.push(self.ledger_deletion(&deletion.id).await?);
        }
        write_tx!(&self.db, |tx| {
            for sql in [
                "DELETE FROM system_outbox WHERE account_id = $1",
                "DELETE FROM recovery_codes WHERE user_id IN (SELECT id FROM users WHERE account_id = $1)",
                "DELETE FROM user_links WHERE account_id = $1",
                "DELETE FROM users WHERE account_id = $1",
                "DELETE FROM api_key_ledgers WHERE key_id IN (SELECT id FROM api_keys WHERE account_id = $1)",
                "DELETE FROM api_keys WHERE account_id = $1",
                "DELETE FROM legal_holds WHERE account_id = $1",
                "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT d.id FROM webhook_deliveries d \
                 JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE e.account_id = $1)",
                "DELETE FROM webhook_deliveries WHERE endpoint_id IN (SELECT id FROM webhook_endpoints WHERE account_id = $1)",
                "DELETE FROM webhook_messages WHERE account_id = $1",
                "DELETE FROM webhook_subscriptions WHERE endpoint_id IN \
                 (SELECT id FROM webhook_endpoints WHERE account_id = $1)",
                "DELETE FROM webhook_endpoints WHERE account_id = $1",
                "DELETE FROM accounts WHERE id = $1",
            ] {
                sqlx::query(sql).bind(account.as_str()).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(done)
    }

    /// A deletion of `ledger` due now (the system ledger's with its account).
    async fn insert_due_deletion(&self, ledger: &crate::Ledger, origin: &Origin) -> Result<LedgerDeletion, StoreError> {
        let id = format!("del_{}", uuid::Uuid::now_v7().simple());
        let (by_type, by_id) = origin.actor().parts();
        let now = now_ms();
        let with_account = i64::from(ledger.kind == LedgerKind::System);
        write_tx!(&self.db, |tx| {
            sqlx::query(
                "INSERT INTO ledger_deletions (deletion_id, ledger_id, account_id, name, with_account, status, \
                 requested_by_type, requested_by_id, requested_ms, delete_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, 'scheduled', $6, $7, $8, $8)",
            )
            .bind(&id)
            .bind(ledger.id.as_str())
            .bind(ledger.account_id.as_str())
            .bind(&ledger.name)
            .bind(with_account)
            .bind(by_type)
            .bind(by_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE ledgers SET delete_at_ms = $1 WHERE id = $2")
                .bind(now)
                .bind(ledger.id.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        let deletion = self.ledger_deletion(&id).await?;
        debug_assert_eq!(deletion.status, DeletionStatus::Scheduled);
        Ok(deletion)
    }
}
