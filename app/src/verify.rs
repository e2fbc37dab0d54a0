//! Verification of one event in the browser, with audit-core compiled to
//! WebAssembly: nothing here takes the server's word for anything. The
//! same code runs natively in the tests below.
//!
//! Steps, each shown to the user with its result:
//! 1. the pinned checkpoint key parses (C2SP signed-note verifier key);
//! 2. the checkpoint's signature verifies with that key and its origin
//!    names this ledger (docs/FORMAT.md, C2SP tlog-checkpoint);
//! 3. the fields shown on the page are the content that is hashed, and the
//!    leaf hash recomputed from it equals the stored leaf hash (RFC 9162
//!    §2.1.1, leaf = SHA-256(0x00 || entry));
//! 4. the inclusion proof leads from that leaf to the checkpoint's root
//!    (RFC 9162 §2.1.3.2).
//!
//! A tombstone (content archived by retention) has no content to hash:
//! step 3 checks instead that an archival accounts for the removal (a
//! tombstone no archival names is a tamper finding), and step 4 proves the
//! stored leaf hash. Its content is verified with the archive file.

use std::str::FromStr as _;

use audit_core::{Checkpoint, Event, Hash, TreeSize, VerifierKey};
use serde::{Deserialize, Serialize};

use crate::model::{EventRow, ProofBundle};

/// One step of a verification and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub title: String,
    pub ok: bool,
    pub detail: String,
}

/// The fingerprint users compare when pinning a key: SHA-256 of the
/// Ed25519 public key, hex in groups of four.
pub fn fingerprint(key: &VerifierKey) -> String {
    let hex = Hash::digest(key.verifying_key().as_bytes()).to_hex();
    hex.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

/// Parses a pasted verifier key and returns its fingerprint.
pub fn key_fingerprint(key: &str) -> Result<String, String> {
    VerifierKey::from_str(key.trim()).map(|k| fingerprint(&k)).map_err(|e| e.to_string())
}

/// Verifies the event `shown` on the page (its fields, its stored content
/// and leaf hash), in ledger `ledger_id`, against `bundle` and the pinned
/// key. Stops at the first failing step.
pub fn verify_event(ledger_id: &str, shown: &EventRow, bundle: &ProofBundle, pinned_key: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let _ = run(&mut steps, ledger_id, shown, bundle, pinned_key);
    steps
}

/// Where the fields the page shows differ from the content that is hashed.
fn shown_differs(shown: &EventRow, event: &Event) -> Option<String> {
    if shown.id != event.id().as_str() {
        return Some(format!(
            "the page shows event id {:?}, but the hashed content has {:?}",
            shown.id,
            event.id().as_str()
        ));
    }
    let hashed = shown.clone().with_content(event, String::new());
    let name = |n: &Option<String>| n.clone().unwrap_or_default();
    let pairs: [(&str, String, String); 9] = [
        ("actor type", shown.actor_type.clone(), hashed.actor_type),
        ("actor id", shown.actor_id.clone(), hashed.actor_id),
        ("actor name", name(&shown.actor_name), name(&hashed.actor_name)),
        ("action", shown.action.clone(), hashed.action),
        ("resource type", shown.resource_type.clone(), hashed.resource_type),
        ("resource id", shown.resource_id.clone(), hashed.resource_id),
        ("resource name", name(&shown.resource_name), name(&hashed.resource_name)),
        ("occurred at", shown.occurred_at.clone(), hashed.occurred_at),
        ("metadata", shown.metadata_pretty.clone(), hashed.metadata_pretty),
    ];
    pairs.into_iter().find(|(_, shown, hashed)| shown != hashed).map(|(field, shown, hashed)| {
        format!("the page shows {field} {shown:?}, but the hashed content has {hashed:?}")
    })
}

/// Whether every step of a verification passed.
pub fn all_ok(steps: &[Step]) -> bool {
    steps.len() == 4 && steps.iter().all(|s| s.ok)
}

fn push(steps: &mut Vec<Step>, title: &str, result: Result<String, String>) -> Result<(), ()> {
    let ok = result.is_ok();
    let detail = result.unwrap_or_else(|e| e);
    steps.push(Step { title: title.to_owned(), ok, detail });
    if ok {
        Ok(())
    } else {
        Err(())
    }
}

fn run(
    steps: &mut Vec<Step>,
    ledger_id: &str,
    shown: &EventRow,
    bundle: &ProofBundle,
    pinned_key: &str,
) -> Result<(), ()> {
    let content_json = shown.content_json.as_deref().unwrap_or_default();
    let leaf_hash_hex = shown.leaf_hash.as_str();
    let key = VerifierKey::from_str(pinned_key.trim());
    push(
        steps,
        "Pinned checkpoint key",
        key.as_ref()
            .map(|k| format!("{} · fingerprint {}", k.name(), fingerprint(k)))
            .map_err(|e| format!("the pinned key is not a valid verifier key: {e}")),
    )?;
    let Ok(key) = key else { return Err(()) };

    let checkpoint = Checkpoint::open(&bundle.checkpoint, std::slice::from_ref(&key));
    let checked = match &checkpoint {
        Ok(c) if !audit_core::origin_names_ledger(c.origin(), ledger_id) => {
            Err(format!("the checkpoint is for {}, not for this ledger", c.origin()))
        }
        Ok(c) => Ok(format!(
            "signed by the pinned key · {} · tree size {} · root {}",
            c.origin(),
            c.size().0,
            c.root().to_hex()
        )),
        Err(e) => Err(format!("the checkpoint signature does not verify with the pinned key: {e}")),
    };
    push(steps, "Checkpoint signature", checked)?;
    let Ok(checkpoint) = checkpoint else { return Err(()) };

    if shown.is_tombstone() {
        let leaf = Hash::from_hex(leaf_hash_hex.trim());
        let archived = match (&leaf, &shown.archive) {
            (Err(e), _) => Err(format!("the stored leaf hash is not a hash: {e}")),
            (Ok(_), None) => Err("the content is gone, but no archival accounts for its removal: the event was \
                                  tampered with (only retention archival removes content)"
                .to_owned()),
            (Ok(leaf), Some(archive)) => Ok(format!(
                "retention archived the content on {} into {} (SHA-256 {}); what stays is its leaf hash {}, \
                 proven below. Verify the archive file for the content itself.",
                archive.archived_at,
                archive.id,
                archive.sha256,
                leaf.to_hex()
            )),
        };
        push(steps, "Content archived by retention", archived)?;
        let Ok(leaf) = leaf else { return Err(()) };
        return push(
            steps,
            "Inclusion proof leads to the checkpoint root",
            proven_at(bundle, shown, &checkpoint, &leaf),
        );
    }
    let event = parse_event(content_json);
    let leaf = event.as_ref().map(Event::leaf_hash).map_err(Clone::clone);
    let differs = event.as_ref().ok().and_then(|event| shown_differs(shown, event));
    let compared = match (differs, &leaf) {
        (Some(differs), _) => Err(differs),
        (None, Ok(leaf)) => match Hash::from_hex(leaf_hash_hex.trim()) {
            Ok(shown) if shown.ct_eq(leaf) => Ok(format!("SHA-256(0x00 ‖ entry) = {}", leaf.to_hex())),
            Ok(_) => Err(format!(
                "the content hashes to {}, but the stored leaf hash is {}: the content was altered",
                leaf.to_hex(),
                leaf_hash_hex
            )),
            Err(e) => Err(format!("the stored leaf hash is not a hash: {e}")),
        },
        (None, Err(e)) => Err(e.clone()),
    };
    push(steps, "Leaf hash recomputed from the content shown", compared)?;
    let Ok(leaf) = leaf else { return Err(()) };

    push(steps, "Inclusion proof leads to the checkpoint root", proven_at(bundle, shown, &checkpoint, &leaf))
}

/// Whether `bundle` proves `leaf` at the seq the page shows: a page that
/// shows another seq than the one proven would state a place the event is not.
fn proven_at(bundle: &ProofBundle, shown: &EventRow, checkpoint: &Checkpoint, leaf: &Hash) -> Result<String, String> {
    if bundle.seq == shown.seq {
        inclusion(bundle, checkpoint.size(), leaf, checkpoint.root())
    } else {
        Err(format!("the proof is for seq {}, but the page shows seq {}", bundle.seq, shown.seq))
    }
}

fn parse_event(content_json: &str) -> Result<Event, String> {
    // `Event`'s deserialisation is the stored form: the id is required and
    // every field is validated as at ingest.
    serde_json::from_str(content_json).map_err(|e| format!("the event content is not a valid event: {e}"))
}

fn inclusion(bundle: &ProofBundle, size: TreeSize, leaf: &Hash, root: &Hash) -> Result<String, String> {
    if bundle.tree_size != size.0 {
        return Err(format!("the proof is for tree size {}, the checkpoint for {}", bundle.tree_size, size.0));
    }
    let proof = bundle
        .proof
        .iter()
        .map(|h| Hash::from_hex(h))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the proof holds a value that is not a hash: {e}"))?;
    let computed = audit_core::merkle::root_from_inclusion_proof(bundle.seq, size, leaf, &proof)
        .map_err(|e| format!("the proof does not fit leaf {} of a tree of {}: {e}", bundle.seq, size.0))?;
    if computed.ct_eq(root) {
        Ok(format!("{} hashes from leaf {} to root {}", proof.len(), bundle.seq, root.to_hex()))
    } else {
        Err(format!(
            "the proof leads to {}, but the signed root is {}: the event is not in the tree the checkpoint signs",
            computed.to_hex(),
            root.to_hex()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::{KeyName, MemoryTree};
    use ed25519_dalek::SigningKey;

    const LEDGER: &str = "led_0123456789abcdef0123456789abcdef";

    struct Fixture {
        content: Vec<String>,
        leaves: Vec<Hash>,
        bundle: ProofBundle,
        key: String,
        signing: SigningKey,
        tree: MemoryTree,
    }

    fn event_json(n: u64) -> String {
        serde_json::json!({
            "id": format!("evt-{n}"),
            "actor": {"type": "user", "id": format!("u{n}")},
            "action": "invoice.paid",
            "resource": {"type": "invoice", "id": format!("inv{n}")},
            "occurred_at": "2026-11-26T10:00:00Z",
            "metadata": {"amount": n},
        })
        .to_string()
    }

    fn checkpoint(tree: &MemoryTree, ledger: &str, signing: &SigningKey) -> String {
        let origin = audit_core::ledger_origin("audit.example", &audit_core::LedgerId::new(ledger).expect("id"));
        let name = KeyName::new("audit.example").expect("name");
        Checkpoint::new(origin, tree.size(), tree.root()).expect("checkpoint").sign(&name, signing).expect("signed")
    }

    fn fixture(seq: u64) -> Fixture {
        let content: Vec<String> = (0..7).map(event_json).collect();
        let leaves: Vec<Hash> =
            content.iter().map(|c| serde_json::from_str::<Event>(c).expect("event").leaf_hash()).collect();
        let tree = MemoryTree::from_leaves(leaves.clone());
        let signing = SigningKey::from_bytes(&[7; 32]);
        let key = VerifierKey::new(KeyName::new("audit.example").expect("name"), signing.verifying_key()).to_string();
        let proof = audit_core::merkle::inclusion_proof(&tree, seq, tree.size()).expect("proof");
        let bundle = ProofBundle {
            seq,
            checkpoint: checkpoint(&tree, LEDGER, &signing),
            tree_size: tree.size().0,
            proof: proof.iter().map(Hash::to_hex).collect(),
        };
        Fixture { content, leaves, bundle, key, signing, tree }
    }

    /// The row the page shows for the content, as the server builds it.
    fn shown(content: &str, leaf: &Hash, seq: u64) -> EventRow {
        let event: Event = serde_json::from_str(content).expect("event");
        EventRow::new(event.id().as_str().to_owned(), seq, String::new(), leaf.to_hex(), String::new())
            .with_content(&event, content.to_owned())
    }

    fn verify(f: &Fixture, seq: usize) -> Vec<Step> {
        verify_event(LEDGER, &shown(&f.content[seq], &f.leaves[seq], seq as u64), &f.bundle, &f.key)
    }

    #[test]
    fn every_event_of_a_tree_verifies_step_by_step() {
        for seq in 0..7 {
            let f = fixture(seq);
            let steps = verify(&f, seq as usize);
            assert!(all_ok(&steps), "{steps:#?}");
        }
    }

    #[test]
    fn altered_content_fails_at_the_leaf_hash() {
        let mut f = fixture(3);
        f.content[3] = f.content[3].replace("invoice.paid", "invoice.void");
        let steps = verify(&f, 3);
        assert!(!all_ok(&steps));
        assert_eq!(
            steps.last().map(|s| (s.title.as_str(), s.ok)),
            Some(("Leaf hash recomputed from the content shown", false))
        );
    }

    #[test]
    fn fields_shown_otherwise_than_the_hashed_content_fail() {
        let f = fixture(3);
        let honest = shown(&f.content[3], &f.leaves[3], 3);
        let tamper: [fn(&mut EventRow); 5] = [
            |r| r.action = "invoice.void".into(),
            |r| r.actor_id = "someone_else".into(),
            |r| r.metadata_pretty = r.metadata_pretty.replace('3', "4"),
            |r| r.occurred_at = "2026-11-27T10:00:00Z".into(),
            |r| r.id = "evt-other".into(),
        ];
        for change in tamper {
            let mut row = honest.clone();
            change(&mut row);
            let steps = verify_event(LEDGER, &row, &f.bundle, &f.key);
            assert_eq!((steps.len(), steps[2].ok), (3, false), "{steps:#?}");
            assert!(steps[2].detail.contains("the page shows"), "{steps:#?}");
        }
    }

    #[test]
    fn a_page_showing_another_seq_than_the_one_proven_fails() {
        let f = fixture(3);
        // Content, leaf and proof are all of seq 3; the page claims seq 5.
        let steps = verify_event(LEDGER, &shown(&f.content[3], &f.leaves[3], 5), &f.bundle, &f.key);
        assert_eq!(steps.len(), 4);
        assert!(!steps[3].ok, "{steps:#?}");
        assert!(steps[3].detail.contains("the page shows seq 5"), "{steps:#?}");
        // Its honest twin verifies.
        assert!(all_ok(&verify(&f, 3)));
    }

    #[test]
    fn a_tampered_proof_fails_at_the_inclusion_step() {
        let mut f = fixture(3);
        f.bundle.proof[0] = Hash::digest(b"forged").to_hex();
        let steps = verify(&f, 3);
        assert_eq!(steps.len(), 4);
        assert!(!steps[3].ok, "{steps:#?}");
        // The proof of another leaf does not prove this one either.
        let other = fixture(4);
        let mut f = fixture(3);
        f.bundle.proof = other.bundle.proof;
        assert!(!all_ok(&verify(&f, 3)));
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_or_for_another_ledger_fails() {
        let mut f = fixture(2);
        let other = SigningKey::from_bytes(&[9; 32]);
        f.bundle.checkpoint = checkpoint(&f.tree, LEDGER, &other);
        let steps = verify(&f, 2);
        assert_eq!((steps.len(), steps[1].ok), (2, false), "{steps:#?}");

        let mut f = fixture(2);
        f.bundle.checkpoint = checkpoint(&f.tree, "led_ffffffffffffffffffffffffffffffff", &f.signing);
        let steps = verify(&f, 2);
        assert_eq!((steps.len(), steps[1].ok), (2, false), "{steps:#?}");

        let mut f = fixture(2);
        f.key = "not a key".into();
        assert_eq!(verify(&f, 2).len(), 1);
    }

    #[test]
    fn a_proof_for_another_tree_size_fails() {
        let mut f = fixture(2);
        f.bundle.tree_size = 6;
        assert!(!all_ok(&verify(&f, 2)));
    }

    /// The row the page shows for the tombstone of `seq`, archived or not.
    fn tombstone(leaf: &Hash, seq: u64, archived: bool) -> EventRow {
        let mut row = EventRow::new(format!("evt-{seq}"), seq, String::new(), leaf.to_hex(), String::new());
        row.archive = archived.then(|| crate::model::ArchiveRef {
            id: "arc_1".into(),
            sha256: "ab".repeat(32),
            archived_at: "2026-12-01T00:00:00Z".into(),
        });
        row
    }

    #[test]
    fn a_tombstone_proves_its_leaf_hash_and_names_its_archive() {
        let f = fixture(3);
        let steps = verify_event(LEDGER, &tombstone(&f.leaves[3], 3, true), &f.bundle, &f.key);
        assert!(all_ok(&steps), "{steps:#?}");
        assert!(steps[2].detail.contains("arc_1"), "{steps:#?}");
    }

    #[test]
    fn a_tombstone_without_its_archival_or_with_another_leaf_hash_fails() {
        let f = fixture(3);
        let steps = verify_event(LEDGER, &tombstone(&f.leaves[3], 3, false), &f.bundle, &f.key);
        assert_eq!((steps.len(), steps[2].ok), (3, false), "{steps:#?}");
        assert!(steps[2].detail.contains("tampered"), "{steps:#?}");
        let steps = verify_event(LEDGER, &tombstone(&f.leaves[4], 3, true), &f.bundle, &f.key);
        assert_eq!((steps.len(), steps[3].ok), (4, false), "{steps:#?}");
        let steps = verify_event(LEDGER, &tombstone(&f.leaves[3], 5, true), &f.bundle, &f.key);
        assert!(steps[3].detail.contains("the page shows seq 5"), "{steps:#?}");
    }

    #[test]
    fn fingerprints_identify_the_public_key() {
        let f = fixture(0);
        let fp = key_fingerprint(&f.key).expect("valid");
        assert_eq!(fp.replace(' ', "").len(), 64);
        assert!(key_fingerprint("garbage").is_err());
    }
}
