//! An export built in memory from a ledger of events, verified, and its tampered twins.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;

use super::*;
use crate::chain::{chain_hash, genesis};
use crate::checkpoint::Checkpoint;
use crate::error::VerifyError;
use crate::event::{Event, EventInput};
use crate::hash::Hash;
use crate::ids::{EventId, LedgerId, TreeSize};
use crate::merkle::{inclusion_proof, range_proof, MemoryTree};
use crate::note::{KeyName, VerifierKey};

const ORIGIN: &str = "audit.example.com/ledgers/acme-prod";

struct Ledger {
    rows: Vec<ExportRow>,
    tree: MemoryTree,
    checkpoint: String,
    key: VerifierKey,
}

fn event(n: u64, note: &str) -> Event {
    let input: EventInput = serde_json::from_value(serde_json::json!({
        "id": format!("evt_{n}"),
        "actor": {"type": "user", "id": "jane@example.com"},
        "action": "invoice.updated",
        "resource": {"type": "invoice", "id": format!("inv_{n}")},
        "occurred_at": "2026-12-02T10:00:00Z",
        "metadata": {"n": n, "note": note}
    }))
    .unwrap();
    input.into_event(|| EventId::new("unused").unwrap()).unwrap()
}

fn ledger(size: u64) -> Ledger {
    let id = LedgerId::new("acme-prod").unwrap();
    let mut chain = genesis(&id);
    let mut rows = Vec::new();
    for n in 0..size {
        let event = event(n, "ok");
        let leaf = event.leaf_hash();
        chain = chain_hash(&chain, &leaf);
        rows.push(ExportRow { seq: n, leaf_hash: leaf, chain_hash: chain, event: Some(event) });
    }
    let tree = MemoryTree::from_leaves(rows.iter().map(|r| r.leaf_hash));
    let signing = SigningKey::from_bytes(&[3; 32]);
    let name = KeyName::new("audit.example.com").unwrap();
    let checkpoint = Checkpoint::new(ORIGIN, TreeSize(size), tree.root()).unwrap().sign(&name, &signing).unwrap();
    Ledger { rows, tree, checkpoint, key: VerifierKey::new(name, signing.verifying_key()) }
}

fn manifest(start: u64, end: u64, size: u64, filter: bool, events: u64) -> Manifest {
    Manifest {
        format: EXPORT_FORMAT_V1.into(),
        export_id: "exp_1".into(),
        ledger: "acme-prod".into(),
        origin: ORIGIN.into(),
        created_at: "2026-12-02T10:00:00.000Z".into(),
        events_format: EventsFormat::Jsonl,
        range: SeqRange { start, end },
        filter: filter.then(|| serde_json::Map::from_iter([("actor_id".to_owned(), serde_json::json!("jane"))])),
        tree_size: size,
        counts: Counts { events, tombstones: 0 },
        members: BTreeMap::new(),
    }
}

fn range_member(l: &Ledger, start: u64, end: u64) -> RangeProofMember {
    let size = l.tree.size();
    let chain_hash_before =
        if start == 0 { genesis(&LedgerId::new("acme-prod").unwrap()) } else { l.rows[start as usize - 1].chain_hash };
    RangeProofMember {
        kind: "range".into(),
        start,
        end,
        tree_size: size.get(),
        chain_hash_before,
        hashes: range_proof(&l.tree, start, end, size).unwrap(),
    }
}

/// Verifies `rows` (round-tripped through JSON Lines) as the export of `[start, end)`.
fn verify_contiguous(
    l: &Ledger,
    start: u64,
    end: u64,
    rows: &[ExportRow],
    m: Manifest,
) -> Result<VerifiedExport, VerifyError> {
    let mut v = ExportVerifier::new(m, &l.checkpoint, std::slice::from_ref(&l.key), Some(range_member(l, start, end)))?;
    for row in rows {
        v.row(&RowHashes::from_jsonl(&row.to_jsonl()?)?, None)?;
    }
    v.finish()
}

fn slice(l: &Ledger, start: u64, end: u64) -> Vec<ExportRow> {
    l.rows[start as usize..end as usize].to_vec()
}

#[test]
fn a_contiguous_export_verifies_for_every_range() {
    for size in [1u64, 2, 5, 16, 23] {
        let l = ledger(size);
        for start in 0..size {
            for end in start + 1..=size {
                let verified = verify_contiguous(
                    &l,
                    start,
                    end,
                    &slice(&l, start, end),
                    manifest(start, end, size, false, end - start),
                )
                .unwrap();
                assert_eq!((verified.rows, verified.filtered), (end - start, false));
            }
        }
    }
}

fn expect_mismatch(result: Result<VerifiedExport, VerifyError>, at: (u64, u64), says: &str) {
    match result {
        Err(VerifyError::ExportMismatch { start, end, what }) => {
            assert_eq!((start, end), at, "{what}");
            assert!(what.contains(says), "{what} should say {says:?}");
        }
        other => panic!("expected a mismatch at {at:?}, got {other:?}"),
    }
}

#[test]
fn each_tampered_twin_of_a_contiguous_export_fails_naming_its_seqs() {
    let l = ledger(23);
    let (start, end) = (4, 19);
    let honest = slice(&l, start, end);
    let m = || manifest(start, end, 23, false, end - start);
    assert!(verify_contiguous(&l, start, end, &honest, m()).is_ok(), "the honest twin verifies");

    // An altered field, its hashes left alone.
    let mut rows = honest.clone();
    rows[3].event = Some(event(7, "altered"));
    expect_mismatch(verify_contiguous(&l, start, end, &rows, m()), (7, 8), "altered field");
    // An altered field with its leaf and chain hashes recomputed: only the signed root catches it.
    let mut rows = honest.clone();
    let forged = event(7, "altered");
    rows[3].leaf_hash = forged.leaf_hash();
    rows[3].event = Some(forged);
    for i in 3..rows.len() {
        let before = if i == 0 { l.rows[start as usize - 1].chain_hash } else { rows[i - 1].chain_hash };
        rows[i].chain_hash = chain_hash(&before, &rows[i].leaf_hash);
    }
    expect_mismatch(verify_contiguous(&l, start, end, &rows, m()), (start, end), "signed root");
    // A removed row, two rows swapped, a row appended.
    let mut rows = honest.clone();
    rows.remove(5);
    expect_mismatch(verify_contiguous(&l, start, end, &rows, m()), (9, 11), "expected seq 9");
    let mut rows = honest.clone();
    rows.swap(2, 3);
    expect_mismatch(verify_contiguous(&l, start, end, &rows, m()), (6, 8), "expected seq 6");
    let mut rows = honest.clone();
    rows.push(l.rows[end as usize].clone());
    expect_mismatch(verify_contiguous(&l, start, end, &rows, m()), (end, end + 1), "beyond the range");
    // A truncated tail.
    expect_mismatch(verify_contiguous(&l, start, end, &honest[..10], m()), (14, end), "missing");
    // An altered chain hash.
    let mut rows = honest.clone();
    rows[8].chain_hash = Hash::digest(b"x");
    expect_mismatch(verify_contiguous(&l, start, end, &rows, m()), (12, 13), "chain breaks");
    // The manifest's count off by one.
    let result = verify_contiguous(&l, start, end, &honest, manifest(start, end, 23, false, end - start + 1));
    assert!(matches!(result, Err(VerifyError::MalformedExport(_))), "{result:?}");
    // A forged checkpoint (another root under the old signature), a wrong key.
    let root = l.tree.root().to_base64();
    let forged = Ledger { checkpoint: l.checkpoint.replace(&root, &Hash::digest(b"r").to_base64()), ..ledger(23) };
    let result = verify_contiguous(&forged, start, end, &honest, m());
    assert!(matches!(result, Err(VerifyError::InvalidSignature { .. })), "{result:?}");
    let other = Ledger {
        key: VerifierKey::new(
            KeyName::new("audit.example.com").unwrap(),
            SigningKey::from_bytes(&[4; 32]).verifying_key(),
        ),
        ..ledger(23)
    };
    let result = verify_contiguous(&other, start, end, &honest, m());
    assert_eq!(result, Err(VerifyError::NoKnownSignature));
}

#[test]
fn the_start_of_a_ledger_must_chain_from_its_genesis_and_tombstones_verify() {
    let l = ledger(9);
    let mut proof = range_member(&l, 0, 9);
    proof.chain_hash_before = Hash::digest(b"not genesis");
    let result =
        ExportVerifier::new(manifest(0, 9, 9, false, 9), &l.checkpoint, std::slice::from_ref(&l.key), Some(proof))
            .err();
    assert!(matches!(result, Some(VerifyError::ExportMismatch { start: 0, .. })), "{result:?}");
    // A tombstone keeps its seq and hashes: the range still verifies, and it is counted.
    let mut rows = slice(&l, 0, 9);
    rows[4].event = None;
    let mut m = manifest(0, 9, 9, false, 9);
    assert!(matches!(verify_contiguous(&l, 0, 9, &rows, m.clone()), Err(VerifyError::MalformedExport(_))));
    m.counts.tombstones = 1;
    let verified = verify_contiguous(&l, 0, 9, &rows, m).unwrap();
    assert_eq!(verified.tombstones, 1);
}

#[test]
fn a_filtered_export_proves_each_event_and_its_twins_fail() {
    let l = ledger(30);
    let picked = [2u64, 3, 11, 29];
    let verify = |rows: &[ExportRow], proofs: &[InclusionLine]| {
        let mut v = ExportVerifier::new(
            manifest(0, 30, 30, true, rows.len() as u64),
            &l.checkpoint,
            std::slice::from_ref(&l.key),
            None,
        )?;
        for (row, proof) in rows.iter().zip(proofs) {
            v.row(&row.hashes(), Some(proof))?;
        }
        v.finish()
    };
    let rows: Vec<ExportRow> = picked.iter().map(|&s| l.rows[s as usize].clone()).collect();
    let proofs: Vec<InclusionLine> = picked
        .iter()
        .map(|&s| InclusionLine { seq: s, hashes: inclusion_proof(&l.tree, s, TreeSize(30)).unwrap() })
        .collect();
    let verified = verify(&rows, &proofs).unwrap();
    assert!(verified.filtered);
    assert_eq!(verified.rows, 4);

    let mut bad = proofs.clone();
    bad[2].hashes[0] = Hash::digest(b"x");
    expect_mismatch(verify(&rows, &bad), (11, 12), "inclusion proof");
    let mut swapped = rows.clone();
    swapped.swap(1, 2);
    let mut swapped_proofs = proofs.clone();
    swapped_proofs.swap(1, 2);
    expect_mismatch(verify(&swapped, &swapped_proofs), (3, 4), "out of order");
    let mut altered = rows.clone();
    altered[0].event = Some(event(2, "altered"));
    expect_mismatch(verify(&altered, &proofs), (2, 3), "altered field");
    assert!(ExportVerifier::new(
        manifest(0, 30, 30, true, 4),
        &l.checkpoint,
        std::slice::from_ref(&l.key),
        Some(range_member(&l, 0, 30))
    )
    .is_err());
}

#[test]
fn rows_parse_strictly() {
    let l = ledger(2);
    let line = l.rows[1].to_jsonl().unwrap();
    assert_eq!(ExportRow::from_jsonl(&line).unwrap(), l.rows[1]);
    let tombstone = ExportRow { event: None, ..l.rows[1].clone() };
    let line = tombstone.to_jsonl().unwrap();
    assert!(line.contains("\"tombstone\":true") && !line.contains("\"event\""), "{line}");
    assert_eq!(ExportRow::from_jsonl(&line).unwrap(), tombstone);
    for bad in [
        line.replace("\"tombstone\":true", "\"tombstone\":false"),
        line.replace('}', ",\"extra\":1}"),
        l.rows[1].to_jsonl().unwrap().replace('}', ",\"tombstone\":true}"),
    ] {
        assert!(matches!(ExportRow::from_jsonl(&bad), Err(VerifyError::MalformedExport(_))), "{bad}");
        assert!(matches!(RowHashes::from_jsonl(&bad), Err(VerifyError::MalformedExport(_))), "{bad}");
    }
}
