//! Reading events back: by id, filtered pages, checkpoints and proofs.

use audit_core::merkle::{consistency_proof, inclusion_proof, range_proof};
use audit_core::{ChainLink, EventId, Hash, LedgerId, TreeSize};
use base64::Engine as _;
use sqlx::Row as _;

use super::indexer::{terms_of, FIELDS};
use super::nodes::{self, ProofSource, Recorder};
use crate::db::{from_i64, on_db, to_hash, to_i64};
use crate::{Ledger, Store, StoreError};

/// The largest page a listing returns.
pub const MAX_PAGE: u32 = 500;

/// An event as stored, with its place in the ledger.
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

/// One page of a listing, newest first.
#[derive(Debug, Clone)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    /// Pass back as `cursor` for the next (older) page; `None` at the end.
    pub next_cursor: Option<String>,
}

const COLUMNS: &str = "seq, event_id, content, leaf_hash, chain_hash, received_ms";
const COLUMNS_E: &str = "e.seq, e.event_id, e.content, e.leaf_hash, e.chain_hash, e.received_ms";

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

    /// A page of events, newest first, matching every given filter.
    pub async fn list_events(
        &self,
        ledger: &LedgerId,
        filter: &EventFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<EventPage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let before = cursor.map(decode_cursor).transpose()?;
        // The same fields, in the same order, as the indexer writes.
        let values = [&filter.actor_type, &filter.actor_id, &filter.action, &filter.resource_type, &filter.resource_id];
        let wanted: Vec<(&str, &str)> = FIELDS
            .iter()
            .zip(values)
            .filter_map(|((field, _, _), value)| value.as_deref().map(|v| (*field, v)))
            .collect();
        // Terms are keyed per ledger, so they are computed only when needed.
        let terms: Vec<[u8; 32]> = if wanted.is_empty() {
            Vec::new()
        } else {
            let index = self.keys.index_key(ledger).await?;
            wanted.iter().map(|(field, value)| index.term(field, value)).collect()
        };
        let fetch = i64::from(limit) + 1;
        let mut events = Vec::new();
        let mut before = before;
        if !terms.is_empty() {
            // The index covers seq < indexed_size; newer events (the tail the
            // indexer has not reached) are filtered here, so a listing is
            // exact at any moment. The tail is bounded by the indexer's lag.
            let indexed = self.indexed_size(ledger).await?;
            if before.is_none_or(|b| b > indexed) {
                let tail = self.scan_tail(ledger, filter, &terms, indexed, before, fetch).await?;
                events.extend(tail);
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
    /// found by reading them (they are not in the index yet).
    async fn scan_tail(
        &self,
        ledger: &LedgerId,
        filter: &EventFilter,
        terms: &[[u8; 32]],
        indexed: u64,
        before: Option<u64>,
        fetch: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = on_db!(&self.db.pool, |p| {
            let mut query = sqlx::QueryBuilder::new(format!("SELECT {COLUMNS} FROM events WHERE ledger_id = "));
            query.push_bind(ledger.as_str()).push(" AND seq >= ").push_bind(to_i64(indexed)?);
            if let Some(before) = before {
                query.push(" AND seq < ").push_bind(to_i64(before)?);
            }
            if let Some(from) = filter.from_ms {
                query.push(" AND occurred_ms >= ").push_bind(from);
            }
            if let Some(to) = filter.to_ms {
                query.push(" AND occurred_ms < ").push_bind(to);
            }
            query.push(" ORDER BY seq DESC");
            query.build().fetch_all(p).await?.iter().map(raw_event).collect::<Result<Vec<_>, _>>()?
        });
        let index = self.keys.index_key(ledger).await?;
        let wanted = usize::try_from(fetch).unwrap_or(usize::MAX);
        let mut found = Vec::new();
        for raw in rows {
            if found.len() >= wanted {
                break;
            }
            let event = self.reveal(ledger, raw).await?;
            let matches = event.event.as_ref().is_some_and(|content| {
                let have = terms_of(content, &index);
                terms.iter().all(|t| have.contains(t))
            });
            if matches {
                found.push(event);
            }
        }
        Ok(found)
    }

    /// Events below `before` matching every term (through the index) and the
    /// time range, newest first.
    async fn query_indexed(
        &self,
        ledger: &LedgerId,
        filter: &EventFilter,
        terms: &[[u8; 32]],
        before: Option<u64>,
        fetch: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let events = on_db!(&self.db.pool, |p| {
            // With a term filter, the walk is driven by the first term's
            // index run, newest first, so a page costs O(limit) index reads
            // however large the ledger is; further terms are point lookups.
            let mut query = match terms.split_first() {
                Some((first, _)) => {
                    let mut q = sqlx::QueryBuilder::new(format!(
                        "SELECT {COLUMNS_E} FROM event_terms t JOIN events e ON e.ledger_id = t.ledger_id AND e.seq = t.seq \
                         WHERE t.ledger_id = "
                    ));
                    q.push_bind(ledger.as_str()).push(" AND t.term = ").push_bind(first.as_slice());
                    q
                }
                None => {
                    let mut q =
                        sqlx::QueryBuilder::new(format!("SELECT {COLUMNS_E} FROM events e WHERE e.ledger_id = "));
                    q.push_bind(ledger.as_str());
                    q
                }
            };
            let order = if terms.is_empty() { "e.seq" } else { "t.seq" };
            if let Some(before) = before {
                query.push(format!(" AND {order} < ")).push_bind(to_i64(before)?);
            }
            if let Some(from) = filter.from_ms {
                query.push(" AND e.occurred_ms >= ").push_bind(from);
            }
            if let Some(to) = filter.to_ms {
                query.push(" AND e.occurred_ms < ").push_bind(to);
            }
            for term in terms.iter().skip(1) {
                query
                    .push(
                        " AND EXISTS (SELECT 1 FROM event_terms x WHERE x.ledger_id = e.ledger_id AND x.seq = e.seq AND x.term = ",
                    )
                    .push_bind(term.as_slice())
                    .push(")");
            }
            query.push(format!(" ORDER BY {order} DESC LIMIT ")).push_bind(fetch);
            query.build().fetch_all(p).await?.iter().map(raw_event).collect::<Result<Vec<_>, _>>()?
        });
        let mut revealed = Vec::with_capacity(events.len());
        for raw in events {
            revealed.push(self.reveal(ledger, raw).await?);
        }
        Ok(revealed)
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

    /// The latest signed checkpoint, or the one of exactly `tree_size`.
    pub async fn checkpoint(&self, ledger: &LedgerId, tree_size: Option<u64>) -> Result<String, StoreError> {
        // No ledger reaches sizes beyond the database's integers.
        if tree_size.is_some_and(|size| i64::try_from(size).is_err()) {
            return Err(StoreError::NotFound("checkpoint"));
        }
        let note: Option<String> = on_db!(&self.db.pool, |p| match tree_size {
            Some(size) => {
                sqlx::query_scalar("SELECT note FROM checkpoints WHERE ledger_id = $1 AND tree_size = $2")
                    .bind(ledger.as_str())
                    .bind(to_i64(size)?)
                    .fetch_optional(p)
                    .await?
            }
            None => {
                sqlx::query_scalar("SELECT note FROM checkpoints WHERE ledger_id = $1 ORDER BY tree_size DESC LIMIT 1")
                    .bind(ledger.as_str())
                    .fetch_optional(p)
                    .await?
            }
        });
        note.ok_or(StoreError::NotFound("checkpoint"))
    }

    /// The tree sizes of stored checkpoints, ascending, from `from_size` on
    /// (at most `limit`).
    pub async fn checkpoint_sizes(
        &self,
        ledger: &LedgerId,
        from_size: u64,
        limit: u32,
    ) -> Result<Vec<u64>, StoreError> {
        let sizes: Vec<i64> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar(
                "SELECT tree_size FROM checkpoints WHERE ledger_id = $1 AND tree_size >= $2 ORDER BY tree_size LIMIT $3",
            )
            .bind(ledger.as_str())
            .bind(to_i64(from_size)?)
            .bind(i64::from(limit))
            .fetch_all(p)
            .await?
        });
        sizes.into_iter().map(from_i64).collect()
    }

    /// RFC 9162 §2.1.3 inclusion proof of leaf `seq` in the tree of `tree_size`.
    pub async fn inclusion_proof(&self, ledger: &Ledger, seq: u64, tree_size: u64) -> Result<Vec<Hash>, StoreError> {
        check_size(ledger, tree_size)?;
        if seq >= tree_size {
            return Err(StoreError::Invalid(format!("seq {seq} is not below tree_size {tree_size}")));
        }
        self.prove(&ledger.id, |src| inclusion_proof(src, seq, TreeSize(tree_size)).map_err(|e| e.to_string())).await
    }

    /// RFC 9162 §2.1.4 consistency proof between two tree sizes.
    pub async fn consistency_proof(&self, ledger: &Ledger, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        check_size(ledger, to)?;
        if from == 0 || from > to {
            return Err(StoreError::Invalid(format!("from must be between 1 and to ({to}), got {from}")));
        }
        self.prove(&ledger.id, |src| consistency_proof(src, TreeSize(from), TreeSize(to)).map_err(|e| e.to_string()))
            .await
    }

    /// Range proof of leaves `[start, end)` in the tree of `tree_size` (docs/FORMAT.md).
    pub async fn range_proof(
        &self,
        ledger: &Ledger,
        start: u64,
        end: u64,
        tree_size: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        check_size(ledger, tree_size)?;
        if start >= end || end > tree_size {
            return Err(StoreError::Invalid(format!(
                "the range must satisfy start < end <= tree_size ({tree_size}), got [{start}, {end})"
            )));
        }
        self.prove(&ledger.id, |src| range_proof(src, start, end, TreeSize(tree_size)).map_err(|e| e.to_string())).await
    }

    /// Runs a proof generator twice: once to learn which nodes it reads,
    /// then on those nodes fetched in one round trip per table.
    async fn prove<F, E>(&self, ledger: &LedgerId, generate: F) -> Result<Vec<Hash>, StoreError>
    where
        F: Fn(&ProofSource) -> Result<Vec<Hash>, E>,
        E: std::fmt::Display,
    {
        let recording = ProofSource::Recording(Recorder::default());
        generate(&recording).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let ProofSource::Recording(recorder) = recording else { unreachable_source() };
        let fetched = nodes::fetch_from_pool(&self.db.pool, ledger, &recorder.into_ids()).await?;
        generate(&ProofSource::Fetched(fetched)).map_err(|e| StoreError::Proof(e.to_string()))
    }
}

/// The recording pass is constructed as `Recording` just above.
fn unreachable_source() -> ! {
    unreachable!("the recording pass uses a recording source")
}

fn check_size(ledger: &Ledger, tree_size: u64) -> Result<(), StoreError> {
    if tree_size == 0 || tree_size > ledger.tree_size {
        return Err(StoreError::Invalid(format!(
            "tree_size must be between 1 and the ledger's size ({}), got {tree_size}",
            ledger.tree_size
        )));
    }
    Ok(())
}

/// An event row as read, its content still sealed.
struct RawEvent {
    seq: u64,
    id: EventId,
    content: Option<Vec<u8>>,
    leaf_hash: Hash,
    chain_hash: Hash,
    received_ms: i64,
}

impl Store {
    /// Opens a row's sealed content (checking that it belongs to this ledger
    /// and seq) and parses it.
    async fn reveal(&self, ledger: &LedgerId, raw: RawEvent) -> Result<StoredEvent, StoreError> {
        let event = match raw.content {
            Some(record) => {
                let plain = self.keys.open(ledger, raw.seq, &record).await?;
                let event: audit_core::Event = serde_json::from_slice(&plain).map_err(|_| {
                    StoreError::Integrity(format!(
                        "the stored content of event seq {} in ledger {ledger} is not a valid event",
                        raw.seq
                    ))
                })?;
                Some(event)
            }
            None => None,
        };
        Ok(StoredEvent {
            seq: raw.seq,
            id: raw.id,
            event,
            leaf_hash: raw.leaf_hash,
            chain_hash: raw.chain_hash,
            received_ms: raw.received_ms,
        })
    }
}

fn raw_event<R>(row: &R) -> Result<RawEvent, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let content: Option<Vec<u8>> = row.try_get(2)?;
    let id: String = row.try_get(1)?;
    Ok(RawEvent {
        seq: from_i64(row.try_get(0)?)?,
        id: EventId::new(id).map_err(|_| StoreError::Corrupt("invalid stored event id"))?,
        content,
        leaf_hash: to_hash(&row.try_get::<Vec<u8>, _>(3)?)?,
        chain_hash: to_hash(&row.try_get::<Vec<u8>, _>(4)?)?,
        received_ms: row.try_get(5)?,
    })
}
