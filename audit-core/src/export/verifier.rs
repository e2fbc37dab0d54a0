//! Verification of an export's rows as they stream by (docs/FORMAT.md §13), in memory that
//! does not grow with the export: each row's leaf hash recomputed from its content, the chain
//! re-walked across a contiguous range and its leaves checked against the signed root with the
//! range proof, or each event of a filtered export checked with its inclusion proof.

use crate::chain::{chain_hash, genesis};
use crate::checkpoint::{origin_names_ledger, Checkpoint};
use crate::error::VerifyError;
use crate::hash::Hash;
use crate::ids::{LedgerId, TreeSize};
use crate::merkle::{verify_inclusion, StreamingRange};
use crate::note::VerifierKey;

use super::manifest::{Manifest, SeqRange, EXPORT_FORMAT_V1};
use super::rows::{InclusionLine, RangeProofMember, RowHashes};

/// What a verified export proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedExport {
    /// The ledger.
    pub ledger: LedgerId,
    /// The checkpoint origin.
    pub origin: String,
    /// The signed tree size the rows are proven in.
    pub tree_size: TreeSize,
    /// The seqs covered.
    pub range: SeqRange,
    /// Rows verified, tombstones included.
    pub rows: u64,
    /// Tombstones among them.
    pub tombstones: u64,
    /// Whether the export was filtered (each event proven on its own; completeness of the
    /// filter's result is not provable).
    pub filtered: bool,
}

#[derive(Debug)]
enum Mode {
    /// A contiguous range: the chain so far and the range's leaves so far.
    Range { chain: Hash, leaves: StreamingRange, proof: Vec<Hash> },
    /// A filtered export: each row with its own inclusion proof.
    Inclusion { last: Option<u64> },
}

/// Verifies an export's rows one by one; see the module docs.
#[derive(Debug)]
pub struct ExportVerifier {
    manifest: Manifest,
    ledger: LedgerId,
    checkpoint: Checkpoint,
    mode: Mode,
    next: u64,
    rows: u64,
    tombstones: u64,
}

fn malformed(why: impl Into<String>) -> VerifyError {
    VerifyError::MalformedExport(why.into())
}

fn mismatch(start: u64, end: u64, what: impl Into<String>) -> VerifyError {
    VerifyError::ExportMismatch { start, end, what: what.into() }
}

impl ExportVerifier {
    /// Checks the manifest against the signed checkpoint (verified with `keys`) and the proof
    /// member, and gets ready for the rows. `range_proof` is `proof.json`, required exactly when
    /// the export is not filtered.
    pub fn new(
        manifest: Manifest,
        checkpoint: &str,
        keys: &[VerifierKey],
        range_proof: Option<RangeProofMember>,
    ) -> Result<Self, VerifyError> {
        if manifest.format != EXPORT_FORMAT_V1 {
            return Err(malformed(format!("the manifest's format is {:?}, not {EXPORT_FORMAT_V1:?}", manifest.format)));
        }
        let ledger =
            LedgerId::new(manifest.ledger.clone()).map_err(|e| malformed(format!("the manifest's ledger: {e}")))?;
        if !origin_names_ledger(&manifest.origin, ledger.as_str()) {
            return Err(malformed(format!("the origin {:?} does not name ledger {ledger}", manifest.origin)));
        }
        let checkpoint = Checkpoint::open_for_origin(checkpoint, keys, &manifest.origin)?;
        if checkpoint.size().get() != manifest.tree_size {
            return Err(malformed(format!(
                "the manifest says tree size {}, the checkpoint is of {}",
                manifest.tree_size,
                checkpoint.size()
            )));
        }
        let SeqRange { start, end } = manifest.range;
        if start >= end || end > manifest.tree_size {
            return Err(malformed(format!(
                "the range [{start}, {end}) is empty or beyond tree size {}",
                manifest.tree_size
            )));
        }
        let mode = match (&manifest.filter, range_proof) {
            (None, Some(proof)) => {
                if proof.kind != "range"
                    || (proof.start, proof.end, proof.tree_size) != (start, end, manifest.tree_size)
                {
                    return Err(malformed(format!(
                        "proof.json is a {:?} proof of [{}, {}) at size {}, the manifest covers [{start}, {end}) at size {}",
                        proof.kind, proof.start, proof.end, proof.tree_size, manifest.tree_size
                    )));
                }
                if start == 0 && proof.chain_hash_before != genesis(&ledger) {
                    return Err(mismatch(0, 1, "the chain hash before seq 0 is not the ledger's genesis hash"));
                }
                let leaves = StreamingRange::new(start, end, checkpoint.size())?;
                Mode::Range { chain: proof.chain_hash_before, leaves, proof: proof.hashes }
            }
            (Some(_), None) => Mode::Inclusion { last: None },
            (None, None) => return Err(malformed("a contiguous export needs proof.json")),
            (Some(_), Some(_)) => return Err(malformed("a filtered export carries inclusion proofs, not proof.json")),
        };
        Ok(Self { manifest, ledger, checkpoint, mode, next: start, rows: 0, tombstones: 0 })
    }

    /// The manifest being verified against.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Verifies the next row; a filtered export gives its inclusion proof with it.
    pub fn row(&mut self, row: &RowHashes, inclusion: Option<&InclusionLine>) -> Result<(), VerifyError> {
        let (seq, leaf_hash) = (row.seq(), row.leaf_hash());
        let SeqRange { start, end } = self.manifest.range;
        match row.content_leaf() {
            Some(content) if !content.ct_eq(&leaf_hash) => {
                return Err(mismatch(seq, seq + 1, "the content does not hash to its leaf hash (an altered field)"));
            }
            Some(_) => {}
            None => self.tombstones += 1,
        }
        match &mut self.mode {
            Mode::Range { chain, leaves, .. } => {
                if seq != self.next {
                    let (lo, hi) = (self.next.min(seq), self.next.max(seq).saturating_add(1));
                    return Err(mismatch(
                        lo,
                        hi,
                        format!("expected seq {}, found seq {seq} (rows missing, added or out of order)", self.next),
                    ));
                }
                let link = chain_hash(chain, &leaf_hash);
                if !link.ct_eq(&row.chain_hash()) {
                    return Err(mismatch(
                        seq,
                        seq + 1,
                        "the chain breaks: the chain hash is not SHA-256(0x02 || previous || leaf)",
                    ));
                }
                *chain = link;
                leaves
                    .push(leaf_hash)
                    .map_err(|_| mismatch(seq, seq + 1, format!("a row beyond the range [{start}, {end})")))?;
            }
            Mode::Inclusion { last } => {
                if seq < start || seq >= end || last.is_some_and(|l| seq <= l) {
                    return Err(mismatch(
                        seq,
                        seq + 1,
                        format!("seq {seq} is out of order or outside [{start}, {end})"),
                    ));
                }
                *last = Some(seq);
                let proof = inclusion.filter(|p| p.seq == seq).ok_or_else(|| {
                    mismatch(seq, seq + 1, "the inclusion proofs are not one per event in the events' order")
                })?;
                verify_inclusion(seq, self.checkpoint.size(), &leaf_hash, &proof.hashes, self.checkpoint.root())
                    .map_err(|e| {
                        mismatch(seq, seq + 1, format!("the inclusion proof does not lead to the signed root: {e}"))
                    })?;
            }
        }
        self.next = seq.saturating_add(1);
        self.rows += 1;
        Ok(())
    }

    /// Ends the verification: the counts as the manifest says and, for a contiguous range,
    /// every row present and the range proof leading to the signed root.
    pub fn finish(self) -> Result<VerifiedExport, VerifyError> {
        let SeqRange { start, end } = self.manifest.range;
        let counts = self.manifest.counts;
        if let Mode::Range { leaves, proof, .. } = &self.mode {
            if self.rows != end - start {
                return Err(mismatch(
                    self.next,
                    end,
                    format!("{} rows of [{start}, {end}) are missing", end - self.next),
                ));
            }
            leaves
                .verify(proof, self.checkpoint.root())
                .map_err(|e| mismatch(start, end, format!("the range's leaves do not lead to the signed root: {e}")))?;
        }
        if (self.rows, self.tombstones) != (counts.events, counts.tombstones) {
            return Err(malformed(format!(
                "the manifest counts {} rows ({} tombstones), the file holds {} ({})",
                counts.events, counts.tombstones, self.rows, self.tombstones
            )));
        }
        Ok(VerifiedExport {
            ledger: self.ledger,
            origin: self.manifest.origin.clone(),
            tree_size: self.checkpoint.size(),
            range: self.manifest.range,
            rows: self.rows,
            tombstones: self.tombstones,
            filtered: matches!(self.mode, Mode::Inclusion { .. }),
        })
    }
}
