//! Property tests over random trees of up to a few thousand leaves: every proof verifies, and
//! any single flipped bit or changed parameter makes it fail. Case counts are kept modest so
//! the suite stays fast in debug builds.

use proptest::prelude::*;
use sha2::{Digest, Sha256};

use audit_core::merkle::{
    consistency_proof, inclusion_proof, range_proof, verify_consistency, verify_inclusion, verify_range,
};
use audit_core::{CompactRange, Hash, MemoryTree, TreeSize};

fn leaves(n: u64, seed: u64) -> Vec<Hash> {
    (0..n).map(|i| audit_core::hash::leaf_hash(&[seed.to_le_bytes(), i.to_le_bytes()].concat())).collect()
}

/// RFC 9162 §2.1.1 MTH written straight from the definition, with sha2 only.
fn reference_mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Hash::from_bytes(Sha256::digest([]).into()),
        1 => leaves[0],
        n => {
            let k = n.next_power_of_two() / 2;
            let k = if k == n { n / 2 } else { k };
            let (l, r) = (reference_mth(&leaves[..k]), reference_mth(&leaves[k..]));
            let mut h = Sha256::new();
            h.update([1u8]);
            h.update(l.as_bytes());
            h.update(r.as_bytes());
            Hash::from_bytes(h.finalize().into())
        }
    }
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut b = *h.as_bytes();
    b[(bit / 8) % 32] ^= 1 << (bit % 8);
    Hash::from_bytes(b)
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 48, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn incremental_roots_equal_batch_roots(n in 0u64..1200, seed in any::<u64>()) {
        let ls = leaves(n, seed);
        let mut range = CompactRange::default();
        let mut tree = MemoryTree::default();
        let mut stored = std::collections::HashMap::new();
        for (i, leaf) in ls.iter().enumerate() {
            range.push_with(*leaf, |id, h| { stored.insert(id, *h); });
            tree.push(*leaf);
            // Checking every prefix against the recursive definition is quadratic; sample.
            if i % 97 == 0 || i + 1 == ls.len() {
                prop_assert_eq!(range.root(), reference_mth(&ls[..=i]));
            }
            prop_assert_eq!(range.root(), tree.root());
        }
        prop_assert_eq!(range.root(), reference_mth(&ls));
        // The nodes push_with reports are exactly the stored perfect subtrees.
        for (id, h) in &stored {
            use audit_core::NodeSource;
            prop_assert_eq!(tree.subtree(id.level, id.index).ok(), Some(*h));
        }
        // The frontier restores from those nodes and keeps growing identically.
        let ids = CompactRange::node_ids(TreeSize(n));
        let hashes = ids.iter().map(|id| stored[id]).collect();
        let mut restored = CompactRange::from_hashes(TreeSize(n), hashes).unwrap();
        prop_assert_eq!(&restored, &range);
        prop_assert_eq!(&CompactRange::from_source(&tree, TreeSize(n)).unwrap(), &range);
        let extra = Hash::digest(b"next");
        restored.push(extra);
        range.push(extra);
        prop_assert_eq!(restored.root(), range.root());
    }

    #[test]
    fn inclusion_proofs(n in 1u64..3000, seed in any::<u64>(), pick in any::<u64>(), bit in 0usize..256, other in any::<u64>()) {
        let ls = leaves(n, seed);
        let tree = MemoryTree::from_leaves(ls.iter().copied());
        let size = TreeSize(n);
        let index = pick % n;
        let root = tree.root();
        let leaf = ls[index as usize];
        let proof = inclusion_proof(&tree, index, size).unwrap();
        prop_assert!(proof.len() <= 64);
        prop_assert!(verify_inclusion(index, size, &leaf, &proof, &root).is_ok());
        // Any flipped bit in the proof, the leaf or the root fails.
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i], bit);
            prop_assert!(verify_inclusion(index, size, &leaf, &bad, &root).is_err());
        }
        prop_assert!(verify_inclusion(index, size, &flip(&leaf, bit), &proof, &root).is_err());
        prop_assert!(verify_inclusion(index, size, &leaf, &proof, &flip(&root, bit)).is_err());
        // A dropped or an extra hash fails.
        if !proof.is_empty() {
            prop_assert!(verify_inclusion(index, size, &leaf, &proof[1..], &root).is_err());
        }
        let mut longer = proof.clone();
        longer.push(root);
        prop_assert!(verify_inclusion(index, size, &leaf, &longer, &root).is_err());
        // Another index fails.
        let index2 = other % n;
        if index2 != index {
            prop_assert!(verify_inclusion(index2, size, &leaf, &proof, &root).is_err());
        }
        prop_assert!(verify_inclusion(n, size, &leaf, &proof, &root).is_err());
        // Another size, even with that size's true root, fails unless the honest proof for
        // it is the very same list of hashes.
        let n2 = index + 1 + other % (2 * n);
        if n2 != n {
            let root2 = reference_mth(&leaves(n2, seed));
            if verify_inclusion(index, TreeSize(n2), &leaf, &proof, &root2).is_ok() {
                let tree2 = MemoryTree::from_leaves(leaves(n2, seed));
                prop_assert_eq!(&inclusion_proof(&tree2, index, TreeSize(n2)).unwrap(), &proof);
            }
        }
    }

    #[test]
    fn consistency_proofs(n in 1u64..3000, seed in any::<u64>(), pick in any::<u64>(), bit in 0usize..256, other in any::<u64>()) {
        let ls = leaves(n, seed);
        let tree = MemoryTree::from_leaves(ls.iter().copied());
        let m = 1 + pick % n;
        let (old, new) = (TreeSize(m), TreeSize(n));
        let (r1, r2) = (tree.root_at(old).unwrap(), tree.root());
        let proof = consistency_proof(&tree, old, new).unwrap();
        prop_assert!(verify_consistency(old, new, &r1, &r2, &proof).is_ok());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i], bit);
            prop_assert!(verify_consistency(old, new, &r1, &r2, &bad).is_err());
        }
        prop_assert!(verify_consistency(old, new, &flip(&r1, bit), &r2, &proof).is_err());
        prop_assert!(verify_consistency(old, new, &r1, &flip(&r2, bit), &proof).is_err());
        if !proof.is_empty() {
            prop_assert!(verify_consistency(old, new, &r1, &r2, &proof[1..]).is_err());
            prop_assert!(verify_consistency(old, new, &r1, &r2, &proof[..proof.len() - 1]).is_err());
        }
        let mut longer = proof.clone();
        longer.push(r1);
        prop_assert!(verify_consistency(old, new, &r1, &r2, &longer).is_err());
        // Another old size, with its true root, fails unless its honest proof is identical.
        let m2 = 1 + other % n;
        if m2 != m {
            let r1b = tree.root_at(TreeSize(m2)).unwrap();
            if verify_consistency(TreeSize(m2), new, &r1b, &r2, &proof).is_ok() {
                prop_assert_eq!(&consistency_proof(&tree, TreeSize(m2), new).unwrap(), &proof);
            }
        }
        // Another new size, with its true root, likewise.
        let n2 = m + other % (2 * n);
        if n2 != n {
            let tree2 = MemoryTree::from_leaves(leaves(n2, seed));
            let r2b = tree2.root();
            if verify_consistency(old, TreeSize(n2), &r1, &r2b, &proof).is_ok() {
                prop_assert_eq!(&consistency_proof(&tree2, old, TreeSize(n2)).unwrap(), &proof);
            }
        }
        // A fork (one old leaf changed) is never consistent.
        let mut forked = ls.clone();
        let victim = (other % m) as usize;
        forked[victim] = flip(&forked[victim], bit);
        let fork_root = reference_mth(&forked);
        prop_assert!(verify_consistency(old, new, &r1, &fork_root, &proof).is_err());
    }

}

proptest! {
    // Range proofs build a second tree per case; fewer cases keep the debug suite quick.
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn range_proofs(n in 1u64..3000, seed in any::<u64>(), a in any::<u64>(), b in any::<u64>(), bit in 0usize..256, other in any::<u64>()) {
        let ls = leaves(n, seed);
        let tree = MemoryTree::from_leaves(ls.iter().copied());
        let size = TreeSize(n);
        let (x, y) = (a % n, b % n);
        let (start, end) = (x.min(y), x.max(y) + 1);
        let range = &ls[start as usize..end as usize];
        let root = tree.root();
        let proof = range_proof(&tree, start, end, size).unwrap();
        prop_assert!(proof.len() <= 128);
        prop_assert!(verify_range(start, end, size, range, &proof, &root).is_ok());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i], bit);
            prop_assert!(verify_range(start, end, size, range, &bad, &root).is_err());
        }
        let victim = (other % (end - start)) as usize;
        let mut bad_leaves = range.to_vec();
        bad_leaves[victim] = flip(&bad_leaves[victim], bit);
        prop_assert!(verify_range(start, end, size, &bad_leaves, &proof, &root).is_err());
        prop_assert!(verify_range(start, end, size, range, &proof, &flip(&root, bit)).is_err());
        // The proof must be consumed exactly, and the leaves must fill the range.
        let mut longer = proof.clone();
        longer.push(root);
        prop_assert!(verify_range(start, end, size, range, &longer, &root).is_err());
        if !proof.is_empty() {
            prop_assert!(verify_range(start, end, size, range, &proof[1..], &root).is_err());
        }
        prop_assert!(verify_range(start, end, size, &range[1..], &proof, &root).is_err());
        // The same leaves and proof do not verify at a shifted position or a shorter range.
        if end < n {
            let shifted = verify_range(start + 1, end + 1, size, range, &proof, &root);
            prop_assert!(shifted.is_err());
        }
        if end - start > 1 {
            prop_assert!(verify_range(start, end - 1, size, &range[..range.len() - 1], &proof, &root).is_err());
        }
        // Another size, with its true root, fails unless its honest proof is identical.
        let n2 = end + other % (2 * n);
        if n2 != n {
            let tree2 = MemoryTree::from_leaves(leaves(n2, seed));
            if verify_range(start, end, TreeSize(n2), range, &proof, &tree2.root()).is_ok() {
                prop_assert_eq!(&range_proof(&tree2, start, end, TreeSize(n2)).unwrap(), &proof);
            }
        }
        // A single-leaf range proof is the inclusion proof's hashes, left to right.
        let single = range_proof(&tree, start, start + 1, size).unwrap();
        let mut incl = inclusion_proof(&tree, start, size).unwrap();
        incl.reverse();
        let mut sorted_single = single.clone();
        sorted_single.sort_by_key(|h| *h.as_bytes());
        incl.sort_by_key(|h| *h.as_bytes());
        prop_assert_eq!(sorted_single, incl);
    }
}
