//! Leases that let exactly one server process run a background job.
//!
//! On PostgreSQL a lease is a session-level advisory lock held on a
//! connection of its own, taken out of the pool: the lock lives as long as
//! that connection, so a process that dies (even by SIGKILL) releases it
//! when the server notices the connection is gone, and another node's next
//! attempt takes it over. SQLite serves one process, which always holds
//! every lease.

use sqlx::postgres::PgConnection;
use sqlx::Connection as _;

use super::{Db, PerBackend};
use crate::StoreError;

/// The right to run one background job on this node until dropped.
#[derive(Debug)]
pub struct JobLease {
    job: String,
    /// The connection holding the advisory lock (PostgreSQL only).
    conn: Option<PgConnection>,
}

impl JobLease {
    /// The job this lease is for.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// Whether the lease still holds: on PostgreSQL, whether the connection
    /// that holds the lock still answers (a lost connection lost the lock).
    pub async fn still_held(&mut self) -> bool {
        match &mut self.conn {
            None => true,
            Some(conn) => conn.ping().await.is_ok(),
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
    /// Takes the lease of `job` if no other process holds it.
    pub(crate) async fn try_lease(&self, job: &str) -> Result<Option<JobLease>, StoreError> {
        match &self.pool {
            PerBackend::Sqlite(_) => Ok(Some(JobLease { job: job.to_owned(), conn: None })),
            PerBackend::Postgres(pool) => {
                let mut conn = pool.acquire().await?.detach();
                let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(lock_key(job))
                    .fetch_one(&mut conn)
                    .await?;
                if !taken {
                    // Closing the connection is all the cleanup it needs.
                    let _ = conn.close().await;
                    return Ok(None);
                }
                Ok(Some(JobLease { job: job.to_owned(), conn: Some(conn) }))
            }
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
