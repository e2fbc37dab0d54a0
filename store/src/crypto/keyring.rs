//! The keyring: every ledger's data keys (DEKs), kept in `ledger_keys`
//! only wrapped by the [`KeyProvider`], and a bounded cache of unwrapped
//! ones. `ledger_heads.key_version` names the one new events are sealed
//! with; older versions stay for reading.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit_core::LedgerId;
use sqlx::Row as _;

use super::key_providers::{KeyContext, KeyProvider, WrappedKey};
use super::records::{integrity, sealed_version, Dek, RowBinding, DESTROYED};
use super::secrets::SecretBox;
use crate::db::{from_i64, on_db, write_tx, Db};
use crate::system::{self, Staged};
use crate::{now_ms, StoreError};

/// Unwrapped keys kept in memory at most, and for how long: the bound on
/// memory, and on how long another process may still decrypt after a
/// ledger's keys are destroyed elsewhere.
const CACHE_ENTRIES: usize = 4096;
const CACHE_TTL: Duration = Duration::from_secs(300);

struct Cached {
    dek: Arc<Dek>,
    loaded: Instant,
}

/// The key provider, the database it keeps wrapped keys in, and a bounded
/// cache of unwrapped DEKs.
pub(crate) struct Keyring {
    pub(super) db: Db,
    pub(super) provider: KeyProvider,
    cache: Mutex<HashMap<(LedgerId, u32), Cached>>,
    /// Ledgers' `plaintext_below`, for records written before encryption.
    legacy: Mutex<HashMap<LedgerId, u64>>,
    /// Ledgers whose keys this process destroyed: never cached again, even
    /// by a read that fetched a key just before the destruction committed.
    pub(super) destroyed: Mutex<std::collections::HashSet<LedgerId>>,
    /// Instance secrets in use as sealing keys, by name (they never change;
    /// a KEK rotation re-wraps them only).
    pub(super) boxes: Mutex<HashMap<&'static str, Arc<SecretBox>>>,
    /// Benchmarks only: store content unsealed, to measure what sealing costs.
    #[cfg(feature = "testing")]
    pub(crate) plaintext: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("provider", &self.provider).finish_non_exhaustive()
    }
}

impl Keyring {
    pub(crate) fn new(db: Db, provider: KeyProvider) -> Self {
        Self {
            db,
            provider,
            cache: Mutex::new(HashMap::new()),
            legacy: Mutex::new(HashMap::new()),
            destroyed: Mutex::new(std::collections::HashSet::new()),
            boxes: Mutex::new(HashMap::new()),
            #[cfg(feature = "testing")]
            plaintext: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether new content is sealed (always, except in benchmarks).
    pub(crate) fn sealing(&self) -> bool {
        #[cfg(feature = "testing")]
        if self.plaintext.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        true
    }

    pub(super) fn cached(&self, ledger: &LedgerId, version: u32) -> Option<Arc<Dek>> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(&(ledger.clone(), version)).filter(|c| c.loaded.elapsed() < CACHE_TTL).map(|c| c.dek.clone())
    }

    pub(super) fn remember(&self, ledger: &LedgerId, dek: Arc<Dek>) {
        if self.destroyed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(ledger) {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, c| c.loaded.elapsed() < CACHE_TTL);
        }
        if cache.len() >= CACHE_ENTRIES {
            if let Some(oldest) = cache.iter().min_by_key(|(_, c)| c.loaded).map(|(k, _)| k.clone()) {
                cache.remove(&oldest);
            }
        }
        cache.insert((ledger.clone(), dek.version()), Cached { dek, loaded: Instant::now() });
    }

    pub(crate) fn forget(&self, ledger: &LedgerId) {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.retain(|(l, _), _| l != ledger);
    }

    /// DEK `version` of `ledger`, unwrapped (from the cache when it can).
    pub(crate) async fn key(&self, ledger: &LedgerId, version: u32) -> Result<Arc<Dek>, StoreError> {
        if let Some(dek) = self.cached(ledger, version) {
            return Ok(dek);
        }
        let row: Option<(String, String, Vec<u8>)> = on_db!(&self.db.pool, |p| {
            sqlx::query_as("SELECT provider, kek_id, wrapped FROM ledger_keys WHERE ledger_id = $1 AND version = $2")
                .bind(ledger.as_str())
                .bind(i64::from(version))
                .fetch_optional(p)
                .await?
        });
        if self.destroyed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(ledger) {
            return Err(StoreError::KeysDestroyed);
        }
        let Some((provider, kek_id, blob)) = row else {
            return Err(if self.current_version(ledger).await? == DESTROYED {
                StoreError::KeysDestroyed
            } else {
                StoreError::Keys(format!("ledger {ledger} has no data key version {version}"))
            });
        };
        let wrapped = WrappedKey { provider, kek_id, blob };
        let key = self.provider.unwrap(&wrapped, &KeyContext::ledger_key(ledger.as_str(), version)).await?;
        let dek = Arc::new(Dek::new(version, &key)?);
        self.remember(ledger, dek.clone());
        Ok(dek)
    }

    pub(super) async fn current_version(&self, ledger: &LedgerId) -> Result<i64, StoreError> {
        let version: Option<i64> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT key_version FROM ledger_heads WHERE ledger_id = $1")
                .bind(ledger.as_str())
                .fetch_optional(p)
                .await?
        });
        version.ok_or(StoreError::NotFound("ledger"))
    }

    /// The DEK new events of `ledger` are sealed with, creating the ledger's
    /// first one if it has none yet.
    pub(crate) async fn current(&self, ledger: &LedgerId) -> Result<Arc<Dek>, StoreError> {
        match self.current_version(ledger).await? {
            DESTROYED => Err(StoreError::KeysDestroyed),
            0 => self.add_version(ledger, 0, None).await.map(|(dek, _)| dek),
            version => self.key(ledger, version_u32(version)?).await,
        }
    }

    /// The DEK that keys `ledger`'s blind index: its first one.
    pub(crate) async fn index_key(&self, ledger: &LedgerId) -> Result<Arc<Dek>, StoreError> {
        if let Some(dek) = self.cached(ledger, 1) {
            return Ok(dek);
        }
        // Creates version 1 for a ledger that has none yet.
        self.current(ledger).await?;
        self.key(ledger, 1).await
    }

    /// Adds DEK version `expected + 1` and makes it current, if the current
    /// version is still `expected`, recording `event` (a rotation) in the
    /// same transaction. Returns the current DEK afterwards and whether this
    /// call added it.
    pub(crate) async fn add_version(
        &self,
        ledger: &LedgerId,
        expected: i64,
        event: Option<Staged>,
    ) -> Result<(Arc<Dek>, bool), StoreError> {
        let version = version_u32(expected + 1)?;
        // The provider call (a KMS round trip) happens before any lock.
        let context = KeyContext::ledger_key(ledger.as_str(), version);
        let (key, mut wrapped) = self.provider.generate(&context).await?;
        let now = now_ms();
        let current: i64 = write_tx!(&self.db, |tx, sql| {
            // Orders this insert with a KEK rotation's final check: see
            // `retire_old_keks`.
            for statement in sql.guard_new_keys {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            // A KEK rotation may have completed since the key was wrapped:
            // never store a key under a KEK that is being retired.
            self.provider.refresh()?;
            if wrapped.kek_id != self.provider.current_kek_id() {
                wrapped = self.provider.wrap(&key, &context).await?;
            }
            let lock =
                format!("SELECT key_version, tree_size FROM ledger_heads WHERE ledger_id = $1{}", sql.for_update);
            let head = sqlx::query(&lock).bind(ledger.as_str()).fetch_optional(&mut *tx).await?;
            let head = head.ok_or(StoreError::NotFound("ledger"))?;
            let current: i64 = head.try_get(0)?;
            let size: i64 = head.try_get(1)?;
            if current == expected {
                sqlx::query(
                    "INSERT INTO ledger_keys (ledger_id, version, provider, kek_id, wrapped, from_seq, created_ms, wrapped_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                )
                .bind(ledger.as_str())
                .bind(i64::from(version))
                .bind(&wrapped.provider)
                .bind(&wrapped.kek_id)
                .bind(wrapped.blob.as_slice())
                .bind(size)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE ledger_heads SET key_version = $1 WHERE ledger_id = $2")
                    .bind(i64::from(version))
                    .bind(ledger.as_str())
                    .execute(&mut *tx)
                    .await?;
                if let Some(event) = &event {
                    system::outbox::insert((&mut *tx).into(), event).await?;
                }
                tx.commit().await?;
            }
            current
        });
        if current == expected {
            let dek = Arc::new(Dek::new(version, &key)?);
            self.remember(ledger, dek.clone());
            return Ok((dek, true));
        }
        // Someone else moved the version meanwhile; ours is discarded unused.
        match current {
            DESTROYED => Err(StoreError::KeysDestroyed),
            version => Ok((self.key(ledger, version_u32(version)?).await?, false)),
        }
    }

    /// Opens the stored record of an event row of `ledger`: sealed records
    /// with their DEK; a plain record only below the ledger's
    /// `plaintext_below` (events stored before encryption existed), never
    /// above it.
    pub(crate) async fn open(
        &self,
        ledger: &LedgerId,
        row: &RowBinding<'_>,
        record: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        match sealed_version(record) {
            Some(version) => {
                let dek = self.key(ledger, version).await?;
                dek.open(ledger.as_str(), row, record)
            }
            None => {
                // Benchmarks measure the pipeline without sealing, indexer
                // included, so they must read back what they wrote.
                #[cfg(feature = "testing")]
                if !self.sealing() {
                    return Ok(record.to_vec());
                }
                if row.seq < self.plaintext_below(ledger).await? {
                    Ok(record.to_vec())
                } else {
                    Err(integrity(ledger.as_str(), row, "is not sealed although the ledger seals every event"))
                }
            }
        }
    }

    async fn plaintext_below(&self, ledger: &LedgerId) -> Result<u64, StoreError> {
        if let Some(below) = self.legacy.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(ledger) {
            return Ok(*below);
        }
        let below: Option<i64> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT plaintext_below FROM ledgers WHERE id = $1")
                .bind(ledger.as_str())
                .fetch_optional(p)
                .await?
        });
        let below = from_i64(below.ok_or(StoreError::NotFound("ledger"))?)?;
        self.legacy.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(ledger.clone(), below);
        Ok(below)
    }
}

/// A stored key version as a number.
pub(super) fn version_u32(version: i64) -> Result<u32, StoreError> {
    u32::try_from(version).map_err(|_| StoreError::Corrupt("invalid key version"))
}
