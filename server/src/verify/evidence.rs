//! Evidence files (docs/FORMAT.md §12): one event, its inclusion proof and
//! the signed checkpoint.

use std::path::Path;

use audit_core::evidence::TLOG_PROOF_HEADER;
use audit_core::{Evidence, VerifyError};

use super::{checkpoint_failure, failed, key_name, read_text, required_key, say, unusable, Verdict};
use crate::config::VerifyArgs;

pub(super) fn verify(path: &Path, args: &VerifyArgs, out: &mut dyn std::io::Write) -> Verdict {
    let text = match read_text(path) {
        Ok(text) => text,
        Err(why) => return unusable(out, why),
    };
    say(out, format_args!("file: {} (evidence of one event, {TLOG_PROOF_HEADER})", path.display()));
    let key = match required_key(args, "an evidence file") {
        Ok(key) => key,
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
        Err(error) => {
            let what = checkpoint_failure(&error, &key).unwrap_or_else(|| match error {
                VerifyError::MalformedEvidence(_) | VerifyError::MalformedCheckpoint(_) => {
                    format!("the checkpoint: {error}")
                }
                _ => format!("seq {seq} (event {id}): the event is not proven in the signed tree: {error}"),
            });
            failed(out, what)
        }
    }
}
