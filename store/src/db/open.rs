//! Opening either database and applying the embedded migrations.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::{PerBackend, Pool};
use crate::StoreError;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Opens the database named by `url` (`sqlite:` or `postgres://`), creating
/// a SQLite file if it does not exist, and applies every pending migration.
pub(crate) async fn open(url: &str) -> Result<Pool, StoreError> {
    let pool = if url.starts_with("sqlite:") {
        PerBackend::Sqlite(open_sqlite(url).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        PerBackend::Postgres(open_postgres(url).await?)
    } else {
        return Err(StoreError::UnsupportedUrl);
    };
    migrate(&pool).await?;
    Ok(pool)
}

async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    match pool {
        PerBackend::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
        PerBackend::Postgres(pool) => {
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
        // Deleted rows (destroyed keys, drained outbox rows, used links) are
        // overwritten in the file rather than left in free pages. Events are
        // never deleted, so ingest does not pay for it.
        .pragma("secure_delete", "ON")
        // 4 MiB of page cache per connection (SQLite's default is 2 MiB).
        // Pages the cache misses come from the operating system's cache; 16
        // MiB ingested no faster over a sustained minute and held 100 MB
        // more (eight connections' caches fill): 302 MB loaded RSS against
        // 201 MB.
        .pragma("cache_size", "-4096")
        // Checkpoint the WAL into the database every 20,000 pages (80 MiB;
        // SQLite's default is 1,000): a page written by many commits between
        // two checkpoints is copied into the database once, and the commit
        // that happens to run the checkpoint (on the append path) runs one
        // twentieth as often. The WAL file keeps that size once reached.
        .pragma("wal_autocheckpoint", "20000")
        .busy_timeout(Duration::from_secs(10));
    create_private(options.get_filename())?;
    Ok(SqlitePoolOptions::new().max_connections(8).connect_with(options).await?)
}

/// Creates a missing database file readable by this user only (0600).
/// SQLite gives its `-wal` and `-shm` files the database file's mode, so
/// all three stay private whatever the process umask. An existing file
/// keeps the mode its operator chose, with a warning when others may read it.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    if path.as_os_str().is_empty() || path == Path::new(":memory:") {
        return Ok(());
    }
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            if let Ok(meta) = std::fs::metadata(path) {
                if meta.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), "the database file may be read by group or others; consider `chmod 600` on it and its -wal and -shm files");
                }
            }
            Ok(())
        }
        Err(error) => Err(StoreError::Invalid(format!("cannot create the database file {}: {error}", path.display()))),
    }
}

async fn open_postgres(url: &str) -> Result<PgPool, StoreError> {
    Ok(PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(10)).connect(url).await?)
}
