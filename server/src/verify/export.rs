//! Export files (docs/FORMAT.md §13): the ZIP's members checked against the
//! manifest's digests, and the rows streamed through audit-core's
//! [`ExportVerifier`] (leaf hashes from content, the chain, the range proof
//! to the signed root), in memory that does not grow with the export.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::str::FromStr as _;

use audit_core::export::{
    check_csv_header, members, CsvRowReader, EventsFormat, ExportVerifier, InclusionLine, Manifest, MemberDigest,
    RangeProofMember, RowHashes,
};
use audit_core::{Hash, VerifierKey, VerifyError};
use sha2::{Digest as _, Sha256};
use zip::ZipArchive;

use super::{checkpoint_failure, failed, key_name, say, trusted_key, unusable, Verdict};
use crate::config::VerifyArgs;

/// The most bytes a small member (manifest, checkpoint, key, range proof) may hold.
const MAX_SMALL_MEMBER: u64 = 1 << 20;
/// The longest row line: an event of at most 64 KiB of canonical JSON, escaped, with its hashes.
const MAX_LINE: u64 = 1 << 20;

/// A failure, or the input being unusable, as the verdict needs it.
enum Stop {
    Failed(String),
    Unusable(String),
}

fn fail(what: impl Into<String>) -> Stop {
    Stop::Failed(what.into())
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Self { inner, hasher: Sha256::new(), bytes: 0 }
    }

    fn digest(self) -> MemberDigest {
        MemberDigest { sha256: Hash::from_bytes(self.hasher.finalize().into()), bytes: self.bytes }
    }
}

/// A temporary file readable by its owner only (it holds event content),
/// removed when dropped.
struct Spill {
    path: std::path::PathBuf,
    file: File,
}

impl Spill {
    fn create() -> Result<Self, Stop> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let name =
            format!("auditstore-verify-{}-{}.parquet", std::process::id(), hex::encode(rand::random::<[u8; 8]>()));
        let path = std::env::temp_dir().join(name);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Stop::Unusable(format!("cannot create a temporary file in {}: {e}", path.display())))?;
        Ok(Self { path, file })
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn open(path: &Path) -> Result<ZipArchive<BufReader<File>>, Stop> {
    let file = File::open(path).map_err(|e| Stop::Unusable(format!("cannot read {}: {e}", path.display())))?;
    ZipArchive::new(BufReader::new(file)).map_err(|e| fail(format!("the file is not a readable ZIP archive: {e}")))
}

/// Reads a small member whole and checks it against the manifest's digest (the manifest itself
/// has none).
fn small(zip: &mut ZipArchive<BufReader<File>>, name: &str, manifest: Option<&Manifest>) -> Result<Vec<u8>, Stop> {
    let member = zip.by_name(name).map_err(|_| fail(format!("the member {name} is missing")))?;
    let mut reader = Hashing::new(member.take(MAX_SMALL_MEMBER + 1));
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|e| fail(format!("the member {name} does not read: {e}")))?;
    if bytes.len() as u64 > MAX_SMALL_MEMBER {
        return Err(fail(format!("the member {name} is larger than {MAX_SMALL_MEMBER} bytes")));
    }
    if let Some(manifest) = manifest {
        check_digest(manifest, name, reader.digest())?;
    }
    Ok(bytes)
}

fn check_digest(manifest: &Manifest, name: &str, got: MemberDigest) -> Result<(), Stop> {
    manifest.check_digest(name, &got).map_err(|e| fail(e.to_string()))
}

/// Reads one line of at most [`MAX_LINE`] bytes; `None` at the end of the member.
fn next_line(reader: &mut impl BufRead, line: &mut Vec<u8>, member: &str) -> Result<Option<()>, Stop> {
    line.clear();
    let read = reader
        .take(MAX_LINE + 1)
        .read_until(b'\n', line)
        .map_err(|e| fail(format!("the member {member} does not read: {e}")))?;
    if read == 0 {
        return Ok(None);
    }
    if line.pop() != Some(b'\n') {
        return Err(fail(format!("the last line of {member} is cut off or longer than {MAX_LINE} bytes")));
    }
    Ok(Some(()))
}

/// Hands every remaining line of the member (without its newline) to `each`: in place in the
/// reader's buffer when the line lies whole inside it (copying each line out was a few percent
/// of verifying an export), gathered first when it spans two fills.
fn each_line(
    reader: &mut impl BufRead,
    member: &str,
    mut each: impl FnMut(&[u8]) -> Result<(), Stop>,
) -> Result<(), Stop> {
    let too_long = || fail(format!("the last line of {member} is cut off or longer than {MAX_LINE} bytes"));
    let fits = |len: usize| u64::try_from(len).is_ok_and(|len| len <= MAX_LINE);
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let buf = reader.fill_buf().map_err(|e| fail(format!("the member {member} does not read: {e}")))?;
        let filled = buf.len();
        if filled == 0 {
            return if partial.is_empty() { Ok(()) } else { Err(too_long()) };
        }
        let mut start = 0;
        if !partial.is_empty() {
            let end = memchr::memchr(b'\n', buf).unwrap_or(filled);
            if !fits(partial.len() + end) {
                return Err(too_long());
            }
            partial.extend_from_slice(&buf[..end]);
            if end == filled {
                reader.consume(filled);
                continue;
            }
            each(&partial)?;
            partial.clear();
            start = end + 1;
        }
        while let Some(len) = memchr::memchr(b'\n', &buf[start..]) {
            if !fits(len) {
                return Err(too_long());
            }
            each(&buf[start..start + len])?;
            start += len + 1;
        }
        if !fits(filled - start) {
            return Err(too_long());
        }
        partial.extend_from_slice(&buf[start..]);
        reader.consume(filled);
    }
}

/// A CSV line without the carriage return of its CRLF (RFC 4180).
fn crlf(line: &str) -> Result<&str, Stop> {
    line.strip_suffix('\r').ok_or_else(|| fail("a CSV line does not end with CRLF"))
}

fn utf8<'a>(line: &'a [u8], member: &str) -> Result<&'a str, Stop> {
    std::str::from_utf8(line).map_err(|_| fail(format!("a line of {member} is not UTF-8")))
}

/// The verification of an export; the caller turns its outcome into the verdict.
fn run(path: &Path, args: &VerifyArgs, out: &mut dyn std::io::Write) -> Result<(), Stop> {
    let mut zip = open(path)?;
    let manifest: Manifest = serde_json::from_slice(&small(&mut zip, members::MANIFEST, None)?)
        .map_err(|e| fail(format!("the manifest does not parse: {e}")))?;
    say(out, format_args!("file: {} (export {} of ledger {})", path.display(), manifest.export_id, manifest.ledger));
    // Exactly the members the manifest lists, each once, and those of its kind.
    let names = zip
        .file_names()
        .map(|name| name.map(|n| n.into_owned()))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| fail(format!("a member name does not read: {e}")))?;
    manifest.check_member_names(&names).map_err(|e| fail(e.to_string()))?;
    let checkpoint = String::from_utf8(small(&mut zip, members::CHECKPOINT, Some(&manifest))?)
        .map_err(|_| fail("the checkpoint is not UTF-8"))?;
    let embedded = String::from_utf8(small(&mut zip, members::VERIFIER_KEY, Some(&manifest))?)
        .map_err(|_| fail("the verifier key member is not UTF-8"))?;
    let key = match trusted_key(args).map_err(Stop::Unusable)? {
        Some(key) => {
            say(out, format_args!("key: {} (given)", key_name(&key)));
            if embedded.trim() != key.to_string() {
                say(out, format_args!("note: the key inside the file is not the given key: {}", embedded.trim()));
            }
            key
        }
        None => {
            let key = VerifierKey::from_str(embedded.trim())
                .map_err(|e| fail(format!("the file's verifier key does not parse: {e}")))?;
            say(
                out,
                format_args!(
                    "WARNING: no --key given: checking against the key inside the file, {} (SELF-ASSERTED). \
                     This shows the file is consistent with itself, not that it was signed by the AuditStore \
                     you trust: compare this key with the published one, or pass it with --key.",
                    key_name(&key)
                ),
            );
            key
        }
    };
    let range_proof: Option<RangeProofMember> = match manifest.filter {
        None => Some(
            serde_json::from_slice(&small(&mut zip, members::PROOF, Some(&manifest))?)
                .map_err(|e| fail(format!("proof.json does not parse: {e}")))?,
        ),
        Some(_) => None,
    };
    let events_member = manifest.events_format.member();
    let filtered = manifest.filter.is_some();
    let mut verifier = ExportVerifier::new(manifest.clone(), &checkpoint, std::slice::from_ref(&key), range_proof)
        .map_err(|e| describe(&e, &key))?;
    say(out, format_args!("ok: checkpoint of {} events signed by {}", manifest.tree_size, key_name(&key)));

    // A second handle on the file reads the inclusion proofs beside the rows.
    let mut proofs_zip = if filtered { Some(open(path)?) } else { None };
    let mut proofs = match proofs_zip.as_mut() {
        Some(zip) => Some(BufReader::new(Hashing::new(
            zip.by_name(members::INCLUSION)
                .map_err(|_| fail(format!("the member {} is missing", members::INCLUSION)))?,
        ))),
        None => None,
    };
    let mut proof_line = Vec::new();
    // The inclusion proof of the row at `seq`, read beside the rows.
    let mut next_proof = |seq: u64| -> Result<Option<InclusionLine>, Stop> {
        let Some(reader) = proofs.as_mut() else { return Ok(None) };
        next_line(reader, &mut proof_line, members::INCLUSION)?
            .ok_or_else(|| fail(format!("seq {seq}: {} ends before the rows", members::INCLUSION)))?;
        let proof: InclusionLine = serde_json::from_str(utf8(&proof_line, members::INCLUSION)?)
            .map_err(|e| fail(format!("a line of {} does not parse: {e}", members::INCLUSION)))?;
        Ok(Some(proof))
    };
    let member = zip.by_name(events_member).map_err(|_| fail(format!("the member {events_member} is missing")))?;
    if manifest.events_format == EventsFormat::Parquet {
        // Parquet is read from its footer: the member is copied to a private
        // temporary file (hashed on the way), then read a row group at a time.
        let mut hashing = Hashing::new(member);
        let spill = Spill::create()?;
        std::io::copy(&mut hashing, &mut &spill.file)
            .map_err(|e| fail(format!("the member {events_member} does not read: {e}")))?;
        check_digest(&manifest, events_member, hashing.digest())?;
        let file = spill.file.try_clone().map_err(|e| Stop::Unusable(format!("a temporary file: {e}")))?;
        for row in audit_core::export::parquet_rows(file).map_err(|e| describe(&e, &key))? {
            let row = row.map_err(|e| describe(&e, &key))?;
            let inclusion = next_proof(row.seq())?;
            verifier.row(&row, inclusion.as_ref()).map_err(|e| describe(&e, &key))?;
        }
    } else {
        let mut rows = BufReader::with_capacity(1 << 16, Hashing::new(member));
        let mut line = Vec::new();
        let mut csv = (manifest.events_format == EventsFormat::Csv).then(CsvRowReader::new);
        if csv.is_some() {
            next_line(&mut rows, &mut line, events_member)?.ok_or_else(|| fail("the CSV member has no header"))?;
            check_csv_header(crlf(utf8(&line, events_member)?)?).map_err(|e| describe(&e, &key))?;
        }
        each_line(&mut rows, events_member, |line| {
            let text = utf8(line, events_member)?;
            let row = match csv.as_mut() {
                Some(reader) => reader.row(crlf(text)?),
                None => RowHashes::from_jsonl(text),
            }
            .map_err(|e| describe(&e, &key))?;
            let inclusion = next_proof(row.seq())?;
            verifier.row(&row, inclusion.as_ref()).map_err(|e| describe(&e, &key))
        })?;
        check_digest(&manifest, events_member, rows.into_inner().digest())?;
    }
    let mut proof_line = Vec::new();
    if let Some(mut reader) = proofs {
        if next_line(&mut reader, &mut proof_line, members::INCLUSION)?.is_some() {
            return Err(fail(format!("{} has more proofs than there are rows", members::INCLUSION)));
        }
        check_digest(&manifest, members::INCLUSION, reader.into_inner().digest())?;
    }
    let verified = verifier.finish().map_err(|e| describe(&e, &key))?;
    say(
        out,
        format_args!(
            "ok: {} rows ({} tombstones) of seqs {}..{}: each leaf hash recomputed from its content",
            verified.rows, verified.tombstones, verified.range.start, verified.range.end
        ),
    );
    if verified.filtered {
        say(out, "ok: each event's inclusion proof leads to the signed root (a filtered export: each event is proven, the filter's completeness is not)");
    } else {
        say(out, "ok: the chain re-walked across the range, and the range proof leads to the signed root");
    }
    say(out, format_args!("ok: every member's SHA-256 matches the manifest; nothing missing, nothing added"));
    Ok(())
}

fn describe(error: &VerifyError, key: &VerifierKey) -> Stop {
    fail(checkpoint_failure(error, key).unwrap_or_else(|| error.to_string()))
}

pub(super) fn verify(path: &Path, args: &VerifyArgs, out: &mut dyn std::io::Write) -> Verdict {
    match run(path, args, out) {
        Ok(()) => Verdict::Verified,
        Err(Stop::Failed(what)) => failed(out, what),
        Err(Stop::Unusable(why)) => unusable(out, why),
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use super::{each_line, Stop, MAX_LINE};

    /// The lines `each_line` hands over, reading through a buffer of `capacity` bytes.
    fn lines(text: &[u8], capacity: usize) -> Result<Vec<Vec<u8>>, String> {
        let mut reader = BufReader::with_capacity(capacity, text);
        let mut seen = Vec::new();
        each_line(&mut reader, "events.jsonl", |line| {
            seen.push(line.to_vec());
            Ok(())
        })
        .map_err(|stop| match stop {
            Stop::Failed(what) | Stop::Unusable(what) => what,
        })?;
        Ok(seen)
    }

    #[test]
    fn lines_are_the_same_whatever_the_buffer_splits() {
        let text = b"first\n\nthe third line, longer than a small buffer\nx\n";
        let want: Vec<Vec<u8>> = text.split(|&b| b == b'\n').take(4).map(<[u8]>::to_vec).collect();
        for capacity in [1, 2, 3, 7, 16, 64, 1 << 16] {
            assert_eq!(lines(text, capacity), Ok(want.clone()), "a buffer of {capacity}");
        }
        assert_eq!(lines(b"", 8), Ok(Vec::new()));
    }

    #[test]
    fn a_last_line_without_its_newline_or_a_line_too_long_is_refused() {
        for capacity in [3, 1 << 16] {
            let cut = lines(b"one\ntwo", capacity).expect_err("cut off");
            assert!(cut.contains("cut off"), "{cut}");
        }
        let long = [vec![b'a'; usize::try_from(MAX_LINE).unwrap_or(usize::MAX) + 1], b"\n".to_vec()].concat();
        for capacity in [1 << 16, long.len() + 1] {
            let error = lines(&long, capacity).expect_err("too long");
            assert!(error.contains("longer than"), "{error}");
        }
        let fits = [vec![b'a'; usize::try_from(MAX_LINE).unwrap_or(usize::MAX)], b"\n".to_vec()].concat();
        assert_eq!(lines(&fits, 1 << 16).map(|l| l.len()), Ok(1));
    }
}
