//! Crypto-shredding: destroying a ledger's data keys, so that its sealed
//! rows, here and in any copy of the database, become unreadable once the
//! wrapped keys are gone from it.

use audit_core::LedgerId;

use super::keyring::Keyring;
use super::records::DESTROYED;
use crate::db::write_tx;
use crate::{now_ms, Store, StoreError};

impl Keyring {
    /// Destroys every DEK of `ledger`; its blind-index terms are removed.
    pub(crate) async fn destroy(&self, ledger: &LedgerId) -> Result<u64, StoreError> {
        self.destroyed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(ledger.clone());
        self.forget(ledger);
        let outcome = self.destroy_rows(ledger).await;
        if outcome.is_err() {
            // Nothing was destroyed: the keys stay usable.
            self.destroyed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(ledger);
        }
        outcome
    }

    async fn destroy_rows(&self, ledger: &LedgerId) -> Result<u64, StoreError> {
        let destroyed = write_tx!(&self.db, |tx, sql| {
            // Ordered with appends and rotations by the head lock.
            let lock = format!("SELECT 1 FROM ledger_heads WHERE ledger_id = $1{}", sql.for_update);
            sqlx::query(&lock).bind(ledger.as_str()).fetch_optional(&mut *tx).await?;
            let destroyed = sqlx::query("DELETE FROM ledger_keys WHERE ledger_id = $1")
                .bind(ledger.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let found = sqlx::query("UPDATE ledger_heads SET key_version = $1 WHERE ledger_id = $2")
                .bind(DESTROYED)
                .bind(ledger.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if found == 0 {
                return Err(StoreError::NotFound("ledger"));
            }
            sqlx::query("UPDATE ledgers SET keys_destroyed_ms = $1 WHERE id = $2 AND keys_destroyed_ms IS NULL")
                .bind(now_ms())
                .bind(ledger.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM event_terms WHERE ledger = (SELECT number FROM ledgers WHERE id = $1)")
                .bind(ledger.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            destroyed
        });
        // The deleted wrapped keys were overwritten in place (SQLite's
        // secure_delete); their old copies in the WAL or in dead tuples go too.
        self.db.reclaim_deleted("ledger_keys").await?;
        Ok(destroyed)
    }
}

impl Store {
    /// Destroys `ledger`'s data keys (crypto-shredding): its sealed events
    /// can no longer be decrypted through any path, appends are refused, and
    /// its filter terms are removed. Returns how many key versions were
    /// destroyed. Copies of the database taken earlier still hold the wrapped
    /// keys: rotating the KEK afterwards (and retiring the old one) makes
    /// those unreadable too.
    pub async fn destroy_ledger_keys(&self, ledger: &LedgerId) -> Result<u64, StoreError> {
        self.keys.destroy(ledger).await
    }
}
