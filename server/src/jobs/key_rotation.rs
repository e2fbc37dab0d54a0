//! Rotates ledger data keys that reached the configured count or age, once
//! a minute; the store records each rotation in its account's system ledger.

use std::time::Duration;

use store::{Actor, Origin};

use super::Job;
use crate::config::KeyRotation;

pub(super) fn job(policy: KeyRotation) -> Job {
    let max_age_ms = i64::from(policy.after_days) * 86_400_000;
    Job::new("key-rotation", Duration::from_secs(60), move |store| async move {
        let origin = Origin::new(Actor::Job("key-rotation"));
        let rotated =
            store.rotate_due_keys(policy.after_events, max_age_ms, &origin).await.map_err(|e| e.to_string())?;
        for (ledger, _, version, reason) in rotated {
            tracing::info!(%ledger, version, reason = reason.as_str(), "rotated a ledger data key");
        }
        Ok(())
    })
}
