//! Verification, trusting nothing of the server's (docs/SDK.md §6): leaf
//! hashes computed here from the event's content (FORMAT.md §2–4: RFC 8785
//! JCS, SHA-256 with the RFC 9162 leaf prefix), checkpoint signatures
//! checked against a pinned key (C2SP signed note, FORMAT.md §10),
//! inclusion proofs (RFC 9162 §2.1.3.2) and evidence files (FORMAT.md §12).
//! All of it is `audit-core`, the code the server and the browser run.

use audit_core::{Checkpoint, Hash, SignedNote, TreeSize, VerifierKey};
use serde_json::{Map, Value};

use crate::Error;

/// A checkpoint whose signature verified against the pinned key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// `<host>/ledgers/<ledger id>`.
    pub origin: String,
    pub tree_size: u64,
    pub root: Hash,
    /// The signed note as received.
    pub note: String,
}

/// The RFC 9162 leaf hash of an event, from its content: `id`, `actor`,
/// `action`, `resource`, `occurred_at` and `metadata` (other members, such
/// as a stored event's `seq` or `received_at`, are not part of it). The
/// event must carry its `id`.
pub fn leaf_hash(event: &Value) -> Result<Hash, Error> {
    let object = event.as_object().ok_or_else(|| Error::Verification("an event is a JSON object".into()))?;
    if !object.contains_key("id") {
        return Err(Error::Verification("the event has no id, so no leaf hash".into()));
    }
    let content: Map<String, Value> = ["id", "actor", "action", "resource", "occurred_at", "metadata"]
        .into_iter()
        .filter_map(|k| object.get(k).map(|v| (k.to_owned(), v.clone())))
        .collect();
    // Read as a stored event: hashed as it was accepted (numbers an older
    // version stored included), normalised as FORMAT.md §2 says.
    let event: audit_core::Event = serde_json::from_value(Value::Object(content))
        .map_err(|e| Error::Verification(format!("not a valid event: {e}")))?;
    Ok(event.leaf_hash())
}

/// Checks a signed checkpoint note against the pinned `key` and parses it.
pub fn verify_checkpoint(note: &str, key: &VerifierKey) -> Result<VerifiedCheckpoint, Error> {
    let signed = SignedNote::parse(note)?;
    let body = signed.verify(std::slice::from_ref(key))?;
    let checkpoint = Checkpoint::parse_body(body)?;
    Ok(VerifiedCheckpoint {
        origin: checkpoint.origin().to_owned(),
        tree_size: checkpoint.size().get(),
        root: *checkpoint.root(),
        note: note.to_owned(),
    })
}

/// Verifies that `event` (its leaf hash computed here) is leaf `seq` of the
/// checkpoint's tree, by the inclusion `proof`.
pub fn verify_inclusion(event: &Value, seq: u64, proof: &[Hash], checkpoint: &VerifiedCheckpoint) -> Result<(), Error> {
    let leaf = leaf_hash(event)?;
    audit_core::merkle::verify_inclusion(seq, TreeSize(checkpoint.tree_size), &leaf, proof, &checkpoint.root)?;
    Ok(())
}

/// What a verified evidence file proves: `event` is entry `seq` of
/// `ledger` in the signed tree of `tree_size`.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedEvidence {
    pub ledger: String,
    pub seq: u64,
    pub tree_size: u64,
    /// The normalised event the file carries, as JSON.
    pub event: Value,
}

/// Verifies a per-event evidence file offline (FORMAT.md §12) against the
/// pinned key: the event re-hashed, its inclusion proof, the checkpoint's
/// signature. Answers the event and where it is proven.
pub fn verify_evidence(text: &str, key: &VerifierKey) -> Result<VerifiedEvidence, Error> {
    let evidence = audit_core::Evidence::parse(text)?;
    let verified = evidence.verify(std::slice::from_ref(key))?;
    let event = serde_json::to_value(evidence.event())
        .map_err(|e| Error::Verification(format!("the evidence's event: {e}")))?;
    Ok(VerifiedEvidence {
        ledger: verified.ledger.to_string(),
        seq: verified.seq.get(),
        tree_size: verified.tree_size.get(),
        event,
    })
}
