//! Export files (docs/FORMAT.md §13) written from a ledger: a ZIP holding
//! the rows of a seq range in JSON Lines, the range proof with the chain
//! hash before the range, the signed checkpoint, its verifier key, and a
//! manifest with the digest of every member. The rows stream in windows, so
//! memory does not grow with the export.

mod zip_file;

use std::io::{Seek, Write};

use audit_core::export::{EventsFormat, ExportRow, Manifest, RangeProofMember};
use audit_core::{genesis, OccurredAt};

pub use self::zip_file::{ExportHead, ExportZip};
use crate::{Ledger, Store, StoreError};

/// Rows read and written per round trip.
const WINDOW: u32 = 1_000;

/// What to export: the seqs `[start, end)`; `end` defaults to the ledger's
/// size at the start of the export.
#[derive(Debug, Clone)]
pub struct ExportSpec {
    /// The export's id, named in its manifest.
    pub id: String,
    pub start: u64,
    pub end: Option<u64>,
    /// The rows' format.
    pub format: EventsFormat,
}

impl Store {
    /// Writes the export of `spec` from `ledger` (docs/FORMAT.md §13) to
    /// `out` and returns its manifest. The rows are read as every read is
    /// (each checked against its row), and are proven against the signed
    /// checkpoint of the ledger's size as `ledger` was read.
    pub async fn write_export<W: Write + Seek>(
        &self,
        ledger: &Ledger,
        spec: &ExportSpec,
        out: W,
    ) -> Result<(Manifest, W), StoreError> {
        let size = ledger.tree_size;
        let end = spec.end.unwrap_or(size);
        if spec.start >= end || end > size {
            return Err(StoreError::Invalid(format!(
                "the range [{}, {end}) is empty or beyond the ledger's {size} events",
                spec.start
            )));
        }
        let (note, _) = self.verified_checkpoint(&ledger.id, Some(size)).await?;
        let chain_hash_before = match spec.start {
            0 => genesis(&ledger.id),
            start => self
                .chain_links(&ledger.id, start - 1, start)
                .await?
                .first()
                .map(|link| link.chain_hash)
                .ok_or(StoreError::Corrupt("a seq below the ledger's size has no row"))?,
        };
        let proof = self.range_proof(ledger, spec.start, end, size).await?;

        let created_at =
            OccurredAt::from_unix_millis(crate::now_ms()).map_err(|e| StoreError::Export(e.to_string()))?;
        let mut zip = ExportZip::new(out, &created_at, spec.format)?;
        let mut next = spec.start;
        while next < end {
            let window = self.events_in_order(&ledger.id, next, end, WINDOW).await?;
            if window.first().is_none_or(|first| first.seq != next) {
                return Err(StoreError::Corrupt("a seq below the ledger's size has no row"));
            }
            for stored in window {
                next = stored.seq + 1;
                zip.row(&ExportRow {
                    seq: stored.seq,
                    leaf_hash: stored.leaf_hash,
                    chain_hash: stored.chain_hash,
                    event: stored.event,
                })?;
            }
        }
        let head = ExportHead {
            export_id: spec.id.clone(),
            ledger: ledger.id.clone(),
            checkpoint: note,
            verifier_key: self.verifier_key().to_string(),
            range_proof: RangeProofMember {
                kind: "range".into(),
                start: spec.start,
                end,
                tree_size: size,
                chain_hash_before,
                hashes: proof,
            },
        };
        zip.finish(head, &created_at)
    }
}
