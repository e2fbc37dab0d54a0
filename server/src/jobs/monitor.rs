//! The tamper monitor (store `monitor`): every ledger re-verified every
//! `--monitor-interval` seconds from where the last pass stopped, and from
//! genesis every `--monitor-full-sweep-hours`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Job;

/// How the monitor runs.
#[derive(Debug, Clone)]
pub struct Monitor {
    pub every: Duration,
    pub full_sweep: Duration,
    /// Set once this node ran a pass: its stopping is then recorded.
    pub ran: Arc<AtomicBool>,
}

pub(super) fn job(monitor: Monitor) -> Job {
    let Monitor { every, full_sweep, ran } = monitor;
    Job::new("monitor", every, move |store| {
        let ran = ran.clone();
        async move {
            ran.store(true, Ordering::Relaxed);
            let passes = store.monitor_all(full_sweep).await.map_err(|e| e.to_string())?;
            let found: usize = passes.iter().map(|p| p.new_anomalies.len()).sum();
            if found > 0 {
                tracing::error!(found, "the tamper monitor recorded new integrity anomalies");
            }
            Ok(())
        }
    })
}
