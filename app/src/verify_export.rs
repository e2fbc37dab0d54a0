//! Verification of an export file in the browser (docs/FORMAT.md §13), with audit-core
//! compiled to WebAssembly: the file dropped on the page and the key pinned in this browser
//! are all it uses. The same checks as `auditstore verify`: the members against the
//! manifest's list and digests, the checkpoint's signature, every row's leaf hash from its
//! content, the chain and the range proof (or each inclusion proof), and the counts. It runs
//! a slice of rows at a time ([`ExportCheck::step`]) so that the page can show progress. The
//! same code runs natively in the tests below.
//!
//! Parquet rows are read from the member's bytes with the same reader as the command line's
//! (audit-core's `parquet` feature), a row group at a time.

use std::io::{Cursor, Read};
use std::str::FromStr as _;

use audit_core::export::{
    check_csv_header, members, CsvRowReader, EventsFormat, ExportVerifier, InclusionLine, Manifest, MemberDigest,
    RangeProofMember, RowHashes,
};
use audit_core::{Hash, VerifierKey, VerifyError};

use crate::verify::Step;

/// The most bytes of a small member (manifest, checkpoint, key, range proof).
const MAX_SMALL_MEMBER: u64 = 1 << 20;

fn step(title: &str, ok: bool, detail: impl Into<String>) -> Step {
    Step { title: title.to_owned(), ok, detail: detail.into() }
}

/// A member's bytes and its digest.
fn member(zip: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str, limit: Option<u64>) -> Result<Vec<u8>, String> {
    let mut file = zip.by_name(name).map_err(|_| format!("the member {name} is missing"))?;
    let mut bytes = Vec::new();
    let read = match limit {
        Some(limit) => (&mut file).take(limit + 1).read_to_end(&mut bytes),
        None => file.read_to_end(&mut bytes),
    };
    read.map_err(|e| format!("the member {name} does not read: {e}"))?;
    if limit.is_some_and(|limit| bytes.len() as u64 > limit) {
        return Err(format!("the member {name} is too large"));
    }
    Ok(bytes)
}

fn digest(bytes: &[u8]) -> MemberDigest {
    MemberDigest { sha256: Hash::digest(bytes), bytes: bytes.len() as u64 }
}

/// The rows of an export as they are read.
enum Rows {
    /// JSON Lines or CSV: the member's text and how far it was read.
    Lines { text: String, pos: usize, csv: Option<Box<CsvRowReader>> },
    /// Parquet, read a row group at a time.
    Parquet(Box<dyn Iterator<Item = Result<RowHashes, VerifyError>>>),
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rows::Lines { pos, csv, .. } => {
                f.debug_struct("Lines").field("pos", pos).field("csv", &csv.is_some()).finish()
            }
            Rows::Parquet(_) => f.write_str("Parquet"),
        }
    }
}

impl Rows {
    /// The next row, `None` after the last.
    fn next(&mut self) -> Option<Result<RowHashes, VerifyError>> {
        match self {
            Rows::Lines { text, pos, csv } => {
                let line = next_line(text, pos)?;
                Some(match csv.as_mut() {
                    Some(reader) => reader.row(line.strip_suffix('\r').unwrap_or(line)),
                    None => RowHashes::from_jsonl(line),
                })
            }
            Rows::Parquet(rows) => rows.next(),
        }
    }
}

/// An export being verified: its rows (and inclusion proofs) unpacked, and the verifier
/// they go through.
#[derive(Debug)]
pub struct ExportCheck {
    /// Taken when the rows are done.
    verifier: Option<ExportVerifier>,
    rows: Rows,
    proofs: Option<String>,
    proof_pos: usize,
    /// Rows verified so far.
    pub done: u64,
    /// Rows the manifest says the file holds.
    pub total: u64,
    /// The steps that passed so far.
    pub steps: Vec<Step>,
}

/// Where a verification stands after a [`ExportCheck::step`].
#[derive(Debug)]
pub enum Progress {
    /// More rows to verify.
    Working,
    /// Every check ran: the steps and whether all passed.
    Finished(Vec<Step>),
}

fn next_line<'a>(text: &'a str, pos: &mut usize) -> Option<&'a str> {
    let rest = text.get(*pos..).filter(|rest| !rest.is_empty())?;
    let (line, advance) = match rest.find('\n') {
        Some(end) => (&rest[..end], end + 1),
        None => (rest, rest.len()),
    };
    *pos += advance;
    Some(line)
}

impl ExportCheck {
    /// Opens `file` and runs every check but the rows', against `pinned_key`. A failure is
    /// returned as the finished steps, the failing one last.
    pub fn open(file: &[u8], pinned_key: &str) -> Result<Self, Vec<Step>> {
        let mut steps = Vec::new();
        match Self::open_steps(file, pinned_key, &mut steps) {
            Ok(check) => Ok(check),
            Err(last) => {
                steps.push(last);
                Err(steps)
            }
        }
    }

    fn open_steps(file: &[u8], pinned_key: &str, steps: &mut Vec<Step>) -> Result<Self, Step> {
        let archive = "Archive and manifest";
        let fail = |what: String| step(archive, false, what);
        let mut zip = zip::ZipArchive::new(Cursor::new(file))
            .map_err(|e| fail(format!("the file is not a readable ZIP archive: {e}")))?;
        let manifest: Manifest =
            serde_json::from_slice(&member(&mut zip, members::MANIFEST, Some(MAX_SMALL_MEMBER)).map_err(&fail)?)
                .map_err(|e| fail(format!("the manifest does not parse: {e}")))?;
        let names = zip
            .file_names()
            .map(|name| name.map(|n| n.into_owned()))
            .collect::<Result<Vec<String>, _>>()
            .map_err(|e| fail(format!("a member name does not read: {e}")))?;
        manifest.check_member_names(&names).map_err(|e| fail(e.to_string()))?;
        let mut checked = |name: &str, limit: Option<u64>| -> Result<Vec<u8>, Step> {
            let bytes = member(&mut zip, name, limit).map_err(&fail)?;
            manifest.check_digest(name, &digest(&bytes)).map_err(|e| fail(e.to_string()))?;
            Ok(bytes)
        };
        let checkpoint = String::from_utf8(checked(members::CHECKPOINT, Some(MAX_SMALL_MEMBER))?)
            .map_err(|_| fail("the checkpoint is not UTF-8".into()))?;
        checked(members::VERIFIER_KEY, Some(MAX_SMALL_MEMBER))?;
        let range_proof: Option<RangeProofMember> = match manifest.filter {
            None => Some(
                serde_json::from_slice(&checked(members::PROOF, Some(MAX_SMALL_MEMBER))?)
                    .map_err(|e| fail(format!("proof.json does not parse: {e}")))?,
            ),
            Some(_) => None,
        };
        let rows = checked(manifest.events_format.member(), None)?;
        let proofs = match manifest.filter {
            Some(_) => Some(
                String::from_utf8(checked(members::INCLUSION, None)?)
                    .map_err(|_| fail("the inclusion proofs are not UTF-8".into()))?,
            ),
            None => None,
        };
        steps.push(step(
            archive,
            true,
            format!(
                "export {} of ledger {}: every member listed, each with the SHA-256 the manifest gives",
                manifest.export_id, manifest.ledger
            ),
        ));

        let key = VerifierKey::from_str(pinned_key.trim())
            .map_err(|e| step("Checkpoint signature", false, format!("the pinned key is not a valid key: {e}")))?;
        let total = manifest.counts.events;
        let verifier = ExportVerifier::new(manifest.clone(), &checkpoint, std::slice::from_ref(&key), range_proof)
            .map_err(|e| step("Checkpoint signature", false, e.to_string()))?;
        steps.push(step(
            "Checkpoint signature",
            true,
            format!("a checkpoint of {} events, signed by the key checked against ({})", manifest.tree_size, key),
        ));
        let mut rows = match manifest.events_format {
            EventsFormat::Parquet => Rows::Parquet(Box::new(
                audit_core::export::parquet_rows(bytes::Bytes::from(rows))
                    .map_err(|e| step("Rows", false, e.to_string()))?,
            )),
            format => Rows::Lines {
                text: String::from_utf8(rows).map_err(|_| step("Rows", false, "the rows are not UTF-8"))?,
                pos: 0,
                csv: (format == EventsFormat::Csv).then(|| Box::new(CsvRowReader::new())),
            },
        };
        if let Rows::Lines { text, pos, csv: Some(_) } = &mut rows {
            let header = next_line(text, pos).unwrap_or("");
            check_csv_header(header.strip_suffix('\r').unwrap_or(header))
                .map_err(|e| step("Rows", false, e.to_string()))?;
        }
        let mut check =
            Self { verifier: Some(verifier), rows, proofs, proof_pos: 0, done: 0, total, steps: Vec::new() };
        check.steps = std::mem::take(steps);
        Ok(check)
    }

    /// Verifies up to `rows` more rows.
    pub fn step(&mut self, rows: usize) -> Progress {
        match self.rows_step(rows) {
            Ok(true) => Progress::Working,
            Ok(false) => self.finish(),
            Err(error) => {
                let mut steps = std::mem::take(&mut self.steps);
                steps.push(step("Rows", false, error.to_string()));
                Progress::Finished(steps)
            }
        }
    }

    fn rows_step(&mut self, rows: usize) -> Result<bool, VerifyError> {
        for _ in 0..rows {
            let Some(row) = self.rows.next() else { return Ok(false) };
            let row = row?;
            let proof = match &self.proofs {
                Some(proofs) => {
                    let text = next_line(proofs, &mut self.proof_pos).ok_or_else(|| {
                        VerifyError::MalformedExport(format!("seq {}: inclusion.jsonl ends before the rows", row.seq()))
                    })?;
                    Some(serde_json::from_str::<InclusionLine>(text).map_err(|e| {
                        VerifyError::MalformedExport(format!("a line of inclusion.jsonl does not parse: {e}"))
                    })?)
                }
                None => None,
            };
            let verifier = self.verifier.as_mut().ok_or_else(|| VerifyError::MalformedExport("finished".into()))?;
            verifier.row(&row, proof.as_ref())?;
            self.done += 1;
        }
        Ok(true)
    }

    fn finish(&mut self) -> Progress {
        let mut steps = std::mem::take(&mut self.steps);
        if let Some(proofs) = &self.proofs {
            if next_line(proofs, &mut self.proof_pos).is_some() {
                steps.push(step("Rows", false, "inclusion.jsonl has more proofs than there are rows"));
                return Progress::Finished(steps);
            }
        }
        let Some(verifier) = self.verifier.take() else { return Progress::Finished(steps) };
        match verifier.finish() {
            Ok(verified) => {
                steps.push(step(
                    "Rows",
                    true,
                    format!(
                        "{} rows ({} tombstones) of seqs {}..{}: each leaf hash recomputed from its content",
                        verified.rows, verified.tombstones, verified.range.start, verified.range.end
                    ),
                ));
                steps.push(step(
                    "Proofs",
                    true,
                    if verified.filtered {
                        "each event's inclusion proof leads to the signed root (a filtered export: each event is proven, the filter's completeness is not)"
                    } else {
                        "the chain re-walked across the range, and the range proof leads to the signed root"
                    },
                ));
            }
            Err(error) => steps.push(step("Rows and proofs", false, error.to_string())),
        }
        Progress::Finished(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors/export")
    }

    fn run(file: &[u8], key: &str) -> Vec<Step> {
        let mut check = match ExportCheck::open(file, key) {
            Ok(check) => check,
            Err(steps) => return steps,
        };
        loop {
            // Small slices, as the page runs them between repaints.
            if let Progress::Finished(steps) = check.step(4) {
                return steps;
            }
        }
    }

    /// The published example exports reach their expected verdicts in the browser's code too.
    #[test]
    fn the_published_example_exports_get_their_expected_verdicts() {
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(vectors().join("expected.json")).expect("test data"))
                .expect("test data");
        for case in expected["cases"].as_array().expect("test data") {
            let file = std::fs::read(vectors().join(case["file"].as_str().expect("test data"))).expect("test data");
            let key = std::fs::read_to_string(vectors().join(case["key_file"].as_str().expect("test data")))
                .expect("test data");
            let steps = run(&file, &key);
            let verified = steps.iter().all(|s| s.ok);
            assert_eq!(verified, case["exit"] == 0, "{}: {steps:?}", case["file"]);
            if let Some(seqs) = case["failing_seqs"].as_array() {
                let range = format!("seqs {}..{}", seqs[0], seqs[1]);
                assert!(steps.last().expect("test data").detail.contains(&range), "{}: {steps:?}", case["file"]);
            } else {
                assert_eq!(steps.len(), 4, "{steps:?}");
                assert!(steps[2].detail.contains("15 rows (0 tombstones) of seqs 0..15"), "{steps:?}");
            }
        }
    }

    #[test]
    fn another_key_a_cut_file_and_another_kind_of_file_fail() {
        let file = std::fs::read(vectors().join("acme-prod.zip")).expect("test data");
        let other = "vectors.auditstore.example+138f3c06+AeAiORM9yj3yU4n4W0TRrJAGFsEB3dLkvZVyS1qZQ6Sj";
        let steps = run(&file, other);
        assert!(
            !steps.last().expect("test data").ok && steps.last().expect("test data").title == "Checkpoint signature",
            "{steps:?}"
        );
        let steps = run(&file[..file.len() / 2], "");
        assert!(!steps.last().expect("test data").ok && steps.len() == 1, "{steps:?}");
        let steps = run(b"c2sp.org/tlog-proof@v1\n", "");
        assert!(steps.last().expect("test data").detail.contains("not a readable ZIP"), "{steps:?}");
    }
}
