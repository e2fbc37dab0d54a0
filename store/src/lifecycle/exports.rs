//! Export files (docs/FORMAT.md §13) written from a ledger: a ZIP holding
//! the rows of a seq range in JSON Lines, the range proof with the chain
//! hash before the range, the signed checkpoint, its verifier key, and a
//! manifest with the digest of every member. The rows stream in windows, so
//! memory does not grow with the export.

use std::collections::BTreeMap;
use std::io::{Seek, Write};

use audit_core::export::{
    members, Counts, EventsFormat, ExportRow, Manifest, MemberDigest, RangeProofMember, SeqRange, EXPORT_FORMAT_V1,
};
use audit_core::{genesis, Checkpoint, Hash, OccurredAt};
use sha2::{Digest as _, Sha256};
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

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
}

fn io(error: impl std::fmt::Display) -> StoreError {
    StoreError::Export(error.to_string())
}

/// The member being written, with its digest and length kept as it goes.
struct Member<'a, W: Write + Seek> {
    zip: &'a mut ZipWriter<W>,
    hasher: Sha256,
    bytes: u64,
}

impl<'a, W: Write + Seek> Member<'a, W> {
    fn start(zip: &'a mut ZipWriter<W>, name: &str) -> Result<Self, StoreError> {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true)
            .unix_permissions(0o644);
        zip.start_file(name, options).map_err(io)?;
        Ok(Self { zip, hasher: Sha256::new(), bytes: 0 })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.zip.write_all(bytes).map_err(io)?;
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn finish(self) -> MemberDigest {
        MemberDigest { sha256: Hash::from_bytes(self.hasher.finalize().into()), bytes: self.bytes }
    }
}

fn whole<W: Write + Seek>(zip: &mut ZipWriter<W>, name: &str, bytes: &[u8]) -> Result<MemberDigest, StoreError> {
    let mut member = Member::start(zip, name)?;
    member.write(bytes)?;
    Ok(member.finish())
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
        let note = self.checkpoint(&ledger.id, Some(size)).await?;
        let checkpoint = Checkpoint::open(&note, &[self.verifier_key()]).map_err(|_| {
            StoreError::Integrity(format!("the checkpoint of ledger {} at size {size} does not verify", ledger.id))
        })?;
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

        let mut zip = ZipWriter::new(out);
        let mut digests = BTreeMap::new();
        let mut counts = Counts::default();
        let mut events = Member::start(&mut zip, members::EVENTS_JSONL)?;
        let mut next = spec.start;
        while next < end {
            let window = self.events_in_order(&ledger.id, next, end, WINDOW).await?;
            if window.is_empty() {
                return Err(StoreError::Corrupt("a seq below the ledger's size has no row"));
            }
            for stored in window {
                if stored.seq != next {
                    return Err(StoreError::Corrupt("the ledger's seqs have a gap"));
                }
                counts.events += 1;
                counts.tombstones += u64::from(stored.event.is_none());
                let row = ExportRow {
                    seq: stored.seq,
                    leaf_hash: stored.leaf_hash,
                    chain_hash: stored.chain_hash,
                    event: stored.event,
                };
                let line = row.to_jsonl().map_err(|e| StoreError::Export(e.to_string()))?;
                events.write(line.as_bytes())?;
                events.write(b"\n")?;
                next += 1;
            }
        }
        digests.insert(members::EVENTS_JSONL.to_owned(), events.finish());
        let range = RangeProofMember {
            kind: "range".into(),
            start: spec.start,
            end,
            tree_size: size,
            chain_hash_before,
            hashes: proof,
        };
        let range = serde_json::to_vec_pretty(&range).map_err(io)?;
        digests.insert(members::PROOF.to_owned(), whole(&mut zip, members::PROOF, &range)?);
        digests.insert(members::CHECKPOINT.to_owned(), whole(&mut zip, members::CHECKPOINT, note.as_bytes())?);
        let key = format!("{}\n", self.verifier_key());
        digests.insert(members::VERIFIER_KEY.to_owned(), whole(&mut zip, members::VERIFIER_KEY, key.as_bytes())?);
        let manifest = Manifest {
            format: EXPORT_FORMAT_V1.into(),
            export_id: spec.id.clone(),
            ledger: ledger.id.to_string(),
            origin: checkpoint.origin().to_owned(),
            created_at: OccurredAt::from_unix_millis(crate::now_ms()).map(|t| t.as_str().to_owned()).map_err(io)?,
            events_format: EventsFormat::Jsonl,
            range: SeqRange { start: spec.start, end },
            filter: None,
            tree_size: size,
            counts,
            members: digests,
        };
        let text = serde_json::to_vec_pretty(&manifest).map_err(io)?;
        whole(&mut zip, members::MANIFEST, &text)?;
        let out = zip.finish().map_err(io)?;
        Ok((manifest, out))
    }
}
