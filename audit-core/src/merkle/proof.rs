//! RFC 9162 §2.1.3 inclusion proofs and §2.1.4 consistency proofs: generation from a
//! [`NodeSource`] in O(log n) reads, and verification.

use super::{range_hash, read, split, NodeSource, ProofError};
use crate::error::VerifyError;
use crate::hash::{node_hash, Hash};
use crate::ids::TreeSize;

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1
/// `PATH(m, D[n])`), ordered from the leaf's sibling up to the root's child.
///
/// Walks down from the root. Siblings to the left are perfect subtrees (one read each); a
/// sibling to the right can be a non-perfect right-edge subtree only the first time the walk
/// turns left, so the total is at most `2 * log2(size) + 1` reads.
pub fn inclusion_proof<S: NodeSource>(src: &S, index: u64, size: TreeSize) -> Result<Vec<Hash>, ProofError<S::Error>> {
    let size = size.get();
    if index >= size {
        return Err(ProofError::Invalid(VerifyError::IndexOutOfRange { index, size }));
    }
    let mut path = Vec::with_capacity(64);
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            path.push(range_hash(src, lo + k, hi)?);
            hi = lo + k;
        } else {
            let level = k.trailing_zeros() as u8;
            path.push(read(src, level, lo >> level)?);
            lo += k;
        }
    }
    // Collected root-first; RFC 9162 lists the path leaf-first.
    path.reverse();
    Ok(path)
}

/// The consistency proof between tree sizes `old` and `new` (RFC 9162 §2.1.4.1
/// `PROOF(m, D[n])`). Empty when the sizes are equal; an error when `old` is 0 or exceeds
/// `new`. At most `2 * log2(new) + 2` reads.
pub fn consistency_proof<S: NodeSource>(
    src: &S,
    old: TreeSize,
    new: TreeSize,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    let (m, n) = (old.get(), new.get());
    if m > n {
        return Err(ProofError::Invalid(VerifyError::SizeDecreased { old: m, new: n }));
    }
    if m == 0 {
        return Err(ProofError::Invalid(VerifyError::EmptyOldTree));
    }
    let mut proof = Vec::with_capacity(64);
    if m == n {
        return Ok(proof);
    }
    // SUBPROOF(m, D[lo:hi], b), unrolled: each step appends the sibling that follows the
    // recursive part, so the list is collected root-first and reversed at the end.
    let (mut lo, mut hi) = (0u64, n);
    let mut whole_old_tree = true; // RFC 9162's `b`
    loop {
        if m == hi {
            if !whole_old_tree {
                proof.push(range_hash(src, lo, hi)?);
            }
            break;
        }
        let k = split(hi - lo);
        if m - lo <= k {
            proof.push(range_hash(src, lo + k, hi)?);
            hi = lo + k;
        } else {
            let level = k.trailing_zeros() as u8;
            proof.push(read(src, level, lo >> level)?);
            lo += k;
            whole_old_tree = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// `(inner, border)` lengths of the inclusion proof of `index` in a tree of `size`: the part
/// below the point where the paths to `index` and `size - 1` diverge, and the part above.
fn decompose(index: u64, size: u64) -> (usize, usize) {
    let inner = (64 - (index ^ (size - 1)).leading_zeros()) as usize;
    let border = (index >> inner).count_ones() as usize;
    (inner, border)
}

/// Recomputes the root from an inclusion proof (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion_proof(index: u64, size: TreeSize, leaf: &Hash, proof: &[Hash]) -> Result<Hash, VerifyError> {
    let size = size.get();
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let (inner, border) = decompose(index, size);
    if proof.len() != inner + border {
        return Err(VerifyError::ProofLength { got: proof.len(), want: inner + border });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(VerifyError::ProofLength { got: proof.len(), want: inner + border });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::ProofLength { got: proof.len(), want: inner + border });
    }
    Ok(r)
}

/// Verifies that `leaf` is leaf `index` of the tree of `size` leaves with root `root`
/// (RFC 9162 §2.1.3.2). The final comparison is constant-time.
pub fn verify_inclusion(
    index: u64,
    size: TreeSize,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    let computed = root_from_inclusion_proof(index, size, leaf, proof)?;
    if computed.ct_eq(root) {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch)
    }
}

/// Verifies that the tree of `old` leaves with root `old_root` is a prefix of the tree of
/// `new` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// Equal sizes need an empty proof and equal roots. A proof from size 0 is rejected as
/// meaningless (every tree extends the empty tree; RFC 9162 requires `0 < first`).
pub fn verify_consistency(
    old: TreeSize,
    new: TreeSize,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    let (m, n) = (old.get(), new.get());
    if m > n {
        return Err(VerifyError::SizeDecreased { old: m, new: n });
    }
    if m == 0 {
        return Err(VerifyError::EmptyOldTree);
    }
    if m == n {
        if !proof.is_empty() {
            return Err(VerifyError::ProofLength { got: proof.len(), want: 0 });
        }
        return if old_root.ct_eq(new_root) { Ok(()) } else { Err(VerifyError::RootMismatch) };
    }
    // The expected length: the inclusion proof of leaf m-1 in the new tree, minus the levels
    // inside the old tree's rightmost perfect subtree (2^shift leaves), plus that subtree's
    // hash unless it is the whole old tree.
    let (inner, border) = decompose(m - 1, n);
    let shift = m.trailing_zeros() as usize;
    let seeded = m != 1u64 << shift;
    let want = usize::from(seeded) + inner - shift + border;
    if proof.len() != want {
        return Err(VerifyError::ProofLength { got: proof.len(), want });
    }
    // RFC 9162 §2.1.4.2 steps 2-7.
    let mut path = proof.iter();
    let first = if seeded {
        match path.next() {
            Some(h) => *h,
            None => return Err(VerifyError::ProofLength { got: 0, want }),
        }
    } else {
        *old_root
    };
    let (mut fn_, mut sn) = (m - 1, n - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (first, first);
    for c in path {
        if sn == 0 {
            return Err(VerifyError::ProofLength { got: proof.len(), want });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::ProofLength { got: proof.len(), want });
    }
    if !fr.ct_eq(old_root) {
        return Err(VerifyError::OldRootMismatch);
    }
    if !sr.ct_eq(new_root) {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}
