//! AuditStore's published event vectors, `docs/vectors/events.json`: generated from the code,
//! checked against the code on every run, and re-derived independently with plain SHA-256 so
//! the format itself — not just this implementation — is pinned.
//!
//! Regenerate after an intended format change with
//! `AUDITSTORE_UPDATE_VECTORS=1 cargo test -p audit-core --test it event_vectors`.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use audit_core::{chain_hash, genesis, CompactRange, Event, LedgerId};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/events.json");
const LEDGER: &str = "acme-prod";

/// The ingest bodies, as a client would write them (escapes and all).
const EVENTS: &[&str] = &[
    r#"{"id": "evt_0001", "actor": {"type": "user", "id": "u_123", "name": "Jane Doe"}, "action": "invoice.updated",
        "resource": {"type": "invoice", "id": "inv_42", "name": "Invoice 42"}, "occurred_at": "2026-11-26T10:00:00.123Z",
        "metadata": {}}"#,
    r#"{"id": "evt_0002", "actor": {"type": "service", "id": "billing-worker"}, "action": "invoice.paid",
        "resource": {"type": "invoice", "id": "inv_42"}, "occurred_at": "2026-11-26T10:00:01Z"}"#,
    r#"{"id": "evt_0003", "actor": {"type": "user", "id": "u_123", "name": "Jane \"JD\" Doe \u2013 Zo\u00eb \ud83d\ude00"},
        "action": "user.renamed", "resource": {"type": "user", "id": "u_123"}, "occurred_at": "2026-11-26T10:00:02.5Z",
        "metadata": {"old": "Jane Doe", "new": "Jane \"JD\" Doe \u2013 Zoë 😀"}}"#,
    r#"{"id": "evt_0004", "actor": {"type": "user", "id": "u_7"}, "action": "note.created",
        "resource": {"type": "note", "id": "n_1"}, "occurred_at": "2026-11-26T10:00:03.000Z",
        "metadata": {"text": "caf\u00e9 na\u00efve \u65e5\u672c\u8a9e \ud834\udd1e 😀", "escapes": "quote\" backslash\\ slash\/ nl\n tab\t cr\r bs\b ff\f ctl\u0001\u001f del\u007f ls\u2028 ps\u2029",
                     "e\u0301": "combining accent key", "\u00e9": "precomposed key"}}"#,
    r#"{"id": "evt_0005", "actor": {"type": "user", "id": "u_7"}, "action": "measurement.recorded",
        "resource": {"type": "sensor", "id": "s_9"}, "occurred_at": "2026-11-26T10:00:04.001Z",
        "metadata": {"big": 1e30, "small": 1.5e-7, "int_as_float": 10.0, "neg_zero": -0, "above_2_53": 9007199254740993,
                     "max_safe": 9007199254740991, "neg": -42, "tenth": 0.1, "third": 0.3333333333333333,
                     "e21": 1e21, "e20": 100000000000000000000, "micro": 0.000001, "tiny": 5e-324, "huge": 1.7976931348623157e308}}"#,
    r#"{"id": "evt_0006", "actor": {"type": "user", "id": "u_8"}, "action": "config.changed",
        "resource": {"type": "ledger", "id": "acme-prod"}, "occurred_at": "2026-11-26T10:00:05.999Z",
        "metadata": {"a": {"b": {"c": [1, [2, [3, {"d": {}}]]]}}, "empty_object": {}, "empty_array": [], "null": null,
                     "yes": true, "no": false, "mixed": [null, true, 0, "", {}, []]}}"#,
    r#"{"id": "evt_0007", "actor": {"type": "user", "id": "u_8"}, "action": "keys.sorted",
        "resource": {"type": "doc", "id": "d_1"}, "occurred_at": "2026-11-26T10:00:06.000Z",
        "metadata": {"\uff5e": "U+FF5E sorts after U+1F600 in UTF-16", "😀": "surrogate pair D83D DE00", "\u20ac": "euro",
                     "a": 1, "B": 2, "10": 3, "9": 4, "": "empty key", "aa": 5, "a\u0000": "nul in key"}}"#,
    r#"{"id": "evt_0008", "actor": {"type": "user", "id": "u_9"}, "action": "login.succeeded",
        "resource": {"type": "session", "id": "sess_1"}, "occurred_at": "2026-11-26T12:30:00.123456789+02:30"}"#,
    r#"{"id": "evt_0009", "actor": {"type": "user", "id": "u_9"}, "action": "login.failed",
        "resource": {"type": "session", "id": "sess_2"}, "occurred_at": "2026-12-31T20:00:00.9999-05:00",
        "metadata": {"reason": "bad_totp"}}"#,
    r#"{"id": "evt_01J:ab-CD.9_x", "actor": {"type": "api.key", "id": "ak_live:01-AB.cd"}, "action": "export.started",
        "resource": {"type": "export", "id": "exp_1"}, "occurred_at": "1999-12-31T23:59:59.9999999Z",
        "metadata": {"format": "parquet", "range": {"start": 0, "end": 1000}}}"#,
    r#"{"id": "evt_0011", "actor": {"type": "system", "id": "retention"}, "action": "event.archived",
        "resource": {"type": "event", "id": "evt_0002", "name": "\u0130stanbul \u00df \u2126 \ufb01"},
        "occurred_at": "2026-11-26T10:00:10.000+00:00", "metadata": {"numbers_as_strings": ["1e30", "-0", "0.1"], "nested_arrays": [[[[]]]]}}"#,
    r#"{"id": "evt_0012", "actor": {"type": "user", "id": "u_10", "name": "\u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd"},
        "action": "hold.placed", "resource": {"type": "ledger", "id": "acme-prod", "name": "Production ledger"},
        "occurred_at": "2026-11-26T10:00:11.010Z", "metadata": {"deep": {"l2": {"l3": {"l4": {"l5": {"l6": {"l7": {"l8": "bottom"}}}}}}}}}"#,
    r#"{"id": "evt_0013", "actor": {"type": "user", "id": "jane.doe+audit@acme.example", "name": "Jane Doe"},
        "action": "object.deleted", "resource": {"type": "s3_object", "id": "arn:aws:s3:::acme-invoices/2026/11/inv 42.pdf"},
        "occurred_at": "2026-11-26T10:00:12.000Z"}"#,
    r#"{"id": "evt_0014", "actor": {"type": "user", "id": "auth0|5f7c8ec7c33c6c004bbafe82"}, "action": "page.viewed",
        "resource": {"type": "url", "id": "/invoices/42?view=full&lang=fr#top"}, "occurred_at": "2026-11-26T10:00:13.000Z",
        "metadata": {"note": "ids with @, |, :, /, ?, &, # and spaces hash like any other string"}}"#,
    r#"{"id": "evt_0015", "actor": {"type": "user", "id": "Zo\u00eb \u65e5\u672c \ud83d\ude00"}, "action": "profile.updated",
        "resource": {"type": "user", "id": "\u00e9\u0301 combining"}, "occurred_at": "2026-11-26T10:00:14.000Z"}"#,
];

/// What the code computes for [`EVENTS`], as the published JSON text.
fn generate() -> String {
    let ledger = LedgerId::new(LEDGER).unwrap();
    let mut prev = genesis(&ledger);
    let mut tree = CompactRange::default();
    let mut out = Vec::new();
    for text in EVENTS {
        let sent: Value = serde_json::from_str(text).unwrap();
        // Read as a stored event: evt_0005 holds an integer beyond 2^53 - 1, which ingest now
        // refuses (docs/vectors/refusals.json) but which events stored earlier may hold, and
        // verifiers must hash them as shown here.
        let event: Event = serde_json::from_str(text).unwrap();
        let leaf = event.leaf_hash();
        prev = chain_hash(&prev, &leaf);
        tree.push(leaf);
        out.push(json!({
            "event": sent,
            "metadata_hash": event.metadata_hash(),
            "entry": event.entry(),
            "leaf_hash": leaf,
            "chain_hash": prev,
            "root": tree.root(),
        }));
    }
    let doc = json!({
        "ledger_id": LEDGER,
        "genesis": genesis(&ledger),
        "events": out,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap();
    text.push('\n');
    text
}

#[test]
fn published_vectors_match_the_code() {
    let want = generate();
    if std::env::var_os("AUDITSTORE_UPDATE_VECTORS").is_some() {
        std::fs::write(PATH, &want).unwrap();
    }
    let have = std::fs::read_to_string(PATH).unwrap_or_default();
    assert!(
        have == want,
        "docs/vectors/events.json differs from what the code computes; if the format change \
         is intended, regenerate with AUDITSTORE_UPDATE_VECTORS=1 cargo test -p audit-core"
    );
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// RFC 9162 MTH from the definition.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            sha256(&[&[1], &mth(&leaves[..k]), &mth(&leaves[k..])])
        }
    }
}

fn hex32(v: &Value) -> [u8; 32] {
    let s = v.as_str().unwrap();
    assert_eq!(s, s.to_lowercase(), "hex must be lowercase");
    hex::decode(s).unwrap().try_into().unwrap()
}

fn is_normalised_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
        && [0..4, 5..7, 8..10, 11..13, 14..16, 17..19, 20..23].into_iter().all(|r| b[r].iter().all(u8::is_ascii_digit))
}

/// Re-derives every hash in the published file from the file alone: plain SHA-256, the
/// general RFC 8785 canonicalizer, and the definitions of DESIGN §3.
#[test]
fn published_vectors_follow_the_format() {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let ledger = doc["ledger_id"].as_str().unwrap();
    let genesis = sha256(&[b"auditstore/v1/genesis\n", ledger.as_bytes()]);
    assert_eq!(hex32(&doc["genesis"]), genesis);
    let events = doc["events"].as_array().unwrap();
    assert!(events.len() >= 12);
    let mut prev = genesis;
    let mut leaves = Vec::new();
    for (i, v) in events.iter().enumerate() {
        let sent = &v["event"];
        let metadata = sent.get("metadata").cloned().unwrap_or(json!({}));
        let jcs = serde_json_canonicalizer::to_vec(&metadata).unwrap();
        assert_eq!(hex32(&v["metadata_hash"]), sha256(&[&jcs]), "event {i}: metadata_hash");

        let entry_text = v["entry"].as_str().unwrap();
        let entry: Map<String, Value> = serde_json::from_str(entry_text).unwrap();
        // The entry is canonical, has exactly the core members, and carries the event's values.
        assert_eq!(serde_json_canonicalizer::to_string(&entry).unwrap(), entry_text);
        let keys: Vec<&str> = entry.keys().map(String::as_str).collect();
        let mut want_keys = vec!["action", "actor", "id", "metadata_hash", "occurred_at", "resource"];
        want_keys.sort();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, want_keys, "event {i}");
        for k in ["id", "actor", "action", "resource"] {
            assert_eq!(entry[k], sent[k], "event {i}: {k}");
        }
        assert_eq!(entry["metadata_hash"], v["metadata_hash"]);
        let t = entry["occurred_at"].as_str().unwrap();
        assert!(is_normalised_time(t), "event {i}: {t}");
        let sent_t = sent["occurred_at"].as_str().unwrap();
        if is_normalised_time(sent_t) {
            assert_eq!(t, sent_t);
        }

        let leaf = sha256(&[&[0], entry_text.as_bytes()]);
        assert_eq!(hex32(&v["leaf_hash"]), leaf, "event {i}: leaf_hash");
        prev = sha256(&[&[2], &prev, &leaf]);
        assert_eq!(hex32(&v["chain_hash"]), prev, "event {i}: chain_hash");
        leaves.push(leaf);
        assert_eq!(hex32(&v["root"]), mth(&leaves), "event {i}: root");
    }
    // Normalisation examples the documentation quotes.
    let times: Vec<&str> = events.iter().map(|v| v["entry"].as_str().unwrap()).collect();
    assert!(times[7].contains("\"occurred_at\":\"2026-11-26T10:00:00.123Z\""));
    assert!(times[8].contains("\"occurred_at\":\"2027-01-01T01:00:00.999Z\""));
    assert!(times[1].contains("\"occurred_at\":\"2026-11-26T10:00:01.000Z\""));
}

#[test]
fn a_tampered_vector_is_detected() {
    // The twin of the test above: the same derivation rejects an altered event.
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let v = &doc["events"][4];
    let mut metadata = v["event"]["metadata"].clone();
    metadata["neg"] = json!(-43);
    let jcs = serde_json_canonicalizer::to_vec(&metadata).unwrap();
    assert_ne!(hex32(&v["metadata_hash"]), sha256(&[&jcs]));
    let entry = v["entry"].as_str().unwrap().replace("u_7", "u_8");
    assert_ne!(hex32(&v["leaf_hash"]), sha256(&[&[0], entry.as_bytes()]));
}

/// The range-proof walk worked through in docs/FORMAT.md §9, over the vector leaves.
#[test]
fn documented_range_proof_example() {
    use audit_core::merkle::{range_proof, verify_range};
    use audit_core::{Hash, MemoryTree, TreeSize};
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let leaves: Vec<Hash> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Hash::from_hex(v["leaf_hash"].as_str().unwrap()).unwrap())
        .collect();
    // The documented example is the tree of the first 12 vectors.
    let tree = MemoryTree::from_leaves(leaves[..12].iter().copied());
    let size = TreeSize(12);
    let proof = range_proof(&tree, 3, 6, size).unwrap();
    let want: Vec<Hash> = [
        "a8fcb2c2a31be440c773c1d497312229a4ae2cf31da8f1b02a174effacd4d369",
        "bd39949d8052dd2aca2345105056dd41f8651c019529c0baf35fcbd46d9c27ef",
        "25a90ab36be5191a4626de05face4c39430f29e659dd8266bf9c30ea86d0859c",
        "1a2e3685e06a62010045816d74dbffd38987c09cff0b6e8a8b05ee617329ecf7",
    ]
    .iter()
    .map(|h| Hash::from_hex(h).unwrap())
    .collect();
    assert_eq!(proof, want);
    let root = Hash::from_hex("50a15f531ec98d198c6381ee499feb958dc5978a8b70664fbe5b17fe9c52b528").unwrap();
    assert_eq!(tree.root(), root);
    assert!(verify_range(3, 6, size, &leaves[3..6], &proof, &root).is_ok());
    // Twin: the same proof does not prove leaves 2..5.
    assert!(verify_range(3, 6, size, &leaves[2..5], &proof, &root).is_err());
}
