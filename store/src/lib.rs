//! AuditStore's persistence layer: the only crate that speaks SQL.
//!
//! Two backends with the same behaviour: SQLite (the embedded default, one
//! file in the data directory) and PostgreSQL (production, shared by several
//! stateless server processes). Migrations are embedded in the binary and
//! applied when the store opens.

mod accounts;
mod error;
mod events;
mod indexer;
mod ingest;
mod kek;
mod keys;
mod nodes;
mod sealing;
mod sessions;
mod system;
#[cfg(feature = "testing")]
pub mod testing;
mod users;

use std::str::FromStr;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use accounts::{Account, AccountId, Ledger, LedgerKind};
pub use error::StoreError;
pub use events::{EventFilter, EventPage, StoredEvent, MAX_PAGE};
pub use ingest::{Appended, AppendedEvent, CheckpointSigner, NewEvent};
pub use kek::{KeyContext, KeyProvider, KmsKek, LocalKeks, ReloadKeks, SecretKey, WrappedKey};
pub use keys::{ApiKey, ApiKeyId, ApiKeySecret, KeyScope, NewApiKey, Permission};
pub use sealing::{KeyVersion, RewrapReport, RotationReason};
pub use sessions::Sessions;
pub use users::{
    normalize_email, Invite, LinkToken, Lockout, Role, SecondFactor, SignInFailure, SignInRefused, TotpEnrolment, User,
    UserId, MIN_PASSWORD_CHARS, RECOVERY_CODES,
};

/// Runs the same block against whichever pool a [`Store`] holds; the block is
/// compiled once per backend, so each side uses its own driver's types.
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            $crate::Pool::Sqlite($p) => $body,
            $crate::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in WAL mode with `synchronous=FULL`.
    Sqlite,
    /// A PostgreSQL server (13 or newer).
    Postgres,
}

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    ingest: std::sync::Arc<ingest::Sequencer>,
    keys: std::sync::Arc<sealing::Keyring>,
}

/// How to open a [`Store`].
#[derive(Debug)]
pub struct StoreOptions {
    /// Wraps every data key and instance secret.
    pub keys: KeyProvider,
    /// The host checkpoints name (origin prefix and note key name).
    pub public_host: String,
    /// A checkpoint signing key found in the data directory from before keys
    /// were wrapped: imported (wrapped) when the database has none yet.
    pub legacy_signing_key: Option<SigningKey>,
}

/// The instance secret holding the checkpoint signing key's seed.
const SIGNING_KEY_SECRET: &str = "checkpoint-signing-key";

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Store {
    /// Opens the database named by `url` (`sqlite:` or `postgres://`),
    /// creating a SQLite file if it does not exist, and applies every pending
    /// migration. The checkpoint signing key is kept in the database wrapped
    /// by the key provider; it is created (or imported from
    /// `legacy_signing_key`) on first open.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let pool = if url.starts_with("sqlite:") {
            Pool::Sqlite(open_sqlite(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Pool::Postgres(open_postgres(url).await?)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        migrate(&pool).await?;
        let sqlite_writer = std::sync::Arc::new(tokio::sync::Mutex::new(()));
        let keys = std::sync::Arc::new(sealing::Keyring::new(pool.clone(), options.keys, sqlite_writer.clone()));
        let legacy = options.legacy_signing_key.map(|key| zeroize::Zeroizing::new(key.to_bytes()));
        let (seed, _) =
            keys.instance_secret(SIGNING_KEY_SECRET, || legacy.unwrap_or_else(kek::LocalKeks::generate_key)).await?;
        let signer = CheckpointSigner::new(&options.public_host, SigningKey::from_bytes(&seed))?;
        check_signer(&pool, &signer).await?;
        let ingest = std::sync::Arc::new(ingest::Sequencer::new(pool.clone(), signer, keys.clone(), sqlite_writer));
        Ok(Self { pool, ingest, keys })
    }

    /// The backend this store talks to.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Checks that the database answers and carries the migrated schema.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let rows: i64 = match &self.pool {
            Pool::Sqlite(pool) => sqlx::query_scalar("SELECT COUNT(*) FROM instance").fetch_one(pool).await?,
            Pool::Postgres(pool) => sqlx::query_scalar("SELECT COUNT(*) FROM instance").fetch_one(pool).await?,
        };
        if rows == 1 {
            Ok(())
        } else {
            Err(StoreError::SchemaMissing)
        }
    }

    /// Closes every connection; pending queries finish first.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    match pool {
        Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
        Pool::Postgres(pool) => {
            // The least-privilege application role (docs/POSTGRES.md) may
            // not create sqlx's bookkeeping table, which `run` always tries;
            // when the owner has applied everything already, nothing is run.
            let applied: Result<Vec<(i64, Vec<u8>)>, _> =
                sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations WHERE success").fetch_all(pool).await;
            let complete = applied.is_ok_and(|applied| {
                POSTGRES_MIGRATIONS.iter().all(|m| {
                    applied.iter().any(|(version, checksum)| *version == m.version && **checksum == *m.checksum)
                })
            });
            if !complete {
                POSTGRES_MIGRATIONS.run(pool).await?;
            }
        }
    }
    Ok(())
}

/// Records this database's checkpoint key on first use, and refuses a
/// signer whose public key differs from the recorded one.
async fn check_signer(pool: &Pool, signer: &CheckpointSigner) -> Result<(), StoreError> {
    let key = signer.verifier_key();
    let name = key.name().as_str().to_owned();
    let public = key.verifying_key().to_bytes().to_vec();
    let recorded: Vec<(String, Vec<u8>)> = on_pool!(pool, |p| {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT key_name, public_key FROM checkpoint_signers").fetch_all(p).await?;
        if rows.is_empty() {
            sqlx::query("INSERT INTO checkpoint_signers (key_name, public_key, created_ms) VALUES ($1, $2, $3)")
                .bind(&name)
                .bind(public.as_slice())
                .bind(now_ms())
                .execute(p)
                .await?;
        }
        rows
    });
    if recorded.is_empty() || recorded.iter().any(|(n, k)| *n == name && *k == public) {
        return Ok(());
    }
    let names: Vec<&str> = recorded.iter().map(|(n, _)| n.as_str()).collect();
    Err(StoreError::Conflict(format!(
        "this database's checkpoints are signed as {names:?} with another key or name than this process's ({name:?}): \
         give every server process the same --public-host, and for a database that predates wrapped keys keep its \
         keys/checkpoint-signing.key in the data dir so that it is imported"
    )))
}

/// The current time as Unix milliseconds.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

async fn open_sqlite(url: &str) -> Result<SqlitePool, StoreError> {
    // WAL lets readers proceed while the single writer commits; FULL makes a
    // commit durable (fsync of the WAL) before it returns, which is what a 2xx
    // for an event promises.
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        // Without this, INSERT OR REPLACE deletes rows without firing the
        // delete triggers that keep history immutable.
        .pragma("recursive_triggers", "ON")
        // 32 MiB of page cache per connection (SQLite's default is 2 MiB):
        // filter-term inserts land all over their B-tree.
        .pragma("cache_size", "-32768")
        .busy_timeout(Duration::from_secs(10));
    Ok(SqlitePoolOptions::new().max_connections(8).connect_with(options).await?)
}

async fn open_postgres(url: &str) -> Result<PgPool, StoreError> {
    Ok(PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(10)).connect(url).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_is_durable_and_migrated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("a.db").display());
        let store = Store::open(&url, crate::testing::options()).await.expect("opens");
        assert_eq!(store.backend(), Backend::Sqlite);
        store.ping().await.expect("migrated");
        let Pool::Sqlite(pool) = &store.pool else { panic!("sqlite pool") };
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await.expect("pragma");
        assert_eq!(mode, "wal");
        // 2 = FULL: the WAL is synced on every commit.
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.expect("pragma");
        assert_eq!(sync, 2);
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(pool).await.expect("pragma");
        assert_eq!(fk, 1);
        store.close().await;
        assert!(dir.path().join("a.db").exists());

        // Opening again applies nothing twice.
        let again = Store::open(&url, crate::testing::options()).await.expect("reopens");
        again.ping().await.expect("still migrated");
    }

    #[tokio::test]
    async fn unknown_schemes_are_refused() {
        let error = Store::open("mysql://localhost/x", crate::testing::options()).await.expect_err("refused");
        assert!(matches!(error, StoreError::UnsupportedUrl));
    }
}
