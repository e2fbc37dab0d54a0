//! The per-ledger hash chain (DESIGN §3, `docs/FORMAT.md` §4).
//!
//! `chain_hash[i] = SHA-256(0x02 || chain_hash[i-1] || leaf_hash[i])` with
//! `chain_hash[-1] = SHA-256("auditstore/v1/genesis\n" || ledger_id)`. It links every event to
//! all earlier ones independently of the Merkle tree, and needs only leaf hashes, so tombstoned
//! events (content removed, `leaf_hash` kept) still verify.

use std::borrow::Borrow;

use sha2::{Digest, Sha256};

use crate::error::VerifyError;
use crate::hash::Hash;
use crate::ids::{LedgerId, Seq};

/// Domain-separation byte of a chain link; RFC 9162 uses 0x00 and 0x01 for the tree.
const CHAIN_PREFIX: u8 = 0x02;
/// Prefix of the genesis preimage.
const GENESIS_PREFIX: &[u8] = b"auditstore/v1/genesis\n";

/// `chain_hash[-1] = SHA-256("auditstore/v1/genesis\n" || ledger_id)`.
pub fn genesis(ledger: &LedgerId) -> Hash {
    let mut h = Sha256::new();
    h.update(GENESIS_PREFIX);
    h.update(ledger.as_str().as_bytes());
    Hash::from_bytes(h.finalize().into())
}

/// `chain_hash[i] = SHA-256(0x02 || chain_hash[i-1] || leaf_hash[i])`.
pub fn chain_hash(previous: &Hash, leaf: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = CHAIN_PREFIX;
    buf[1..33].copy_from_slice(previous.as_bytes());
    buf[33..].copy_from_slice(leaf.as_bytes());
    Hash::digest(&buf)
}

/// One stored link of the chain: an event's leaf hash and the chain hash stored with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainLink {
    /// The event's `leaf_hash`.
    pub leaf_hash: Hash,
    /// The stored (claimed) `chain_hash`.
    pub chain_hash: Hash,
}

/// Verifies a contiguous segment of a ledger's chain.
///
/// `previous` is the chain hash before the segment (the ledger's [`genesis`] when `start` is
/// 0, otherwise the trusted chain hash at `start - 1`); `links` are the stored links from
/// `start` on. Returns the last chain hash of the segment (`previous` if it is empty), which
/// seeds the next segment, or [`VerifyError::ChainMismatch`] naming the first bad `seq`.
pub fn verify_chain_segment<I>(previous: &Hash, start: Seq, links: I) -> Result<Hash, VerifyError>
where
    I: IntoIterator,
    I::Item: Borrow<ChainLink>,
{
    let mut current = *previous;
    let mut seq = start.get();
    for link in links {
        let link = link.borrow();
        let expected = chain_hash(&current, &link.leaf_hash);
        if !expected.ct_eq(&link.chain_hash) {
            return Err(VerifyError::ChainMismatch { seq: Seq(seq) });
        }
        current = expected;
        seq = seq.wrapping_add(1);
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(n: u64, ledger: &LedgerId) -> Vec<ChainLink> {
        let mut prev = genesis(ledger);
        (0..n)
            .map(|i| {
                let leaf_hash = Hash::digest(&i.to_be_bytes());
                let chain_hash = chain_hash(&prev, &leaf_hash);
                prev = chain_hash;
                ChainLink { leaf_hash, chain_hash }
            })
            .collect()
    }

    #[test]
    fn whole_chain_and_segments_verify() {
        let ledger = LedgerId::new("acme").unwrap();
        let all = links(20, &ledger);
        let last = verify_chain_segment(&genesis(&ledger), Seq(0), &all).unwrap();
        assert_eq!(last, all[19].chain_hash);
        let mid = verify_chain_segment(&all[9].chain_hash, Seq(10), &all[10..]).unwrap();
        assert_eq!(mid, last);
        let empty = verify_chain_segment(&all[3].chain_hash, Seq(4), &[] as &[ChainLink]);
        assert_eq!(empty, Ok(all[3].chain_hash));
    }

    #[test]
    fn tampering_names_the_first_bad_seq() {
        let ledger = LedgerId::new("acme").unwrap();
        let g = genesis(&ledger);
        for bad in [0usize, 7, 19] {
            let mut all = links(20, &ledger);
            let mut b = *all[bad].leaf_hash.as_bytes();
            b[0] ^= 1;
            all[bad].leaf_hash = Hash::from_bytes(b);
            assert_eq!(
                verify_chain_segment(&g, Seq(0), &all),
                Err(VerifyError::ChainMismatch { seq: Seq(bad as u64) })
            );
        }
        // Deleting or reordering an event breaks the link that follows it.
        let mut all = links(20, &ledger);
        all.remove(5);
        assert_eq!(verify_chain_segment(&g, Seq(0), &all), Err(VerifyError::ChainMismatch { seq: Seq(5) }));
        let mut all = links(20, &ledger);
        all.swap(3, 4);
        assert!(verify_chain_segment(&g, Seq(0), &all).is_err());
        // Another ledger's genesis does not verify this ledger's chain.
        let all = links(3, &ledger);
        let other = genesis(&LedgerId::new("acme2").unwrap());
        assert!(verify_chain_segment(&other, Seq(0), &all).is_err());
    }
}
