//! Archives every ledger's events past its retention that no active legal
//! hold covers (store `lifecycle::archive`), every `--retention-interval-minutes`.

use std::time::Duration;

use store::lifecycle::archive::ArchiveStore;
use store::{Actor, Origin};

use super::Job;

/// How the retention job runs.
#[derive(Debug, Clone)]
pub struct Retention {
    pub every: Duration,
    pub archive: ArchiveStore,
}

pub(super) fn job(retention: Retention) -> Job {
    let Retention { every, archive } = retention;
    Job::new("retention", every, move |store| {
        let archive = archive.clone();
        async move {
            let origin = Origin::new(Actor::Job("retention"));
            let archived = store.run_all_retention(&archive, &origin).await.map_err(|e| e.to_string())?;
            if archived > 0 {
                tracing::info!(archived, "retention archived expired events into tombstones");
            }
            Ok(())
        }
    })
}
