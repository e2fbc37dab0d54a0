//! The published example export (docs/vectors/export/): the vector events
//! of docs/vectors/events.json as an export signed with a published test
//! key, and a tampered twin, each with its expected verdict. The real
//! `auditstore verify` must reach exactly those verdicts; the files are
//! checked to hold the rows this code writes today. Regenerate them with
//! `AUDITSTORE_UPDATE_VECTORS=1 cargo test -p server --test it export_vectors`.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use audit_core::export::{EventsFormat, ExportRow, RangeProofMember};
use audit_core::merkle::range_proof;
use audit_core::{
    chain_hash, genesis, Checkpoint, Event, KeyName, LedgerId, MemoryTree, OccurredAt, TreeSize, VerifierKey,
};
use serde_json::Value;
use sha2::Digest as _;
use store::lifecycle::exports::{ExportHead, ExportProof, ExportZip};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors")
}

/// The test key's seed: SHA-256 of a published string, so anyone can re-sign the vector. It
/// signs nothing else.
fn test_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&sha2::Sha256::digest(b"auditstore/v1/export-vector-test-key").into())
}

/// The rows of the vector ledger, their hashes checked against the vector file.
fn rows() -> (LedgerId, Vec<ExportRow>) {
    let text = std::fs::read_to_string(vectors().join("events.json")).expect("events.json");
    let file: Value = serde_json::from_str(&text).expect("json");
    let ledger = LedgerId::new(file["ledger_id"].as_str().expect("ledger id")).expect("ledger id");
    let mut chain = genesis(&ledger);
    let mut rows = Vec::new();
    for (seq, vector) in file["events"].as_array().expect("events").iter().enumerate() {
        // Read as stored events are: evt_0005 holds an integer above 2^53 from before such
        // integers were refused; the export writes its metadata canonical, with the double it
        // is hashed as.
        let event: Event = serde_json::from_value(vector["event"].clone()).expect("event");
        let leaf = event.leaf_hash();
        assert_eq!(leaf.to_hex(), vector["leaf_hash"].as_str().expect("leaf"));
        chain = chain_hash(&chain, &leaf);
        assert_eq!(chain.to_hex(), vector["chain_hash"].as_str().expect("chain"));
        rows.push(ExportRow { seq: seq as u64, leaf_hash: leaf, chain_hash: chain, event: Some(event) });
    }
    (ledger, rows)
}

fn write(ledger: &LedgerId, rows: &[ExportRow], signed_rows: &[ExportRow], format: EventsFormat) -> Vec<u8> {
    let size = signed_rows.len() as u64;
    let tree = MemoryTree::from_leaves(signed_rows.iter().map(|r| r.leaf_hash));
    let name = KeyName::new("vectors.auditstore.example").expect("name");
    let key = test_key();
    let origin = format!("audit.example.com/ledgers/{ledger}");
    let checkpoint = Checkpoint::new(origin, TreeSize(size), tree.root()).expect("cp").sign(&name, &key).expect("sign");
    let created_at = OccurredAt::parse("2026-12-02T00:00:00Z").expect("time");
    let mut zip = ExportZip::new(Vec::new(), &created_at, format, false).expect("zip");
    for row in rows {
        zip.row(row).expect("row");
    }
    let head = ExportHead {
        export_id: "exp_vector".into(),
        ledger: ledger.clone(),
        checkpoint,
        verifier_key: VerifierKey::new(name, key.verifying_key()).to_string(),
        proof: ExportProof::Range(RangeProofMember {
            kind: "range".into(),
            start: 0,
            end: size,
            tree_size: size,
            chain_hash_before: genesis(ledger),
            hashes: range_proof(&tree, 0, size, TreeSize(size)).expect("proof"),
        }),
    };
    zip.finish(head, &created_at).expect("finish").1
}

/// The rows member (`events.jsonl`, `events.csv` or `events.parquet`) of an export ZIP.
fn rows_member(zip: &[u8]) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("zip");
    let name = ["events.jsonl", "events.csv", "events.parquet"]
        .into_iter()
        .find(|n| archive.index_for_name(n).is_some())
        .expect("rows");
    let mut bytes = Vec::new();
    archive.by_name(name).expect("rows").read_to_end(&mut bytes).expect("read");
    bytes
}

#[tokio::test]
async fn the_published_example_export_gets_its_expected_verdicts() {
    let (ledger, rows) = rows();
    // The twin: event 3's content altered, its hashes (and the file's digests) left consistent.
    let mut altered = rows.clone();
    let mut input = altered[3].event.as_ref().expect("content").to_input();
    input.metadata = Some(serde_json::json!({"text": "altered after the fact"}));
    altered[3].event = Some(input.into_event(|| audit_core::EventId::new("unused").expect("id")).expect("event"));
    let dir = vectors().join("export");
    let files = [
        ("acme-prod.zip", write(&ledger, &rows, &rows, EventsFormat::Jsonl)),
        ("acme-prod-altered.zip", write(&ledger, &altered, &rows, EventsFormat::Jsonl)),
        ("acme-prod-csv.zip", write(&ledger, &rows, &rows, EventsFormat::Csv)),
        ("acme-prod-parquet.zip", write(&ledger, &rows, &rows, EventsFormat::Parquet)),
        ("acme-prod-parquet-altered.zip", write(&ledger, &altered, &rows, EventsFormat::Parquet)),
    ];
    if std::env::var_os("AUDITSTORE_UPDATE_VECTORS").is_some() {
        std::fs::create_dir_all(&dir).expect("dir");
        for (name, bytes) in &files {
            std::fs::write(dir.join(name), bytes).expect("write");
        }
        let key =
            VerifierKey::new(KeyName::new("vectors.auditstore.example").expect("name"), test_key().verifying_key());
        std::fs::write(dir.join("acme-prod.vkey"), format!("{key}\n")).expect("write key");
    }
    // The committed files hold the rows written today (their deflate bytes may differ
    // between library versions; their content may not).
    for (name, bytes) in &files {
        let committed = std::fs::read(dir.join(name)).expect("committed vector");
        assert_eq!(rows_member(&committed), rows_member(bytes), "{name} is out of date: regenerate it");
    }

    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"))
            .expect("json");
    for case in expected["cases"].as_array().expect("cases") {
        let file = dir.join(case["file"].as_str().expect("file"));
        let key = dir.join(case["key_file"].as_str().expect("key file"));
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_auditstore"))
            .arg("verify")
            .arg(&file)
            .arg("--key-file")
            .arg(&key)
            .output()
            .await
            .expect("verify runs");
        let out = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), case["exit"].as_i64().map(|c| c as i32), "{}: {out}", file.display());
        for says in case["output_contains"].as_array().expect("lines") {
            assert!(out.contains(says.as_str().expect("text")), "{} should say {says}: {out}", file.display());
        }
    }
    // The key file is the test key, so a third party can check it.
    let vkey = std::fs::read_to_string(dir.join("acme-prod.vkey")).expect("vkey");
    let key: VerifierKey = vkey.trim().parse().expect("verifier key");
    assert_eq!(key.verifying_key(), &test_key().verifying_key());
}
