//! Range proofs (docs/FORMAT.md §9) verified while the range's leaves stream by, in
//! O(log n) memory: an export of millions of events is checked without holding its leaf
//! hashes.
//!
//! The walk of [`super::range`] rebuilds every subtree wholly inside `[start, end)` from the
//! range's leaves. Those maximal inside subtrees are contiguous and, left to right, cover the
//! range exactly, so each is the RFC 9162 root of a run of consecutive leaves: a
//! [`CompactRange`] per run computes it as the leaves arrive. At the end the same walk runs
//! with those roots and the proof's hashes.

use super::compact::CompactRange;
use super::split;
use crate::error::VerifyError;
use crate::hash::{node_hash, Hash};
use crate::ids::TreeSize;

/// A range proof being verified leaf by leaf.
#[derive(Debug, Clone)]
pub struct StreamingRange {
    start: u64,
    end: u64,
    size: TreeSize,
    /// The maximal inside subtrees `[lo, hi)`, left to right.
    runs: Vec<(u64, u64)>,
    /// The roots of the completed runs.
    roots: Vec<Hash>,
    current: CompactRange,
    pushed: u64,
}

impl StreamingRange {
    /// Starts verifying the leaves `[start, end)` of the tree of `size` leaves.
    pub fn new(start: u64, end: u64, size: TreeSize) -> Result<Self, VerifyError> {
        if start >= end || end > size.get() {
            return Err(VerifyError::InvalidRange { start, end, size: size.get() });
        }
        let mut runs = Vec::new();
        inside_runs(0, size.get(), start, end, &mut runs);
        Ok(Self { start, end, size, runs, roots: Vec::new(), current: CompactRange::default(), pushed: 0 })
    }

    /// How many leaves have been pushed.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Takes the next leaf hash of the range, in order.
    pub fn push(&mut self, leaf: Hash) -> Result<(), VerifyError> {
        let want = self.end - self.start;
        let Some(&(lo, hi)) = self.runs.get(self.roots.len()) else {
            return Err(VerifyError::LeafCount { got: usize::try_from(self.pushed + 1).unwrap_or(usize::MAX), want });
        };
        self.current.push(leaf);
        self.pushed += 1;
        if self.current.size().get() == hi - lo {
            self.roots.push(std::mem::take(&mut self.current).root());
        }
        Ok(())
    }

    /// The root the proof and the pushed leaves lead to; every leaf of the range must have
    /// been pushed and the proof must be consumed exactly.
    pub fn root(&self, proof: &[Hash]) -> Result<Hash, VerifyError> {
        let want_leaves = self.end - self.start;
        if self.pushed != want_leaves {
            return Err(VerifyError::LeafCount {
                got: usize::try_from(self.pushed).unwrap_or(usize::MAX),
                want: want_leaves,
            });
        }
        let want = super::range_proof_len(self.start, self.end, self.size)?;
        if proof.len() != want {
            return Err(VerifyError::ProofLength { got: proof.len(), want });
        }
        let mut walk = Walk { start: self.start, end: self.end, roots: self.roots.iter(), proof: proof.iter() };
        let root = walk.node(0, self.size.get()).ok_or(VerifyError::ProofLength { got: proof.len(), want })?;
        if walk.roots.next().is_some() || walk.proof.next().is_some() {
            return Err(VerifyError::ProofLength { got: proof.len(), want });
        }
        Ok(root)
    }

    /// Verifies that the pushed leaves are `[start, end)` of the tree with root `root`. The
    /// final comparison is constant-time.
    pub fn verify(&self, proof: &[Hash], root: &Hash) -> Result<(), VerifyError> {
        if self.root(proof)?.ct_eq(root) {
            Ok(())
        } else {
            Err(VerifyError::RootMismatch)
        }
    }
}

/// Collects the maximal subtrees of the RFC 9162 recursion that lie inside `[start, end)`,
/// left to right; only the paths to `start` and `end - 1` are entered.
fn inside_runs(lo: u64, hi: u64, start: u64, end: u64, runs: &mut Vec<(u64, u64)>) {
    if hi <= start || lo >= end {
        return;
    }
    if start <= lo && hi <= end {
        runs.push((lo, hi));
        return;
    }
    let k = split(hi - lo);
    inside_runs(lo, lo + k, start, end, runs);
    inside_runs(lo + k, hi, start, end, runs);
}

/// The verifier's walk over run roots and proof hashes, consumed in order.
struct Walk<'a> {
    start: u64,
    end: u64,
    roots: std::slice::Iter<'a, Hash>,
    proof: std::slice::Iter<'a, Hash>,
}

impl Walk<'_> {
    fn node(&mut self, lo: u64, hi: u64) -> Option<Hash> {
        if hi <= self.start || lo >= self.end {
            return self.proof.next().copied();
        }
        if self.start <= lo && hi <= self.end {
            return self.roots.next().copied();
        }
        let k = split(hi - lo);
        let left = self.node(lo, lo + k)?;
        let right = self.node(lo + k, hi)?;
        Some(node_hash(&left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{range_proof, MemoryTree};

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| Hash::digest(&i.to_be_bytes())).collect()
    }

    #[test]
    fn every_range_of_every_tree_up_to_40_leaves_verifies_and_its_tampered_twins_fail() {
        for size in 1..=40u64 {
            let all = leaves(size);
            let tree = MemoryTree::from_leaves(all.iter().copied());
            let root = tree.root();
            for start in 0..size {
                for end in start + 1..=size {
                    let proof = range_proof(&tree, start, end, TreeSize(size)).unwrap();
                    let mut stream = StreamingRange::new(start, end, TreeSize(size)).unwrap();
                    for leaf in &all[start as usize..end as usize] {
                        stream.push(*leaf).unwrap();
                    }
                    stream.verify(&proof, &root).unwrap();
                    // Its tampered twins: a leaf altered, the proof altered.
                    let mut bad = StreamingRange::new(start, end, TreeSize(size)).unwrap();
                    for (i, leaf) in all[start as usize..end as usize].iter().enumerate() {
                        bad.push(if i == 0 { Hash::digest(b"altered") } else { *leaf }).unwrap();
                    }
                    assert_eq!(bad.verify(&proof, &root), Err(VerifyError::RootMismatch));
                    if let Some(first) = proof.first() {
                        let mut forged = proof.clone();
                        forged[0] = node_hash(first, first);
                        assert_eq!(stream.verify(&forged, &root), Err(VerifyError::RootMismatch));
                    }
                }
            }
        }
    }

    #[test]
    fn a_missing_or_extra_leaf_or_proof_hash_is_refused() {
        let all = leaves(21);
        let tree = MemoryTree::from_leaves(all.iter().copied());
        let proof = range_proof(&tree, 5, 13, TreeSize(21)).unwrap();
        let mut stream = StreamingRange::new(5, 13, TreeSize(21)).unwrap();
        for leaf in &all[5..12] {
            stream.push(*leaf).unwrap();
        }
        assert!(matches!(stream.verify(&proof, &tree.root()), Err(VerifyError::LeafCount { .. })));
        stream.push(all[12]).unwrap();
        assert!(matches!(stream.push(all[13]), Err(VerifyError::LeafCount { .. })));
        assert_eq!(stream.pushed(), 8);
        stream.verify(&proof, &tree.root()).unwrap();
        assert!(matches!(stream.verify(&proof[1..], &tree.root()), Err(VerifyError::ProofLength { .. })));
        let mut longer = proof.clone();
        longer.push(proof[0]);
        assert!(matches!(stream.verify(&longer, &tree.root()), Err(VerifyError::ProofLength { .. })));
        assert!(StreamingRange::new(3, 3, TreeSize(21)).is_err());
        assert!(StreamingRange::new(3, 22, TreeSize(21)).is_err());
    }
}
