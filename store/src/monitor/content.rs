//! What a row's sealed record says of the row: the same checks every read
//! makes (ledger/event_rows.rs), answered as a verdict instead of an error,
//! so the walk can tell an altered record from a moved one.

use audit_core::LedgerId;

use crate::crypto::records::{sealed_version, RowBinding};
use crate::db::on_db;
use crate::ledger::event_rows::{check_content, RawEvent};
use crate::{Store, StoreError};

/// The verdict on one row's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The record opens for its row and its content agrees with the row.
    Intact,
    /// No content: a tombstone (whether an archival covers it is the
    /// walk's question).
    Tombstone,
    /// The record does not open for its row, or its content disagrees.
    Altered(String),
    /// The record names a data key the ledger does not have.
    Undecryptable(String),
    /// The ledger's keys were destroyed: content can no longer be checked.
    Unchecked,
}

impl Store {
    /// The verdict on `raw`. Errors are the database's or the key
    /// provider's (a pass then stops and is retried), never the row's.
    pub(super) async fn content_verdict(&self, ledger: &LedgerId, raw: &RawEvent) -> Result<Verdict, StoreError> {
        let Some(record) = &raw.content else { return Ok(Verdict::Tombstone) };
        let plain = match self.keys.open(ledger, &raw.binding(), record).await {
            Ok(plain) => plain,
            Err(StoreError::Integrity(detail)) => return Ok(Verdict::Altered(detail)),
            Err(StoreError::KeysDestroyed) => return Ok(Verdict::Unchecked),
            Err(StoreError::Keys(detail)) => {
                return match sealed_version(record) {
                    Some(version) if !self.has_key_version(ledger, version).await? => Ok(Verdict::Undecryptable(
                        format!("the record names data key version {version}, which the ledger does not have"),
                    )),
                    _ => Err(StoreError::Keys(detail)),
                };
            }
            Err(other) => return Err(other),
        };
        match check_content(ledger, raw, &plain) {
            Ok(_) => Ok(Verdict::Intact),
            Err(StoreError::Integrity(detail)) => Ok(Verdict::Altered(detail)),
            Err(other) => Err(other),
        }
    }

    /// The first of `seqs` for which the record of `raw` opens as if it
    /// were that seq's row: where an altered-looking record really belongs.
    pub(super) async fn opens_at(
        &self,
        ledger: &LedgerId,
        raw: &RawEvent,
        seqs: impl Iterator<Item = u64>,
    ) -> Option<u64> {
        let record = raw.content.as_ref()?;
        // A record from before sealing opens anywhere; it proves no place.
        sealed_version(record)?;
        for seq in seqs.filter(|&seq| seq != raw.seq) {
            let binding = RowBinding { seq, ..raw.binding() };
            if self.keys.open(ledger, &binding, record).await.is_ok() {
                return Some(seq);
            }
        }
        None
    }

    async fn has_key_version(&self, ledger: &LedgerId, version: u32) -> Result<bool, StoreError> {
        let found: Option<i64> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT version FROM ledger_keys WHERE ledger_id = $1 AND version = $2")
                .bind(ledger.as_str())
                .bind(i64::from(version))
                .fetch_optional(p)
                .await?
        });
        Ok(found.is_some())
    }
}
