//! Proof generation reads O(log n) stored nodes and never recomputes the tree: a counting
//! NodeSource bounds the reads for every proof kind, up to trees of 2^62 leaves.

use std::cell::Cell;

use audit_core::merkle::{
    consistency_proof, inclusion_proof, range_proof, root_from_source, verify_consistency, verify_inclusion,
    verify_range,
};
use audit_core::{CompactRange, Hash, MemoryTree, NodeSource, TreeSize, UniformTree};

/// Counts reads through to an inner source.
struct Counting<S> {
    inner: S,
    reads: Cell<u64>,
}

impl<S: NodeSource> NodeSource for Counting<S> {
    type Error = S::Error;
    fn subtree(&self, level: u8, index: u64) -> Result<Hash, S::Error> {
        self.reads.set(self.reads.get() + 1);
        self.inner.subtree(level, index)
    }
}

impl<S> Counting<S> {
    fn new(inner: S) -> Self {
        Self { inner, reads: Cell::new(0) }
    }
    fn take(&self) -> u64 {
        self.reads.replace(0)
    }
}

fn bits(n: u64) -> u64 {
    u64::from(64 - n.leading_zeros())
}

#[test]
fn every_proof_of_small_trees_reads_logarithmically() {
    let n = 200u64;
    let tree = Counting::new(MemoryTree::from_leaves((0..n).map(|i| Hash::digest(&i.to_le_bytes()))));
    for size in 1..=n {
        let b = bits(size);
        for i in 0..size {
            inclusion_proof(&tree, i, TreeSize(size)).unwrap();
            let r = tree.take();
            assert!(r <= 2 * b, "inclusion {i}/{size}: {r} reads");
            consistency_proof(&tree, TreeSize(i + 1), TreeSize(size)).unwrap();
            let r = tree.take();
            assert!(r <= 2 * b + 1, "consistency {}/{size}: {r} reads", i + 1);
        }
        for start in (0..size).step_by(7) {
            for end in (start + 1..=size).step_by(5) {
                range_proof(&tree, start, end, TreeSize(size)).unwrap();
                let r = tree.take();
                assert!(r <= 3 * b, "range [{start},{end})/{size}: {r} reads");
            }
        }
        CompactRange::from_source(&tree, TreeSize(size)).unwrap();
        assert_eq!(tree.take(), u64::from(size.count_ones()));
    }
}

#[test]
fn huge_trees_read_logarithmically_and_verify() {
    let src = Counting::new(UniformTree::new(audit_core::hash::leaf_hash(b"x")));
    let leaf = audit_core::hash::leaf_hash(b"x");
    for size in [1u64 << 30, 1_000_000_007, (1 << 40) + 12345, (1 << 62) - 1, 1 << 62] {
        let b = bits(size);
        let root = root_from_source(&src, TreeSize(size)).unwrap();
        assert!(src.take() <= b);
        for index in [0, size / 3, size - 1] {
            let proof = inclusion_proof(&src, index, TreeSize(size)).unwrap();
            assert!(src.take() <= 2 * b);
            assert!(verify_inclusion(index, TreeSize(size), &leaf, &proof, &root).is_ok());
            let old = index + 1;
            let old_root = root_from_source(&src, TreeSize(old)).unwrap();
            src.take();
            let proof = consistency_proof(&src, TreeSize(old), TreeSize(size)).unwrap();
            assert!(src.take() <= 2 * b + 1);
            let ok = verify_consistency(TreeSize(old), TreeSize(size), &old_root, &root, &proof);
            assert!(ok.is_ok(), "{old} -> {size}");
            let end = (index + 1000).min(size);
            let proof = range_proof(&src, index, end, TreeSize(size)).unwrap();
            assert!(src.take() <= 3 * b);
            let leaves = vec![leaf; (end - index) as usize];
            assert!(verify_range(index, end, TreeSize(size), &leaves, &proof, &root).is_ok());
            // Twin: the wrong leaf fails.
            let other = audit_core::hash::leaf_hash(b"y");
            let proof = inclusion_proof(&src, index, TreeSize(size)).unwrap();
            assert!(verify_inclusion(index, TreeSize(size), &other, &proof, &root).is_err());
            src.take();
        }
    }
}

#[test]
fn generation_rejects_bad_requests_and_missing_nodes() {
    let tree = MemoryTree::from_leaves((0..10u64).map(|i| Hash::digest(&i.to_le_bytes())));
    assert!(inclusion_proof(&tree, 10, TreeSize(10)).is_err());
    assert!(inclusion_proof(&tree, 0, TreeSize(0)).is_err());
    assert!(consistency_proof(&tree, TreeSize(0), TreeSize(5)).is_err());
    assert!(consistency_proof(&tree, TreeSize(6), TreeSize(5)).is_err());
    assert_eq!(consistency_proof(&tree, TreeSize(5), TreeSize(5)).unwrap(), vec![]);
    assert!(range_proof(&tree, 3, 3, TreeSize(10)).is_err());
    assert!(range_proof(&tree, 3, 11, TreeSize(10)).is_err());
    // A size beyond what the source holds is a source error, not a panic or a wrong proof.
    assert!(inclusion_proof(&tree, 0, TreeSize(11)).is_err());
    assert!(range_proof(&tree, 0, 1, TreeSize(16)).is_err());
}
