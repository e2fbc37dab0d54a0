//! The multi-row statements of a commit and of the indexer, per backend.
//!
//! SQLite takes multi-row `VALUES` and `IN (...)` lists, in chunks below its
//! bind-parameter limit: preparing a statement is cheap there and runs in
//! process. PostgreSQL takes one array per column instead (`UNNEST`): one
//! statement text whatever the number of rows, so it is
//! parsed and planned once per connection, and one round trip per write
//! where lists of every length were each a new statement to prepare (a
//! round trip of their own) and were sent in chunks.

use std::collections::HashMap;

use audit_core::{EventId, Hash, LedgerId};

use super::plan::Plan;
use super::sequencer::AppendedEvent;
use super::term_blocks::StoredTerm;
use crate::db::{from_i64, to_hash, to_i64, Conn, PerBackend};
use crate::StoreError;

/// Rows per multi-row INSERT or lookup on SQLite (below its bind-parameter
/// limit).
const CHUNK: usize = 500;

/// The lookup of stored records by event id on SQLite, up to the ledger
/// id's bind. Without statistics SQLite's planner prefers the covering
/// primary key and scans the whole ledger for `event_id IN (...)` (every
/// commit of a request with client ids did, so ingest slowed with the
/// ledger's size), hence the named index.
const SQLITE_KNOWN_IDS: &str =
    "SELECT event_id, seq, leaf_hash, chain_hash FROM events INDEXED BY events_by_event_id WHERE ledger_id = ";

/// The lookup of stored records by event id on PostgreSQL: the ledger, then
/// the ids as an array.
const PG_KNOWN_IDS: &str = "SELECT e.event_id, e.seq, e.leaf_hash, e.chain_hash \
     FROM UNNEST($2::text[]) AS wanted (event_id) CROSS JOIN LATERAL \
     (SELECT event_id, seq, leaf_hash, chain_hash FROM events \
      WHERE ledger_id = $1 AND event_id = wanted.event_id LIMIT 1) AS e";

/// The stored records of these event ids in the ledger, by id.
pub(super) async fn stored_records(
    conn: Conn<'_>,
    ledger: &LedgerId,
    ids: &[&str],
) -> Result<HashMap<String, AppendedEvent>, StoreError> {
    let mut known = HashMap::new();
    if ids.is_empty() {
        return Ok(known);
    }
    let rows = match conn {
        PerBackend::Sqlite(c) => {
            let mut rows = Vec::new();
            for chunk in ids.chunks(CHUNK) {
                let mut query = sqlx::QueryBuilder::new(SQLITE_KNOWN_IDS);
                query.push_bind(ledger.as_str()).push(" AND event_id IN (");
                let mut separated = query.separated(", ");
                for id in chunk {
                    separated.push_bind(*id);
                }
                query.push(")");
                for row in query.build().fetch_all(&mut *c).await? {
                    rows.push(stored_record(&row)?);
                }
            }
            rows
        }
        PerBackend::Postgres(c) => {
            // One probe of the event id index per id (a LATERAL subquery
            // with a LIMIT is never flattened into a join): without
            // statistics (a young table) the planner took `event_id = ANY`
            // or `IN (...)` through the primary key, reading every row of
            // the ledger per commit, and a plain join as a hash join over
            // the same scan.
            let found = sqlx::query(PG_KNOWN_IDS).bind(ledger.as_str()).bind(ids).fetch_all(&mut *c).await?;
            found.iter().map(stored_record).collect::<Result<Vec<_>, _>>()?
        }
    };
    for record in rows {
        known.insert(record.id.as_str().to_owned(), record);
    }
    Ok(known)
}

fn stored_record<R>(row: &R) -> Result<AppendedEvent, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let id: String = row.try_get(0)?;
    Ok(AppendedEvent {
        id: EventId::new(id).map_err(|_| StoreError::Corrupt("invalid stored event id"))?,
        seq: from_i64(row.try_get(1)?)?,
        leaf_hash: to_hash(&row.try_get::<Vec<u8>, _>(2)?)?,
        chain_hash: to_hash(&row.try_get::<Vec<u8>, _>(3)?)?,
    })
}

const INSERT_EVENTS: &str =
    "INSERT INTO events (ledger_id, seq, event_id, occurred_ms, received_ms, content, leaf_hash, chain_hash) ";
const INSERT_NODES: &str = "INSERT INTO merkle_nodes (ledger_id, level, idx, hash) ";

/// Inserts the planned event rows and Merkle nodes.
pub(super) async fn write_plan(conn: Conn<'_>, ledger: &LedgerId, plan: &Plan) -> Result<(), StoreError> {
    let seqs = plan.rows.iter().map(|row| to_i64(row.seq)).collect::<Result<Vec<_>, _>>()?;
    let idxs = plan.nodes.iter().map(|(_, idx, _)| to_i64(*idx)).collect::<Result<Vec<_>, _>>()?;
    match conn {
        PerBackend::Sqlite(c) => {
            for (chunk, seqs) in plan.rows.chunks(CHUNK).zip(seqs.chunks(CHUNK)) {
                let mut query = sqlx::QueryBuilder::new(INSERT_EVENTS);
                query.push_values(chunk.iter().zip(seqs), |mut b, (row, seq)| {
                    b.push_bind(ledger.as_str())
                        .push_bind(*seq)
                        .push_bind(row.event_id.as_str())
                        .push_bind(row.occurred_ms)
                        .push_bind(row.received_ms)
                        .push_bind(row.content.as_slice())
                        .push_bind(row.leaf.as_bytes().as_slice())
                        .push_bind(row.chain.as_bytes().as_slice());
                });
                query.build().execute(&mut *c).await?;
            }
            for (chunk, idxs) in plan.nodes.chunks(CHUNK).zip(idxs.chunks(CHUNK)) {
                let mut query = sqlx::QueryBuilder::new(INSERT_NODES);
                query.push_values(chunk.iter().zip(idxs), |mut b, ((level, _, hash), idx)| {
                    b.push_bind(ledger.as_str())
                        .push_bind(i16::from(*level))
                        .push_bind(*idx)
                        .push_bind(hash.as_bytes().as_slice());
                });
                query.build().execute(&mut *c).await?;
            }
        }
        PerBackend::Postgres(c) => {
            if !plan.rows.is_empty() {
                let statement = format!(
                    "{INSERT_EVENTS}SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::bigint[], \
                     $5::bigint[], $6::bytea[], $7::bytea[], $8::bytea[])"
                );
                sqlx::query(&statement)
                    .bind(ledger.as_str())
                    .bind(&seqs)
                    .bind(plan.rows.iter().map(|row| row.event_id.as_str()).collect::<Vec<_>>())
                    .bind(plan.rows.iter().map(|row| row.occurred_ms).collect::<Vec<_>>())
                    .bind(plan.rows.iter().map(|row| row.received_ms).collect::<Vec<_>>())
                    .bind(plan.rows.iter().map(|row| row.content.as_slice()).collect::<Vec<_>>())
                    .bind(plan.rows.iter().map(|row| hash_bytes(&row.leaf)).collect::<Vec<_>>())
                    .bind(plan.rows.iter().map(|row| hash_bytes(&row.chain)).collect::<Vec<_>>())
                    .execute(&mut *c)
                    .await?;
            }
            if !plan.nodes.is_empty() {
                let statement =
                    format!("{INSERT_NODES}SELECT $1, * FROM UNNEST($2::smallint[], $3::bigint[], $4::bytea[])");
                sqlx::query(&statement)
                    .bind(ledger.as_str())
                    .bind(plan.nodes.iter().map(|(level, _, _)| i16::from(*level)).collect::<Vec<_>>())
                    .bind(&idxs)
                    .bind(plan.nodes.iter().map(|(_, _, hash)| hash_bytes(hash)).collect::<Vec<_>>())
                    .execute(&mut *c)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Inserts filter-index terms `(term, seq)` of the ledger numbered
/// `ledger` (`ledgers.number`), those already there left as they are
/// (indexing is idempotent).
pub(super) async fn insert_terms(conn: Conn<'_>, ledger: i64, terms: &[(StoredTerm, i64)]) -> Result<(), StoreError> {
    match conn {
        PerBackend::Sqlite(c) => {
            for chunk in terms.chunks(CHUNK) {
                let mut query = sqlx::QueryBuilder::new("INSERT INTO event_terms (ledger, term, seq) ");
                query.push_values(chunk, |mut b, (term, seq)| {
                    b.push_bind(ledger).push_bind(term.as_slice()).push_bind(*seq);
                });
                query.push(" ON CONFLICT DO NOTHING");
                query.build().execute(&mut *c).await?;
            }
        }
        PerBackend::Postgres(c) if !terms.is_empty() => {
            sqlx::query(
                "INSERT INTO event_terms (ledger, term, seq) SELECT $1, * FROM UNNEST($2::bytea[], $3::bigint[]) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(ledger)
            .bind(terms.iter().map(|(term, _)| term.as_slice()).collect::<Vec<_>>())
            .bind(terms.iter().map(|(_, seq)| *seq).collect::<Vec<_>>())
            .execute(&mut *c)
            .await?;
        }
        PerBackend::Postgres(_) => {}
    }
    Ok(())
}

fn hash_bytes(hash: &Hash) -> &[u8] {
    hash.as_bytes().as_slice()
}

#[cfg(test)]
mod tests {
    use super::{PG_KNOWN_IDS, SQLITE_KNOWN_IDS};
    use crate::db::{open, PerBackend};

    /// A new database has no statistics: the lookup of stored records by
    /// client id must still go through the event id index, not scan the
    /// ledger (which it once did, so ingest with ids slowed as ledgers grew).
    #[tokio::test]
    async fn the_lookup_by_client_ids_uses_the_event_id_index_on_sqlite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("plan.db").display());
        let PerBackend::Sqlite(pool) = open(&url).await.expect("opens") else { panic!("a SQLite pool") };
        let sql = format!("EXPLAIN QUERY PLAN {SQLITE_KNOWN_IDS}'l' AND event_id IN ('a', 'b', 'c')");
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&sql).fetch_all(&pool).await.expect("plan");
        let details: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
        assert_eq!(details, ["SEARCH events USING INDEX events_by_event_id (ledger_id=? AND event_id=?)"]);
    }

    /// The same on PostgreSQL, for a ledger of some size in a table the
    /// planner has no statistics of: each id is a probe of the event id
    /// index (it once read the whole ledger through the primary key).
    #[tokio::test]
    async fn the_lookup_by_client_ids_probes_the_event_id_index_on_postgres() {
        let url = crate::testing::fresh_postgres_url().await.expect("database");
        let PerBackend::Postgres(pool) = open(&url).await.expect("opens") else { panic!("a PostgreSQL pool") };
        sqlx::query("INSERT INTO accounts (id, name, created_ms) VALUES ('acc_p', 'plan', 0)")
            .execute(&pool)
            .await
            .expect("account");
        sqlx::query(
            "INSERT INTO ledgers (id, account_id, name, kind, origin, created_ms) \
             VALUES ('ldg_p', 'acc_p', 'plan', 'user', 'h/ledgers/ldg_p', 0)",
        )
        .execute(&pool)
        .await
        .expect("ledger");
        sqlx::query(
            "INSERT INTO events (ledger_id, seq, event_id, occurred_ms, received_ms, content, leaf_hash, chain_hash) \
             SELECT 'ldg_p', n, 'evt_' || n, 0, 0, '\\x00', '\\x00', '\\x00' FROM generate_series(0, 19999) AS n",
        )
        .execute(&pool)
        .await
        .expect("events");
        let ids: Vec<String> = (0..300).map(|n| format!("evt_{}", n * 61)).collect();
        let lines: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN (FORMAT TEXT) {PG_KNOWN_IDS}"))
            .bind("ldg_p")
            .bind(&ids)
            .fetch_all(&pool)
            .await
            .expect("plan");
        let plan = lines.join("\n");
        assert!(plan.contains("Index Scan using events_by_event_id") && plan.contains("Nested Loop"), "{plan}");
        assert!(!plan.contains("events_pkey"), "{plan}");
    }
}
