//! The RFC 9162 §2.1 Merkle tree over a ledger's leaf hashes, its proofs and its incremental
//! state.
//!
//! Every hash the proofs need is the hash of a *perfect* subtree — [`NodeId`] `(level, index)`
//! covering leaves `[index << level, (index + 1) << level)` — or, on the right edge of a tree
//! whose size is not a power of two, a composition of the O(log n) perfect subtrees that
//! decompose it. Proof generation therefore reads only perfect subtrees through
//! [`NodeSource`], O(log n) of them per proof, and never recomputes the tree: the store keeps
//! exactly the nodes that [`CompactRange::push_with`] reports as they complete.

mod compact;
mod proof;
mod range;
mod streaming;

use std::convert::Infallible;
use std::fmt;

pub use compact::CompactRange;
pub use proof::{consistency_proof, inclusion_proof, root_from_inclusion_proof, verify_consistency, verify_inclusion};
pub use range::{range_proof, range_proof_len, root_from_range_proof, verify_range};
pub use streaming::StreamingRange;

use crate::error::VerifyError;
use crate::hash::{empty_root, node_hash, Hash};
use crate::ids::TreeSize;

/// A perfect subtree: `level` 0 is a leaf, level `l` covers the `2^l` leaves
/// `[index << level, (index + 1) << level)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    /// Height above the leaves.
    pub level: u8,
    /// Position among the subtrees of this level, from the left.
    pub index: u64,
}

/// Read access to stored perfect-subtree hashes, for proof generation.
///
/// `subtree(level, index)` returns the RFC 9162 hash of the perfect subtree [`NodeId`]
/// `{level, index}`. A proof for any tree size up to the current one only ever asks for
/// subtrees that are complete at that size, and asks for O(log n) of them.
pub trait NodeSource {
    /// Why a node could not be read.
    type Error;

    /// The hash of the perfect subtree covering leaves `[index << level, (index + 1) << level)`.
    fn subtree(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

impl<T: NodeSource + ?Sized> NodeSource for &T {
    type Error = T::Error;

    fn subtree(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        (**self).subtree(level, index)
    }
}

/// Why a proof could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ProofError<E> {
    /// The request itself is invalid (index beyond the size, sizes out of order, …).
    #[error("invalid proof request: {0}")]
    Invalid(VerifyError),
    /// The node source failed.
    #[error("reading node (level {level}, index {index}): {error}")]
    Source {
        /// Level of the node being read.
        level: u8,
        /// Index of the node being read.
        index: u64,
        /// The source's error.
        error: E,
    },
}

/// Reads one perfect subtree, attaching its id to a failure.
pub(crate) fn read<S: NodeSource>(src: &S, level: u8, index: u64) -> Result<Hash, ProofError<S::Error>> {
    src.subtree(level, index).map_err(|error| ProofError::Source { level, index, error })
}

/// The largest power of two strictly smaller than `n` (RFC 9162 §2.1.1's `k`); `n >= 2`.
pub(crate) fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[lo:hi])` for a node `[lo, hi)` of the RFC 9162 recursion, read from `src`.
///
/// Such a node is either perfect (one read) or lies on the right edge; then it is the
/// composition of the perfect subtrees of the binary decomposition of `hi - lo`, largest
/// first, hashed right to left (at most 64 reads, in practice `popcount(hi - lo)`).
pub(crate) fn range_hash<S: NodeSource>(src: &S, lo: u64, hi: u64) -> Result<Hash, ProofError<S::Error>> {
    debug_assert!(lo < hi);
    let mut parts: [Option<Hash>; 64] = [None; 64];
    let mut count = 0;
    let mut pos = lo;
    let mut remaining = hi - lo;
    while remaining > 0 {
        let level = 63 - remaining.leading_zeros();
        let size = 1u64 << level;
        parts[count] = Some(read(src, level as u8, pos >> level)?);
        count += 1;
        pos += size;
        remaining -= size;
    }
    Ok(fold_right(parts[..count].iter().flatten()))
}

/// Folds perfect subtree hashes, largest (leftmost) first, into the root they decompose:
/// `H(p0, H(p1, … H(p_{n-2}, p_{n-1})))`. An empty list is the empty tree.
pub(crate) fn fold_right<'a>(parts: impl DoubleEndedIterator<Item = &'a Hash>) -> Hash {
    let mut rev = parts.rev();
    match rev.next() {
        None => empty_root(),
        Some(last) => rev.fold(*last, |acc, left| node_hash(left, &acc)),
    }
}

/// The root of a tree of `size` leaves read from `src` (RFC 9162 §2.1.1), in O(log n) reads.
pub fn root_from_source<S: NodeSource>(src: &S, size: TreeSize) -> Result<Hash, ProofError<S::Error>> {
    if size.get() == 0 {
        return Ok(empty_root());
    }
    range_hash(src, 0, size.get())
}

/// The root of the tree over `leaves` (RFC 9162 §2.1.1 `MTH`), computed incrementally.
pub fn root(leaves: &[Hash]) -> Hash {
    let mut range = CompactRange::default();
    for leaf in leaves {
        range.push(*leaf);
    }
    range.root()
}

/// An in-memory tree that keeps every perfect subtree: a [`NodeSource`] for tests, benches and
/// small tools. Memory grows with the tree (about 2n hashes).
#[derive(Clone, Default)]
pub struct MemoryTree {
    // levels[l][i] is the perfect subtree NodeId { level: l, index: i }.
    levels: Vec<Vec<Hash>>,
}

/// The node a [`MemoryTree`] was asked for does not exist (yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no complete subtree at level {level}, index {index}")]
pub struct MissingNode {
    /// The requested level.
    pub level: u8,
    /// The requested index.
    pub index: u64,
}

impl MemoryTree {
    /// Builds a tree from leaf hashes.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> Self {
        let mut tree = Self::default();
        for leaf in leaves {
            tree.push(leaf);
        }
        tree
    }

    /// Appends a leaf hash, storing every perfect subtree it completes.
    pub fn push(&mut self, leaf: Hash) {
        let mut level = 0usize;
        let mut hash = leaf;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            let len = row.len();
            if len % 2 == 1 {
                break;
            }
            hash = node_hash(&row[len - 2], &row[len - 1]);
            level += 1;
        }
    }

    /// The number of leaves.
    pub fn size(&self) -> TreeSize {
        TreeSize(self.levels.first().map_or(0, |l| l.len() as u64))
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        let row = self.levels.first()?;
        row.get(usize::try_from(index).ok()?).copied()
    }

    /// The root at the current size.
    pub fn root(&self) -> Hash {
        // Every node of the current size is stored, so reading cannot fail.
        root_from_source(self, self.size()).unwrap_or_else(|_| empty_root())
    }

    /// The root at an earlier size, or `None` if `size` exceeds the tree.
    pub fn root_at(&self, size: TreeSize) -> Option<Hash> {
        if size > self.size() {
            return None;
        }
        root_from_source(self, size).ok()
    }
}

impl NodeSource for MemoryTree {
    type Error = MissingNode;

    fn subtree(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        let missing = MissingNode { level, index };
        let row = self.levels.get(usize::from(level)).ok_or(missing)?;
        let i = usize::try_from(index).map_err(|_| missing)?;
        row.get(i).copied().ok_or(missing)
    }
}

impl fmt::Debug for MemoryTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTree").field("size", &self.size()).finish_non_exhaustive()
    }
}

/// A [`NodeSource`] of a tree of up to 2^63 leaves that are all the same hash, computed on the
/// fly in O(1) per read: for benchmarks at sizes that cannot be stored. Every perfect subtree
/// of level `l` has the same hash, so the proofs it yields are valid proofs of that tree.
#[derive(Debug, Clone)]
pub struct UniformTree {
    by_level: Vec<Hash>,
}

impl UniformTree {
    /// A tree whose every leaf hash is `leaf`.
    pub fn new(leaf: Hash) -> Self {
        let mut by_level = Vec::with_capacity(64);
        by_level.push(leaf);
        for l in 1..64 {
            let below = by_level[l - 1];
            by_level.push(node_hash(&below, &below));
        }
        Self { by_level }
    }
}

impl NodeSource for UniformTree {
    type Error = Infallible;

    fn subtree(&self, level: u8, _index: u64) -> Result<Hash, Infallible> {
        // Levels above 63 cannot occur for u64 sizes; answer with the top level regardless.
        Ok(self.by_level[usize::from(level).min(63)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_largest_power_of_two_below() {
        assert_eq!(split(2), 1);
        assert_eq!(split(3), 2);
        assert_eq!(split(4), 2);
        assert_eq!(split(5), 4);
        assert_eq!(split(u64::MAX), 1 << 63);
    }

    #[test]
    fn memory_tree_and_compact_range_agree() {
        let mut tree = MemoryTree::default();
        let mut range = CompactRange::default();
        for i in 0..100u64 {
            let leaf = Hash::digest(&i.to_le_bytes());
            tree.push(leaf);
            range.push(leaf);
            assert_eq!(tree.root(), range.root());
        }
        assert_eq!(tree.root_at(TreeSize(0)), Some(empty_root()));
        assert_eq!(tree.root_at(TreeSize(101)), None);
    }
}
