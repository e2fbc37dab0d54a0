//! The ZIP container of an export (docs/FORMAT.md §13): the rows streamed
//! into the events member with its digest kept as it goes, then (for a
//! filtered export) the inclusion proofs, then the proof, checkpoint, key
//! and manifest members. The archive is written front to back, sizes and
//! CRCs in data descriptors, so it streams into any writer.

use std::collections::BTreeMap;
use std::io::Write;

use audit_core::export::{
    csv_header_line, members, Counts, EventsFormat, ExportRow, InclusionLine, Manifest, MemberDigest,
    ParquetRowsWriter, RangeProofMember, SeqRange, EXPORT_FORMAT_V1,
};
use audit_core::{Checkpoint, Hash, LedgerId, OccurredAt, SignedNote};
use sha2::{Digest as _, Sha256};
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::ZipWriter;

use crate::StoreError;

fn io(error: impl std::fmt::Display) -> StoreError {
    StoreError::Export(error.to_string())
}

/// What an export's members besides its rows hold.
#[derive(Debug, Clone)]
pub struct ExportHead {
    pub export_id: String,
    pub ledger: LedgerId,
    /// The signed checkpoint the proof leads to, verbatim.
    pub checkpoint: String,
    /// The verifier key of that checkpoint, as this server publishes it.
    pub verifier_key: String,
    pub proof: ExportProof,
}

/// The proof material of an export.
#[derive(Debug, Clone)]
pub enum ExportProof {
    /// A contiguous export: the range proof of its seqs, in `proof.json`.
    Range(RangeProofMember),
    /// A filtered export of the seqs it read, at `tree_size`: its rows'
    /// inclusion proofs were written into `inclusion.jsonl`.
    Inclusion { range: SeqRange, tree_size: u64, filter: serde_json::Map<String, serde_json::Value> },
}

/// An export ZIP being written. Every member carries the export's time, so
/// the same export writes the same bytes.
pub struct ExportZip<W: Write> {
    zip: ZipWriter<StreamWriter<W>>,
    format: EventsFormat,
    options: SimpleFileOptions,
    hasher: Sha256,
    bytes: u64,
    counts: Counts,
    next: Option<u64>,
    /// Whether rows may skip seqs (a filtered export).
    gaps: bool,
    /// The events member's digest once the inclusion proofs follow it.
    rows_digest: Option<MemberDigest>,
    /// Inclusion proofs written, and the seq each must be for.
    proofs: u64,
    /// The Parquet rows being written, until the rows member closes.
    parquet: Option<ParquetRowsWriter>,
}

impl<W: Write> std::fmt::Debug for ExportZip<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportZip").field("counts", &self.counts).field("bytes", &self.bytes).finish_non_exhaustive()
    }
}

/// The ZIP time of `at` (`YYYY-MM-DDTHH:MM:SS.sssZ`); MS-DOS time starts in
/// 1980, so earlier times are written as its start.
fn zip_time(at: &OccurredAt) -> zip::DateTime {
    let t = at.as_str();
    let num = |range: std::ops::Range<usize>| t.get(range).and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
    let part = |range| u8::try_from(num(range)).unwrap_or(0);
    zip::DateTime::from_date_and_time(num(0..4), part(5..7), part(8..10), part(11..13), part(14..16), part(17..19))
        .unwrap_or_default()
}

impl<W: Write> ExportZip<W> {
    /// Starts the archive, made at `created_at`, with its rows member in
    /// `format`; a `filtered` export's rows may skip seqs.
    pub fn new(out: W, created_at: &OccurredAt, format: EventsFormat, filtered: bool) -> Result<Self, StoreError> {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true)
            .unix_permissions(0o644)
            .last_modified_time(zip_time(created_at));
        let mut zip = ZipWriter::new_stream(out);
        // Parquet compresses its own pages: stored as it is.
        let rows_options = match format {
            EventsFormat::Parquet => options.compression_method(zip::CompressionMethod::Stored),
            EventsFormat::Jsonl | EventsFormat::Csv => options,
        };
        zip.start_file(format.member(), rows_options).map_err(io)?;
        let parquet = match format {
            EventsFormat::Parquet => Some(ParquetRowsWriter::new().map_err(io)?),
            EventsFormat::Jsonl | EventsFormat::Csv => None,
        };
        let mut this = Self {
            zip,
            format,
            options,
            hasher: Sha256::new(),
            bytes: 0,
            counts: Counts::default(),
            next: None,
            gaps: filtered,
            rows_digest: None,
            proofs: 0,
            parquet,
        };
        if format == EventsFormat::Csv {
            let header = csv_header_line().map_err(io)?;
            this.write(header.as_bytes())?;
        }
        Ok(this)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.zip.write_all(bytes).map_err(io)?;
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Appends the next row; rows come in seq order, without gaps unless
    /// the export is filtered.
    pub fn row(&mut self, row: &ExportRow) -> Result<(), StoreError> {
        if self.rows_digest.is_some() {
            return Err(StoreError::Export("a row after the inclusion proofs began".into()));
        }
        let in_order = match self.next {
            None => true,
            Some(next) if self.gaps => row.seq >= next,
            Some(next) => row.seq == next,
        };
        if !in_order {
            return Err(StoreError::Corrupt("the ledger's seqs have a gap"));
        }
        self.next = Some(row.seq + 1);
        self.counts.events += 1;
        self.counts.tombstones += u64::from(row.event.is_none());
        match self.format {
            EventsFormat::Jsonl => {
                let line = row.to_jsonl().map_err(io)?;
                self.write(line.as_bytes())?;
                self.write(b"\n")
            }
            EventsFormat::Csv => {
                let record = row.to_csv().map_err(io)?;
                self.write(record.as_bytes())
            }
            EventsFormat::Parquet => {
                let parquet = self.parquet.as_mut().ok_or_else(|| StoreError::Export("no Parquet writer".into()))?;
                parquet.push(row).map_err(io)?;
                let bytes = parquet.take_bytes();
                self.write(&bytes)
            }
        }
    }

    /// Writes what the rows member still holds back (Parquet's last row
    /// group and footer).
    fn close_rows(&mut self) -> Result<(), StoreError> {
        if let Some(parquet) = self.parquet.take() {
            let bytes = parquet.finish().map_err(io)?;
            self.write(&bytes)?;
        }
        Ok(())
    }

    /// Closes the events member and appends the inclusion proof of the
    /// next row written (a filtered export's proofs follow its rows, one
    /// per row in the same order).
    pub fn inclusion(&mut self, line: &InclusionLine) -> Result<(), StoreError> {
        if !self.gaps {
            return Err(StoreError::Export("a contiguous export carries a range proof, not inclusion proofs".into()));
        }
        if self.rows_digest.is_none() {
            self.close_rows()?;
            let rows = std::mem::take(&mut self.hasher);
            self.rows_digest =
                Some(MemberDigest { sha256: Hash::from_bytes(rows.finalize().into()), bytes: self.bytes });
            self.bytes = 0;
            self.zip.start_file(members::INCLUSION, self.options).map_err(io)?;
        }
        if self.proofs >= self.counts.events {
            return Err(StoreError::Export("more inclusion proofs than rows".into()));
        }
        self.proofs += 1;
        let mut text = serde_json::to_vec(line).map_err(io)?;
        text.push(b'\n');
        self.write(&text)
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.counts.events
    }

    /// Inclusion proofs written so far.
    pub fn proofs(&self) -> u64 {
        self.proofs
    }

    fn whole(&mut self, name: &str, bytes: &[u8]) -> Result<MemberDigest, StoreError> {
        self.zip.start_file(name, self.options).map_err(io)?;
        self.zip.write_all(bytes).map_err(io)?;
        Ok(MemberDigest { sha256: Hash::digest(bytes), bytes: bytes.len() as u64 })
    }

    /// Writes the other members and the manifest, and closes the archive.
    pub fn finish(mut self, head: ExportHead, created_at: &OccurredAt) -> Result<(Manifest, W), StoreError> {
        if self.rows_digest.is_none() {
            self.close_rows()?;
        }
        let body = SignedNote::parse(&head.checkpoint).map_err(io)?;
        let origin = Checkpoint::parse_body(body.unverified_text()).map_err(io)?.origin().to_owned();
        let mut digests = BTreeMap::new();
        let last = std::mem::take(&mut self.hasher);
        let last = MemberDigest { sha256: Hash::from_bytes(last.finalize().into()), bytes: self.bytes };
        let (range, tree_size, filter) = match head.proof {
            ExportProof::Range(proof) => {
                if self.gaps {
                    return Err(StoreError::Export("a filtered export carries inclusion proofs".into()));
                }
                digests.insert(self.format.member().to_owned(), last);
                let text = serde_json::to_vec_pretty(&proof).map_err(io)?;
                digests.insert(members::PROOF.to_owned(), self.whole(members::PROOF, &text)?);
                (SeqRange { start: proof.start, end: proof.end }, proof.tree_size, None)
            }
            ExportProof::Inclusion { range, tree_size, filter } => {
                if self.proofs != self.counts.events {
                    return Err(StoreError::Export(format!(
                        "{} inclusion proofs for {} rows",
                        self.proofs, self.counts.events
                    )));
                }
                let rows = match self.rows_digest {
                    Some(rows) => rows,
                    // No row matched: the events member is empty, and so
                    // is the proofs member.
                    None => {
                        self.zip.start_file(members::INCLUSION, self.options).map_err(io)?;
                        last
                    }
                };
                let proofs = if self.rows_digest.is_some() {
                    last
                } else {
                    MemberDigest { sha256: Hash::digest(b""), bytes: 0 }
                };
                digests.insert(self.format.member().to_owned(), rows);
                digests.insert(members::INCLUSION.to_owned(), proofs);
                (range, tree_size, Some(filter))
            }
        };
        digests.insert(members::CHECKPOINT.to_owned(), self.whole(members::CHECKPOINT, head.checkpoint.as_bytes())?);
        let key = format!("{}\n", head.verifier_key.trim_end());
        digests.insert(members::VERIFIER_KEY.to_owned(), self.whole(members::VERIFIER_KEY, key.as_bytes())?);
        let manifest = Manifest {
            format: EXPORT_FORMAT_V1.into(),
            export_id: head.export_id,
            ledger: head.ledger.to_string(),
            origin,
            created_at: created_at.as_str().to_owned(),
            events_format: self.format,
            range,
            filter,
            tree_size,
            counts: self.counts,
            members: digests,
        };
        let text = serde_json::to_vec_pretty(&manifest).map_err(io)?;
        self.whole(members::MANIFEST, &text)?;
        let out = self.zip.finish().map_err(io)?;
        Ok((manifest, out.into_inner()))
    }
}
