//! Envelope encryption of ledgers: per-ledger data keys (DEKs), sealed
//! event records and blind-index terms.
//!
//! Every ledger has numbered DEKs in `ledger_keys`, stored only wrapped by
//! the [`KeyProvider`]. `ledger_heads.key_version` names the one new events
//! are sealed with; older versions stay for reading. An event's content is
//! sealed with AES-256-GCM (NIST SP 800-38D) under a random 96-bit nonce,
//! with the ledger id, the seq and the key version as associated data, so a
//! sealed record copied to another row or ledger fails to open.
//!
//! Equality filters use HMAC-SHA256 (RFC 2104) terms keyed with an index
//! key derived by HKDF-SHA256 (RFC 5869) from the ledger's first DEK, so the
//! index stays usable across DEK rotations without re-indexing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use audit_core::LedgerId;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;
use sqlx::Row as _;
use zeroize::Zeroizing;

use crate::kek::{KeyContext, KeyProvider, SecretKey, WrappedKey};
use crate::nodes::from_i64;
use crate::{now_ms, on_pool, Pool, StoreError};

/// First byte of a sealed event record (format version 1).
const SEALED_V1: u8 = 0x01;
const NONCE_LEN: usize = 12;
/// Header of a sealed record: format byte, key version, nonce.
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// Unwrapped keys kept in memory at most, and for how long: the bound on
/// memory, and on how long another process may still decrypt after a
/// ledger's keys are destroyed elsewhere.
const CACHE_ENTRIES: usize = 4096;
const CACHE_TTL: Duration = Duration::from_secs(300);
/// `ledger_heads.key_version` once a ledger's keys are destroyed.
pub(crate) const DESTROYED: i64 = -1;

/// One unwrapped DEK, ready to use. Both keys are zeroized on drop (the
/// `aes-gcm` zeroize feature clears the expanded key schedule).
pub(crate) struct Dek {
    version: u32,
    cipher: Aes256Gcm,
    index: Hmac<Sha256>,
}

impl std::fmt::Debug for Dek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dek").field("version", &self.version).finish_non_exhaustive()
    }
}

impl Dek {
    fn new(version: u32, key: &SecretKey) -> Result<Self, StoreError> {
        let mut index_key = Zeroizing::new([0u8; 32]);
        hkdf::Hkdf::<Sha256>::new(None, key.as_slice())
            .expand(b"auditstore/v1/blind-index", index_key.as_mut_slice())
            .map_err(|_| StoreError::Keys("index key derivation failed".into()))?;
        let index = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(index_key.as_slice())
            .map_err(|_| StoreError::Keys("bad index key".into()))?;
        let cipher =
            Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| StoreError::Keys("bad data key length".into()))?;
        Ok(Self { version, cipher, index })
    }

    pub(crate) fn version(&self) -> u32 {
        self.version
    }

    /// Seals an event record of `ledger` at `seq`.
    pub(crate) fn seal(&self, ledger: &str, seq: u64, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = aad(ledger, seq, self.version);
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: &aad })
            .map_err(|_| StoreError::Keys("sealing an event failed".into()))?;
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open(&self, ledger: &str, seq: u64, record: &[u8]) -> Result<Vec<u8>, StoreError> {
        let nonce: [u8; NONCE_LEN] = record
            .get(5..HEADER_LEN)
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| integrity(ledger, seq, "is truncated"))?;
        let aad = aad(ledger, seq, self.version);
        self.cipher.decrypt(&Nonce::from(nonce), Payload { msg: &record[HEADER_LEN..], aad: &aad }).map_err(|_| {
            integrity(
                ledger,
                seq,
                "failed authenticated decryption: it was altered, or moved from another row or ledger",
            )
        })
    }

    /// The blind-index term of `field = value` (only meaningful from a
    /// ledger's first DEK; see [`Keyring::index_key`]).
    pub(crate) fn term(&self, field: &str, value: &str) -> [u8; 32] {
        let mut mac = self.index.clone();
        mac.update(b"auditstore/v1/term\n");
        mac.update(field.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

fn integrity(ledger: &str, seq: u64, what: &str) -> StoreError {
    StoreError::Integrity(format!("the stored record of event seq {seq} in ledger {ledger} {what}"))
}

/// Associated data of a sealed event: what it is, where it belongs, and
/// which key sealed it.
fn aad(ledger: &str, seq: u64, version: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(40 + ledger.len());
    aad.extend_from_slice(b"auditstore/v1/event\0");
    aad.extend_from_slice(ledger.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&seq.to_be_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

/// The key version a stored record was sealed with; `None` for a record
/// written before encryption existed (plain JSON).
fn sealed_version(record: &[u8]) -> Option<u32> {
    match record.first() {
        Some(&SEALED_V1) => record.get(1..5).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes),
        _ => None,
    }
}

struct Cached {
    dek: Arc<Dek>,
    loaded: Instant,
}

/// The key provider, the database it keeps wrapped keys in, and a bounded
/// cache of unwrapped DEKs.
pub(crate) struct Keyring {
    pool: Pool,
    provider: KeyProvider,
    cache: Mutex<HashMap<(LedgerId, u32), Cached>>,
    /// Ledgers' `plaintext_below`, for records written before encryption.
    legacy: Mutex<HashMap<LedgerId, u64>>,
    /// Ledgers whose keys this process destroyed: never cached again, even
    /// by a read that fetched a key just before the destruction committed.
    destroyed: Mutex<std::collections::HashSet<LedgerId>>,
    sqlite_writer: Arc<tokio::sync::Mutex<()>>,
    /// Benchmarks only: store content unsealed, to measure what sealing costs.
    #[cfg(feature = "testing")]
    pub(crate) plaintext: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("provider", &self.provider).finish_non_exhaustive()
    }
}

/// Why a ledger key was rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationReason {
    /// Asked for through the API or the CLI.
    Requested,
    /// The current key sealed the configured number of events.
    EventCount,
    /// The current key reached the configured age.
    Age,
}

impl RotationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RotationReason::Requested => "requested",
            RotationReason::EventCount => "event_count",
            RotationReason::Age => "age",
        }
    }
}

impl Keyring {
    pub(crate) fn new(pool: Pool, provider: KeyProvider, sqlite_writer: Arc<tokio::sync::Mutex<()>>) -> Self {
        Self {
            pool,
            provider,
            cache: Mutex::new(HashMap::new()),
            legacy: Mutex::new(HashMap::new()),
            destroyed: Mutex::new(std::collections::HashSet::new()),
            sqlite_writer,
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

    fn cached(&self, ledger: &LedgerId, version: u32) -> Option<Arc<Dek>> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(&(ledger.clone(), version)).filter(|c| c.loaded.elapsed() < CACHE_TTL).map(|c| c.dek.clone())
    }

    fn remember(&self, ledger: &LedgerId, dek: Arc<Dek>) {
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
        cache.insert((ledger.clone(), dek.version), Cached { dek, loaded: Instant::now() });
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
        let row: Option<(String, String, Vec<u8>)> = on_pool!(&self.pool, |p| {
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

    async fn current_version(&self, ledger: &LedgerId) -> Result<i64, StoreError> {
        let version: Option<i64> = on_pool!(&self.pool, |p| {
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
            0 => self.add_version(ledger, 0).await.map(|(dek, _)| dek),
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
    /// version is still `expected`. Returns the current DEK afterwards and
    /// whether this call added it.
    pub(crate) async fn add_version(&self, ledger: &LedgerId, expected: i64) -> Result<(Arc<Dek>, bool), StoreError> {
        let version = version_u32(expected + 1)?;
        // The provider call (a KMS round trip) happens before any lock.
        let context = KeyContext::ledger_key(ledger.as_str(), version);
        let (key, mut wrapped) = self.provider.generate(&context).await?;
        let _turn = match &self.pool {
            Pool::Sqlite(_) => Some(self.sqlite_writer.clone().lock_owned().await),
            Pool::Postgres(_) => None,
        };
        let now = now_ms();
        let current: i64 = on_pool!(&self.pool, |p| {
            let mut tx = match &self.pool {
                Pool::Sqlite(_) => p.begin_with("BEGIN IMMEDIATE").await?,
                Pool::Postgres(_) => p.begin().await?,
            };
            if let Pool::Postgres(_) = &self.pool {
                // Orders this insert with a KEK rotation's final check (which
                // takes SHARE ROW EXCLUSIVE): see `retire_old_keks`.
                sqlx::query("LOCK TABLE ledger_keys IN ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
            }
            // A KEK rotation may have completed since the key was wrapped:
            // never store a key under a KEK that is being retired.
            self.provider.refresh()?;
            if wrapped.kek_id != self.provider.current_kek_id() {
                wrapped = self.provider.wrap(&key, &context).await?;
            }
            let lock_sql = match &self.pool {
                Pool::Sqlite(_) => "SELECT key_version, tree_size FROM ledger_heads WHERE ledger_id = $1",
                Pool::Postgres(_) => "SELECT key_version, tree_size FROM ledger_heads WHERE ledger_id = $1 FOR UPDATE",
            };
            let head = sqlx::query(lock_sql).bind(ledger.as_str()).fetch_optional(&mut *tx).await?;
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
                tx.commit().await?;
            }
            current
        });
        drop(_turn);
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

    /// Opens a stored record of `ledger` at `seq`: sealed records with their
    /// DEK; a plain record only below the ledger's `plaintext_below` (events
    /// stored before encryption existed), never above it.
    pub(crate) async fn open(&self, ledger: &LedgerId, seq: u64, record: &[u8]) -> Result<Vec<u8>, StoreError> {
        match sealed_version(record) {
            Some(version) => {
                let dek = self.key(ledger, version).await?;
                dek.open(ledger.as_str(), seq, record)
            }
            None => {
                // Benchmarks measure the pipeline without sealing, indexer
                // included, so they must read back what they wrote.
                #[cfg(feature = "testing")]
                if !self.sealing() {
                    return Ok(record.to_vec());
                }
                if seq < self.plaintext_below(ledger).await? {
                    Ok(record.to_vec())
                } else {
                    Err(integrity(ledger.as_str(), seq, "is not sealed although the ledger seals every event"))
                }
            }
        }
    }

    async fn plaintext_below(&self, ledger: &LedgerId) -> Result<u64, StoreError> {
        if let Some(below) = self.legacy.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(ledger) {
            return Ok(*below);
        }
        let below: Option<i64> = on_pool!(&self.pool, |p| {
            sqlx::query_scalar("SELECT plaintext_below FROM ledgers WHERE id = $1")
                .bind(ledger.as_str())
                .fetch_optional(p)
                .await?
        });
        let below = from_i64(below.ok_or(StoreError::NotFound("ledger"))?)?;
        self.legacy.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(ledger.clone(), below);
        Ok(below)
    }

    /// Every wrapped key (ledger DEKs and instance secrets) not wrapped by
    /// the provider's current KEK is re-wrapped under it. Event rows are
    /// not touched. Returns how many DEKs moved, per account.
    pub(crate) async fn rewrap_all(&self) -> Result<RewrapReport, StoreError> {
        let rows: Vec<(String, String, i64, String, String, Vec<u8>)> = on_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT l.account_id, k.ledger_id, k.version, k.provider, k.kek_id, k.wrapped FROM ledger_keys k \
                 JOIN ledgers l ON l.id = k.ledger_id ORDER BY l.account_id, k.ledger_id, k.version",
            )
            .fetch_all(p)
            .await?
        });
        let mut report = RewrapReport::default();
        for (account, ledger, version, provider, kek_id, blob) in rows {
            let old = WrappedKey { provider, kek_id, blob };
            let context = KeyContext::ledger_key(&ledger, version_u32(version)?);
            let Some(new) = self.provider.rewrap(&old, &context).await? else { continue };
            let updated = on_pool!(&self.pool, |p| {
                sqlx::query(
                    "UPDATE ledger_keys SET provider = $1, kek_id = $2, wrapped = $3, wrapped_ms = $4 \
                     WHERE ledger_id = $5 AND version = $6 AND wrapped = $7",
                )
                .bind(&new.provider)
                .bind(&new.kek_id)
                .bind(new.blob.as_slice())
                .bind(now_ms())
                .bind(&ledger)
                .bind(version)
                .bind(old.blob.as_slice())
                .execute(p)
                .await?
                .rows_affected()
            });
            if updated == 1 {
                *report.ledger_keys.entry(account).or_default() += 1;
            }
        }
        let secrets: Vec<(String, String, String, Vec<u8>)> = on_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT name, provider, kek_id, wrapped FROM instance_secrets ORDER BY name")
                .fetch_all(p)
                .await?
        });
        for (name, provider, kek_id, blob) in secrets {
            let old = WrappedKey { provider, kek_id, blob };
            let Some(new) = self.provider.rewrap(&old, &KeyContext::instance_secret(&name)).await? else { continue };
            let updated = on_pool!(&self.pool, |p| {
                sqlx::query(
                    "UPDATE instance_secrets SET provider = $1, kek_id = $2, wrapped = $3, wrapped_ms = $4 \
                     WHERE name = $5 AND wrapped = $6",
                )
                .bind(&new.provider)
                .bind(&new.kek_id)
                .bind(new.blob.as_slice())
                .bind(now_ms())
                .bind(&name)
                .bind(old.blob.as_slice())
                .execute(p)
                .await?
                .rows_affected()
            });
            report.instance_secrets += updated;
        }
        Ok(report)
    }

    /// Runs `retire` (which destroys old KEKs) only if no stored key is
    /// wrapped by another KEK than the current one, while holding a lock that
    /// keeps new keys from being stored meanwhile (new keys re-check their
    /// KEK under that lock; see `add_version`).
    pub(crate) async fn retire_old_keks(
        &self,
        retire: impl FnOnce() -> Result<usize, String>,
    ) -> Result<usize, StoreError> {
        let _turn = match &self.pool {
            Pool::Sqlite(_) => Some(self.sqlite_writer.clone().lock_owned().await),
            Pool::Postgres(_) => None,
        };
        let (provider, kek) = (self.provider.name(), self.provider.current_kek_id());
        on_pool!(&self.pool, |p| {
            let mut tx = match &self.pool {
                Pool::Sqlite(_) => p.begin_with("BEGIN IMMEDIATE").await?,
                Pool::Postgres(_) => p.begin().await?,
            };
            if let Pool::Postgres(_) = &self.pool {
                sqlx::query("LOCK TABLE ledger_keys, instance_secrets IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
            }
            let remaining: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM ledger_keys WHERE provider <> $1 OR kek_id <> $2) \
                      + (SELECT COUNT(*) FROM instance_secrets WHERE provider <> $1 OR kek_id <> $2)",
            )
            .bind(provider)
            .bind(&kek)
            .fetch_one(&mut *tx)
            .await?;
            if remaining > 0 {
                return Err(StoreError::Keys(format!(
                    "{remaining} stored keys are still wrapped by an old KEK (created concurrently?); nothing was \
                     destroyed: run the KEK rotation again"
                )));
            }
            let retired = retire().map_err(StoreError::Keys)?;
            tx.commit().await?;
            Ok(retired)
        })
    }

    /// An instance secret, creating it with `create` when absent. Several
    /// processes starting at once agree on the first one stored.
    pub(crate) async fn instance_secret(
        &self,
        name: &str,
        create: impl FnOnce() -> SecretKey,
    ) -> Result<(SecretKey, bool), StoreError> {
        let context = KeyContext::instance_secret(name);
        if let Some(wrapped) = self.stored_instance_secret(name).await? {
            return Ok((self.provider.unwrap(&wrapped, &context).await?, false));
        }
        let wrapped = self.provider.wrap(&create(), &context).await?;
        let inserted = on_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO instance_secrets (name, provider, kek_id, wrapped, created_ms, wrapped_ms) \
                 VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(&wrapped.provider)
            .bind(&wrapped.kek_id)
            .bind(wrapped.blob.as_slice())
            .bind(now_ms())
            .execute(p)
            .await?
            .rows_affected()
        });
        // Read back what is stored: ours, or a peer's that won the race.
        let stored = self.stored_instance_secret(name).await?;
        let stored = stored.ok_or_else(|| StoreError::Keys(format!("instance secret {name} could not be stored")))?;
        Ok((self.provider.unwrap(&stored, &context).await?, inserted == 1))
    }

    async fn stored_instance_secret(&self, name: &str) -> Result<Option<WrappedKey>, StoreError> {
        let row: Option<(String, String, Vec<u8>)> = on_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT provider, kek_id, wrapped FROM instance_secrets WHERE name = $1")
                .bind(name)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|(provider, kek_id, blob)| WrappedKey { provider, kek_id, blob }))
    }

    /// Destroys every DEK of `ledger` (crypto-shredding). Its sealed rows,
    /// here and in any copy of the database, become unreadable once the
    /// wrapped keys are gone from it; its blind-index terms are removed.
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
        let _turn = match &self.pool {
            Pool::Sqlite(_) => Some(self.sqlite_writer.clone().lock_owned().await),
            Pool::Postgres(_) => None,
        };
        let destroyed = on_pool!(&self.pool, |p| {
            let mut conn = p.acquire().await?;
            if let Pool::Sqlite(_) = &self.pool {
                // Overwrite the deleted wrapped keys in the file instead of
                // leaving them in free space.
                sqlx::query("PRAGMA secure_delete = ON").execute(&mut *conn).await?;
            }
            let mut tx = match &self.pool {
                Pool::Sqlite(_) => sqlx::Connection::begin(&mut *conn).await?,
                Pool::Postgres(_) => sqlx::Connection::begin(&mut *conn).await?,
            };
            if let Pool::Postgres(_) = &self.pool {
                sqlx::query("SELECT 1 FROM ledger_heads WHERE ledger_id = $1 FOR UPDATE")
                    .bind(ledger.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            }
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
            sqlx::query("DELETE FROM event_terms WHERE ledger_id = $1").bind(ledger.as_str()).execute(&mut *tx).await?;
            tx.commit().await?;
            match &self.pool {
                Pool::Sqlite(_) => {
                    sqlx::query("PRAGMA secure_delete = OFF").execute(&mut *conn).await?;
                    // Old copies of the pages live on in the WAL until it is
                    // checkpointed and truncated; readers can make that busy.
                    let mut truncated = false;
                    for _ in 0..50 {
                        let (busy, _, _): (i64, i64, i64) =
                            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut *conn).await?;
                        if busy == 0 {
                            truncated = true;
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    if !truncated {
                        tracing::warn!(%ledger, "the WAL could not be truncated after destroying keys (busy readers); old copies remain until the next checkpoint");
                    }
                }
                Pool::Postgres(_) => {
                    // Dead tuples keep the old bytes until the table is
                    // rewritten; the table is small. Without the privilege
                    // (a non-owner role) autovacuum reclaims them later.
                    if let Err(error) = sqlx::query("VACUUM FULL ledger_keys").execute(&mut *conn).await {
                        tracing::warn!(%error, "could not VACUUM FULL ledger_keys after destroying keys (it needs the table owner; run it as the owner)");
                    }
                }
            }
            destroyed
        });
        Ok(destroyed)
    }

    /// Ledgers whose current DEK is due for rotation by count or age.
    pub(crate) async fn due(&self, max_events: u64, max_age_ms: i64) -> Result<Vec<Due>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = on_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT h.ledger_id, l.account_id, h.key_version, h.tree_size - k.from_seq \
                 FROM ledger_heads h JOIN ledger_keys k ON k.ledger_id = h.ledger_id AND k.version = h.key_version \
                 JOIN ledgers l ON l.id = h.ledger_id \
                 WHERE h.key_version > 0 AND (h.tree_size - k.from_seq >= $1 OR k.created_ms <= $2)",
            )
            // Beyond the database's integers means "never by count".
            .bind(i64::try_from(max_events).unwrap_or(i64::MAX))
            .bind(now_ms().saturating_sub(max_age_ms))
            .fetch_all(p)
            .await?
        });
        rows.into_iter()
            .map(|(ledger, account, version, sealed)| {
                Ok(Due {
                    ledger: LedgerId::new(ledger).map_err(|_| StoreError::Corrupt("invalid ledger id"))?,
                    account: crate::AccountId::from_stored(account),
                    version,
                    reason: if from_i64(sealed)? >= max_events {
                        RotationReason::EventCount
                    } else {
                        RotationReason::Age
                    },
                })
            })
            .collect()
    }
}

impl crate::Store {
    /// Makes a new DEK current for `ledger`'s new events (older versions
    /// stay for reading) and returns its version.
    pub async fn rotate_ledger_key(&self, ledger: &LedgerId) -> Result<u32, StoreError> {
        let current = self.keys.current_version(ledger).await?;
        if current == DESTROYED {
            return Err(StoreError::KeysDestroyed);
        }
        let (dek, _) = self.keys.add_version(ledger, current).await?;
        Ok(dek.version())
    }

    /// Rotates every ledger key that sealed at least `max_events` events or
    /// is older than `max_age_ms`; returns what it rotated.
    pub async fn rotate_due_keys(
        &self,
        max_events: u64,
        max_age_ms: i64,
    ) -> Result<Vec<(LedgerId, crate::AccountId, u32, RotationReason)>, StoreError> {
        let mut rotated = Vec::new();
        for due in self.keys.due(max_events, max_age_ms).await? {
            let (dek, added) = self.keys.add_version(&due.ledger, due.version).await?;
            if added {
                rotated.push((due.ledger, due.account, dek.version(), due.reason));
            }
        }
        Ok(rotated)
    }

    /// Re-wraps every stored key under the provider's current KEK (KEK
    /// rotation); event rows are not touched.
    pub async fn rewrap_keys(&self) -> Result<RewrapReport, StoreError> {
        self.keys.rewrap_all().await
    }

    /// The last step of a KEK rotation: runs `retire` (which destroys the
    /// old KEKs) only when no stored key is wrapped by anything but the
    /// current KEK, under a lock that keeps new keys out meanwhile. Fails,
    /// destroying nothing, when some key still needs an old KEK.
    pub async fn retire_old_keks(&self, retire: impl FnOnce() -> Result<usize, String>) -> Result<usize, StoreError> {
        self.keys.retire_old_keks(retire).await
    }

    /// Destroys `ledger`'s data keys (crypto-shredding): its sealed events
    /// can no longer be decrypted through any path, appends are refused, and
    /// its filter terms are removed. Returns how many key versions were
    /// destroyed. Copies of the database taken earlier still hold the wrapped
    /// keys: rotating the KEK afterwards (and retiring the old one) makes
    /// those unreadable too.
    pub async fn destroy_ledger_keys(&self, ledger: &LedgerId) -> Result<u64, StoreError> {
        self.keys.destroy(ledger).await
    }

    /// The data key versions of a ledger: (version, provider, kek id,
    /// first seq sealed with it, created ms), oldest first.
    pub async fn ledger_key_versions(&self, ledger: &LedgerId) -> Result<Vec<KeyVersion>, StoreError> {
        let rows: Vec<(i64, String, String, i64, i64)> = crate::on_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT version, provider, kek_id, from_seq, created_ms FROM ledger_keys WHERE ledger_id = $1 ORDER BY version",
            )
            .bind(ledger.as_str())
            .fetch_all(p)
            .await?
        });
        rows.into_iter()
            .map(|(version, provider, kek_id, from_seq, created_ms)| {
                Ok(KeyVersion {
                    version: version_u32(version)?,
                    provider,
                    kek_id,
                    from_seq: from_i64(from_seq)?,
                    created_ms,
                })
            })
            .collect()
    }
}

/// One data key version of a ledger (never the key itself).
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyVersion {
    pub version: u32,
    pub provider: String,
    pub kek_id: String,
    pub from_seq: u64,
    pub created_ms: i64,
}

/// A ledger whose current DEK is due for rotation.
#[derive(Debug, Clone)]
pub(crate) struct Due {
    pub(crate) ledger: LedgerId,
    pub(crate) account: crate::AccountId,
    pub(crate) version: i64,
    pub(crate) reason: RotationReason,
}

/// What a KEK rotation re-wrapped.
#[derive(Debug, Clone, Default)]
pub struct RewrapReport {
    /// Ledger DEKs re-wrapped, by account id.
    pub ledger_keys: std::collections::BTreeMap<String, u64>,
    /// Instance secrets (the checkpoint signing key) re-wrapped.
    pub instance_secrets: u64,
}

fn version_u32(version: i64) -> Result<u32, StoreError> {
    u32::try_from(version).map_err(|_| StoreError::Corrupt("invalid key version"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dek(seed: u8, version: u32) -> Dek {
        Dek::new(version, &Zeroizing::new([seed; 32])).expect("dek")
    }

    #[test]
    fn a_sealed_record_opens_only_where_it_was_sealed() {
        let key = dek(1, 1);
        let sealed = key.seal("ldg_a", 7, b"{\"action\":\"x\"}").expect("sealed");
        assert_eq!(sealed_version(&sealed), Some(1));
        assert_eq!(key.open("ldg_a", 7, &sealed).expect("opens"), b"{\"action\":\"x\"}");
        assert!(!sealed.windows(6).any(|w| w == b"action"), "no plaintext in the record");

        for (ledger, seq) in [("ldg_a", 8), ("ldg_b", 7)] {
            let error = key.open(ledger, seq, &sealed).expect_err("moved record refused");
            assert!(matches!(error, StoreError::Integrity(_)), "{error}");
        }
        // The same record under another key version's number fails too.
        assert!(dek(1, 2).open("ldg_a", 7, &sealed).is_err());
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(key.open("ldg_a", 7, &flipped).is_err());
        assert!(key.open("ldg_a", 7, &sealed[..10]).is_err());
    }

    #[test]
    fn nonces_differ_between_seals_of_the_same_record() {
        let key = dek(1, 1);
        let a = key.seal("ldg_a", 1, b"same").expect("sealed");
        let b = key.seal("ldg_a", 1, b"same").expect("sealed");
        assert_ne!(a, b);
    }

    #[test]
    fn terms_are_keyed_per_ledger_key_and_field() {
        let (a, b) = (dek(1, 1), dek(2, 1));
        assert_eq!(a.term("action", "login"), a.term("action", "login"));
        assert_ne!(a.term("action", "login"), b.term("action", "login"));
        assert_ne!(a.term("action", "login"), a.term("actor.id", "login"));
        assert_ne!(a.term("ac", "tionlogin"), a.term("action", "login"));
    }

    #[test]
    fn plain_json_is_not_taken_for_a_sealed_record() {
        assert_eq!(sealed_version(b"{\"a\":1}"), None);
        assert_eq!(sealed_version(b""), None);
    }
}
