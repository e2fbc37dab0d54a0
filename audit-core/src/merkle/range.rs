//! Range proofs for the contiguous leaves `[start, end)` of a tree of `n` leaves (DESIGN §3;
//! RFC 9162 defines none, so this is AuditStore's own, exact construction).
//!
//! Walk the RFC 9162 §2.1.1 recursion `MTH(D[lo:hi])` from `(0, n)` with split `k` = the
//! largest power of two smaller than `hi - lo`. A subtree wholly outside the range contributes
//! its hash to the proof and is not entered; a subtree overlapping the range is entered; a
//! single leaf inside the range is taken from the range. The proof is the contributed hashes
//! in the order the walk meets them (left to right). The verifier runs the same walk with the
//! range's leaf hashes, must consume the proof exactly, and compares the result with the root.

use super::streaming::StreamingRange;
use super::{range_hash, split, NodeSource, ProofError};
use crate::error::VerifyError;
use crate::hash::Hash;
use crate::ids::TreeSize;

/// Checks `0 <= start < end <= size`.
fn check_range(start: u64, end: u64, size: u64) -> Result<(), VerifyError> {
    if start >= end || end > size {
        return Err(VerifyError::InvalidRange { start, end, size });
    }
    Ok(())
}

/// Calls `outside(lo, hi)` for every subtree the walk contributes, left to right.
///
/// Only subtrees on the paths to `start` and `end - 1` are entered, so this visits
/// O(log n) nodes; recursion depth is at most 64.
fn walk_outside<E>(
    lo: u64,
    hi: u64,
    start: u64,
    end: u64,
    outside: &mut impl FnMut(u64, u64) -> Result<(), E>,
) -> Result<(), E> {
    if hi <= start || lo >= end {
        return outside(lo, hi);
    }
    if start <= lo && hi <= end {
        // Entirely inside: the verifier rebuilds it from the range's leaves.
        return Ok(());
    }
    let k = split(hi - lo);
    walk_outside(lo, lo + k, start, end, outside)?;
    walk_outside(lo + k, hi, start, end, outside)
}

/// The number of hashes in the range proof of `[start, end)` in a tree of `size` leaves.
pub fn range_proof_len(start: u64, end: u64, size: TreeSize) -> Result<usize, VerifyError> {
    check_range(start, end, size.get())?;
    let mut count = 0usize;
    walk_outside::<()>(0, size.get(), start, end, &mut |_, _| {
        count += 1;
        Ok(())
    })
    .map_err(|()| VerifyError::InvalidRange { start, end, size: size.get() })?;
    Ok(count)
}

/// The range proof of leaves `[start, end)` in the tree of `size` leaves, read from `src` in
/// O(log n) reads.
pub fn range_proof<S: NodeSource>(
    src: &S,
    start: u64,
    end: u64,
    size: TreeSize,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    check_range(start, end, size.get()).map_err(ProofError::Invalid)?;
    let mut proof = Vec::with_capacity(128);
    walk_outside(0, size.get(), start, end, &mut |lo, hi| {
        proof.push(range_hash(src, lo, hi)?);
        Ok(())
    })?;
    Ok(proof)
}

/// Recomputes the root from the range's leaf hashes and a range proof, consuming both exactly.
pub fn root_from_range_proof(
    start: u64,
    end: u64,
    size: TreeSize,
    leaves: &[Hash],
    proof: &[Hash],
) -> Result<Hash, VerifyError> {
    if leaves.len() as u64 != end.saturating_sub(start) {
        range_proof_len(start, end, size)?;
        return Err(VerifyError::LeafCount { got: leaves.len(), want: end - start });
    }
    // The same walk as a streamed range: the verifier's one implementation.
    let mut stream = StreamingRange::new(start, end, size)?;
    for leaf in leaves {
        stream.push(*leaf)?;
    }
    stream.root(proof)
}

/// Verifies that `leaves` are the leaf hashes `[start, end)` of the tree of `size` leaves with
/// root `root`. The final comparison is constant-time.
pub fn verify_range(
    start: u64,
    end: u64,
    size: TreeSize,
    leaves: &[Hash],
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    let computed = root_from_range_proof(start, end, size, leaves, proof)?;
    if computed.ct_eq(root) {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch)
    }
}
