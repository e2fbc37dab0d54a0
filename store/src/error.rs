use thiserror::Error;

/// Everything the persistence layer can fail with.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database URL names a scheme other than `sqlite:` or `postgres://`.
    #[error("unsupported database URL: expected sqlite:PATH or postgres://...")]
    UnsupportedUrl,
    /// The database answers but the schema is not there.
    #[error("the database schema is missing; migrations have not been applied")]
    SchemaMissing,
    /// The thing asked for does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with what is stored (for example an event id
    /// reused with other content).
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed but cannot be satisfied (for example a
    /// proof for a tree size the ledger has not reached).
    #[error("{0}")]
    Invalid(String),
    /// Stored data violates an invariant: corruption or tampering.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(&'static str),
    /// A proof could not be made from the stored nodes.
    #[error("proof generation failed: {0}")]
    Proof(String),
    /// Writing an export file failed (its destination, or an encoding).
    #[error("export failed: {0}")]
    Export(String),
    /// Signing a checkpoint failed.
    #[error("checkpoint signing failed: {0}")]
    Signing(String),
    /// The ingest writer of a ledger is gone (the server is shutting down).
    #[error("the ledger writer stopped")]
    WriterGone,
    /// The commit did not answer in time; it may still complete, so a retry
    /// must reuse the same event ids.
    #[error("the commit did not complete in time; retry with the same event ids")]
    CommitTimeout,
    /// A stored record failed authenticated decryption or its integrity
    /// check: it was altered, or copied from another row or ledger.
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// A key could not be unwrapped or created (the key provider failed, or
    /// a KEK that wrapped a stored key is not available).
    #[error("key management: {0}")]
    Keys(String),
    /// The ledger's keys were destroyed (crypto-shredded): its content can
    /// no longer be read or appended to.
    #[error("the ledger's encryption keys were destroyed; its content is unreadable")]
    KeysDestroyed,
    /// The ledger's current key changed while a commit was being prepared;
    /// the writer retries with the new key (never seen by callers).
    #[error("the ledger's data key changed during the commit")]
    KeyChanged,
    /// An append transaction failed as a whole: nothing of it was stored,
    /// and every request in it gets this (the cause is logged once).
    #[error("the append transaction failed; nothing of it was stored")]
    AppendFailed,
    /// A bounded resource is fully in use (for example every password
    /// hashing slot); nothing was done, and a retry shortly may succeed.
    #[error("the server is busy ({0}); retry in a moment")]
    Busy(&'static str),
    /// A migration could not be applied.
    #[error("database migration failed: {0}")]
    Migrate(String),
    /// The database refused or failed a query.
    #[error("database error: {0}")]
    Database(DbError),
}

/// A failure of the database driver, kept opaque: callers learn that the
/// database failed and why, in words, never the driver's types.
#[derive(Debug)]
pub struct DbError(sqlx::Error);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[doc(hidden)]
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Database(DbError(error))
    }
}

#[doc(hidden)]
impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(error.to_string())
    }
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Conflict`].
    pub(crate) fn conflict_on_unique(error: sqlx::Error, what: impl FnOnce() -> String) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what()),
            _ => error.into(),
        }
    }

    /// Whether the same request may succeed if retried later (the server
    /// answers these 503 with Retry-After): the writer is restarting, the
    /// commit did not answer in time, or the key provider failed. Nothing
    /// was stored in any of these cases, or a retry with the same event
    /// ids is answered with the stored records.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::WriterGone
                | StoreError::CommitTimeout
                | StoreError::Keys(_)
                | StoreError::KeyChanged
                | StoreError::Busy(_)
        )
    }
}
