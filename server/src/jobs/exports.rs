//! Writes requested exports into their files, one at a time, and deletes
//! the files of exports past their expiry; checked every second so that a
//! requested export starts at once.

use std::time::Duration;

use super::Job;

pub(super) fn job(expiry: Duration) -> Job {
    let ttl_ms = i64::try_from(expiry.as_millis()).unwrap_or(i64::MAX);
    Job::new("exports", Duration::from_secs(1), move |store| async move {
        let finished = store.run_exports(ttl_ms).await.map_err(|e| e.to_string())?;
        if finished > 0 {
            tracing::info!(finished, "exports finished");
        }
        Ok(())
    })
}
