//! Merkle node storage and the reads behind proofs.
//!
//! Only perfect subtrees at levels that are multiples of [`STRIDE`] are
//! stored (level 0, the leaves, is `events.leaf_hash`). A subtree at any other
//! level is folded from at most `2^(STRIDE-1)` stored hashes below it, so a
//! proof still costs O(log n) row reads while ingest writes one node row per
//! fifteen events instead of one per event.
//!
//! audit-core's proof generators read nodes synchronously through
//! [`NodeSource`]. Which nodes they read depends only on indices and sizes,
//! never on hash values, so a proof is made in two passes: a dry run records
//! the node ids, one query per table fetches their stored hashes, and the real
//! run reads from memory.

use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;

use audit_core::hash::node_hash;
use audit_core::{Hash, LedgerId, NodeId, NodeSource};
use sqlx::Row as _;

use crate::db::{from_i64, on_db, to_hash, to_i64, Conn, Pool};
use crate::StoreError;

/// Stored levels are multiples of this.
pub(crate) const STRIDE: u8 = 4;

/// True for the levels kept in `merkle_nodes`.
pub(crate) fn is_stored_level(level: u8) -> bool {
    level > 0 && level.is_multiple_of(STRIDE)
}

/// A node source that answers zeros and remembers what was asked.
#[derive(Debug, Default)]
pub(crate) struct Recorder(RefCell<Vec<NodeId>>);

impl Recorder {
    pub(crate) fn into_ids(self) -> Vec<NodeId> {
        self.0.into_inner()
    }
}

impl NodeSource for Recorder {
    type Error = Infallible;

    fn subtree(&self, level: u8, index: u64) -> Result<Hash, Infallible> {
        self.0.borrow_mut().push(NodeId { level, index });
        Ok(Hash::from_bytes([0; 32]))
    }
}

/// The node source of a proof's two passes.
#[derive(Debug)]
pub(crate) enum ProofSource {
    Recording(Recorder),
    Fetched(FetchedNodes),
}

impl NodeSource for ProofSource {
    type Error = MissingNode;

    fn subtree(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        match self {
            ProofSource::Recording(recorder) => {
                Ok(recorder.subtree(level, index).unwrap_or_else(|never| match never {}))
            }
            ProofSource::Fetched(fetched) => fetched.subtree(level, index),
        }
    }
}

/// Perfect-subtree hashes fetched for one proof.
#[derive(Debug, Default)]
pub(crate) struct FetchedNodes {
    /// Stored hashes by (stored level, index).
    base: HashMap<(u8, u64), Hash>,
}

/// A requested node is not in the database: the tree is incomplete or was
/// tampered with.
#[derive(Debug, thiserror::Error)]
#[error("Merkle node (level {level}, index {index}) is missing from the store")]
pub struct MissingNode {
    pub level: u8,
    pub index: u64,
}

impl NodeSource for FetchedNodes {
    type Error = MissingNode;

    fn subtree(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        let (base_level, start, end) = base_range(level, index);
        let mut hashes = Vec::with_capacity((end - start) as usize);
        for i in start..end {
            let hash = self.base.get(&(base_level, i)).ok_or(MissingNode { level: base_level, index: i })?;
            hashes.push(*hash);
        }
        Ok(fold_perfect(hashes))
    }
}

/// The stored run `[start, end)` at a stored level that makes up a node.
fn base_range(level: u8, index: u64) -> (u8, u64, u64) {
    let below = level % STRIDE;
    (level - below, index << below, (index + 1) << below)
}

/// Folds `2^k` adjacent perfect subtrees into the perfect subtree above them
/// (RFC 9162 §2.1.1: equal halves at every step).
fn fold_perfect(mut hashes: Vec<Hash>) -> Hash {
    while hashes.len() > 1 {
        hashes = hashes
            .chunks(2)
            .map(|pair| if pair.len() == 2 { node_hash(&pair[0], &pair[1]) } else { pair[0] })
            .collect();
    }
    hashes.first().copied().unwrap_or_else(|| Hash::from_bytes([0; 32]))
}

/// Queries joined into one statement at most (SQLite allows 500).
const MAX_UNION: usize = 200;

/// Fetches the stored hashes that make up `ids`, with one statement for
/// leaves and one for inner nodes (for any proof of a tree below 2^64).
pub(crate) async fn fetch(conn: Conn<'_>, ledger: &LedgerId, ids: &[NodeId]) -> Result<FetchedNodes, StoreError> {
    // A generator may read a node twice; fetch it once.
    let mut leaf_ranges = std::collections::BTreeSet::new();
    let mut node_ranges = std::collections::BTreeSet::new();
    for id in ids {
        let (level, start, end) = base_range(id.level, id.index);
        if level == 0 {
            leaf_ranges.insert((start, end));
        } else {
            node_ranges.insert((level, start, end));
        }
    }
    let mut base = HashMap::new();
    let leaf_ranges: Vec<_> = leaf_ranges.into_iter().collect();
    let node_ranges: Vec<_> = node_ranges.into_iter().collect();
    on_db!(conn, |c| {
        // One indexed range scan per run, joined with UNION ALL: an OR of
        // ranges would make SQLite scan the whole ledger.
        for chunk in leaf_ranges.chunks(MAX_UNION) {
            let mut query = sqlx::QueryBuilder::new("");
            for (i, (start, end)) in chunk.iter().enumerate() {
                if i > 0 {
                    query.push(" UNION ALL ");
                }
                query
                    .push("SELECT seq, leaf_hash FROM events WHERE ledger_id = ")
                    .push_bind(ledger.as_str())
                    .push(" AND seq >= ")
                    .push_bind(to_i64(*start)?)
                    .push(" AND seq < ")
                    .push_bind(to_i64(*end)?);
            }
            for row in query.build().fetch_all(&mut *c).await? {
                let seq: i64 = row.try_get(0)?;
                let hash: Vec<u8> = row.try_get(1)?;
                base.insert((0, from_i64(seq)?), to_hash(&hash)?);
            }
        }
        for chunk in node_ranges.chunks(MAX_UNION) {
            let mut query = sqlx::QueryBuilder::new("");
            for (i, (level, start, end)) in chunk.iter().enumerate() {
                if i > 0 {
                    query.push(" UNION ALL ");
                }
                query
                    .push("SELECT level, idx, hash FROM merkle_nodes WHERE ledger_id = ")
                    .push_bind(ledger.as_str())
                    .push(" AND level = ")
                    .push_bind(i16::from(*level))
                    .push(" AND idx >= ")
                    .push_bind(to_i64(*start)?)
                    .push(" AND idx < ")
                    .push_bind(to_i64(*end)?);
            }
            for row in query.build().fetch_all(&mut *c).await? {
                let level: i16 = row.try_get(0)?;
                let idx: i64 = row.try_get(1)?;
                let hash: Vec<u8> = row.try_get(2)?;
                let level = u8::try_from(level).map_err(|_| StoreError::Corrupt("Merkle node level out of range"))?;
                base.insert((level, from_i64(idx)?), to_hash(&hash)?);
            }
        }
    });
    Ok(FetchedNodes { base })
}

/// Reads nodes through a pooled connection of either backend.
pub(crate) async fn fetch_from_pool(
    pool: &Pool,
    ledger: &LedgerId,
    ids: &[NodeId],
) -> Result<FetchedNodes, StoreError> {
    on_db!(pool, |p| {
        let mut conn = p.acquire().await?;
        fetch((&mut *conn).into(), ledger, ids).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::merkle::MemoryTree;

    #[test]
    fn any_node_folds_from_its_stored_base() {
        let leaves: Vec<Hash> = (0u32..64).map(|i| audit_core::hash::leaf_hash(&i.to_be_bytes())).collect();
        let tree = MemoryTree::from_leaves(leaves.clone());
        let mut fetched = FetchedNodes::default();
        for level in [0u8, 4] {
            for index in 0..(64u64 >> level) {
                fetched.base.insert((level, index), tree.subtree(level, index).expect("node"));
            }
        }
        for level in 0..=6u8 {
            for index in 0..(64u64 >> level) {
                assert_eq!(fetched.subtree(level, index).expect("folds"), tree.subtree(level, index).expect("node"));
            }
        }
        assert!(fetched.subtree(8, 0).is_err(), "a node beyond the stored ones is reported missing");
    }
}
