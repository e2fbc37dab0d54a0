//! A ledger's integrity as the dashboard and the API report it: whether
//! its latest checkpoint carries a valid signature of this instance's key,
//! names this ledger's origin, and covers every event. Computed here once,
//! for every ledger of an account in one query, so that every surface (and
//! the tamper monitor to come) gives the same answer.

use std::collections::HashMap;

use audit_core::Checkpoint;

use crate::db::on_db;
use crate::{AccountId, Ledger, Store, StoreError};

/// What a ledger's latest checkpoint says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerIntegrity {
    /// No events yet, so nothing to sign.
    Empty,
    /// The latest checkpoint verifies and covers all `size` events.
    Verified { size: u64 },
    /// The latest checkpoint verifies but covers only `size` of `tree_size`
    /// events (never expected: every commit signs its tree).
    Behind { size: u64, tree_size: u64 },
    /// No checkpoint, or one that does not verify against this instance's
    /// key and this ledger's origin.
    Failed { reason: String },
}

/// A ledger with its last event's time and its integrity.
#[derive(Debug, Clone)]
pub struct LedgerStatus {
    pub ledger: Ledger,
    /// When the newest event was received (Unix ms), if any.
    pub last_event_ms: Option<i64>,
    pub integrity: LedgerIntegrity,
}

impl Store {
    /// Every ledger of `account`, oldest first, with its last event time and
    /// its integrity: two queries however many ledgers there are.
    pub async fn ledger_statuses(&self, account: &AccountId) -> Result<Vec<LedgerStatus>, StoreError> {
        let ledgers = self.list_ledgers(account).await?;
        let rows: Vec<(String, Option<String>, Option<i64>)> = on_db!(&self.db.pool, |p| {
            sqlx::query_as(
                "SELECT l.id, \
                 (SELECT c.note FROM checkpoints c WHERE c.ledger_id = l.id ORDER BY c.tree_size DESC LIMIT 1), \
                 (SELECT e.received_ms FROM events e WHERE e.ledger_id = l.id ORDER BY e.seq DESC LIMIT 1) \
                 FROM ledgers l WHERE l.account_id = $1",
            )
            .bind(account.as_str())
            .fetch_all(p)
            .await?
        });
        let mut latest: HashMap<String, (Option<String>, Option<i64>)> =
            rows.into_iter().map(|(id, note, last)| (id, (note, last))).collect();
        let key = self.verifier_key();
        Ok(ledgers
            .into_iter()
            .map(|ledger| {
                let (note, last_event_ms) = latest.remove(ledger.id.as_str()).unwrap_or((None, None));
                let integrity = judge(&ledger, note.as_deref(), &key);
                LedgerStatus { ledger, last_event_ms, integrity }
            })
            .collect())
    }
}

/// Opens `note` (the latest checkpoint) with the instance key for the
/// ledger's origin and compares its size with the ledger's.
fn judge(ledger: &Ledger, note: Option<&str>, key: &audit_core::VerifierKey) -> LedgerIntegrity {
    if ledger.tree_size == 0 {
        return LedgerIntegrity::Empty;
    }
    let Some(note) = note else {
        return LedgerIntegrity::Failed { reason: "no checkpoint: checkpoint not found".into() };
    };
    match Checkpoint::open_for_origin(note, std::slice::from_ref(key), &ledger.origin) {
        Ok(checkpoint) if checkpoint.size().0 == ledger.tree_size => {
            LedgerIntegrity::Verified { size: ledger.tree_size }
        }
        Ok(checkpoint) => LedgerIntegrity::Behind { size: checkpoint.size().0, tree_size: ledger.tree_size },
        Err(error) => LedgerIntegrity::Failed { reason: error.to_string() },
    }
}
