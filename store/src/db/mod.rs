//! The one way the store speaks to both databases.
//!
//! A [`Pool`], and a [`Conn`] (a borrowed connection or transaction), hold
//! either driver. [`on_db!`] runs one block against whichever it holds: the
//! block is compiled once per driver, so each expansion uses its own
//! driver's types without a generic function and its trait bounds, and it is
//! handed that backend's [`Dialect`], the statements that differ between
//! the two, by name, so that no block asks again which backend it runs on.
//! [`write_tx!`] opens a write transaction the same way everywhere.

mod dialect;
mod lease;
mod open;
mod rows;

use std::sync::Arc;

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::sqlite::{SqliteConnection, SqlitePool};

pub(crate) use dialect::Dialect;
pub use lease::JobLease;
pub(crate) use open::open;
pub(crate) use rows::{from_i64, to_hash, to_i64};

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in WAL mode with `synchronous=FULL`.
    Sqlite,
    /// A PostgreSQL server (13 or newer).
    Postgres,
}

/// One value per backend: a pool, a connection, a transaction.
#[derive(Debug, Clone)]
pub(crate) enum PerBackend<S, P> {
    Sqlite(S),
    Postgres(P),
}

/// A connection pool of either backend.
pub(crate) type Pool = PerBackend<SqlitePool, PgPool>;

/// A borrowed connection (or transaction) of either backend.
pub(crate) type Conn<'c> = PerBackend<&'c mut SqliteConnection, &'c mut PgConnection>;

impl<'c> From<&'c mut SqliteConnection> for Conn<'c> {
    fn from(conn: &'c mut SqliteConnection) -> Self {
        PerBackend::Sqlite(conn)
    }
}

impl<'c> From<&'c mut PgConnection> for Conn<'c> {
    fn from(conn: &'c mut PgConnection) -> Self {
        PerBackend::Postgres(conn)
    }
}

impl Conn<'_> {
    /// The same connection, borrowed again for one more call.
    pub(crate) fn reborrow(&mut self) -> Conn<'_> {
        match self {
            PerBackend::Sqlite(c) => PerBackend::Sqlite(&mut **c),
            PerBackend::Postgres(c) => PerBackend::Postgres(&mut **c),
        }
    }
}

/// Runs a block against whichever backend a [`Pool`] or [`Conn`] holds,
/// with `$p` bound to the driver's value and `$sql` to its [`Dialect`].
macro_rules! on_db {
    ($handle:expr, |$p:ident, $sql:ident| $body:expr) => {
        match $handle {
            $crate::db::PerBackend::Sqlite($p) => {
                let $sql: &'static $crate::db::Dialect = &$crate::db::Dialect::SQLITE;
                $body
            }
            $crate::db::PerBackend::Postgres($p) => {
                let $sql: &'static $crate::db::Dialect = &$crate::db::Dialect::POSTGRES;
                $body
            }
        }
    };
    ($handle:expr, |$p:ident| $body:expr) => {
        $crate::db::on_db!($handle, |$p, _dialect| $body)
    };
}
pub(crate) use on_db;

/// Opens a write transaction `$tx` on a [`Db`] and runs the block in it; the
/// block commits. On SQLite the process-wide writer turn is taken first
/// (SQLite has one writer; waiting in-process is fairer than its busy
/// loop), and `BEGIN IMMEDIATE` takes the write lock at once, so a
/// transaction that read first never fails to upgrade midway.
macro_rules! write_tx {
    ($db:expr, |$tx:ident, $sql:ident| $body:expr) => {{
        let db: &$crate::db::Db = $db;
        let _turn = db.writer_turn().await;
        $crate::db::on_db!(&db.pool, |pool, $sql| {
            #[allow(unused_mut)]
            let mut $tx = pool.begin_with($sql.begin_write).await?;
            $body
        })
    }};
    ($db:expr, |$tx:ident| $body:expr) => {
        $crate::db::write_tx!($db, |$tx, _dialect| $body)
    };
}
pub(crate) use write_tx;

/// The database: its pool and, for SQLite, the process-wide writer turn.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    pub(crate) pool: Pool,
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl Db {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool, writer: Arc::new(tokio::sync::Mutex::new(())) }
    }

    pub(crate) fn backend(&self) -> Backend {
        match self.pool {
            PerBackend::Sqlite(_) => Backend::Sqlite,
            PerBackend::Postgres(_) => Backend::Postgres,
        }
    }

    /// SQLite's single writer, taken in turn by this process's writers;
    /// PostgreSQL writers lock rows instead and need no turn.
    pub(crate) async fn writer_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.pool {
            PerBackend::Sqlite(_) => Some(self.writer.clone().lock_owned().await),
            PerBackend::Postgres(_) => None,
        }
    }

    /// Frees the pages of rows just deleted for secrecy (destroyed keys):
    /// SQLite overwrites deleted content (`secure_delete`, set on every
    /// connection), but old copies live on in the WAL until it is
    /// checkpointed and truncated; PostgreSQL keeps dead tuples until the
    /// table is rewritten.
    pub(crate) async fn reclaim_deleted(&self, table: &'static str) -> Result<(), crate::StoreError> {
        match &self.pool {
            PerBackend::Sqlite(_) => self.truncate_wal(table).await,
            PerBackend::Postgres(pool) => {
                // Without the privilege (a non-owner role) autovacuum
                // reclaims the space later.
                if let Err(error) = sqlx::query(&format!("VACUUM FULL {table}")).execute(pool).await {
                    tracing::warn!(%error, table, "VACUUM FULL after a secure deletion failed (it needs the table owner; run it as the owner)");
                }
                Ok(())
            }
        }
    }

    /// On SQLite, checkpoints the WAL and truncates it, so the old copies of
    /// pages just overwritten (`secure_delete`) in `table` leave it; nothing
    /// to do on PostgreSQL, whose dead tuples autovacuum makes reusable
    /// (rewriting a table as large as `events` for each archival would lock
    /// it for minutes).
    pub(crate) async fn truncate_wal(&self, table: &'static str) -> Result<(), crate::StoreError> {
        match &self.pool {
            PerBackend::Postgres(_) => Ok(()),
            PerBackend::Sqlite(pool) => {
                // Readers can keep the checkpoint busy for a moment.
                for _ in 0..50 {
                    let (busy, _, _): (i64, i64, i64) =
                        sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(pool).await?;
                    if busy == 0 {
                        return Ok(());
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                tracing::warn!(table, "the WAL could not be truncated after a secure deletion (busy readers); old copies remain until the next checkpoint");
                Ok(())
            }
        }
    }

    pub(crate) async fn close(&self) {
        on_db!(&self.pool, |p| p.close().await)
    }
}
