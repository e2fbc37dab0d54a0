//! Carries out the ledger deletions whose time has come (and resumes those
//! a crash interrupted), every 10 s: store `lifecycle::deletion`.

use std::time::Duration;

use store::lifecycle::archive::ArchiveStore;
use store::{Actor, Origin};

use super::Job;

pub(super) fn job(archive: ArchiveStore) -> Job {
    Job::new("ledger-deletions", Duration::from_secs(10), move |store| {
        let archive = archive.clone();
        async move {
            let origin = Origin::new(Actor::Job("ledger-deletions"));
            let deleted = store.run_ledger_deletions(&archive, &origin).await.map_err(|e| e.to_string())?;
            if deleted > 0 {
                tracing::info!(deleted, "ledgers deleted: keys shredded, rows removed, final checkpoints recorded");
            }
            Ok(())
        }
    })
}
