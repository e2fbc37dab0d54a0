//! AuditStore's persistence layer: the only crate that speaks SQL.
//!
//! Two backends with the same behaviour: SQLite (the embedded default, one
//! file in the data directory) and PostgreSQL (production, shared by several
//! stateless server processes). Migrations are embedded in the binary and
//! applied when the store opens.
//!
//! Areas, one folder each: `db` (opening, migrations, the one way to speak
//! to both databases, row conversions, job leases), `ledger` (accounts and
//! ledgers, the ingest sequencer, Merkle nodes, reads and proofs, the filter
//! indexer, the checkpoint signer), `crypto` (key providers, data keys,
//! rotation, shredding, instance secrets), `access` (API keys, dashboard
//! users, sessions) and `system` (the vocabulary of platform actions and
//! the outbox that appends them to each account's system ledger) and
//! `monitor` (the tamper monitor: every ledger re-verified, anomalies recorded)
//! and `webhooks` (endpoints and the durable outbox of their messages).

mod access;
mod crypto;
mod db;
mod error;
mod ledger;
pub mod lifecycle;
pub mod monitor;
mod system;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webhooks;

use std::sync::Arc;

use ed25519_dalek::SigningKey;

pub use access::api_keys::{ApiKey, ApiKeyId, ApiKeySecret, KeyScope, NewApiKey, Permission};
pub use access::sessions::Sessions;
pub use access::users::{
    normalize_email, Invite, LinkToken, Lockout, Role, SecondFactor, SignInFailure, SignInRefused, TotpEnrolment, User,
    UserId, MIN_PASSWORD_CHARS, RECOVERY_CODES,
};
pub use crypto::key_providers::{KeyContext, KeyProvider, KmsKek, LocalKeks, ReloadKeks, SecretKey, WrappedKey};
pub use crypto::rotation::{KeyVersion, RewrapReport, RotationReason};
pub use db::{Backend, JobLease};
pub use error::{DbError, StoreError};
pub use ledger::accounts::{Account, AccountId, Ledger, LedgerKind};
pub use ledger::event_rows::StoredEvent;
pub use ledger::events::{EventFilter, EventPage, MAX_PAGE, MAX_TAIL_SCAN};
pub use ledger::findings::IntegrityFinding;
pub use ledger::integrity::{LedgerIntegrity, LedgerStatus};
pub use ledger::sequencer::{Appended, AppendedEvent, NewEvent};
pub use ledger::signer::CheckpointSigner;
pub use system::{Actor, Origin, SystemEvent};

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: db::Db,
    ingest: Arc<ledger::sequencer::Sequencer>,
    keys: Arc<crypto::keyring::Keyring>,
    /// Bounds the password hashes computed at once.
    passwords: Arc<access::users::PasswordSlots>,
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

impl Store {
    /// Opens the database named by `url` (`sqlite:` or `postgres://`),
    /// creating a SQLite file if it does not exist, and applies every pending
    /// migration. The checkpoint signing key is kept in the database wrapped
    /// by the key provider; it is created (or imported from
    /// `legacy_signing_key`) on first open.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let db = db::Db::new(db::open(url).await?);
        let keys = Arc::new(crypto::keyring::Keyring::new(db.clone(), options.keys));
        let signer = ledger::signer::load(&db, &keys, &options.public_host, options.legacy_signing_key).await?;
        let ingest = Arc::new(ledger::sequencer::Sequencer::new(db.clone(), signer, keys.clone()));
        Ok(Self { db, ingest, keys, passwords: Arc::default() })
    }

    /// The backend this store talks to.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Checks that the database answers and carries the migrated schema.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let rows: i64 =
            db::on_db!(&self.db.pool, |p| sqlx::query_scalar("SELECT COUNT(*) FROM instance").fetch_one(p).await?);
        if rows == 1 {
            Ok(())
        } else {
            Err(StoreError::SchemaMissing)
        }
    }

    /// The lease of the background job `job`: a PostgreSQL advisory lock
    /// that one server process holds at a time (always granted on SQLite,
    /// which serves one process). Hold it while running the job.
    pub fn job_lease(&self, job: &str) -> JobLease {
        self.db.lease(job)
    }

    /// Closes every connection; pending queries finish first.
    pub async fn close(&self) {
        self.db.close().await
    }
}

/// The current time as Unix milliseconds.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
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
        let db::PerBackend::Sqlite(pool) = &store.db.pool else { panic!("sqlite pool") };
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await.expect("pragma");
        assert_eq!(mode, "wal");
        // 2 = FULL: the WAL is synced on every commit.
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.expect("pragma");
        assert_eq!(sync, 2);
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(pool).await.expect("pragma");
        assert_eq!(fk, 1);
        let secure: i64 = sqlx::query_scalar("PRAGMA secure_delete").fetch_one(pool).await.expect("pragma");
        assert_eq!(secure, 1, "deleted rows are overwritten");
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
