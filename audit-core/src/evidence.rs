//! Per-event evidence: a C2SP tlog-proof (<https://c2sp.org/tlog-proof>) that carries the
//! event itself, so one small file proves, offline, that this event is entry `index` of the
//! ledger whose signed checkpoint it holds (docs/FORMAT.md §12).
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64(JCS(normalised event))>
//! index <seq>
//! <base64 inclusion proof hash, RFC 9162 §2.1.3, one per line>
//!
//! <the signed checkpoint, verbatim>
//! ```
//!
//! The extra data is unauthenticated by the format itself; it is authenticated here because
//! its leaf hash (docs/FORMAT.md §4) must lead, through the proof, to the signed root.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::checkpoint::Checkpoint;
use crate::error::VerifyError;
use crate::event::Event;
use crate::hash::Hash;
use crate::ids::{LedgerId, Seq, TreeSize};
use crate::merkle::verify_inclusion;
use crate::note::{SignedNote, VerifierKey};

/// The first line of every tlog-proof (C2SP tlog-proof, "Format").
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// The most hashes an inclusion proof of a tree of at most 2^64 leaves holds.
const MAX_PROOF_HASHES: usize = 64;

/// One event with its inclusion proof and the signed checkpoint the proof leads to.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    event: Event,
    seq: Seq,
    proof: Vec<Hash>,
    checkpoint: String,
}

/// What a verified evidence file proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEvidence {
    /// The checkpoint's origin, `<host>/ledgers/<ledger_id>`.
    pub origin: String,
    /// The ledger the origin names.
    pub ledger: LedgerId,
    /// The size of the signed tree the event is proven in.
    pub tree_size: TreeSize,
    /// The event's position in its ledger.
    pub seq: Seq,
    /// The leaf hash recomputed from the event's content.
    pub leaf_hash: Hash,
}

fn bad(why: impl Into<String>) -> VerifyError {
    VerifyError::MalformedEvidence(why.into())
}

impl Evidence {
    /// Evidence for `event` at `seq`, with the inclusion proof at the size of `checkpoint`.
    pub fn new(event: Event, seq: Seq, proof: Vec<Hash>, checkpoint: String) -> Self {
        Self { event, seq, proof, checkpoint }
    }

    /// The event, as its content was read from the file. Untrusted until verified.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The claimed position of the event.
    pub fn seq(&self) -> Seq {
        self.seq
    }

    /// The signed checkpoint, verbatim.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// The file's text (C2SP tlog-proof, with the event as extra data).
    pub fn encode(&self) -> Result<String, VerifyError> {
        let content = crate::jcs::to_vec(&self.event).map_err(|e| bad(format!("the event does not encode: {e}")))?;
        let mut out = format!("{TLOG_PROOF_HEADER}\nextra {}\nindex {}\n", BASE64.encode(content), self.seq);
        for hash in &self.proof {
            out.push_str(&hash.to_base64());
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        Ok(out)
    }

    /// Parses an evidence file strictly: the tlog-proof header, the `extra` line holding the
    /// canonical JSON (RFC 8785) of a normalised event, `index` in decimal without leading
    /// zeros, at most 64 proof hashes of 32 bytes in standard base64, an empty line, and a
    /// syntactically valid signed note. Nothing else, and nothing after it.
    pub fn parse(text: &str) -> Result<Self, VerifyError> {
        let rest = text
            .strip_prefix(TLOG_PROOF_HEADER)
            .and_then(|r| r.strip_prefix('\n'))
            .ok_or_else(|| bad(format!("the first line is not {TLOG_PROOF_HEADER:?}")))?;
        let (extra, rest) = line(rest, "extra")?;
        let extra = extra
            .strip_prefix("extra ")
            .ok_or_else(|| bad("the second line is not \"extra <base64>\": AuditStore evidence carries its event"))?;
        let content = BASE64.decode(extra).map_err(|_| bad("the extra data is not standard base64"))?;
        let event: Event =
            serde_json::from_slice(&content).map_err(|e| bad(format!("the extra data is not an event: {e}")))?;
        let canonical = crate::jcs::to_vec(&event).map_err(|e| bad(format!("the event does not encode: {e}")))?;
        if canonical != content {
            return Err(bad("the extra data is not the canonical JSON (RFC 8785) of the normalised event"));
        }
        let (index, mut rest) = line(rest, "index")?;
        let seq = index
            .strip_prefix("index ")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n.len() == 1 || !n.starts_with('0')))
            .and_then(|n| n.parse::<u64>().ok())
            .map(Seq)
            .ok_or_else(|| bad("the third line is not \"index <decimal without leading zeros>\""))?;
        let mut proof = Vec::new();
        loop {
            let (hash, after) = line(rest, "proof")?;
            rest = after;
            if hash.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_HASHES {
                return Err(bad(format!("the inclusion proof has more than {MAX_PROOF_HASHES} hashes")));
            }
            let hash = Hash::from_base64(hash)
                .map_err(|e| bad(format!("proof line {} is not a hash: {e}", proof.len() + 1)))?;
            proof.push(hash);
        }
        // The remainder is the signed note; check its syntax now so a truncated file is
        // reported as such rather than as a bad signature.
        SignedNote::parse(rest).map_err(|e| bad(format!("the checkpoint is not a signed note: {e}")))?;
        Ok(Self { event, seq, proof, checkpoint: rest.to_owned() })
    }

    /// Verifies the evidence against trusted checkpoint keys: the checkpoint's signature
    /// (C2SP signed-note), an origin naming a ledger, the leaf hash recomputed from the event
    /// (docs/FORMAT.md §4) and the inclusion proof from it to the signed root (RFC 9162
    /// §2.1.3.2).
    pub fn verify(&self, keys: &[VerifierKey]) -> Result<VerifiedEvidence, VerifyError> {
        let checkpoint = Checkpoint::open(&self.checkpoint, keys)?;
        let ledger = ledger_of_origin(checkpoint.origin())?;
        let leaf_hash = self.event.leaf_hash();
        verify_inclusion(self.seq.get(), checkpoint.size(), &leaf_hash, &self.proof, checkpoint.root())?;
        Ok(VerifiedEvidence {
            origin: checkpoint.origin().to_owned(),
            ledger,
            tree_size: checkpoint.size(),
            seq: self.seq,
            leaf_hash,
        })
    }
}

/// The ledger an AuditStore origin (`<host>/ledgers/<ledger_id>`) names.
pub fn ledger_of_origin(origin: &str) -> Result<LedgerId, VerifyError> {
    origin
        .rsplit_once("/ledgers/")
        .filter(|(host, _)| !host.is_empty())
        .and_then(|(_, id)| LedgerId::new(id).ok())
        .ok_or_else(|| bad(format!("the checkpoint origin {origin:?} does not name a ledger (<host>/ledgers/<id>)")))
}

/// Splits off the next line (without its newline); a missing newline means the file ends
/// early.
fn line<'a>(text: &'a str, what: &str) -> Result<(&'a str, &'a str), VerifyError> {
    text.split_once('\n').ok_or_else(|| bad(format!("the file ends before its {what} line")))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::event::EventInput;
    use crate::ids::EventId;
    use crate::merkle::MemoryTree;
    use crate::note::KeyName;

    struct Fixture {
        evidence: Evidence,
        key: VerifierKey,
    }

    fn event(n: u64) -> Event {
        let input: EventInput = serde_json::from_value(serde_json::json!({
            "id": format!("evt_{n}"),
            "actor": {"type": "user", "id": "jane@example.com", "name": "Jane"},
            "action": "invoice.updated",
            "resource": {"type": "invoice", "id": format!("inv_{n}")},
            "occurred_at": "2026-11-26T12:30:00.123456+02:00",
            "metadata": {"n": n, "note": "é \u{1F600}"}
        }))
        .unwrap();
        input.into_event(|| EventId::new("unused").unwrap()).unwrap()
    }

    fn fixture(seq: u64, size: u64) -> Fixture {
        let events: Vec<Event> = (0..size).map(event).collect();
        let tree = MemoryTree::from_leaves(events.iter().map(Event::leaf_hash));
        let signing = SigningKey::from_bytes(&[7; 32]);
        let name = KeyName::new("audit.example.com").unwrap();
        let key = VerifierKey::new(name.clone(), signing.verifying_key());
        let checkpoint = Checkpoint::new("audit.example.com/ledgers/acme-prod", TreeSize(size), tree.root())
            .unwrap()
            .sign(&name, &signing)
            .unwrap();
        let proof = crate::merkle::inclusion_proof(&tree, seq, TreeSize(size)).unwrap();
        Fixture { evidence: Evidence::new(events[seq as usize].clone(), Seq(seq), proof, checkpoint), key }
    }

    fn verify_text(text: &str, key: &VerifierKey) -> Result<VerifiedEvidence, VerifyError> {
        Evidence::parse(text)?.verify(std::slice::from_ref(key))
    }

    #[test]
    fn evidence_round_trips_and_verifies_for_every_position() {
        for size in [1, 2, 7, 16, 21] {
            for seq in 0..size {
                let f = fixture(seq, size);
                let text = f.evidence.encode().unwrap();
                let parsed = Evidence::parse(&text).unwrap();
                assert_eq!(parsed, f.evidence);
                let verified = parsed.verify(std::slice::from_ref(&f.key)).unwrap();
                assert_eq!((verified.seq, verified.tree_size), (Seq(seq), TreeSize(size)));
                assert_eq!(verified.ledger.as_str(), "acme-prod");
                assert_eq!(verified.leaf_hash, f.evidence.event().leaf_hash());
            }
        }
    }

    /// Replaces the base64 of the extra line by that of `content`.
    fn with_extra(text: &str, content: &str) -> String {
        let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
        lines[1] = format!("extra {}", BASE64.encode(content));
        lines.join("\n")
    }

    #[test]
    fn tampered_evidence_fails() {
        let f = fixture(5, 21);
        let text = f.evidence.encode().unwrap();
        assert!(verify_text(&text, &f.key).is_ok(), "the honest twin verifies");

        // An altered field of the event: its leaf no longer leads to the root.
        let content = String::from_utf8(crate::jcs::to_vec(f.evidence.event()).unwrap()).unwrap();
        let altered = with_extra(&text, &content.replace("inv_5", "inv_6"));
        assert_eq!(verify_text(&altered, &f.key), Err(VerifyError::RootMismatch));
        // The event of another position, claimed at this one.
        let other = String::from_utf8(crate::jcs::to_vec(&event(6)).unwrap()).unwrap();
        assert_eq!(verify_text(&with_extra(&text, &other), &f.key), Err(VerifyError::RootMismatch));
        // Another index.
        let moved = text.replace("\nindex 5\n", "\nindex 4\n");
        assert!(verify_text(&moved, &f.key).is_err());
        // A proof hash altered, removed or added.
        let lines: Vec<&str> = text.split('\n').collect();
        let flipped = {
            let mut raw = BASE64.decode(lines[3]).unwrap();
            raw[0] ^= 1;
            text.replacen(lines[3], &BASE64.encode(raw), 1)
        };
        assert_eq!(verify_text(&flipped, &f.key), Err(VerifyError::RootMismatch));
        let removed = text.replacen(&format!("{}\n", lines[3]), "", 1);
        assert!(matches!(verify_text(&removed, &f.key), Err(VerifyError::ProofLength { .. })));
        let added = text.replacen(&format!("{}\n", lines[3]), &format!("{}\n{}\n", lines[3], lines[3]), 1);
        assert!(matches!(verify_text(&added, &f.key), Err(VerifyError::ProofLength { .. })));
        // A forged checkpoint: another root, its old signature.
        let root = Checkpoint::parse_body(SignedNote::parse(f.evidence.checkpoint()).unwrap().unverified_text())
            .unwrap()
            .root()
            .to_base64();
        let forged = text.replace(&root, &Hash::digest(b"forged").to_base64());
        assert!(matches!(verify_text(&forged, &f.key), Err(VerifyError::InvalidSignature { .. })));
        // A wrong key.
        let other_key = VerifierKey::new(
            KeyName::new("audit.example.com").unwrap(),
            SigningKey::from_bytes(&[8; 32]).verifying_key(),
        );
        assert_eq!(verify_text(&text, &other_key), Err(VerifyError::NoKnownSignature));
    }

    #[test]
    fn malformed_evidence_is_refused_as_such() {
        let f = fixture(3, 8);
        let text = f.evidence.encode().unwrap();
        let content = String::from_utf8(crate::jcs::to_vec(f.evidence.event()).unwrap()).unwrap();
        let cases = [
            ("truncated", text[..text.len() / 2].to_owned()),
            ("truncated signature", text[..text.len() - 1].to_owned()),
            ("trailing data", format!("{text}extra\n")),
            ("another format", text.replace(TLOG_PROOF_HEADER, "c2sp.org/tlog-proof@v2")),
            ("no extra", text.replacen(&format!("{}\n", text.split('\n').nth(1).unwrap()), "", 1)),
            ("leading zero", text.replace("\nindex 3\n", "\nindex 03\n")),
            ("non-canonical event", with_extra(&text, &content.replace("{\"action\"", "{ \"action\""))),
            ("not base64", text.replacen("\nextra ", "\nextra !", 1)),
        ];
        for (what, bad_text) in cases {
            let got = verify_text(&bad_text, &f.key);
            assert!(
                matches!(got, Err(VerifyError::MalformedEvidence(_)) | Err(VerifyError::MalformedNote(_))),
                "{what}: {got:?}"
            );
        }
        assert!(ledger_of_origin("example.com/log").is_err());
        assert!(ledger_of_origin("/ledgers/x").is_err());
        assert_eq!(ledger_of_origin("a.example/ledgers/acme").unwrap().as_str(), "acme");
    }
}
