//! API keys: high-entropy secrets with a recognisable prefix and a checksum,
//! shown once and stored only as a SHA-256 hash.
//!
//! Format: `auds_<key id: 16 hex>_<secret: 64 hex><crc32: 8 hex>`. The prefix
//! lets secret scanners and people recognise a leaked AuditStore key; the
//! checksum rejects typos and random strings without a database read; the key
//! id finds the row, and the hash of the whole secret is compared in
//! constant time. Plain SHA-256 suffices because the secret has 256 random
//! bits: there is nothing to brute-force.

use std::fmt;

use audit_core::LedgerId;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use sqlx::Row as _;
use subtle::ConstantTimeEq as _;

use crate::db::{on_db, write_tx};
use crate::system;
use crate::{now_ms, AccountId, Origin, Store, StoreError, SystemEvent};

const PREFIX: &str = "auds_";
const ID_HEX: usize = 16;
const SECRET_HEX: usize = 64;
const CRC_HEX: usize = 8;
/// A key's last-use time is written at most this often, so authentication
/// does not turn every read into a write.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// An API key's public id: `key_` and 16 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ApiKeyId(String);

impl ApiKeyId {
    /// Parses a key id as shown in listings.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix("key_")?;
        (hex.len() == ID_HEX && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn hex(&self) -> &str {
        &self.0[4..]
    }
}

/// A key's secret, as shown once to its creator. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret(***)")
    }
}

impl ApiKeySecret {
    fn generate(id: &ApiKeyId) -> Self {
        let mut random = [0u8; 32];
        rand::rng().fill_bytes(&mut random);
        let body = format!("{PREFIX}{}_{}", id.hex(), hex::encode(random));
        let crc = crc32fast::hash(body.as_bytes());
        Self(format!("{body}{crc:08x}"))
    }

    /// Parses a presented secret: prefix, shape and checksum. Returns the key
    /// id it names; `None` for anything that is not a well-formed key.
    pub fn parse(presented: &str) -> Option<(Self, ApiKeyId)> {
        let rest = presented.strip_prefix(PREFIX)?;
        if rest.len() != ID_HEX + 1 + SECRET_HEX + CRC_HEX || !rest.is_ascii() {
            return None;
        }
        let (id_hex, tail) = rest.split_at(ID_HEX);
        let tail = tail.strip_prefix('_')?;
        let (_, crc_hex) = tail.split_at(SECRET_HEX);
        let body = &presented[..presented.len() - CRC_HEX];
        let crc = u32::from_str_radix(crc_hex, 16).ok()?;
        if crc32fast::hash(body.as_bytes()) != crc {
            return None;
        }
        let id = ApiKeyId::parse(&format!("key_{id_hex}"))?;
        Some((Self(presented.to_owned()), id))
    }

    /// The secret itself, to hand to its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first characters, safe to show in listings and logs.
    pub fn display_prefix(&self) -> &str {
        &self.0[..PREFIX.len() + ID_HEX]
    }

    fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Read events, proofs and checkpoints; never write.
    Read,
    /// Append events; never read them back.
    Write,
    /// Manage ledgers and keys of the account; no event access.
    Admin,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "read" => Ok(Permission::Read),
            "write" => Ok(Permission::Write),
            "admin" => Ok(Permission::Admin),
            _ => Err(StoreError::Corrupt("unknown key permission")),
        }
    }
}

/// Which ledgers a key reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyScope {
    /// Every ledger of the account, present and future.
    AccountWide,
    /// Only these ledgers.
    Ledgers(Vec<LedgerId>),
}

impl KeyScope {
    /// Whether the scope includes `ledger`.
    pub fn allows(&self, ledger: &LedgerId) -> bool {
        match self {
            KeyScope::AccountWide => true,
            KeyScope::Ledgers(ledgers) => ledgers.contains(ledger),
        }
    }
}

/// A stored key (never its secret).
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub account_id: AccountId,
    pub name: String,
    pub permission: Permission,
    pub scope: KeyScope,
    pub created_ms: i64,
    pub created_by: Option<String>,
    pub revoked_ms: Option<i64>,
    pub last_used_ms: Option<i64>,
    pub replaces: Option<ApiKeyId>,
}

impl ApiKey {
    /// What listings show of the secret: `auds_<key id hex>`.
    pub fn display_prefix(&self) -> String {
        format!("{PREFIX}{}", self.id.hex())
    }
}

/// What a new key should be.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub permission: Permission,
    pub scope: KeyScope,
    /// Who asked for it (a key id or a user), for the audit trail.
    pub created_by: Option<String>,
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_typos_are_caught_by_the_checksum() {
        let id = ApiKeyId("key_0123456789abcdef".into());
        let secret = ApiKeySecret::generate(&id);
        assert!(secret.expose().starts_with("auds_0123456789abcdef_"));
        assert_eq!(secret.expose().len(), 5 + 16 + 1 + 64 + 8);
        let (parsed, parsed_id) = ApiKeySecret::parse(secret.expose()).expect("parses");
        assert_eq!(parsed, secret);
        assert_eq!(parsed_id, id);
        assert!(!format!("{secret:?}").contains(&secret.expose()[22..]), "Debug hides the secret");

        // Change one character of the random part: the checksum fails.
        let mut typo = secret.expose().to_owned().into_bytes();
        typo[30] = if typo[30] == b'a' { b'b' } else { b'a' };
        assert!(ApiKeySecret::parse(std::str::from_utf8(&typo).expect("ascii")).is_none());
        assert!(ApiKeySecret::parse("auds_short").is_none());
        assert!(ApiKeySecret::parse("").is_none());
        assert!(ApiKeySecret::parse(&secret.expose().replace("auds_", "xxxx_")).is_none());
    }
}
