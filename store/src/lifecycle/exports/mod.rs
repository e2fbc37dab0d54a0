//! Export files (docs/FORMAT.md §13) written from a ledger: a ZIP holding
//! the rows of a seq range (all of them, or those an explorer filter
//! matches) in JSON Lines or CSV, the proofs (the range proof with the
//! chain hash before the range, or one inclusion proof per row), the signed
//! checkpoint, its verifier key, and a manifest with the digest of every
//! member. The rows stream in windows, so memory does not grow with the
//! export; the export jobs (`runner.rs`) keep the file in sealed chunks.

mod chunks;
mod records;
mod runner;
mod zip_file;

use std::io::Write;
use std::sync::Arc;

use audit_core::export::{EventsFormat, ExportRow, InclusionLine, Manifest, RangeProofMember, SeqRange};
use audit_core::{genesis, OccurredAt};

pub use self::records::{
    ExportFilter, ExportRecord, ExportRequest, ExportStatus, MAX_LISTED, MAX_UNFINISHED_PER_ACCOUNT,
};
pub use self::zip_file::{ExportHead, ExportProof, ExportZip};
use crate::crypto::records::{Dek, Term};
use crate::ledger::events::filter_terms;
use crate::ledger::indexer::event_terms;
use crate::{EventFilter, Ledger, Store, StoreError, StoredEvent};

/// The most rows read and written per round trip.
const WINDOW: u32 = 1_000;
/// The fewest, however large the events.
const MIN_WINDOW: u32 = 16;
/// About how many bytes of events a window holds: with events of up to 64 KiB, a window of
/// [`WINDOW`] rows would hold 64 MiB decrypted (and as much again sealed), so the window
/// shrinks to the events' size as they are read. (4 MiB held 10 MiB more at the peak than 1 MiB
/// exporting 24 KiB events; typical events of a few hundred bytes still read 1,000 a window.)
const WINDOW_BYTES: usize = 1 << 20;

/// The rows of the next window, from the size of the rows of the last.
fn next_window(rows: usize, bytes: usize) -> u32 {
    let average = bytes.checked_div(rows).unwrap_or(0).max(1);
    u32::try_from(WINDOW_BYTES / average).unwrap_or(WINDOW).clamp(MIN_WINDOW, WINDOW)
}

/// What the CLI exports: the seqs `[start, end)`; `end` defaults to the
/// ledger's size at the start of the export.
#[derive(Debug, Clone)]
pub struct ExportSpec {
    /// The export's id, named in its manifest.
    pub id: String,
    pub start: u64,
    pub end: Option<u64>,
    /// The rows' format.
    pub format: EventsFormat,
}

/// Everything an export file is written from, pinned when it was asked
/// for: the same plan writes the same rows and proofs.
#[derive(Debug, Clone)]
pub struct ExportPlan {
    pub id: String,
    /// The seqs `[start, end)` read.
    pub start: u64,
    pub end: u64,
    /// The signed tree size the proofs lead to.
    pub tree_size: u64,
    pub format: EventsFormat,
    /// `None` for a contiguous export.
    pub filter: Option<ExportFilter>,
}

impl ExportPlan {
    /// The plan of a requested export.
    pub fn of(record: &ExportRecord) -> Self {
        Self {
            id: record.id.clone(),
            start: record.start,
            end: record.end,
            tree_size: record.tree_size,
            format: record.format,
            filter: record.filter.clone(),
        }
    }
}

/// How far an export has come: a contiguous export reads its range once and writes the rows
/// it reads; a filtered one writes the rows that match, then reads the range a second time for
/// the inclusion proof of each row it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExportProgress {
    /// Rows read in the rows' pass.
    pub scanned: u64,
    /// Rows written.
    pub written: u64,
    /// Inclusion proofs written (a filtered export's second pass).
    pub proofs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Writing the rows.
    Rows,
    /// A filtered export: reading the range again for the matching rows'
    /// inclusion proofs, which follow the rows in the archive.
    Proofs,
    Done,
}

/// The filter of a filtered export, ready to match rows.
struct Matcher {
    filter: EventFilter,
    terms: Vec<Term>,
    index: Arc<Dek>,
    /// The filter as the manifest records it.
    given: serde_json::Map<String, serde_json::Value>,
}

/// How an export's rows are proven: a contiguous export by its range proof
/// (computed up front), a filtered one by each matching row's inclusion proof.
enum Proving {
    Range(RangeProofMember),
    Filtered(Matcher),
}

impl Matcher {
    fn matches(&self, stored: &StoredEvent) -> bool {
        // A tombstone has no content left to match.
        let Some(event) = &stored.event else { return false };
        let at = event.occurred_at().unix_millis();
        if self.filter.from_ms.is_some_and(|from| at < from) || self.filter.to_ms.is_some_and(|to| at >= to) {
            return false;
        }
        if self.terms.is_empty() {
            return true;
        }
        let have = event_terms(event, &self.index);
        self.terms.iter().all(|term| have.contains(term))
    }
}

/// An export file being written, one window of rows per [`ExportWriter::step`].
pub struct ExportWriter<W: Write> {
    store: Store,
    ledger: Ledger,
    plan: ExportPlan,
    zip: ExportZip<W>,
    created_at: OccurredAt,
    checkpoint: String,
    proving: Proving,
    pass: Pass,
    next: u64,
    scanned: u64,
    /// The rows the next window reads.
    window: u32,
}

impl<W: Write> std::fmt::Debug for ExportWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportWriter").field("plan", &self.plan).field("next", &self.next).finish_non_exhaustive()
    }
}

impl<W: Write> ExportWriter<W> {
    fn matcher(&self) -> Option<&Matcher> {
        match &self.proving {
            Proving::Filtered(matcher) => Some(matcher),
            Proving::Range(_) => None,
        }
    }

    /// How far the export has come.
    pub fn progress(&self) -> ExportProgress {
        ExportProgress { scanned: self.scanned, written: self.zip.rows(), proofs: self.zip.proofs() }
    }

    /// Writes the next window; false once every row (and, for a filtered
    /// export, every inclusion proof) is written.
    pub async fn step(&mut self) -> Result<bool, StoreError> {
        if self.pass == Pass::Done {
            return Ok(false);
        }
        if self.next >= self.plan.end {
            self.pass = match self.pass {
                Pass::Rows if self.matcher().is_some() && self.zip.rows() > 0 => Pass::Proofs,
                _ => Pass::Done,
            };
            self.next = self.plan.start;
            return Ok(self.pass != Pass::Done);
        }
        let window = self.store.events_in_order(&self.ledger.id, self.next, self.plan.end, self.window).await?;
        if window.is_empty() {
            return Err(StoreError::Corrupt("a seq below the ledger's size has no row"));
        }
        let bytes = window.iter().filter_map(|stored| stored.event.as_ref()).map(|e| e.encoded_len()).sum();
        self.window = next_window(window.len(), bytes);
        for stored in window {
            if stored.seq != self.next {
                return Err(StoreError::Corrupt("a seq below the ledger's size has no row"));
            }
            self.next = stored.seq + 1;
            let wanted = self.matcher().is_none_or(|m| m.matches(&stored));
            match self.pass {
                Pass::Rows => {
                    self.scanned += 1;
                    if wanted {
                        self.zip.row(&ExportRow {
                            seq: stored.seq,
                            leaf_hash: stored.leaf_hash,
                            chain_hash: stored.chain_hash,
                            event: stored.event,
                        })?;
                    }
                }
                Pass::Proofs if wanted => {
                    let hashes = self.store.inclusion_proof(&self.ledger, stored.seq, self.plan.tree_size).await?;
                    self.zip.inclusion(&InclusionLine { seq: stored.seq, hashes })?;
                }
                Pass::Proofs | Pass::Done => {}
            }
        }
        Ok(true)
    }

    /// Writes the proofs, checkpoint, key and manifest, and closes the
    /// archive; every [`ExportWriter::step`] must have run.
    pub fn finish(self) -> Result<(Manifest, W), StoreError> {
        if self.pass != Pass::Done {
            return Err(StoreError::Export("the export was finished before all its rows were written".into()));
        }
        let proof = match self.proving {
            Proving::Range(range) => ExportProof::Range(range),
            Proving::Filtered(matcher) => ExportProof::Inclusion {
                range: SeqRange { start: self.plan.start, end: self.plan.end },
                tree_size: self.plan.tree_size,
                filter: matcher.given,
            },
        };
        let head = ExportHead {
            export_id: self.plan.id,
            ledger: self.ledger.id.clone(),
            checkpoint: self.checkpoint,
            verifier_key: self.store.verifier_key().to_string(),
            proof,
        };
        self.zip.finish(head, &self.created_at)
    }
}

impl Store {
    /// Starts writing the export `plan` of `ledger` into `out`. The rows are
    /// read as every read is (each checked against its row), and are proven
    /// against the signed checkpoint of `plan.tree_size`.
    pub async fn export_writer<W: Write>(
        &self,
        ledger: &Ledger,
        plan: ExportPlan,
        out: W,
    ) -> Result<ExportWriter<W>, StoreError> {
        let size = plan.tree_size;
        if plan.start >= plan.end || plan.end > size || size > ledger.tree_size {
            return Err(StoreError::Invalid(format!(
                "the range [{}, {}) is empty or beyond the ledger's {size} events",
                plan.start, plan.end
            )));
        }
        let (checkpoint, _) = self.verified_checkpoint(&ledger.id, Some(size)).await?;
        let proving = match &plan.filter {
            None => {
                let chain_hash_before = self.chain_hash_before(&ledger.id, plan.start).await?;
                let hashes = self.range_proof(ledger, plan.start, plan.end, size).await?;
                let proof = RangeProofMember {
                    kind: "range".into(),
                    start: plan.start,
                    end: plan.end,
                    tree_size: size,
                    chain_hash_before,
                    hashes,
                };
                Proving::Range(proof)
            }
            Some(given) => {
                let filter = given.event_filter()?;
                let index = self.keys.index_key(&ledger.id).await?;
                let terms = filter_terms(&filter, &index);
                Proving::Filtered(Matcher { filter, terms, index, given: given.to_map() })
            }
        };
        let created_at =
            OccurredAt::from_unix_millis(crate::now_ms()).map_err(|e| StoreError::Export(e.to_string()))?;
        let filtered = matches!(proving, Proving::Filtered(_));
        let zip = ExportZip::new(out, &created_at, plan.format, filtered)?;
        Ok(ExportWriter {
            store: self.clone(),
            ledger: ledger.clone(),
            next: plan.start,
            plan,
            zip,
            created_at,
            checkpoint,
            proving,
            pass: Pass::Rows,
            scanned: 0,
            // A first window small enough for the largest events; the next ones fit the size.
            window: MIN_WINDOW * 4,
        })
    }

    /// `chain_hash[start - 1]`, or the ledger's genesis hash when `start`
    /// is 0 (DESIGN §5): where a re-walk of the chain from `start` begins.
    pub(crate) async fn chain_hash_before(
        &self,
        ledger: &audit_core::LedgerId,
        start: u64,
    ) -> Result<audit_core::Hash, StoreError> {
        match start {
            0 => Ok(genesis(ledger)),
            start => self
                .chain_links(ledger, start - 1, start)
                .await?
                .first()
                .map(|link| link.chain_hash)
                .ok_or(StoreError::Corrupt("a seq below the ledger's size has no row")),
        }
    }

    /// Writes the export of `spec` from `ledger` (docs/FORMAT.md §13) to
    /// `out` and returns its manifest: the CLI's export, proven at the
    /// ledger's size as `ledger` was read.
    pub async fn write_export<W: Write>(
        &self,
        ledger: &Ledger,
        spec: &ExportSpec,
        out: W,
    ) -> Result<(Manifest, W), StoreError> {
        let plan = ExportPlan {
            id: spec.id.clone(),
            start: spec.start,
            end: spec.end.unwrap_or(ledger.tree_size),
            tree_size: ledger.tree_size,
            format: spec.format,
            filter: None,
        };
        let mut writer = self.export_writer(ledger, plan, out).await?;
        while writer.step().await? {}
        writer.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_holds_about_a_mebibyte_of_events_within_its_bounds() {
        // Typical events of 400 bytes: the most rows a window reads.
        assert_eq!(next_window(1_000, 400_000), WINDOW);
        // Large events, 16 KiB: 1 MiB of them; the largest, 64 KiB: the fewest rows.
        assert_eq!(next_window(64, 64 * 16_384), 64);
        assert_eq!(next_window(64, 64 * 65_536), MIN_WINDOW);
        // Never fewer than the least, never more than the most (tombstones have no content).
        assert_eq!(next_window(10, 10 << 20), MIN_WINDOW);
        assert_eq!(next_window(500, 0), WINDOW);
        assert_eq!(next_window(0, 0), WINDOW);
    }
}
