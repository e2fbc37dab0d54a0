//! Issuing keys: creation, rotation (a new secret, the old key revoked in
//! the same transaction) and revocation, each recorded in the account's
//! system ledger with the change.

use rand::RngCore as _;

use super::{ApiKey, ApiKeyId, ApiKeySecret, KeyScope, NewApiKey, Permission, ID_HEX};
use crate::db::write_tx;
use crate::system;
use crate::{now_ms, AccountId, Origin, Store, StoreError, SystemEvent};

impl Store {
    /// Creates a key and returns it with its secret, which is not stored and
    /// cannot be shown again. Every scoped ledger must belong to the account.
    /// The creation is recorded in the account's system ledger.
    pub async fn create_api_key(
        &self,
        account: &AccountId,
        new: NewApiKey,
        origin: &Origin,
    ) -> Result<(ApiKey, ApiKeySecret), StoreError> {
        self.insert_api_key(account, new, None, origin).await
    }

    /// Replaces a key by a new one with the same name, permission and scope,
    /// and revokes the old one at once; recorded in the system ledger.
    pub async fn rotate_api_key(
        &self,
        account: &AccountId,
        id: &ApiKeyId,
        by: Option<String>,
        origin: &Origin,
    ) -> Result<(ApiKey, ApiKeySecret), StoreError> {
        let old = self.api_key(account, id).await?;
        if old.revoked_ms.is_some() {
            return Err(StoreError::Conflict(format!("key {} is revoked and cannot be rotated", id.as_str())));
        }
        let new =
            NewApiKey { name: old.name.clone(), permission: old.permission, scope: old.scope.clone(), created_by: by };
        let created = self.insert_api_key(account, new, Some(id), origin).await?;
        Ok(created)
    }

    /// Revokes a key: it authenticates nothing from now on. Recorded in the
    /// system ledger.
    pub async fn revoke_api_key(
        &self,
        account: &AccountId,
        id: &ApiKeyId,
        origin: &Origin,
    ) -> Result<ApiKey, StoreError> {
        let now = now_ms();
        let mut revoked = self.api_key(account, id).await?;
        if revoked.revoked_ms.is_some() {
            return Err(StoreError::Conflict(format!("key {} is already revoked", id.as_str())));
        }
        revoked.revoked_ms = Some(now);
        let event = self.stage(account, origin, SystemEvent::ApiKeyRevoked { key: revoked }).await?;
        write_tx!(&self.db, |tx| {
            let changed = sqlx::query(
                "UPDATE api_keys SET revoked_ms = $1 WHERE id = $2 AND account_id = $3 AND revoked_ms IS NULL",
            )
            .bind(now)
            .bind(id.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Err(StoreError::Conflict(format!("key {} is already revoked", id.as_str())));
            }
            system::outbox::insert((&mut *tx).into(), &event).await?;
            tx.commit().await?;
        });
        self.drain_outbox(account).await;
        self.api_key(account, id).await
    }

    async fn insert_api_key(
        &self,
        account: &AccountId,
        new: NewApiKey,
        replaces: Option<&ApiKeyId>,
        origin: &Origin,
    ) -> Result<(ApiKey, ApiKeySecret), StoreError> {
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(StoreError::Invalid("name must be 1 to 128 characters without control characters".into()));
        }
        if let KeyScope::Ledgers(ledgers) = &new.scope {
            if ledgers.is_empty() {
                return Err(StoreError::Invalid(
                    "ledgers must name at least one ledger (omit it for account-wide)".into(),
                ));
            }
            if new.permission == Permission::Admin {
                return Err(StoreError::Invalid("admin keys are account-wide: omit ledgers".into()));
            }
            for ledger in ledgers {
                self.ledger(account, ledger).await?;
            }
        }
        let mut raw = [0u8; ID_HEX / 2];
        rand::rng().fill_bytes(&mut raw);
        let id = ApiKeyId(format!("key_{}", hex::encode(raw)));
        let secret = ApiKeySecret::generate(&id);
        let hash = secret.hash();
        let created_ms = now_ms();
        let key = ApiKey {
            id: id.clone(),
            account_id: account.clone(),
            name: name.to_owned(),
            permission: new.permission,
            scope: new.scope.clone(),
            created_ms,
            created_by: new.created_by.clone(),
            revoked_ms: None,
            last_used_ms: None,
            replaces: replaces.cloned(),
        };
        let event = match replaces {
            None => SystemEvent::ApiKeyCreated { key },
            Some(old) => SystemEvent::ApiKeyRotated { key, replaces: old.clone() },
        };
        let event = self.stage(account, origin, event).await?;
        write_tx!(&self.db, |tx| {
            sqlx::query(
                "INSERT INTO api_keys (id, account_id, name, permission, scope, secret_hash, created_ms, created_by, replaces) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id.as_str())
            .bind(account.as_str())
            .bind(name)
            .bind(new.permission.as_str())
            .bind(match new.scope {
                KeyScope::AccountWide => "account",
                KeyScope::Ledgers(_) => "ledgers",
            })
            .bind(hash.as_slice())
            .bind(created_ms)
            .bind(new.created_by.as_deref())
            .bind(replaces.map(ApiKeyId::as_str))
            .execute(&mut *tx)
            .await?;
            if let KeyScope::Ledgers(ledgers) = &new.scope {
                for ledger in ledgers {
                    sqlx::query(
                        "INSERT INTO api_key_ledgers (key_id, ledger_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    )
                    .bind(id.as_str())
                    .bind(ledger.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
            }
            if let Some(old) = replaces {
                let revoked = sqlx::query("UPDATE api_keys SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL")
                    .bind(created_ms)
                    .bind(old.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                // Another rotation or a revocation got there first: this one
                // must not leave a second live successor.
                if revoked != 1 {
                    tx.rollback().await?;
                    return Err(StoreError::Conflict(format!(
                        "key {} was revoked or rotated concurrently",
                        old.as_str()
                    )));
                }
            }
            system::outbox::insert((&mut *tx).into(), &event).await?;
            tx.commit().await?;
        });
        self.drain_outbox(account).await;
        let key = self.api_key(account, &id).await?;
        Ok((key, secret))
    }
}
