//! The walk over a ledger's rows, in seq order: what each row, stored node
//! and checkpoint says against what the rows before it established. Pure:
//! the rows, their verdicts and the stored nodes and checkpoints are read
//! by the pass (run.rs) and handed in.
//!
//! How a cause is told apart (each row's record is sealed with its seq,
//! event id, hashes and times as associated data, so a record opens only
//! in its own, unaltered row):
//! - a record that opens only as another seq's row was moved there
//!   (reordered rows, the range between the two seqs);
//! - a row whose link from the previous chain hash breaks, while the next
//!   row still follows from its stored chain hash, had its leaf hash
//!   altered; when the next row follows from the recomputed chain hash
//!   instead, its chain hash was altered (the walk goes on from the
//!   recomputed one, so only that row is named);
//! - a missing seq below the next row was deleted; the rows after a broken
//!   link that open in place are intact, their link broke because of the
//!   row before them (named already).

use std::collections::HashMap;

use audit_core::{chain_hash, Checkpoint, Hash, NodeId, VerifierKey};

use super::content::Verdict;
use super::kinds::AnomalyKind;
use super::state::WalkState;
use crate::ledger::event_rows::RawEvent;
use crate::ledger::nodes::is_stored_level;

/// One finding of a walk, before it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) kind: AnomalyKind,
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) detail: String,
}

/// What follows a row: the next row's hashes, or, for the newest row, the
/// head's chain hash (what the ledger says the chain ends with).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Next {
    Row { leaf: Hash, chain: Hash },
    Head { chain: Hash },
}

impl Next {
    /// True when whatever follows continues from `chain`.
    fn follows(&self, chain: &Hash) -> bool {
        match self {
            Next::Row { leaf, chain: next } => chain_hash(chain, leaf).ct_eq(next),
            Next::Head { chain: head } => head.ct_eq(chain),
        }
    }
}

/// One row as the walk sees it.
pub(crate) struct RowInput<'a> {
    pub(crate) raw: &'a RawEvent,
    pub(crate) verdict: &'a Verdict,
    /// The seq whose row the record opens as, when not its own.
    pub(crate) moved_from: Option<u64>,
    /// For a tombstone: whether a recorded archival covers its seq.
    pub(crate) archived: bool,
    pub(crate) next: Option<Next>,
}

/// A signed checkpoint as stored.
pub(crate) struct StoredCheckpoint {
    pub(crate) size: u64,
    pub(crate) root: Hash,
    pub(crate) note: String,
}

/// The walk of one pass.
pub(crate) struct Walk<'a> {
    pub(crate) state: WalkState,
    /// The last row's link broke for a reason already named.
    suspect: bool,
    /// The seq ranges whose leaves are known wrong in this pass: a stored
    /// node over them differs as a matter of course.
    taints: Vec<(u64, u64)>,
    pub(crate) found: Vec<Found>,
    key: &'a VerifierKey,
    origin: &'a str,
}

impl<'a> Walk<'a> {
    pub(crate) fn new(state: WalkState, key: &'a VerifierKey, origin: &'a str) -> Self {
        Self { state, suspect: false, taints: Vec::new(), found: Vec::new(), key, origin }
    }

    /// Names `kind` over `[first, last]`, merged with the previous finding
    /// when it is the same kind over the same or the adjoining range.
    pub(crate) fn report(&mut self, kind: AnomalyKind, first: u64, last: u64, detail: String) {
        if let Some(previous) = self.found.last_mut() {
            if previous.kind == kind && first >= previous.first && first <= previous.last.saturating_add(1) {
                previous.last = previous.last.max(last);
                return;
            }
        }
        if self.found.iter().any(|f| f.kind == kind && f.first == first && f.last == last) {
            return;
        }
        self.found.push(Found { kind, first, last, detail });
    }

    /// Marks the leaves of seqs `first..=last` as not the signed ones.
    pub(crate) fn taint(&mut self, first: u64, last: u64) {
        self.taints.push((first, last));
        let taint = &mut self.state.taint_from;
        *taint = Some(taint.map_or(first, |t| t.min(first)));
    }

    /// True when a tree over leaves below `end` cannot be the signed one.
    pub(crate) fn tainted_below(&self, end: u64) -> bool {
        self.state.taint_from.is_some_and(|t| t < end)
    }

    /// True when a leaf of `first..end` is known wrong.
    fn tainted_within(&self, first: u64, end: u64) -> bool {
        self.state.taint_from.is_some_and(|t| first <= t && t < end)
            || self.taints.iter().any(|&(a, b)| a < end && b >= first)
    }

    /// Walks over seqs that have no row (deleted, or cut off): their
    /// leaves are unknown, so they count as zero and taint what covers them.
    pub(crate) fn skip_to(&mut self, seq: u64, nodes: &HashMap<NodeId, Hash>, checkpoints: &[StoredCheckpoint]) {
        while self.state.size() < seq {
            self.push_leaf(Hash::from_bytes([0; 32]), nodes, checkpoints);
        }
    }

    /// Walks one row: `nodes` and `checkpoints` are the stored ones that
    /// end within this window.
    pub(crate) fn row(&mut self, row: &RowInput<'_>, nodes: &HashMap<NodeId, Hash>, checkpoints: &[StoredCheckpoint]) {
        let raw = row.raw;
        let seq = raw.seq;
        let expected = self.state.size();
        if seq < expected {
            return;
        }
        let gap = seq > expected;
        if gap {
            let detail = format!("seq {expected} to {} are missing below seq {seq}", seq - 1);
            self.report(AnomalyKind::DeletedRow, expected, seq - 1, detail);
            self.taint(expected, seq - 1);
            self.skip_to(seq, nodes, checkpoints);
        }
        let previous = self.state.chain;
        let computed = chain_hash(&previous, &raw.leaf_hash);
        let link_ok = computed.ct_eq(&raw.chain_hash);
        let opened = matches!(row.verdict, Verdict::Intact);
        let mut chain = raw.chain_hash;
        let mut suspect = false;
        if let Some(from) = row.moved_from {
            let detail = format!("the row at seq {seq} holds the sealed event of seq {from}");
            self.report(AnomalyKind::ReorderedRows, seq.min(from), seq.max(from), detail);
            self.taint(seq.min(from), seq.max(from));
            suspect = true;
        } else if !link_ok && gap {
            // The link broke because rows are missing before it: named.
        } else if !link_ok && self.suspect {
            if !opened {
                // Still not in place: the anomaly before goes on here.
                if let Some(previous) = self.found.last().cloned() {
                    self.report(previous.kind, previous.first, seq, previous.detail);
                }
                self.taint(seq, seq);
                suspect = true;
            }
        } else if !link_ok {
            match row.next {
                Some(next) if next.follows(&raw.chain_hash) => {
                    let detail = format!("the leaf hash of seq {seq} was altered: the chain does not lead to it");
                    self.report(AnomalyKind::AlteredHash, seq, seq, detail);
                    self.taint(seq, seq);
                }
                Some(next) if next.follows(&computed) => {
                    let detail = format!("the chain hash of seq {seq} was altered: it does not follow from its leaf");
                    self.report(AnomalyKind::AlteredHash, seq, seq, detail);
                    chain = computed;
                }
                _ => {
                    let detail = format!("the hashes of seq {seq} do not follow from the chain before it");
                    self.report(AnomalyKind::AlteredHash, seq, seq, detail);
                    self.taint(seq, seq);
                    suspect = true;
                }
            }
        } else {
            match row.verdict {
                Verdict::Altered(detail) => self.report(AnomalyKind::AlteredContent, seq, seq, detail.clone()),
                Verdict::Undecryptable(detail) => {
                    self.report(AnomalyKind::UndecryptableRow, seq, seq, detail.clone());
                }
                Verdict::Tombstone if !row.archived => {
                    let detail = format!("the content of seq {seq} was removed with no recorded archival covering it");
                    self.report(AnomalyKind::ForgedTombstone, seq, seq, detail);
                }
                Verdict::Intact | Verdict::Tombstone | Verdict::Unchecked => {}
            }
        }
        self.suspect = suspect;
        self.state.chain = chain;
        self.push_leaf(raw.leaf_hash, nodes, checkpoints);
    }

    /// Adds a leaf to the frontier, comparing every stored node it
    /// completes and every checkpoint of the new size.
    fn push_leaf(&mut self, leaf: Hash, nodes: &HashMap<NodeId, Hash>, checkpoints: &[StoredCheckpoint]) {
        let mut completed = Vec::new();
        self.state.frontier.push_with(leaf, |id, hash| {
            if is_stored_level(id.level) {
                completed.push((id, *hash));
            }
        });
        for (id, hash) in completed {
            let first = id.index << id.level;
            let end = (id.index + 1) << id.level;
            if self.tainted_within(first, end) {
                continue;
            }
            let detail = match nodes.get(&id) {
                Some(stored) if stored.ct_eq(&hash) => continue,
                Some(_) => {
                    format!("the stored node at level {} index {} differs from its leaves' tree", id.level, id.index)
                }
                None => format!("the node at level {} index {} is missing", id.level, id.index),
            };
            self.report(AnomalyKind::BadNode, first, end - 1, detail);
        }
        let size = self.state.size();
        for checkpoint in checkpoints.iter().filter(|c| c.size == size) {
            self.checkpoint(checkpoint);
        }
    }

    /// Checks a checkpoint of the walked size: its signature, its row, and
    /// its root against the recomputed tree.
    fn checkpoint(&mut self, stored: &StoredCheckpoint) {
        let (first, last) = (self.state.last_checkpoint.min(stored.size - 1), stored.size - 1);
        self.state.last_checkpoint = stored.size;
        let opened = match Checkpoint::open_for_origin(&stored.note, std::slice::from_ref(self.key), self.origin) {
            Ok(opened) => opened,
            Err(error) => {
                let detail = format!("the checkpoint of size {} does not verify: {error}", stored.size);
                self.report(AnomalyKind::BadCheckpoint, first, last, detail);
                return;
            }
        };
        if opened.size().get() != stored.size || !opened.root().ct_eq(&stored.root) {
            let detail = format!("the checkpoint row of size {} differs from its signed note", stored.size);
            self.report(AnomalyKind::BadCheckpoint, first, last, detail);
        } else if !self.tainted_below(stored.size) && !opened.root().ct_eq(&self.state.frontier.root()) {
            let detail = format!("the checkpoint of size {} signs another root than the leaves' tree", stored.size);
            self.report(AnomalyKind::InconsistentCheckpoint, first, last, detail);
        }
    }
}
