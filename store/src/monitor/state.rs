//! Where a walk stands: everything it needs to go on from a verified size
//! without reading, or trusting, the rows below it again.

use audit_core::merkle::CompactRange;
use audit_core::{chain, Hash, LedgerId, TreeSize};

use crate::StoreError;

/// Format byte of an encoded state.
const FORMAT: u8 = 1;

/// A walk's state after `frontier.size()` rows.
#[derive(Debug, Clone)]
pub(crate) struct WalkState {
    /// The chain hash the next row must follow from: the recomputed one
    /// where a row's chain hash was found altered, the stored one
    /// otherwise (so one altered row is reported once, not its successors).
    pub(crate) chain: Hash,
    /// The Merkle frontier of the leaves walked (RFC 9162 §2.1.1): its
    /// completed subtrees are the nodes compared with the stored ones, its
    /// root the one compared with each checkpoint.
    pub(crate) frontier: CompactRange,
    /// The size of the last checkpoint walked past (0 before the first):
    /// the start of the range the next checkpoint covers.
    pub(crate) last_checkpoint: u64,
    /// The lowest seq whose leaf hash is known not to be the signed one
    /// (altered, moved or missing): the Merkle nodes and roots over it
    /// differ as a matter of course, and are not reported again.
    pub(crate) taint_from: Option<u64>,
}

impl WalkState {
    /// The state before the first event of `ledger`.
    pub(crate) fn genesis(ledger: &LedgerId) -> Self {
        Self { chain: chain::genesis(ledger), frontier: CompactRange::default(), last_checkpoint: 0, taint_from: None }
    }

    /// How many rows were walked: the next expected seq.
    pub(crate) fn size(&self) -> u64 {
        self.frontier.size().get()
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let hashes: Vec<Hash> = self.frontier.nodes().map(|(_, hash)| hash).collect();
        let mut out = Vec::with_capacity(1 + 8 + 32 + 8 + 8 + 32 * hashes.len());
        out.push(FORMAT);
        out.extend_from_slice(&self.size().to_be_bytes());
        out.extend_from_slice(self.chain.as_ref());
        out.extend_from_slice(&self.last_checkpoint.to_be_bytes());
        out.extend_from_slice(&self.taint_from.unwrap_or(u64::MAX).to_be_bytes());
        for hash in hashes {
            out.extend_from_slice(hash.as_ref());
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt("a monitor state does not decode");
        let (&format, rest) = bytes.split_first().ok_or_else(corrupt)?;
        if format != FORMAT || rest.len() < 56 || (rest.len() - 56) % 32 != 0 {
            return Err(corrupt());
        }
        let size = u64::from_be_bytes(rest[..8].try_into().map_err(|_| corrupt())?);
        let chain = Hash::try_from(&rest[8..40]).map_err(|_| corrupt())?;
        let last_checkpoint = u64::from_be_bytes(rest[40..48].try_into().map_err(|_| corrupt())?);
        let taint = u64::from_be_bytes(rest[48..56].try_into().map_err(|_| corrupt())?);
        let taint_from = (taint != u64::MAX).then_some(taint);
        let hashes =
            rest[56..].chunks_exact(32).map(Hash::try_from).collect::<Result<Vec<_>, _>>().map_err(|_| corrupt())?;
        let frontier = CompactRange::from_hashes(TreeSize(size), hashes).map_err(|_| corrupt())?;
        Ok(Self { chain, frontier, last_checkpoint, taint_from })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_reads_back_as_written_and_a_damaged_one_is_refused() {
        let ledger = LedgerId::new("ldg_01").expect("id");
        let mut state = WalkState::genesis(&ledger);
        for n in 0..37u8 {
            state.frontier.push(audit_core::hash::leaf_hash(&[n]));
        }
        state.last_checkpoint = 30;
        state.taint_from = Some(12);
        let encoded = state.encode();
        let decoded = WalkState::decode(&encoded).expect("decodes");
        assert_eq!(decoded.size(), 37);
        assert_eq!(decoded.frontier.root(), state.frontier.root());
        assert_eq!(decoded.chain, state.chain);
        assert_eq!(decoded.last_checkpoint, 30);
        assert_eq!(decoded.taint_from, Some(12));
        assert!(WalkState::decode(&encoded[..encoded.len() - 1]).is_err());
        let mut wrong_size = encoded.clone();
        wrong_size[8] ^= 1;
        assert!(WalkState::decode(&wrong_size).is_err());
    }
}
