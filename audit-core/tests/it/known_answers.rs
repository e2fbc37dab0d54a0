//! Known answers from shared/vectors/README.md and transparency-dev/merkle's verify_test.go
//! (the RFC 6962 reference tree of google/certificate-transparency), each with a tampered twin.

use crate::rfc6962_vectors::reference_tree;
use audit_core::hash::{empty_root, leaf_hash};
use audit_core::merkle::{consistency_proof, inclusion_proof, root, verify_consistency, verify_inclusion};
use audit_core::{CompactRange, Hash, TreeSize};

fn h(s: &str) -> Hash {
    Hash::from_hex(s).unwrap()
}

/// Roots of the reference tree's prefixes of 1..=8 leaves.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[test]
fn empty_tree_and_empty_leaf() {
    assert_eq!(empty_root(), h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_eq!(root(&[]), empty_root());
    assert_eq!(CompactRange::default().root(), empty_root());
    assert_eq!(leaf_hash(b""), h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"));
    // Twin: the leaf prefix matters.
    assert_ne!(leaf_hash(b""), empty_root());
}

#[test]
fn reference_tree_roots() {
    let tree = reference_tree();
    let mut range = CompactRange::default();
    for (i, want) in ROOTS.iter().enumerate() {
        range.push(tree.leaf(i as u64).unwrap());
        assert_eq!(range.root(), h(want), "size {}", i + 1);
        assert_eq!(tree.root_at(TreeSize(i as u64 + 1)), Some(h(want)));
    }
    assert_eq!(tree.root(), h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"));
    // Twin: swapping two leaves changes the root.
    let mut leaves: Vec<Hash> = (0..8).map(|i| tree.leaf(i).unwrap()).collect();
    leaves.swap(3, 4);
    assert_ne!(root(&leaves), tree.root());
}

#[test]
fn reference_proofs() {
    let tree = reference_tree();
    // (leaf index, tree size, proof) from verify_test.go (its indices are 1-based there).
    let inclusion: [(u64, u64, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (index, size, want) in inclusion {
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        let got = inclusion_proof(&tree, index, TreeSize(size)).unwrap();
        assert_eq!(got, want, "inclusion {index} in {size}");
        let root = h(ROOTS[size as usize - 1]);
        let leaf = tree.leaf(index).unwrap();
        assert!(verify_inclusion(index, TreeSize(size), &leaf, &got, &root).is_ok());
        let other_leaf = tree.leaf((index + 1) % size).unwrap();
        assert!(verify_inclusion(index, TreeSize(size), &other_leaf, &got, &root).is_err());
    }
    let consistency: [(u64, u64, &[&str]); 4] = [
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (m, n, want) in consistency {
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        let got = consistency_proof(&tree, TreeSize(m), TreeSize(n)).unwrap();
        assert_eq!(got, want, "consistency {m} -> {n}");
        let (r1, r2) = (h(ROOTS[m as usize - 1]), h(ROOTS[n as usize - 1]));
        assert!(verify_consistency(TreeSize(m), TreeSize(n), &r1, &r2, &got).is_ok());
        assert!(verify_consistency(TreeSize(m), TreeSize(n), &r2, &r1, &got).is_err());
    }
}
