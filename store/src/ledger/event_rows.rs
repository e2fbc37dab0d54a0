//! An event row as read, and the checks every read makes before it returns
//! one: the sealed record opens for this row (format 2 binds every column),
//! its content parses, names the row's event id and time, and hashes to
//! the row's leaf hash (RFC 9162 §2.1.1, docs/FORMAT.md). What the
//! database holds is checked, not trusted: a row edited behind the
//! application's back is refused with an integrity error naming the event,
//! and recorded as a finding for the tamper monitor.

use audit_core::{EventId, Hash, LedgerId};

use crate::crypto::records::{integrity, RowBinding};
use crate::db::{from_i64, to_hash};
use crate::{Store, StoreError};

/// The columns [`raw_event`] reads, in its order.
pub(crate) const COLUMNS: &str = "seq, event_id, content, leaf_hash, chain_hash, received_ms, occurred_ms";
/// [`COLUMNS`] of the table aliased `e`.
pub(crate) const COLUMNS_E: &str =
    "e.seq, e.event_id, e.content, e.leaf_hash, e.chain_hash, e.received_ms, e.occurred_ms";

/// An event as stored, with its place in the ledger, verified.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: u64,
    pub id: EventId,
    /// The normalised event as ingested; `None` once tombstoned.
    pub event: Option<audit_core::Event>,
    pub leaf_hash: Hash,
    pub chain_hash: Hash,
    pub received_ms: i64,
}

/// An event row as read, its content still sealed and nothing of it checked.
pub(crate) struct RawEvent {
    pub(crate) seq: u64,
    /// As stored: checked against the content before it is believed.
    pub(crate) id: String,
    pub(crate) content: Option<Vec<u8>>,
    pub(crate) leaf_hash: Hash,
    pub(crate) chain_hash: Hash,
    pub(crate) received_ms: i64,
    pub(crate) occurred_ms: i64,
}

impl RawEvent {
    /// The columns the sealed record is bound to.
    pub(crate) fn binding(&self) -> RowBinding<'_> {
        RowBinding {
            seq: self.seq,
            event_id: &self.id,
            leaf_hash: &self.leaf_hash,
            chain_hash: &self.chain_hash,
            occurred_ms: self.occurred_ms,
            received_ms: self.received_ms,
        }
    }
}

/// Reads the [`COLUMNS`] of a row.
pub(crate) fn raw_event<R>(row: &R) -> Result<RawEvent, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(RawEvent {
        seq: from_i64(row.try_get(0)?)?,
        id: row.try_get(1)?,
        content: row.try_get(2)?,
        leaf_hash: to_hash(&row.try_get::<Vec<u8>, _>(3)?)?,
        chain_hash: to_hash(&row.try_get::<Vec<u8>, _>(4)?)?,
        received_ms: row.try_get(5)?,
        occurred_ms: row.try_get(6)?,
    })
}

impl Store {
    /// Opens and checks a row (see the module doc). An integrity failure is
    /// recorded as a finding of the ledger before it is returned.
    pub(crate) async fn reveal(&self, ledger: &LedgerId, raw: RawEvent) -> Result<StoredEvent, StoreError> {
        match self.verify_row(ledger, &raw).await {
            Ok(event) => Ok(StoredEvent {
                seq: raw.seq,
                id: match &event {
                    Some(content) => content.id().clone(),
                    None => EventId::new(raw.id.clone())
                        .map_err(|_| integrity(ledger.as_str(), &raw.binding(), "has an invalid event id"))?,
                },
                event,
                leaf_hash: raw.leaf_hash,
                chain_hash: raw.chain_hash,
                received_ms: raw.received_ms,
            }),
            Err(StoreError::Integrity(detail)) => {
                self.record_finding(ledger, raw.seq, &raw.id, &detail).await;
                Err(StoreError::Integrity(detail))
            }
            Err(other) => Err(other),
        }
    }

    /// [`Store::reveal`] of each row, in order.
    pub(crate) async fn reveal_all(
        &self,
        ledger: &LedgerId,
        rows: Vec<RawEvent>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut revealed = Vec::with_capacity(rows.len());
        for raw in rows {
            revealed.push(self.reveal(ledger, raw).await?);
        }
        Ok(revealed)
    }

    /// The row's content, checked against every column that can be
    /// checked; `None` for a tombstone (nothing left to check it against).
    async fn verify_row(&self, ledger: &LedgerId, raw: &RawEvent) -> Result<Option<audit_core::Event>, StoreError> {
        let Some(record) = &raw.content else { return Ok(None) };
        let row = raw.binding();
        let plain = self.keys.open(ledger, &row, record).await?;
        check_content(ledger, raw, &plain).map(Some)
    }
}

/// The content `plain` opened from `raw`'s record, checked against the
/// row: it must be a valid event with the row's event id, leaf hash and
/// time. Every read and the tamper monitor check rows with this.
pub(crate) fn check_content(ledger: &LedgerId, raw: &RawEvent, plain: &[u8]) -> Result<audit_core::Event, StoreError> {
    let row = raw.binding();
    let event: audit_core::Event =
        serde_json::from_slice(plain).map_err(|_| integrity(ledger.as_str(), &row, "does not hold a valid event"))?;
    // Format 1 records bind none of these columns, so they are compared
    // with the content here for every record alike.
    if event.id().as_str() != raw.id {
        return Err(integrity(
            ledger.as_str(),
            &row,
            &format!("holds the content of event {:?}: the row's event id was altered", event.id().as_str()),
        ));
    }
    if !event.leaf_hash().ct_eq(&raw.leaf_hash) {
        return Err(integrity(
            ledger.as_str(),
            &row,
            "does not hash to the row's leaf hash: the content or the leaf hash was altered",
        ));
    }
    if event.occurred_at().unix_millis() != raw.occurred_ms {
        return Err(integrity(
            ledger.as_str(),
            &row,
            "occurred at another time than its row says: the row's occurred time was altered",
        ));
    }
    Ok(event)
}
