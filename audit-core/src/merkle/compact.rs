//! The incremental state of a growing tree: its compact range (the right frontier), i.e. the
//! perfect subtrees of the binary decomposition of its size (RFC 9162 §2.1.1 applied
//! recursively to the right edge).

use super::{fold_right, range_hash, NodeId, NodeSource, ProofError};
use crate::error::VerifyError;
use crate::hash::{node_hash, Hash};
use crate::ids::TreeSize;

/// The right frontier of a tree: for a tree of `size` leaves, the hashes of the perfect
/// subtrees that decompose `[0, size)`, largest (leftmost) first — `popcount(size)` hashes.
///
/// Appending costs O(1) amortised hashing (one hash per completed subtree, fewer than two per
/// leaf on average); [`CompactRange::root`] folds the frontier in O(log n). It is restorable
/// from the stored perfect subtrees ([`CompactRange::node_ids`], [`CompactRange::from_hashes`])
/// so the store can resume after a restart without reading the leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The number of leaves appended so far.
    pub fn size(&self) -> TreeSize {
        TreeSize(self.size)
    }

    /// The frontier hashes, largest subtree first, with their ids.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, Hash)> + '_ {
        Self::node_ids(self.size()).into_iter().zip(self.hashes.iter().copied())
    }

    /// The perfect subtrees that make up the frontier of a tree of `size` leaves, largest
    /// first: one per set bit of `size`.
    pub fn node_ids(size: TreeSize) -> Vec<NodeId> {
        let size = size.get();
        let mut ids = Vec::with_capacity(size.count_ones() as usize);
        let mut pos = 0u64;
        for level in (0..64u8).rev() {
            if size & (1u64 << level) != 0 {
                ids.push(NodeId { level, index: pos >> level });
                pos += 1u64 << level;
            }
        }
        ids
    }

    /// Restores a frontier from the hashes of [`CompactRange::node_ids`]`(size)`, in order.
    pub fn from_hashes(size: TreeSize, hashes: Vec<Hash>) -> Result<Self, VerifyError> {
        let want = size.get().count_ones() as usize;
        if hashes.len() != want {
            return Err(VerifyError::ProofLength { got: hashes.len(), want });
        }
        Ok(Self { size: size.get(), hashes })
    }

    /// Restores a frontier by reading its `popcount(size)` perfect subtrees from `src`.
    pub fn from_source<S: NodeSource>(src: &S, size: TreeSize) -> Result<Self, ProofError<S::Error>> {
        let hashes = Self::node_ids(size)
            .into_iter()
            .map(|id| {
                let lo = id.index << id.level;
                range_hash(src, lo, lo + (1u64 << id.level))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { size: size.get(), hashes })
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.push_with(leaf, |_, _| {});
    }

    /// Appends a leaf hash and reports, bottom-up, every perfect subtree it completes: the
    /// leaf itself at level 0, then each parent that the new leaf closes. These are the nodes
    /// a store persists for its [`NodeSource`].
    pub fn push_with(&mut self, leaf: Hash, mut completed: impl FnMut(NodeId, &Hash)) {
        let mut index = self.size;
        let mut level = 0u8;
        let mut hash = leaf;
        completed(NodeId { level, index }, &hash);
        // Each trailing one bit of the old size is a left sibling waiting on the frontier.
        while index & 1 == 1 {
            let Some(left) = self.hashes.pop() else {
                // The frontier holds popcount(size) hashes, one per one bit, so a left sibling
                // exists for every trailing one bit; stop rather than panic if not.
                break;
            };
            hash = node_hash(&left, &hash);
            index >>= 1;
            level += 1;
            completed(NodeId { level, index }, &hash);
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// The RFC 9162 root of the tree so far (the empty-string hash for no leaves).
    pub fn root(&self) -> Hash {
        fold_right(self.hashes.iter())
    }
}
