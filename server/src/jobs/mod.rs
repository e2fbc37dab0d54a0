//! The background jobs, started by one runner. Each job runs on one node at
//! a time: it holds a lease (a PostgreSQL advisory lock on a connection of
//! its own; always granted on SQLite, which serves one process) for as long
//! as its node lives, and the other nodes keep trying to take it over, so a
//! job moves to another node within [`LEASE_RETRY`] when its node dies.

mod deletions;
mod exports;
mod integrity_watch;
mod key_rotation;
mod monitor;
mod outbox;
mod retention;
mod sessions;
mod webhooks;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use store::Store;
use tokio::task::JoinHandle;

use crate::config::KeyRotation;

/// How often a node that does not hold a job's lease tries to take it.
pub const LEASE_RETRY: Duration = Duration::from_secs(5);

type Run = Box<dyn Fn(Store) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// One background job: what it does, and how often.
pub struct Job {
    name: &'static str,
    every: Duration,
    run: Run,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("name", &self.name).field("every", &self.every).finish_non_exhaustive()
    }
}

impl Job {
    fn new<F, Fut>(name: &'static str, every: Duration, run: F) -> Self
    where
        F: Fn(Store) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self { name, every, run: Box::new(move |store| Box::pin(run(store))) }
    }
}

pub use monitor::Monitor;
pub use retention::Retention;

/// Every background job of a serving node (the monitor unless it is
/// switched off on this node).
pub fn all(
    key_rotation: KeyRotation,
    export_expiry: Duration,
    retention: Retention,
    monitor: Option<Monitor>,
    watch: Duration,
    webhooks: crate::webhooks::Sender,
) -> Vec<Job> {
    let mut jobs = vec![
        key_rotation::job(key_rotation),
        sessions::job(),
        outbox::job(),
        exports::job(export_expiry),
        deletions::job(retention.archive.clone()),
        retention::job(retention),
        integrity_watch::job(watch),
        webhooks::job(webhooks),
    ];
    jobs.extend(monitor.map(monitor::job));
    jobs
}

/// Starts `jobs`, each in a task of its own that runs it while this node
/// holds its lease.
pub fn spawn(store: &Store, jobs: Vec<Job>) -> Vec<JoinHandle<()>> {
    jobs.into_iter().map(|job| tokio::spawn(run(store.clone(), job))).collect()
}

async fn run(store: Store, job: Job) {
    let mut lease = store.job_lease(job.name);
    loop {
        match lease.try_take().await {
            Ok(true) => {}
            Ok(false) => {
                tokio::time::sleep(LEASE_RETRY).await;
                continue;
            }
            Err(error) => {
                tracing::warn!(job = job.name, %error, "could not ask for the job's lease");
                tokio::time::sleep(LEASE_RETRY).await;
                continue;
            }
        }
        tracing::info!(job = job.name, "this node runs the job (its lease is taken)");
        let mut tick = tokio::time::interval(job.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // A lost connection lost the lock: another node may run the job
            // now, so this one stops, mid-run too, until it takes it again.
            if !lease.still_held().await {
                tracing::warn!(job = job.name, "the job's lease was lost; trying to take it again");
                break;
            }
            let outcome = tokio::select! {
                outcome = (job.run)(store.clone()) => Some(outcome),
                () = lease.lost() => None,
            };
            match outcome {
                Some(Ok(())) => {}
                Some(Err(error)) => {
                    tracing::error!(job = job.name, %error, "background job failed; it runs again at its next interval");
                }
                None => {
                    tracing::warn!(job = job.name, "the job's lease was lost while it ran; stopped it");
                    break;
                }
            }
        }
    }
}
