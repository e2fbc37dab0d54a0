//! The webhook sender (server `webhooks`): every second, what the outbox
//! holds due is delivered; once an hour, deliveries finished more than
//! [`HISTORY`] ago are pruned with their attempts.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Job;
use crate::webhooks::Sender;

/// How long finished deliveries stay listed.
pub const HISTORY: Duration = Duration::from_secs(30 * 86_400);

const PRUNE_EVERY_MS: i64 = 3_600_000;

pub(super) fn job(sender: Sender) -> Job {
    let pruned_at = Arc::new(AtomicI64::new(0));
    Job::new("webhooks", Duration::from_secs(1), move |store| {
        let (sender, pruned_at) = (sender.clone(), pruned_at.clone());
        async move {
            sender.deliver_due(&store).await?;
            let now = store::now_ms();
            if now.saturating_sub(pruned_at.load(Ordering::Relaxed)) >= PRUNE_EVERY_MS {
                let before = now.saturating_sub(i64::try_from(HISTORY.as_millis()).unwrap_or(i64::MAX));
                let pruned = store.prune_webhook_history(before).await.map_err(|e| e.to_string())?;
                if pruned > 0 {
                    tracing::info!(pruned, "old webhook deliveries pruned");
                }
                pruned_at.store(now, Ordering::Relaxed);
            }
            Ok(())
        }
    })
}
