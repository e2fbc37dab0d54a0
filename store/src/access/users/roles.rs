//! Roles, removal and signing out everywhere, with the last-owner rule
//! enforced inside each UPDATE.

use super::{Role, User, UserId};
use crate::db::{on_db, write_tx, Conn};
use crate::system;
use crate::{now_ms, AccountId, Origin, Store, StoreError, SystemEvent};

impl Store {
    /// Changes a user's role. The last owner of an account cannot be
    /// demoted. The user's sessions end, so the new role applies at once.
    /// Recorded in the system ledger with the role before and after.
    pub async fn set_user_role(
        &self,
        account: &AccountId,
        id: &UserId,
        role: Role,
        origin: &Origin,
    ) -> Result<User, StoreError> {
        let user = self.user(id).await?;
        if user.account_id != *account {
            return Err(StoreError::NotFound("user"));
        }
        let event = SystemEvent::RoleChanged { user: id.clone(), email: user.email.clone(), from: user.role, to: role };
        let event = self.stage(account, origin, event).await?;
        // The last-owner rule is part of the UPDATE itself, so that two
        // owners demoting each other at once cannot both succeed.
        let sql = format!(
            "UPDATE users SET role = $1, session_generation = session_generation + 1 \
             WHERE id = $2 AND account_id = $3 AND removed_ms IS NULL AND ($1 = 'owner' OR {})",
            keeps_an_owner("$3")
        );
        let updated = write_tx!(&self.db, |tx| {
            lock_owners((&mut *tx).into(), account).await?;
            let n = sqlx::query(&sql)
                .bind(role.as_str())
                .bind(id.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                system::outbox::insert((&mut *tx).into(), &event).await?;
            }
            tx.commit().await?;
            n
        });
        if updated != 1 {
            return Err(StoreError::Conflict("the account's last owner cannot be demoted".into()));
        }
        self.drain_outbox(account).await;
        self.user(id).await
    }

    /// Removes a user: they can no longer sign in and their sessions end.
    /// The row stays (system-ledger events name its id). The last owner
    /// cannot be removed.
    /// Recorded in the system ledger.
    pub async fn remove_user(&self, account: &AccountId, id: &UserId, origin: &Origin) -> Result<User, StoreError> {
        let user = self.user(id).await?;
        if user.account_id != *account {
            return Err(StoreError::NotFound("user"));
        }
        let event = SystemEvent::UserRemoved { user: id.clone(), email: user.email.clone(), role: user.role };
        let event = self.stage(account, origin, event).await?;
        // The address is freed for a later invite; the original stays
        // recorded in the system ledger's event.
        let tombstone = format!("removed:{}:{}", id, user.email);
        let sql = format!(
            "UPDATE users SET removed_ms = $1, email = $2, session_generation = session_generation + 1 \
             WHERE id = $3 AND account_id = $4 AND removed_ms IS NULL AND {}",
            keeps_an_owner("$4")
        );
        let updated = write_tx!(&self.db, |tx| {
            lock_owners((&mut *tx).into(), account).await?;
            let n = sqlx::query(&sql)
                .bind(now_ms())
                .bind(&tombstone)
                .bind(id.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
                system::outbox::insert((&mut *tx).into(), &event).await?;
            }
            tx.commit().await?;
            n
        });
        if updated != 1 {
            return Err(StoreError::Conflict("the account's last owner cannot be removed".into()));
        }
        self.drain_outbox(account).await;
        Ok(user)
    }

    /// Ends every session of a user, on every server process; recorded in
    /// the system ledger.
    pub async fn sign_out_everywhere(&self, id: &UserId, origin: &Origin) -> Result<(), StoreError> {
        let user = self.user(id).await?;
        let event = self.stage(&user.account_id, origin, SystemEvent::SignedOutEverywhere { user: id.clone() }).await?;
        write_tx!(&self.db, |tx| {
            sqlx::query("UPDATE users SET session_generation = session_generation + 1 WHERE id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            system::outbox::insert((&mut *tx).into(), &event).await?;
            tx.commit().await?;
        });
        self.drain_outbox(&user.account_id).await;
        Ok(())
    }
}

/// SQL that is true for a row that is no owner, or not the last owner of
/// the account bound as `account_param` (`$3`, `$4`...).
fn keeps_an_owner(account_param: &str) -> String {
    format!(
        "(role <> 'owner' OR (SELECT COUNT(*) FROM users o \
         WHERE o.account_id = {account_param} AND o.role = 'owner' AND o.removed_ms IS NULL) > 1)"
    )
}

/// Locks the account's owner rows until the transaction ends (PostgreSQL):
/// concurrent owner changes then see each other's result. SQLite runs one
/// write transaction at a time, and its single UPDATE is atomic.
async fn lock_owners(conn: Conn<'_>, account: &AccountId) -> Result<(), StoreError> {
    on_db!(conn, |c, sql| {
        let statement = format!(
            "SELECT id FROM users WHERE account_id = $1 AND role = 'owner' AND removed_ms IS NULL{}",
            sql.for_update
        );
        sqlx::query(&statement).bind(account.as_str()).execute(&mut *c).await?;
    });
    Ok(())
}
