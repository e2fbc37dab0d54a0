//! Deletes expired dashboard sessions every five minutes.

use std::time::Duration;

use tower_sessions::ExpiredDeletion as _;

use super::Job;

pub(super) fn job() -> Job {
    Job::new("session-sweep", Duration::from_secs(300), |store| async move {
        store.sessions().delete_expired().await.map_err(|e| format!("expired sessions could not be deleted: {e}"))
    })
}
