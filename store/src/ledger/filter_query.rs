//! The SQL of a filtered read: the events of a ledger in a time range and
//! below a seq, and with terms those the filter index has under every term
//! (see `term_blocks.rs`), for listings (`events.rs`) and the counts of
//! legal holds (`lifecycle/hold_coverage.rs`).

use super::event_rows::COLUMNS_E;
use super::term_blocks::TermRuns;
use crate::EventFilter;

/// The query of a listing's page (`Store::query_runs`), after `prefix` (the tests' `EXPLAIN
/// QUERY PLAN`).
pub(super) fn runs_query<'q, DB>(
    prefix: &str,
    ledger: &'q str,
    filter: &EventFilter,
    terms: Option<&TermRuns<'_>>,
    before: Option<i64>,
    fetch: i64,
) -> sqlx::QueryBuilder<'q, DB>
where
    DB: sqlx::Database,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut query = filtered_query(&format!("{prefix}SELECT {COLUMNS_E}"), ledger, filter, terms, before);
    // In block order and then seq order, which is seq order: SQLite walks
    // the `IN` list backwards along the primary key, no sort.
    let order = if terms.is_none() { "e.seq DESC" } else { "t.term DESC, t.seq DESC" };
    query.push(format!(" ORDER BY {order} LIMIT ")).push_bind(fetch);
    query
}

/// `{select}` over the events `e` of `ledger` in the filter's time range
/// and below seq `below`; with `terms`, only those its index rows `t` in
/// the run's blocks have under every term (the walk driven by the first
/// term's rows, not by the whole ledger). Shared by listings and the
/// counts of legal holds.
pub(crate) fn filtered_query<'q, DB>(
    select: &str,
    ledger: &'q str,
    filter: &EventFilter,
    terms: Option<&TermRuns<'_>>,
    below: Option<i64>,
) -> sqlx::QueryBuilder<'q, DB>
where
    DB: sqlx::Database,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut query = match terms {
        Some(terms) => {
            let mut q = sqlx::QueryBuilder::new(format!(
                "{select} FROM event_terms t JOIN events e ON e.seq = t.seq AND e.ledger_id = "
            ));
            q.push_bind(ledger).push(" WHERE t.ledger = (SELECT number FROM ledgers WHERE id = ");
            q.push_bind(ledger).push(") AND ");
            terms.push_first(&mut q);
            q
        }
        None => {
            let mut q = sqlx::QueryBuilder::new(format!("{select} FROM events e WHERE e.ledger_id = "));
            q.push_bind(ledger);
            q
        }
    };
    if let Some(below) = below {
        let seq = if terms.is_none() { "e.seq" } else { "t.seq" };
        query.push(format!(" AND {seq} < ")).push_bind(below);
    }
    if let Some(from) = filter.from_ms {
        query.push(" AND e.occurred_ms >= ").push_bind(from);
    }
    if let Some(to) = filter.to_ms {
        query.push(" AND e.occurred_ms < ").push_bind(to);
    }
    if let Some(terms) = terms {
        terms.push_further(&mut query);
    }
    query
}

#[cfg(test)]
mod tests {
    use super::runs_query;
    use crate::db::{open, PerBackend};
    use crate::ledger::term_blocks::{TermLayout, TermRuns};
    use crate::Backend;
    use crate::EventFilter;

    /// The steps of SQLite's plan for a filtered listing of three blocks.
    async fn plan(further: usize, filter: &EventFilter) -> Vec<String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("plan.db").display());
        let PerBackend::Sqlite(pool) = open(&url).await.expect("opens") else { panic!("a SQLite pool") };
        let layout = TermLayout::of(Backend::Sqlite);
        let run = layout.runs_below([7; 16], 3 << 16).next().expect("a run");
        assert_eq!(run.len(), 3, "three blocks");
        let further = vec![[9; 16]; further];
        let terms = TermRuns { first: &run, further: &further, layout };
        let mut query = runs_query("EXPLAIN QUERY PLAN ", "ldg_plan", filter, Some(&terms), Some(3 << 16), 50);
        let rows: Vec<(i64, i64, i64, String)> = query.build_query_as().fetch_all(&pool).await.expect("plan");
        rows.into_iter().map(|row| row.3).collect()
    }

    /// A filtered page walks the first term's rows in the `IN` list
    /// backwards along the index, newest block first, and so comes in seq
    /// order without a sort: a temporary B-tree for the ORDER BY would read
    /// and sort every matching row of up to 256 blocks before the first row
    /// of the page. Also with further terms and a time range, on a new
    /// database without statistics.
    #[tokio::test]
    async fn a_filtered_page_is_read_in_index_order_without_a_sort() {
        let in_range = EventFilter { from_ms: Some(0), to_ms: Some(i64::MAX), ..EventFilter::default() };
        for (further, filter) in [(0, EventFilter::default()), (2, EventFilter::default()), (1, in_range)] {
            let steps = plan(further, &filter).await;
            assert!(!steps.iter().any(|step| step.contains("TEMP B-TREE")), "{steps:?}");
            assert!(
                steps.iter().any(|step| step.starts_with("SEARCH t USING PRIMARY KEY (ledger=? AND term=?")),
                "the first term's rows by the index: {steps:?}"
            );
            assert!(
                steps.iter().any(|step| step.starts_with("SEARCH e USING PRIMARY KEY (ledger_id=? AND seq=?)")),
                "each event by its key: {steps:?}"
            );
        }
    }
}
