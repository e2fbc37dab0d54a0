//! The integrity watch: every monitor interval, each ledger not verified
//! for more than twice the interval is reported once as `integrity.stale`
//! (system ledger and webhooks). It runs on whichever node holds its
//! lease, whether or not that node runs the monitor, so switching the
//! monitor off everywhere is reported too. Its first run waits one
//! interval, giving a starting monitor the chance to pass first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Job;

pub(super) fn job(interval: Duration) -> Job {
    let started = Arc::new(AtomicBool::new(false));
    Job::new("integrity-watch", interval, move |store| {
        let started = started.clone();
        async move {
            if !started.swap(true, Ordering::Relaxed) {
                return Ok(());
            }
            store.report_stale_ledgers(interval).await.map_err(|e| e.to_string())?;
            Ok(())
        }
    })
}
