//! Two checkpoints and the consistency proof between them (RFC 9162
//! §2.1.4): the older tree is a prefix of the newer one.

use std::path::Path;

use audit_core::evidence::ledger_of_origin;
use audit_core::merkle::verify_consistency;
use audit_core::{Checkpoint, Hash};

use super::{failed, key_name, read_text, required_key, say, unusable, Verdict};
use crate::config::VerifyArgs;

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

pub(super) fn verify(old: &Path, new: &Path, args: &VerifyArgs, out: &mut dyn std::io::Write) -> Verdict {
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
    let key = match required_key(args, "a checkpoint") {
        Ok(key) => key,
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
