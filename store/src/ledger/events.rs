//! Reading events back: by id and in filtered pages, each event verified
//! (see `event_rows.rs`).

use audit_core::{ChainLink, LedgerId};
use base64::Engine as _;
use sqlx::Row as _;

use super::event_rows::{raw_event, RawEvent, StoredEvent, COLUMNS};
use super::filter_query::runs_query;
use super::indexer::{event_terms, FIELDS};
use super::term_blocks::{TermLayout, TermRuns};
use crate::crypto::records::{Dek, Term};
use crate::db::{on_db, to_hash, to_i64};
use crate::{Store, StoreError};

/// The largest page a listing returns.
pub const MAX_PAGE: u32 = 500;
/// Rows a listing reads from the unindexed tail per round trip: with
/// events of at most 64 KiB, a round holds at most 4 MiB of records.
const TAIL_WINDOW: i64 = 64;
/// Unindexed rows one listing request opens at most. A request that
/// reaches it returns what it found with a cursor to continue from, so a
/// read key cannot make one request decrypt a large tail.
pub const MAX_TAIL_SCAN: u64 = 2_048;

/// Equality and time filters of a listing; all given ones must match.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub actor_type: Option<String>,
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// `occurred_at >= from` (Unix ms).
    pub from_ms: Option<i64>,
    /// `occurred_at < to` (Unix ms).
    pub to_ms: Option<i64>,
}

impl EventFilter {
    fn values(&self) -> [&Option<String>; 5] {
        // The same fields, in the same order, as the indexer writes.
        [&self.actor_type, &self.actor_id, &self.action, &self.resource_type, &self.resource_id]
    }

    /// Whether an equality filter is given (the time range is not one).
    pub fn has_terms(&self) -> bool {
        self.values().iter().any(|value| value.is_some())
    }
}

/// The blind-index terms an event must have to match `filter`'s equality
/// filters, under the ledger's index key.
pub(crate) fn filter_terms(filter: &EventFilter, index: &Dek) -> Vec<Term> {
    FIELDS
        .iter()
        .zip(filter.values())
        .filter_map(|((field, _, _), value)| value.as_deref().map(|v| index.term(field, v)))
        .collect()
}

/// One page of a listing, newest first.
#[derive(Debug, Clone)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    /// Pass back as `cursor` for the next (older) page; `None` at the end.
    pub next_cursor: Option<String>,
}

fn decode_cursor(cursor: &str) -> Result<u64, StoreError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::Invalid("cursor is not one this server issued".into()))?;
    let text =
        std::str::from_utf8(&bytes).map_err(|_| StoreError::Invalid("cursor is not one this server issued".into()))?;
    text.strip_prefix("before:")
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| StoreError::Invalid("cursor is not one this server issued".into()))
}

fn encode_cursor(before_seq: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("before:{before_seq}"))
}

impl Store {
    /// An event by its id.
    pub async fn event(&self, ledger: &LedgerId, id: &str) -> Result<StoredEvent, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM events WHERE ledger_id = $1 AND event_id = $2");
        let row = on_db!(&self.db.pool, |p| {
            sqlx::query(&sql)
                .bind(ledger.as_str())
                .bind(id)
                .fetch_optional(p)
                .await?
                .map(|row| raw_event(&row))
                .transpose()?
        });
        let raw = row.ok_or(StoreError::NotFound("event"))?;
        self.reveal(ledger, raw).await
    }

    /// A page of events, newest first, matching every given filter. A page
    /// holds fewer than `limit` events yet has a cursor when the request
    /// reached [`MAX_TAIL_SCAN`] in the unindexed tail: the cursor goes on
    /// from where it stopped.
    pub async fn list_events(
        &self,
        ledger: &LedgerId,
        filter: &EventFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<EventPage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let before = cursor.map(decode_cursor).transpose()?;
        // Terms are keyed per ledger, so they are computed only when needed.
        let terms: Vec<Term> =
            if filter.has_terms() { filter_terms(filter, &*self.keys.index_key(ledger).await?) } else { Vec::new() };
        let fetch = i64::from(limit) + 1;
        let mut events = Vec::new();
        let mut before = before;
        if !terms.is_empty() {
            // The index covers seq < indexed_size; newer events (the tail the
            // indexer has not reached) are filtered here, so a listing is
            // exact at any moment. The tail is bounded by the indexer's lag.
            let indexed = self.indexed_size(ledger).await?;
            if before.is_none_or(|b| b > indexed) {
                let (tail, stopped_at) = self.scan_tail(ledger, filter, &terms, indexed, before, fetch).await?;
                events.extend(tail);
                if let Some(resume) = stopped_at {
                    return Ok(EventPage { events, next_cursor: Some(encode_cursor(resume)) });
                }
                before = Some(indexed);
            }
        }
        if events.len() < fetch as usize {
            let more = fetch - events.len() as i64;
            events.extend(self.query_indexed(ledger, filter, &terms, before, more).await?);
        }
        let next_cursor = if events.len() > limit as usize {
            events.truncate(limit as usize);
            events.last().map(|e| encode_cursor(e.seq))
        } else {
            None
        };
        Ok(EventPage { events, next_cursor })
    }

    /// Events in `[indexed, before)` that match every term, newest first,
    /// found by reading them (they are not in the index yet), in windows of
    /// [`TAIL_WINDOW`] rows until `fetch` match. Returns the seq to resume
    /// below when it stopped at [`MAX_TAIL_SCAN`] rows instead.
    async fn scan_tail(
        &self,
        ledger: &LedgerId,
        filter: &EventFilter,
        terms: &[Term],
        indexed: u64,
        before: Option<u64>,
        fetch: i64,
    ) -> Result<(Vec<StoredEvent>, Option<u64>), StoreError> {
        let index = self.keys.index_key(ledger).await?;
        let wanted = usize::try_from(fetch).unwrap_or(usize::MAX);
        let mut found = Vec::new();
        let mut below = before;
        let mut scanned = 0u64;
        loop {
            let rows = self.tail_window(ledger, filter, indexed, below).await?;
            let last_window = rows.len() < TAIL_WINDOW as usize;
            for raw in rows {
                below = Some(raw.seq);
                scanned += 1;
                let event = self.reveal(ledger, raw).await?;
                let matches = event.event.as_ref().is_some_and(|content| {
                    let have = event_terms(content, &index);
                    terms.iter().all(|t| have.contains(t))
                });
                if matches {
                    found.push(event);
                    if found.len() >= wanted {
                        return Ok((found, None));
                    }
                }
            }
            if last_window {
                return Ok((found, None));
            }
            if scanned >= MAX_TAIL_SCAN {
                return Ok((found, below));
            }
        }
    }

    /// The next [`TAIL_WINDOW`] rows of `[indexed, below)` in the time range,
    /// newest first.
    async fn tail_window(
        &self,
        ledger: &LedgerId,
        filter: &EventFilter,
        indexed: u64,
        below: Option<u64>,
    ) -> Result<Vec<RawEvent>, StoreError> {
        Ok(on_db!(&self.db.pool, |p| {
            let mut query = sqlx::QueryBuilder::new(format!("SELECT {COLUMNS} FROM events WHERE ledger_id = "));
            query.push_bind(ledger.as_str()).push(" AND seq >= ").push_bind(to_i64(indexed)?);
            if let Some(below) = below {
                query.push(" AND seq < ").push_bind(to_i64(below)?);
            }
            if let Some(from) = filter.from_ms {
                query.push(" AND occurred_ms >= ").push_bind(from);
            }
            if let Some(to) = filter.to_ms {
                query.push(" AND occurred_ms < ").push_bind(to);
            }
            query.push(" ORDER BY seq DESC LIMIT ").push_bind(TAIL_WINDOW);
            query.build().fetch_all(p).await?.iter().map(raw_event).collect::<Result<Vec<_>, _>>()?
        }))
    }

    /// Events below `before` matching every term (through the index) and the
    /// time range, newest first.
    async fn query_indexed(
        &self,
        ledger: &LedgerId,
        filter: &EventFilter,
        terms: &[Term],
        before: Option<u64>,
        fetch: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let Some((first, further)) = terms.split_first() else {
            let events = self.query_runs(ledger, filter, None, before, fetch).await?;
            return self.reveal_all(ledger, events).await;
        };
        // With a term filter, the walk is driven by the first term's index
        // run, newest block first (see `term_blocks.rs`), so a page costs
        // O(limit) index reads plus a seek per block passed. `before` is at
        // most the indexed size here (`list_events`), so the blocks walked
        // are the ledger's.
        let layout = TermLayout::of(self.backend());
        let below = match before {
            Some(before) => before,
            None => self.indexed_size(ledger).await?,
        };
        let mut events = Vec::new();
        for run in layout.runs_below(*first, below) {
            let wanted = fetch - events.len() as i64;
            if wanted <= 0 {
                break;
            }
            let terms = TermRuns { first: &run, further, layout };
            events.extend(self.query_runs(ledger, filter, Some(terms), Some(below), wanted).await?);
        }
        self.reveal_all(ledger, events).await
    }

    /// Up to `fetch` events below `before` in the time range, newest first:
    /// with `terms`, the events of their blocks indexed under every term.
    async fn query_runs(
        &self,
        ledger: &LedgerId,
        filter: &EventFilter,
        terms: Option<TermRuns<'_>>,
        before: Option<u64>,
        fetch: i64,
    ) -> Result<Vec<RawEvent>, StoreError> {
        let before = before.map(to_i64).transpose()?;
        Ok(on_db!(&self.db.pool, |p| {
            let mut query = runs_query("", ledger.as_str(), filter, terms.as_ref(), before, fetch);
            query.build().fetch_all(p).await?.iter().map(raw_event).collect::<Result<Vec<_>, _>>()?
        }))
    }

    /// Up to `limit` events of `[start, end)` in seq order, each verified as
    /// every read is: the window an export streams.
    pub async fn events_in_order(
        &self,
        ledger: &LedgerId,
        start: u64,
        end: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE ledger_id = $1 AND seq >= $2 AND seq < $3 ORDER BY seq LIMIT $4"
        );
        let rows = on_db!(&self.db.pool, |p| {
            sqlx::query(&sql)
                .bind(ledger.as_str())
                .bind(to_i64(start)?)
                .bind(to_i64(end)?)
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?
                .iter()
                .map(raw_event)
                .collect::<Result<Vec<_>, _>>()?
        });
        self.reveal_all(ledger, rows).await
    }

    /// Leaf and chain hashes of `[start, end)`, in order, for re-verification.
    pub async fn chain_links(&self, ledger: &LedgerId, start: u64, end: u64) -> Result<Vec<ChainLink>, StoreError> {
        let rows = on_db!(&self.db.pool, |p| {
            sqlx::query(
                "SELECT leaf_hash, chain_hash FROM events WHERE ledger_id = $1 AND seq >= $2 AND seq < $3 ORDER BY seq",
            )
            .bind(ledger.as_str())
            .bind(to_i64(start)?)
            .bind(to_i64(end)?)
            .fetch_all(p)
            .await?
            .iter()
            .map(|row| {
                Ok(ChainLink {
                    leaf_hash: to_hash(&row.try_get::<Vec<u8>, _>(0)?)?,
                    chain_hash: to_hash(&row.try_get::<Vec<u8>, _>(1)?)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?
        });
        Ok(rows)
    }
}
