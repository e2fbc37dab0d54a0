//! The tamper monitor (store `monitor`): every ledger re-verified every
//! `--monitor-interval` seconds from where the last pass stopped, and from
//! genesis every `--monitor-full-sweep-hours`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use store::lifecycle::archive::ArchiveStore;

use super::Job;

/// How the monitor runs.
#[derive(Debug, Clone)]
pub struct Monitor {
    pub every: Duration,
    pub full_sweep: Duration,
    /// Set once this node ran a pass: its stopping is then recorded.
    pub ran: Arc<AtomicBool>,
    /// Where full sweeps read the archive files from.
    pub archive: ArchiveStore,
}

pub(super) fn job(monitor: Monitor) -> Job {
    let Monitor { every, full_sweep, ran, archive } = monitor;
    Job::new("monitor", every, move |store| {
        let (ran, archive) = (ran.clone(), archive.clone());
        async move {
            ran.store(true, Ordering::Relaxed);
            let passes = store.monitor_all(full_sweep, Some(&archive)).await.map_err(|e| e.to_string())?;
            let found: usize = passes.iter().map(|p| p.new_anomalies.len()).sum();
            if found > 0 {
                tracing::error!(found, "the tamper monitor recorded new integrity anomalies");
            }
            Ok(())
        }
    })
}
