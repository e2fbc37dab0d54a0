//! `auditstore verify`: offline verification, with no network and no
//! database, of an evidence file (docs/FORMAT.md §12) or of two checkpoints
//! and the consistency proof between them (RFC 9162 §2.1.4).
//!
//! It prints one line per finding and a verdict, and its exit status says
//! which: 0 only when everything verified, 1 when something did not (the
//! line names what, and the seq where there is one), 2 when the input is
//! unusable (unreadable, not a format it knows, a malformed key). Nothing is
//! ever skipped and reported as success.

use std::fmt;
use std::path::Path;
use std::str::FromStr as _;

use audit_core::evidence::{ledger_of_origin, TLOG_PROOF_HEADER};
use audit_core::merkle::verify_consistency;
use audit_core::{Checkpoint, Evidence, Hash, VerifierKey, VerifyError};

use crate::config::VerifyArgs;

/// How a verification ended; [`Verdict::code`] is the process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Everything verified.
    Verified,
    /// Something did not verify.
    Failed,
    /// The input cannot be verified at all.
    Unusable,
}

impl Verdict {
    /// The exit status: 0, 1 or 2.
    pub fn code(self) -> u8 {
        match self {
            Verdict::Verified => 0,
            Verdict::Failed => 1,
            Verdict::Unusable => 2,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Verified => "verified",
            Verdict::Failed => "verification failed",
            Verdict::Unusable => "unusable input",
        })
    }
}

/// Runs `auditstore verify` and prints its findings on standard output.
pub fn run(args: &VerifyArgs) -> Verdict {
    let mut out = std::io::stdout().lock();
    run_to(args, &mut out)
}

/// Writing the report to the terminal cannot usefully fail; a closed pipe
/// loses only the report, never changes the verdict.
fn say(out: &mut dyn std::io::Write, line: impl fmt::Display) {
    let _ = writeln!(out, "{line}");
}

/// [`run`], writing to `out`.
pub fn run_to(args: &VerifyArgs, out: &mut dyn std::io::Write) -> Verdict {
    let verdict = match (&args.file, &args.consistency) {
        (Some(file), None) => verify_file(file, args, out),
        (None, Some(pair)) if pair.len() == 2 => verify_consistency_of(&pair[0], &pair[1], args, out),
        _ => unusable(out, "give one FILE, or --consistency OLD NEW with --proof"),
    };
    match verdict {
        Verdict::Verified => say(out, "VERIFIED"),
        Verdict::Failed => say(out, "NOT VERIFIED"),
        Verdict::Unusable => say(out, "NOT VERIFIED: unusable input"),
    }
    verdict
}

fn unusable(out: &mut dyn std::io::Write, why: impl fmt::Display) -> Verdict {
    say(out, format_args!("error: {why}"));
    Verdict::Unusable
}

fn failed(out: &mut dyn std::io::Write, what: impl fmt::Display) -> Verdict {
    say(out, format_args!("FAILED: {what}"));
    Verdict::Failed
}

fn read_text(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))
}

/// The trusted key from `--key` or `--key-file`.
fn trusted_key(args: &VerifyArgs) -> Result<Option<VerifierKey>, String> {
    let text = match (&args.key, &args.key_file) {
        (Some(key), _) => key.clone(),
        (None, Some(file)) => read_text(file)?,
        (None, None) => return Ok(None),
    };
    VerifierKey::from_str(text.trim()).map(Some).map_err(|e| format!("the verifier key does not parse: {e}"))
}

fn key_name(key: &VerifierKey) -> String {
    format!("{}+{:08x}", key.name().as_str(), key.key_id())
}

fn verify_file(path: &Path, args: &VerifyArgs, out: &mut dyn std::io::Write) -> Verdict {
    let text = match read_text(path) {
        Ok(text) => text,
        Err(why) => return unusable(out, why),
    };
    if !text.starts_with(TLOG_PROOF_HEADER) {
        return unusable(
            out,
            format_args!("{} is not a file this verifier knows (expected {TLOG_PROOF_HEADER})", path.display()),
        );
    }
    say(out, format_args!("file: {} (evidence of one event, {TLOG_PROOF_HEADER})", path.display()));
    let key = match trusted_key(args) {
        Ok(Some(key)) => key,
        Ok(None) => {
            return unusable(
                out,
                "an evidence file carries no verifier key: give the published one with --key or --key-file \
                 (GET /v1/checkpoint-key)",
            )
        }
        Err(why) => return unusable(out, why),
    };
    say(out, format_args!("key: {} (given)", key_name(&key)));
    let evidence = match Evidence::parse(&text) {
        Ok(evidence) => evidence,
        Err(error) => return failed(out, format_args!("the file is not valid evidence: {error}")),
    };
    let (seq, id) = (evidence.seq(), evidence.event().id().as_str().to_owned());
    match evidence.verify(std::slice::from_ref(&key)) {
        Ok(verified) => {
            say(out, format_args!("ok: checkpoint signed by {}", key_name(&key)));
            say(
                out,
                format_args!(
                    "ok: checkpoint origin {} (ledger {}), tree size {}",
                    verified.origin, verified.ledger, verified.tree_size
                ),
            );
            say(
                out,
                format_args!(
                    "ok: event {id} at seq {seq}: leaf hash {} recomputed from its content",
                    verified.leaf_hash
                ),
            );
            say(out, format_args!("ok: seq {seq}: the inclusion proof leads to the signed root"));
            Verdict::Verified
        }
        Err(error) => match error {
            VerifyError::InvalidSignature { .. } | VerifyError::NoKnownSignature | VerifyError::MalformedNote(_) => {
                failed(out, format_args!("the checkpoint does not verify with {}: {error}", key_name(&key)))
            }
            VerifyError::MalformedEvidence(_) | VerifyError::MalformedCheckpoint(_) => {
                failed(out, format_args!("the checkpoint: {error}"))
            }
            _ => {
                failed(out, format_args!("seq {seq} (event {id}): the event is not proven in the signed tree: {error}"))
            }
        },
    }
}

/// A consistency proof as read from its file.
struct ProofFile {
    /// `from` and `to` of the API's answer (the checkpoints' sizes must be
    /// these); absent for a file of hex lines.
    sizes: Option<(u64, u64)>,
    hashes: Vec<Hash>,
}

/// A consistency proof as `GET …/proofs/consistency` answers it (its
/// `from` and `to` must match the checkpoints), or one hex hash a line.
fn read_proof(path: &Path) -> Result<ProofFile, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Answer {
        from: u64,
        to: u64,
        proof: Vec<String>,
    }
    let text = read_text(path)?;
    let (sizes, hexes): (_, Vec<String>) = if text.trim_start().starts_with('{') {
        let answer: Answer = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a consistency proof answer: {e}", path.display()))?;
        (Some((answer.from, answer.to)), answer.proof)
    } else {
        (None, text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.trim().to_owned()).collect())
    };
    let hashes = hexes
        .iter()
        .map(|h| Hash::from_hex(h).map_err(|e| format!("{}: {e}", path.display())))
        .collect::<Result<_, _>>()?;
    Ok(ProofFile { sizes, hashes })
}

fn verify_consistency_of(old: &Path, new: &Path, args: &VerifyArgs, out: &mut dyn std::io::Write) -> Verdict {
    let Some(proof_path) = &args.proof else {
        return unusable(
            out,
            "--consistency needs the proof: --proof FILE (GET /v1/ledgers/{ledger}/proofs/consistency)",
        );
    };
    let (old_text, new_text) = match (read_text(old), read_text(new)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(why), _) | (_, Err(why)) => return unusable(out, why),
    };
    let key = match trusted_key(args) {
        Ok(Some(key)) => key,
        Ok(None) => {
            return unusable(out, "checkpoints carry no verifier key: give the published one with --key or --key-file")
        }
        Err(why) => return unusable(out, why),
    };
    let ProofFile { sizes, hashes: proof } = match read_proof(proof_path) {
        Ok(read) => read,
        Err(why) => return unusable(out, why),
    };
    say(out, format_args!("key: {} (given)", key_name(&key)));
    let mut opened = Vec::new();
    for (which, path, text) in [("old", old, &old_text), ("new", new, &new_text)] {
        match Checkpoint::open(text, std::slice::from_ref(&key)) {
            Ok(checkpoint) => {
                say(
                    out,
                    format_args!(
                        "ok: {which} checkpoint {}: {} events, signed by {}",
                        path.display(),
                        checkpoint.size(),
                        key_name(&key)
                    ),
                );
                opened.push(checkpoint);
            }
            Err(error) => {
                return failed(out, format_args!("the {which} checkpoint {} does not verify: {error}", path.display()))
            }
        }
    }
    let (old_cp, new_cp) = (&opened[0], &opened[1]);
    if old_cp.origin() != new_cp.origin() {
        return failed(
            out,
            format_args!("the checkpoints are of two logs: {} and {}", old_cp.origin(), new_cp.origin()),
        );
    }
    if let Err(error) = ledger_of_origin(new_cp.origin()) {
        return failed(out, error);
    }
    if let Some((from, to)) = sizes {
        if (from, to) != (old_cp.size().get(), new_cp.size().get()) {
            return failed(
                out,
                format_args!(
                    "the proof is between sizes {from} and {to}, the checkpoints are of {} and {}",
                    old_cp.size(),
                    new_cp.size()
                ),
            );
        }
    }
    match verify_consistency(old_cp.size(), new_cp.size(), old_cp.root(), new_cp.root(), &proof) {
        Ok(()) => {
            say(
                out,
                format_args!(
                    "ok: the tree of {} events is a prefix of the tree of {} events of {}",
                    old_cp.size(),
                    new_cp.size(),
                    new_cp.origin()
                ),
            );
            Verdict::Verified
        }
        Err(error) => failed(
            out,
            format_args!(
                "seqs {}..{}: the new checkpoint does not extend the old one: {error}",
                old_cp.size(),
                new_cp.size()
            ),
        ),
    }
}
