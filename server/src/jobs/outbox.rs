//! Appends system events that a crash left in the outbox (a change whose
//! process died before its event reached the system ledger). The store
//! drains after every change already; this job finishes what it could not.

use std::time::Duration;

use super::Job;

pub(super) fn job() -> Job {
    Job::new("outbox-drain", Duration::from_secs(10), |store| async move {
        let accounts = store.drain_outboxes().await.map_err(|e| e.to_string())?;
        if accounts > 0 {
            tracing::info!(accounts, "appended system events left in the outbox");
        }
        Ok(())
    })
}
