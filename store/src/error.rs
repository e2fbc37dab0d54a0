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
    /// A migration could not be applied.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database refused or failed a query.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
