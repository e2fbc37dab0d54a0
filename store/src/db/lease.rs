//! Leases that let exactly one server process run a background job.
//!
//! On PostgreSQL a lease is a session-level advisory lock held on a
//! connection of its own, kept out of the pool: the lock lives as long as
//! that connection, so a process that dies releases it as soon as the
//! server notices the connection is gone (at once for a killed process; a
//! vanished host is found by the TCP keepalives set below, within about
//! 25 s), and another node's next attempt takes it over. Session advisory
//! locks need a direct connection or a session-mode pooler (not PgBouncer in
//! transaction mode). SQLite serves one process, which always holds every
//! lease.

use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::Connection as _;

use super::{Db, PerBackend};
use crate::StoreError;

/// How long a check of a held lease may take before it counts as lost.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a running job's lease is checked while the job runs.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// The lease of one background job: taken with [`JobLease::try_take`],
/// held until lost or dropped (dropping closes its connection, which
/// releases the lock).
#[derive(Debug)]
pub struct JobLease {
    job: String,
    key: i64,
    /// PostgreSQL: the pool connections are taken from; `None` on SQLite.
    pool: Option<PgPool>,
    /// The connection that asks for, and then holds, the lock; kept across
    /// attempts so a waiting node does not open one every retry.
    conn: Option<PgConnection>,
    held: bool,
}

impl JobLease {
    /// Takes the lease if no other process holds it; true when this
    /// process holds it now.
    pub async fn try_take(&mut self) -> Result<bool, StoreError> {
        let Some(pool) = &self.pool else {
            self.held = true;
            return Ok(true);
        };
        if self.held {
            return Ok(true);
        }
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let mut conn = pool.acquire().await?.detach();
                // The server drops a vanished peer (and its lock) after
                // about 10 + 3 × 5 s instead of the OS default of hours.
                for setting in
                    ["SET tcp_keepalives_idle = 10", "SET tcp_keepalives_interval = 5", "SET tcp_keepalives_count = 3"]
                {
                    sqlx::query(setting).execute(&mut conn).await?;
                }
                conn
            }
        };
        let taken: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(self.key).fetch_one(&mut conn).await?;
        self.conn = Some(conn);
        self.held = taken;
        Ok(taken)
    }

    /// Whether the lease still holds: on PostgreSQL, whether the connection
    /// that holds the lock still answers in time (a lost connection lost
    /// the lock). A lost lease must be taken again.
    pub async fn still_held(&mut self) -> bool {
        if !self.held {
            return false;
        }
        let Some(conn) = &mut self.conn else { return self.pool.is_none() };
        let alive = matches!(tokio::time::timeout(CHECK_TIMEOUT, conn.ping()).await, Ok(Ok(())));
        if !alive {
            self.conn = None;
            self.held = false;
        }
        alive
    }

    /// Returns once the lease is lost (checked every few seconds): run a
    /// job against it, so that a job whose node lost its lease stops before
    /// another node starts it.
    pub async fn lost(&mut self) {
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            if !self.still_held().await {
                return;
            }
        }
    }
}

/// The advisory-lock key of a job: a stable 63-bit hash of its name, in a
/// namespace of ours so that other applications' locks do not collide.
fn lock_key(job: &str) -> i64 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("auditstore/v1/job\n{job}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first) & i64::MAX
}

impl Db {
    /// The (not yet taken) lease of `job`.
    pub(crate) fn lease(&self, job: &str) -> JobLease {
        let pool = match &self.pool {
            PerBackend::Sqlite(_) => None,
            PerBackend::Postgres(pool) => Some(pool.clone()),
        };
        JobLease { job: job.to_owned(), key: lock_key(job), pool, conn: None, held: false }
    }
}

impl Drop for JobLease {
    fn drop(&mut self) {
        // Closing the connection releases the lock; closing it politely
        // needs an async context, so the socket is simply dropped.
        if self.held {
            tracing::info!(job = %self.job, "job lease released");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_positive_and_distinct() {
        assert_eq!(lock_key("monitor"), lock_key("monitor"));
        assert_ne!(lock_key("monitor"), lock_key("key_rotation"));
        assert!(lock_key("monitor") >= 0);
    }
}
