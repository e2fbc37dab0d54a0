//! Finding keys: by account, by id, and by a presented secret
//! (authentication, compared in constant time).

use sqlx::Row as _;
use subtle::ConstantTimeEq as _;

use audit_core::LedgerId;

use super::{ApiKey, ApiKeyId, ApiKeySecret, KeyScope, Permission, LAST_USED_RESOLUTION_MS};
use crate::db::on_db;
use crate::{now_ms, AccountId, Store, StoreError};

impl Store {
    /// The keys of an account, newest first.
    pub async fn list_api_keys(&self, account: &AccountId) -> Result<Vec<ApiKey>, StoreError> {
        let ids: Vec<String> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT id FROM api_keys WHERE account_id = $1 ORDER BY created_ms DESC, id DESC")
                .bind(account.as_str())
                .fetch_all(p)
                .await?
        });
        let mut keys = Vec::with_capacity(ids.len());
        for id in ids {
            keys.push(self.api_key(account, &ApiKeyId(id)).await?);
        }
        Ok(keys)
    }

    /// One key of an account.
    pub async fn api_key(&self, account: &AccountId, id: &ApiKeyId) -> Result<ApiKey, StoreError> {
        let key = self.load_key(id).await?.ok_or(StoreError::NotFound("API key"))?;
        if &key.0.account_id != account {
            return Err(StoreError::NotFound("API key"));
        }
        Ok(key.0)
    }

    /// The active key a presented secret belongs to, or `None` (malformed,
    /// unknown, wrong secret or revoked: callers answer all alike).
    pub async fn authenticate(&self, presented: &str) -> Result<Option<ApiKey>, StoreError> {
        let Some((secret, id)) = ApiKeySecret::parse(presented) else { return Ok(None) };
        let Some((key, stored_hash)) = self.load_key(&id).await? else { return Ok(None) };
        let matches: bool = secret.hash().as_slice().ct_eq(stored_hash.as_slice()).into();
        if !matches || key.revoked_ms.is_some() {
            return Ok(None);
        }
        let now = now_ms();
        if key.last_used_ms.is_none_or(|last| now - last >= LAST_USED_RESOLUTION_MS) {
            on_db!(&self.db.pool, |p| {
                sqlx::query("UPDATE api_keys SET last_used_ms = $1 WHERE id = $2")
                    .bind(now)
                    .bind(id.as_str())
                    .execute(p)
                    .await?;
            });
        }
        Ok(Some(key))
    }

    async fn load_key(&self, id: &ApiKeyId) -> Result<Option<(ApiKey, Vec<u8>)>, StoreError> {
        let row = on_db!(&self.db.pool, |p| {
            let row = sqlx::query(
                "SELECT account_id, name, permission, secret_hash, created_ms, created_by, revoked_ms, last_used_ms, replaces, \
                 scope FROM api_keys WHERE id = $1",
            )
            .bind(id.as_str())
            .fetch_optional(p)
            .await?;
            match row {
                None => None,
                Some(row) => {
                    let ledgers: Vec<String> = sqlx::query_scalar(
                        "SELECT ledger_id FROM api_key_ledgers WHERE key_id = $1 ORDER BY ledger_id",
                    )
                    .bind(id.as_str())
                    .fetch_all(p)
                    .await?;
                    Some((
                        row.try_get::<String, _>(0)?,
                        row.try_get::<String, _>(1)?,
                        row.try_get::<String, _>(2)?,
                        row.try_get::<Vec<u8>, _>(3)?,
                        row.try_get::<i64, _>(4)?,
                        row.try_get::<Option<String>, _>(5)?,
                        row.try_get::<Option<i64>, _>(6)?,
                        row.try_get::<Option<i64>, _>(7)?,
                        row.try_get::<Option<String>, _>(8)?,
                        row.try_get::<String, _>(9)?,
                        ledgers,
                    ))
                }
            }
        });
        let Some((
            account,
            name,
            permission,
            hash,
            created_ms,
            created_by,
            revoked_ms,
            last_used_ms,
            replaces,
            scope,
            ledgers,
        )) = row
        else {
            return Ok(None);
        };
        // A ledger-scoped key whose ledgers are gone reaches nothing; it
        // never widens to account-wide.
        let scope = if scope == "account" {
            KeyScope::AccountWide
        } else {
            KeyScope::Ledgers(
                ledgers
                    .into_iter()
                    .map(|l| LedgerId::new(l).map_err(|_| StoreError::Corrupt("invalid ledger id")))
                    .collect::<Result<_, _>>()?,
            )
        };
        let key = ApiKey {
            id: id.clone(),
            account_id: AccountId::from_stored(account),
            name,
            permission: Permission::parse(&permission)?,
            scope,
            created_ms,
            created_by,
            revoked_ms,
            last_used_ms,
            replaces: replaces.map(ApiKeyId),
        };
        Ok(Some((key, hash)))
    }
}
