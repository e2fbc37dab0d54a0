//! The pure part of a group commit: sequence numbers, leaf and chain
//! hashes, the completed Merkle nodes and the sealed rows, computed in
//! memory from the head the commit locked. No I/O: the commit writes what
//! the plan says.

use std::collections::HashMap;

use audit_core::{chain_hash, CompactRange, Hash};

use super::handoff::EventTerms;
use super::nodes::is_stored_level;
use super::sequencer::{Appended, AppendedEvent, NewEvent};
use crate::crypto::records::{Dek, RowBinding};
use crate::StoreError;

/// One planned new row of `events`.
pub(super) struct Row {
    pub(super) seq: u64,
    pub(super) event_id: String,
    pub(super) occurred_ms: i64,
    pub(super) received_ms: i64,
    pub(super) content: Vec<u8>,
    pub(super) leaf: Hash,
    pub(super) chain: Hash,
    /// The event's filter-index terms, when computed before the commit.
    pub(super) terms: Option<EventTerms>,
}

/// Everything one group commit writes.
pub(super) struct Plan {
    pub(super) rows: Vec<Row>,
    pub(super) nodes: Vec<(u8, u64, Hash)>,
    pub(super) new_size: u64,
    pub(super) new_chain: Hash,
    pub(super) frontier: CompactRange,
}

/// The ledger's head as the commit locked it.
pub(super) struct Head {
    pub(super) size: u64,
    pub(super) chain: Hash,
    pub(super) frontier: CompactRange,
}

/// Assigns sequence numbers and computes hashes for a group of requests,
/// in order. An event whose id is in `known` (stored already) or earlier in
/// the group is a retry when its leaf hash is the same, and is answered
/// with the stored record; with another leaf hash its request fails alone
/// with a conflict and contributes nothing (all or nothing per request).
/// Content is sealed with `seal` when given (always, except in benchmarks).
pub(super) fn plan(
    requests: &[&[NewEvent]],
    known: &mut HashMap<String, AppendedEvent>,
    head: Head,
    received_ms: i64,
    (ledger, seal): (&str, Option<&Dek>),
) -> Result<(Plan, Vec<Result<Appended, StoreError>>), StoreError> {
    let mut plan = Plan {
        rows: Vec::new(),
        nodes: Vec::new(),
        new_size: head.size,
        new_chain: head.chain,
        frontier: head.frontier,
    };
    let mut outcomes = Vec::with_capacity(requests.len());
    'requests: for request in requests {
        // First pass: conflicts, without touching the plan.
        let mut leaves = Vec::with_capacity(request.len());
        let mut pending: HashMap<&str, Hash> = HashMap::new();
        for new in request.iter() {
            let leaf = new.leaf();
            let id = new.event().id().as_str();
            let stored = known.get(id).map(|k| k.leaf_hash).or_else(|| pending.get(id).copied());
            if let Some(stored) = stored {
                if !stored.ct_eq(&leaf) {
                    outcomes.push(Err(StoreError::Conflict(format!(
                        "event id {id:?} is already used by an event with other content"
                    ))));
                    continue 'requests;
                }
            } else {
                pending.insert(id, leaf);
            }
            leaves.push(leaf);
        }
        // Second pass: append what is new, answer retries with the record.
        let mut answered = Vec::with_capacity(request.len());
        for (new, leaf) in request.iter().zip(leaves) {
            let id = new.event().id().as_str();
            if let Some(record) = known.get(id) {
                answered.push(record.clone());
                continue;
            }
            let seq = plan.new_size;
            let chain = chain_hash(&plan.new_chain, &leaf);
            plan.frontier.push_with(leaf, |node, hash| {
                if is_stored_level(node.level) {
                    plan.nodes.push((node.level, node.index, *hash));
                }
            });
            let event = new.event();
            let occurred_ms = event.occurred_at().unix_millis();
            // Only the sealed record reaches the database, bound to its row.
            let content = match seal {
                Some(dek) => {
                    let row = RowBinding {
                        seq,
                        event_id: id,
                        leaf_hash: &leaf,
                        chain_hash: &chain,
                        occurred_ms,
                        received_ms,
                    };
                    dek.seal(ledger, &row, new.content())?
                }
                None => new.content().to_vec(),
            };
            plan.rows.push(Row {
                seq,
                event_id: id.to_owned(),
                occurred_ms,
                received_ms,
                content,
                leaf,
                chain,
                terms: new.terms(),
            });
            let record = AppendedEvent { id: event.id().clone(), seq, leaf_hash: leaf, chain_hash: chain };
            known.insert(id.to_owned(), record.clone());
            answered.push(record);
            plan.new_size += 1;
            plan.new_chain = chain;
        }
        outcomes.push(Ok(Appended { tree_size: plan.new_size, events: answered }));
    }
    // Every successful request is included in the final tree of the commit.
    for outcome in outcomes.iter_mut().flatten() {
        outcome.tree_size = plan.new_size;
    }
    Ok((plan, outcomes))
}
