//! A ledger's integrity as the API and the dashboard answer it: how far
//! and how recently the monitor verified it, and what it found.

use std::time::Duration;

use super::anomalies::Anomaly;
use crate::{now_ms, Ledger, Store, StoreError};

/// The one-word answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrityStatus {
    /// Verified recently, nothing open.
    Ok,
    /// An anomaly no owner has acknowledged yet.
    Anomaly,
    /// Not verified yet (a new ledger, within two intervals).
    Pending,
    /// Not verified for more than two intervals: the monitor is stopped,
    /// switched off or falling behind, and says so.
    Stale,
}

impl IntegrityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrityStatus::Ok => "ok",
            IntegrityStatus::Anomaly => "anomaly",
            IntegrityStatus::Pending => "pending",
            IntegrityStatus::Stale => "stale",
        }
    }
}

/// What the monitor knows of a ledger.
#[derive(Debug, Clone)]
pub struct IntegrityReport {
    pub status: IntegrityStatus,
    /// True when the last verification is older than two intervals (also
    /// while an anomaly outranks it in `status`).
    pub stale: bool,
    pub tree_size: u64,
    pub verified_size: u64,
    pub last_verified_ms: Option<i64>,
    pub last_full_sweep_ms: Option<i64>,
    /// Every anomaly recorded for the ledger, newest first, acknowledged
    /// ones included.
    pub anomalies: Vec<Anomaly>,
}

impl Store {
    /// The integrity of `ledger`, judged against the monitor's `interval`.
    pub async fn integrity_report(&self, ledger: &Ledger, interval: Duration) -> Result<IntegrityReport, StoreError> {
        let progress = self.monitor_progress(&ledger.id).await?;
        let anomalies = self.anomalies(&ledger.id).await?;
        let limit = i64::try_from(interval.as_millis().saturating_mul(2)).unwrap_or(i64::MAX);
        let since = progress.as_ref().map_or(ledger.created_ms, |p| p.last_verified_ms);
        let stale = now_ms().saturating_sub(since) > limit;
        let status = if anomalies.iter().any(|a| a.acknowledged_ms.is_none()) {
            IntegrityStatus::Anomaly
        } else if stale {
            IntegrityStatus::Stale
        } else if progress.is_none() {
            IntegrityStatus::Pending
        } else {
            IntegrityStatus::Ok
        };
        Ok(IntegrityReport {
            status,
            stale,
            tree_size: ledger.tree_size,
            verified_size: progress.as_ref().map_or(0, |p| p.state.size()),
            last_verified_ms: progress.as_ref().map(|p| p.last_verified_ms),
            last_full_sweep_ms: progress.as_ref().and_then(|p| p.last_full_sweep_ms),
            anomalies,
        })
    }
}
