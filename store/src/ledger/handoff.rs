//! The filter-index terms of committed events, handed from the append path
//! to the indexer in memory.
//!
//! A request's task computes its events' terms before it queues (on any
//! core, outside the database's write turn), and the ledger's writer hands
//! them over once their commit is durable. The indexer then writes them
//! without reading, opening and parsing each event back from the database,
//! which was a third of the server's work per event under sustained ingest.
//! The database stays the source of truth: whatever is not here (another
//! process's commits, outbox events, a restart, a batch that failed) is
//! read back from the stored records as before.

use std::collections::HashMap;
use std::sync::Mutex;

use audit_core::LedgerId;

use crate::crypto::records::Term;

/// The terms of one event, in the order of `indexer::FIELDS`.
pub(crate) type EventTerms = [Term; 5];

/// The most events whose terms one ledger keeps here (80 bytes each): an
/// indexer that trails further (a stuck key, a failing ledger) reads the
/// rest back, and memory stays bounded whatever the lag.
const MAX_HELD: usize = 100_000;

/// A contiguous run of committed events' terms, from seq `start`.
#[derive(Debug, Default)]
struct Run {
    start: u64,
    terms: Vec<EventTerms>,
}

impl Run {
    fn end(&self) -> u64 {
        self.start + self.terms.len() as u64
    }
}

/// The handoff of every ledger of this process.
#[derive(Debug, Default)]
pub(crate) struct TermHandoff {
    runs: Mutex<HashMap<LedgerId, Run>>,
}

/// What the handoff holds of a range the indexer asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// The terms of `[from, from + len)`, in seq order.
    From(Vec<EventTerms>),
    /// Nothing of `from`; the next seq held, if any (read up to it).
    Gap(Option<u64>),
}

impl TermHandoff {
    /// Hands over the terms of the events committed at `start..`, in seq
    /// order. A run that does not continue the one held replaces it.
    pub(crate) fn push(&self, ledger: &LedgerId, start: u64, terms: Vec<EventTerms>) {
        let mut runs = self.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match runs.get_mut(ledger) {
            Some(run) if run.end() == start && run.terms.len() + terms.len() <= MAX_HELD => run.terms.extend(terms),
            // Full: keep what is held (the oldest, needed first); the
            // indexer reads the rest back.
            Some(run) if run.end() == start => {}
            _ if terms.len() <= MAX_HELD => {
                runs.insert(ledger.clone(), Run { start, terms });
            }
            _ => {}
        }
    }

    /// Takes the terms of `[from, to)` that are held, from `from` on: all
    /// of them, or those up to the end of the run. Terms before `from` are
    /// dropped (indexed already).
    pub(crate) fn take(&self, ledger: &LedgerId, from: u64, to: u64) -> Held {
        let mut runs = self.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(run) = runs.get_mut(ledger) else { return Held::Gap(None) };
        if run.end() <= from {
            runs.remove(ledger);
            return Held::Gap(None);
        }
        if run.start > from {
            return Held::Gap(Some(run.start));
        }
        let skip = usize::try_from(from - run.start).unwrap_or(usize::MAX);
        run.terms.drain(..skip);
        run.start = from;
        let take = usize::try_from(to.saturating_sub(from)).unwrap_or(usize::MAX).min(run.terms.len());
        let taken: Vec<EventTerms> = run.terms.drain(..take).collect();
        run.start += taken.len() as u64;
        if run.terms.is_empty() {
            runs.remove(ledger);
        }
        Held::From(taken)
    }

    /// Forgets a ledger's terms (its keys were destroyed, it was deleted).
    pub(crate) fn forget(&self, ledger: &LedgerId) {
        self.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(ledger);
    }
}

#[cfg(test)]
mod tests {
    use super::{EventTerms, Held, TermHandoff};
    use audit_core::LedgerId;

    fn terms(seqs: std::ops::Range<u8>) -> Vec<EventTerms> {
        seqs.map(|n| [[n; 16]; 5]).collect()
    }

    fn ledger() -> LedgerId {
        LedgerId::new("ldg_01jhandoffhandoffhandoff0").expect("ledger id")
    }

    #[test]
    fn contiguous_runs_are_taken_in_order_and_only_once() {
        let handoff = TermHandoff::default();
        handoff.push(&ledger(), 10, terms(10..13));
        handoff.push(&ledger(), 13, terms(13..15));
        assert_eq!(handoff.take(&ledger(), 10, 12), Held::From(terms(10..12)));
        assert_eq!(handoff.take(&ledger(), 12, 100), Held::From(terms(12..15)));
        assert_eq!(handoff.take(&ledger(), 15, 100), Held::Gap(None));
    }

    #[test]
    fn a_gap_names_where_the_held_terms_start_and_a_break_replaces_the_run() {
        let handoff = TermHandoff::default();
        handoff.push(&ledger(), 10, terms(10..12));
        assert_eq!(handoff.take(&ledger(), 4, 100), Held::Gap(Some(10)));
        // Terms indexed meanwhile from the database are skipped.
        assert_eq!(handoff.take(&ledger(), 11, 100), Held::From(terms(11..12)));
        handoff.push(&ledger(), 12, terms(12..13));
        // Seqs 13..20 committed without terms (outbox events): the next run
        // does not continue the held one and replaces it.
        handoff.push(&ledger(), 20, terms(20..22));
        assert_eq!(handoff.take(&ledger(), 12, 100), Held::Gap(Some(20)));
        handoff.forget(&ledger());
        assert_eq!(handoff.take(&ledger(), 20, 100), Held::Gap(None));
    }

    #[test]
    fn what_is_held_stays_bounded() {
        let handoff = TermHandoff::default();
        let many: Vec<EventTerms> = vec![[[0; 16]; 5]; super::MAX_HELD];
        handoff.push(&ledger(), 0, many);
        handoff.push(&ledger(), super::MAX_HELD as u64, terms(0..1));
        let Held::From(taken) = handoff.take(&ledger(), 0, u64::MAX) else { panic!("held") };
        assert_eq!(taken.len(), super::MAX_HELD);
        assert_eq!(handoff.take(&ledger(), super::MAX_HELD as u64, u64::MAX), Held::Gap(None));
    }
}
