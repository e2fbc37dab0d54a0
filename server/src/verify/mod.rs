//! `auditstore verify`: offline verification, with no network and no
//! database, of an export file (docs/FORMAT.md §13), an evidence file (§12)
//! or two checkpoints and the consistency proof between them (RFC 9162
//! §2.1.4).
//!
//! It prints one line per finding and a verdict, and its exit status says
//! which: 0 only when everything verified, 1 when something did not (the
//! line names what, and the seq where there is one), 2 when the input is
//! unusable (unreadable, not a format it knows, a malformed key). Nothing is
//! ever skipped and reported as success.

use std::fmt;
use std::path::Path;
use std::str::FromStr as _;

mod consistency;
mod evidence;
mod export;

use audit_core::evidence::TLOG_PROOF_HEADER;
use audit_core::{VerifierKey, VerifyError};

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
pub(super) fn say(out: &mut dyn std::io::Write, line: impl fmt::Display) {
    let _ = writeln!(out, "{line}");
}

/// [`run`], writing to `out`.
pub fn run_to(args: &VerifyArgs, out: &mut dyn std::io::Write) -> Verdict {
    let verdict = match (&args.file, &args.consistency) {
        (Some(file), None) => verify_file(file, args, out),
        (None, Some(pair)) if pair.len() == 2 => consistency::verify(&pair[0], &pair[1], args, out),
        _ => unusable(out, "give one FILE, or --consistency OLD NEW with --proof"),
    };
    match verdict {
        Verdict::Verified => say(out, "VERIFIED"),
        Verdict::Failed => say(out, "NOT VERIFIED"),
        Verdict::Unusable => say(out, "NOT VERIFIED: unusable input"),
    }
    verdict
}

pub(super) fn unusable(out: &mut dyn std::io::Write, why: impl fmt::Display) -> Verdict {
    say(out, format_args!("error: {why}"));
    Verdict::Unusable
}

pub(super) fn failed(out: &mut dyn std::io::Write, what: impl fmt::Display) -> Verdict {
    say(out, format_args!("FAILED: {what}"));
    Verdict::Failed
}

pub(super) fn read_text(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))
}

/// The trusted key from `--key` or `--key-file`.
pub(super) fn trusted_key(args: &VerifyArgs) -> Result<Option<VerifierKey>, String> {
    let text = match (&args.key, &args.key_file) {
        (Some(key), _) => key.clone(),
        (None, Some(file)) => read_text(file)?,
        (None, None) => return Ok(None),
    };
    VerifierKey::from_str(text.trim()).map(Some).map_err(|e| format!("the verifier key does not parse: {e}"))
}

/// The trusted key, which `what` needs since it carries none itself.
pub(super) fn required_key(args: &VerifyArgs, what: &str) -> Result<VerifierKey, String> {
    trusted_key(args)?.ok_or_else(|| {
        format!(
            "{what} carries no verifier key: give the published one with --key or --key-file (GET /v1/checkpoint-key)"
        )
    })
}

/// What to say of a checkpoint that fails its signature check under `key`;
/// `None` for any other failure.
pub(super) fn checkpoint_failure(error: &VerifyError, key: &VerifierKey) -> Option<String> {
    match error {
        VerifyError::InvalidSignature { .. } | VerifyError::NoKnownSignature | VerifyError::MalformedNote(_) => {
            Some(format!("the checkpoint does not verify with {}: {error}", key_name(key)))
        }
        _ => None,
    }
}

pub(super) fn key_name(key: &VerifierKey) -> String {
    format!("{}+{:08x}", key.name().as_str(), key.key_id())
}
/// What the file is, told from its first bytes: a ZIP is an export, a
/// tlog-proof is evidence; anything else is not for this verifier.
fn verify_file(path: &Path, args: &VerifyArgs, out: &mut dyn std::io::Write) -> Verdict {
    let mut start = [0u8; 32];
    let read = std::fs::File::open(path).and_then(|mut f| std::io::Read::read(&mut f, &mut start));
    let read = match read {
        Ok(n) => n,
        Err(e) => return unusable(out, format_args!("cannot read {}: {e}", path.display())),
    };
    let start = &start[..read];
    if start.starts_with(b"PK\x03\x04") {
        export::verify(path, args, out)
    } else if start.starts_with(TLOG_PROOF_HEADER.as_bytes()) {
        evidence::verify(path, args, out)
    } else {
        unusable(
            out,
            format_args!(
                "{} is not a file this verifier knows (an export ZIP, or evidence starting {TLOG_PROOF_HEADER})",
                path.display()
            ),
        )
    }
}
