//! RFC 6962 / 9162 inclusion and consistency vectors from transparency-dev/merkle
//! (shared/vectors/rfc6962): every good case verifies, every `wantErr` case fails.
//!
//! Our API is typed: a hash is exactly 32 bytes, so a vector value of another length is
//! rejected when it is parsed, before any verifier runs. That is a rejection, and counts as
//! one for `wantErr` cases. One good case ("sizes are equal (one) and proof is empty") uses
//! 12-byte placeholder roots to test the rule "equal sizes, empty proof, equal roots"; no
//! 32-byte API can take them, so for good cases only a placeholder is mapped to
//! SHA-256(placeholder), which keeps equal values equal, and the rule itself is checked.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Deserialize;

use crate::{files_under, shared_vectors};
use audit_core::merkle::{consistency_proof, inclusion_proof, verify_consistency, verify_inclusion};
use audit_core::{Hash, MemoryTree, TreeSize, VerifyError};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inclusion {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Consistency {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

/// Decodes a vector hash; see the module comment for values that are not 32 bytes.
fn hash(b64: &str, want_err: bool) -> Result<Hash, VerifyError> {
    let bytes = BASE64.decode(b64).expect("vector base64");
    match Hash::try_from(bytes.as_slice()) {
        Ok(h) => Ok(h),
        Err(e) if want_err => Err(e),
        Err(_) => Ok(Hash::digest(&bytes)),
    }
}

fn hashes(list: &Option<Vec<String>>, want_err: bool) -> Result<Vec<Hash>, VerifyError> {
    list.iter().flatten().map(|h| hash(h, want_err)).collect()
}

/// The 8 leaves of the RFC 6962 reference tree (google/certificate-transparency).
pub fn reference_tree() -> MemoryTree {
    let leaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
    MemoryTree::from_leaves(leaves.iter().map(|l| audit_core::hash::leaf_hash(&hex::decode(l).unwrap())))
}

#[test]
fn inclusion_vectors() {
    let tree = reference_tree();
    let files = files_under(&shared_vectors("rfc6962/inclusion"));
    assert_eq!(files.len(), 98);
    let (mut good, mut bad, mut rejected_by_verifier, mut generated) = (0, 0, 0, 0);
    for file in files {
        let v: Inclusion = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let parsed = (|| {
            Ok::<_, VerifyError>((
                hash(&v.root, v.want_err)?,
                hash(&v.leaf_hash, v.want_err)?,
                hashes(&v.proof, v.want_err)?,
            ))
        })();
        let result = parsed.clone().and_then(|(root, leaf, proof)| {
            let r = verify_inclusion(v.leaf_idx, TreeSize(v.tree_size), &leaf, &proof, &root);
            if r.is_err() {
                rejected_by_verifier += 1;
            }
            r.map(|()| (root, proof))
        });
        assert_eq!(result.is_err(), v.want_err, "{}: {}", file.display(), v.desc);
        if v.want_err {
            bad += 1;
            continue;
        }
        good += 1;
        // Good proofs over the reference tree must also be what we generate.
        if let Ok((root, proof)) = result {
            if v.tree_size <= 8 && tree.root_at(TreeSize(v.tree_size)) == Some(root) {
                let ours = inclusion_proof(&tree, v.leaf_idx, TreeSize(v.tree_size)).unwrap();
                assert_eq!(ours, proof, "{}", file.display());
                generated += 1;
            }
        }
    }
    assert!(good > 0 && bad > 0);
    assert!(generated > 0);
    assert!(rejected_by_verifier > bad / 2, "most bad cases must reach the verifier");
}

#[test]
fn consistency_vectors() {
    let tree = reference_tree();
    let files = files_under(&shared_vectors("rfc6962/consistency"));
    assert_eq!(files.len(), 98);
    let (mut good, mut bad, mut generated) = (0, 0, 0);
    for file in files {
        let v: Consistency = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let parsed = (|| {
            Ok::<_, VerifyError>((
                hash(&v.root1, v.want_err)?,
                hash(&v.root2, v.want_err)?,
                hashes(&v.proof, v.want_err)?,
            ))
        })();
        let result = parsed
            .clone()
            .and_then(|(r1, r2, proof)| verify_consistency(TreeSize(v.size1), TreeSize(v.size2), &r1, &r2, &proof));
        assert_eq!(result.is_err(), v.want_err, "{}: {}", file.display(), v.desc);
        if v.want_err {
            bad += 1;
            continue;
        }
        good += 1;
        let (r1, r2, proof) = parsed.unwrap();
        if v.size2 <= 8 && tree.root_at(TreeSize(v.size1)) == Some(r1) && tree.root_at(TreeSize(v.size2)) == Some(r2) {
            let ours = consistency_proof(&tree, TreeSize(v.size1), TreeSize(v.size2)).unwrap();
            assert_eq!(ours, proof, "{}", file.display());
            generated += 1;
        }
    }
    assert!(good > 0 && bad > 0);
    assert!(generated > 0);
}
