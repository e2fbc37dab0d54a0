//! What a legal hold covers now, as a count: the events with content (a
//! tombstone's content is archived already, so nothing is left to keep)
//! that its scope matches, in every ledger it applies to. The dashboard
//! shows it next to each hold, so a compliance officer sees that a hold
//! placed on `user_42` in fact keeps that actor's events.

use audit_core::LedgerId;

use super::holds::{HoldScope, LegalHold};
use crate::crypto::records::Term;
use crate::db::{on_db, to_i64};
use crate::ledger::event_rows::{raw_event, COLUMNS};
use crate::ledger::events::filter_terms;
use crate::ledger::filter_query::filtered_query;
use crate::ledger::term_blocks::{TermLayout, TermRuns};
use crate::{EventFilter, Ledger, Store, StoreError, MAX_TAIL_SCAN};

/// Rows read per round trip from a ledger's unindexed tail.
const TAIL_WINDOW: i64 = 256;

/// A hold's coverage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldCoverage {
    /// Events with content the hold matches.
    pub events: u64,
    /// Events newer than the filter index that were not examined (the
    /// index trails ingest by a moment; a tail longer than
    /// [`MAX_TAIL_SCAN`] is not decrypted for a count). The hold covers
    /// them all the same when they match.
    pub uncounted: u64,
}

impl HoldCoverage {
    fn add(&mut self, other: HoldCoverage) {
        self.events += other.events;
        self.uncounted += other.uncounted;
    }
}

fn filter_of(scope: &HoldScope) -> EventFilter {
    EventFilter {
        actor_id: scope.actor_id().map(str::to_owned),
        resource_id: scope.resource_id().map(str::to_owned),
        from_ms: scope.from_ms(),
        to_ms: scope.to_ms(),
        ..EventFilter::default()
    }
}

impl Store {
    /// What `hold` covers now, in its ledger or (account-wide) in every
    /// ledger of its account. A released hold covers nothing.
    pub async fn hold_coverage(&self, hold: &LegalHold) -> Result<HoldCoverage, StoreError> {
        let mut coverage = HoldCoverage::default();
        if !hold.is_active() {
            return Ok(coverage);
        }
        for ledger in self.list_ledgers(&hold.account).await? {
            if hold.applies_to(&ledger.id) {
                coverage.add(self.coverage_in(&ledger, &hold.scope).await?);
            }
        }
        Ok(coverage)
    }

    async fn coverage_in(&self, ledger: &Ledger, scope: &HoldScope) -> Result<HoldCoverage, StoreError> {
        let filter = filter_of(scope);
        if !filter.has_terms() {
            // Times are columns: the whole ledger is counted in the database.
            let events = self.count_with_content(&ledger.id, &filter, None).await?;
            return Ok(HoldCoverage { events, uncounted: 0 });
        }
        let index = self.keys.index_key(&ledger.id).await?;
        let terms = filter_terms(&filter, &index);
        let indexed = self.indexed_size(&ledger.id).await?;
        let mut coverage = HoldCoverage {
            events: self.count_with_content(&ledger.id, &filter, Some((&terms, indexed))).await?,
            uncounted: 0,
        };
        // The tail the index has not reached yet is read and matched here.
        let mut from = indexed;
        let end = ledger.tree_size;
        let mut scanned = 0u64;
        while from < end && scanned < MAX_TAIL_SCAN {
            let rows = on_db!(&self.db.pool, |p| {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM events WHERE ledger_id = $1 AND seq >= $2 AND seq < $3 ORDER BY seq LIMIT $4"
                ))
                .bind(ledger.id.as_str())
                .bind(to_i64(from)?)
                .bind(to_i64(end)?)
                .bind(TAIL_WINDOW)
                .fetch_all(p)
                .await?
                .iter()
                .map(raw_event)
                .collect::<Result<Vec<_>, _>>()?
            });
            let Some(last) = rows.last().map(|r| r.seq) else { break };
            for raw in rows {
                scanned += 1;
                if self.reveal(&ledger.id, raw).await?.event.is_some_and(|event| scope.covers(&event)) {
                    coverage.events += 1;
                }
            }
            from = last + 1;
        }
        coverage.uncounted = end.saturating_sub(from);
        Ok(coverage)
    }

    /// Events of `ledger` with content in the filter's time range and, with
    /// `terms`, indexed under every one of them below seq `indexed`: summed
    /// over runs of the index's blocks (see `term_blocks.rs`).
    async fn count_with_content(
        &self,
        ledger: &LedgerId,
        filter: &EventFilter,
        terms: Option<(&[Term], u64)>,
    ) -> Result<u64, StoreError> {
        let Some(((first, further), indexed)) =
            terms.and_then(|(terms, indexed)| terms.split_first().zip(Some(indexed)))
        else {
            return self.count_runs(ledger, filter, None).await;
        };
        let layout = TermLayout::of(self.backend());
        let mut total = 0u64;
        for run in layout.runs_below(*first, indexed) {
            total +=
                self.count_runs(ledger, filter, Some((TermRuns { first: &run, further, layout }, indexed))).await?;
        }
        Ok(total)
    }

    /// [`Self::count_with_content`] without terms, or within one run of
    /// blocks.
    async fn count_runs(
        &self,
        ledger: &LedgerId,
        filter: &EventFilter,
        terms: Option<(TermRuns<'_>, u64)>,
    ) -> Result<u64, StoreError> {
        let (terms, below) = match &terms {
            Some((terms, indexed)) => (Some(terms), Some(to_i64(*indexed)?)),
            None => (None, None),
        };
        let count: i64 = on_db!(&self.db.pool, |p| {
            let mut query = filtered_query("SELECT COUNT(*)", ledger.as_str(), filter, terms, below);
            query.push(" AND e.content IS NOT NULL");
            query.build_query_scalar().fetch_one(p).await?
        });
        u64::try_from(count).map_err(|_| StoreError::Corrupt("a count is negative"))
    }
}
