//! An archive file: an export file (docs/FORMAT.md §13, §14) of exactly
//! the events one archival removes, written from the batch in memory. A
//! batch of consecutive seqs is a contiguous export (range proof, chain
//! re-walked from the hash before it); a batch with gaps (events kept by a
//! hold, or not yet expired, in between) carries an inclusion proof per
//! event, with the selection described in the manifest's `filter`.

use audit_core::export::{EventsFormat, ExportRow, InclusionLine, Manifest, RangeProofMember, SeqRange};
use audit_core::OccurredAt;

use crate::lifecycle::exports::{ExportHead, ExportProof, ExportZip};
use crate::{Ledger, Store, StoreError, StoredEvent};

/// Whether `events` (in seq order) are consecutive seqs.
pub(super) fn consecutive(events: &[StoredEvent]) -> bool {
    events.windows(2).all(|pair| pair[1].seq == pair[0].seq + 1)
}

/// The maximal runs `[start, end)` of consecutive seqs in `events`.
pub(super) fn runs(events: &[StoredEvent]) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for event in events {
        match runs.last_mut() {
            Some((_, end)) if *end == event.seq => *end += 1,
            _ => runs.push((event.seq, event.seq + 1)),
        }
    }
    runs
}

impl Store {
    /// Writes the archive file `id` of `events` (non-empty, in seq order,
    /// every one with content), proven at `tree_size`; `cutoff_ms` is the
    /// `occurred_at` they were all before. Returns the manifest and the bytes.
    pub(super) async fn archive_file(
        &self,
        ledger: &Ledger,
        id: &str,
        tree_size: u64,
        events: &[StoredEvent],
        cutoff_ms: i64,
    ) -> Result<(Manifest, Vec<u8>), StoreError> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Err(StoreError::Export("an archive file needs events".into()));
        };
        let (start, end) = (first.seq, last.seq + 1);
        let (checkpoint, _) = self.verified_checkpoint(&ledger.id, Some(tree_size)).await?;
        let created_at =
            OccurredAt::from_unix_millis(crate::now_ms()).map_err(|e| StoreError::Export(e.to_string()))?;
        let contiguous = consecutive(events);
        let mut zip = ExportZip::new(Vec::new(), &created_at, EventsFormat::Jsonl, !contiguous)?;
        for stored in events {
            if stored.event.is_none() {
                return Err(StoreError::Export(format!("seq {} is a tombstone already", stored.seq)));
            }
            zip.row(&ExportRow {
                seq: stored.seq,
                leaf_hash: stored.leaf_hash,
                chain_hash: stored.chain_hash,
                event: stored.event.clone(),
            })?;
        }
        let proof = if contiguous {
            let chain_hash_before = self.chain_hash_before(&ledger.id, start).await?;
            let hashes = self.range_proof(ledger, start, end, tree_size).await?;
            ExportProof::Range(RangeProofMember {
                kind: "range".into(),
                start,
                end,
                tree_size,
                chain_hash_before,
                hashes,
            })
        } else {
            for stored in events {
                let hashes = self.inclusion_proof(ledger, stored.seq, tree_size).await?;
                zip.inclusion(&InclusionLine { seq: stored.seq, hashes })?;
            }
            let before = OccurredAt::from_unix_millis(cutoff_ms).map_err(|e| StoreError::Export(e.to_string()))?;
            let mut filter = serde_json::Map::new();
            filter.insert("archived_before".into(), before.as_str().into());
            ExportProof::Inclusion { range: SeqRange { start, end }, tree_size, filter }
        };
        let head = ExportHead {
            export_id: id.to_owned(),
            ledger: ledger.id.clone(),
            checkpoint,
            verifier_key: self.verifier_key().to_string(),
            proof,
        };
        zip.finish(head, &created_at)
    }
}
