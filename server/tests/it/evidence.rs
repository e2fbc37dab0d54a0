//! Per-event evidence over real HTTPS on both backends, verified offline by
//! the real `auditstore verify`; every tampered twin must fail.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::api::{account, servers, Account};
use crate::common::auditstore_verify as verify;

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

async fn text(acct: &Account, path: &str, key: &str) -> String {
    let response = acct.client.get(acct.server.url(path)).bearer_auth(key).send().await.expect("response");
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("text")
}

/// Replaces line `n` (0-based) of `text`.
fn with_line(text: &str, n: usize, line: &str) -> String {
    let mut lines: Vec<&str> = text.split('\n').collect();
    lines[n] = line;
    lines.join("\n")
}

#[tokio::test]
async fn evidence_verifies_offline_and_every_tampered_twin_fails() {
    for server in servers().await {
        let acct = account(server).await;
        let ledger = acct.ledger("evidence").await;
        let other = acct.ledger("other").await;
        let writer = acct.key("write", None).await;
        let reader = acct.key("read", Some(vec![&ledger])).await;
        acct.append_invoices(&ledger, &writer, 0..21, 7).await;
        let dir = tempfile::tempdir().expect("dir");
        let key = acct.checkpoint_key().await;
        let key_file = write(dir.path(), "checkpoint.vkey", &key);
        let key_args = ["--key-file", path_str(&key_file)];

        // The evidence is a download named after the event, and verifies.
        let url = format!("/v1/ledgers/{ledger}/events/evt_5/evidence");
        let response = acct.client.get(acct.server.url(&url)).bearer_auth(&reader).send().await.expect("evidence");
        assert_eq!(response.status(), 200);
        let disposition = response.headers().get("content-disposition").expect("disposition").to_str().expect("ascii");
        assert_eq!(disposition, format!("attachment; filename=\"{ledger}-evt_5.tlog-proof\""));
        let evidence = response.text().await.expect("text");
        assert!(evidence.starts_with("c2sp.org/tlog-proof@v1\nextra "), "{evidence}");
        assert!(evidence.contains("\nindex 5\n"), "{evidence}");
        let file = write(dir.path(), "evt_5.tlog-proof", &evidence);
        let (code, out) = verify(&[path_str(&file), key_args[0], key_args[1]]).await;
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("seq 5") && out.contains(&format!("ledger {ledger}")) && out.contains("tree size 21"),
            "{out}"
        );
        assert!(out.trim_end().ends_with("VERIFIED") && !out.contains("NOT VERIFIED"), "{out}");
        let (code, out) = verify(&[path_str(&file), "--key", &key]).await;
        assert_eq!(code, 0, "the key given inline: {out}");

        // The extra data carries the event itself: content a reader can see.
        let extra = evidence.split('\n').nth(1).and_then(|l| l.strip_prefix("extra ")).expect("extra line");
        let content: Value = serde_json::from_slice(&BASE64.decode(extra).expect("base64")).expect("json");
        assert_eq!(content["actor"]["id"], "u5@example.com");
        assert_eq!(content["occurred_at"], "2026-12-02T09:00:00.500Z");

        // Tampered twins: each fails with exit 1 and says what failed.
        let altered = serde_json::to_string(&json!({
            "action": content["action"], "actor": content["actor"], "id": content["id"],
            "metadata": {"n": 5, "note": "altered"}, "occurred_at": content["occurred_at"], "resource": content["resource"],
        }))
        .expect("json");
        let canonical = audit_core::jcs::canonicalize_str(&altered).expect("jcs");
        let proof_line = evidence.split('\n').nth(3).expect("a proof line").to_owned();
        let mut flipped = BASE64.decode(&proof_line).expect("hash");
        flipped[31] ^= 0x80;
        let root = evidence.split('\n').rev().nth(3).expect("root line").to_owned();
        let wrong_key = audit_core::VerifierKey::new(
            audit_core::KeyName::new(key.split('+').next().expect("name")).expect("name"),
            ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key(),
        )
        .to_string();
        let twins: [(&str, String, Vec<&str>, &str); 6] = [
            (
                "an altered field",
                with_line(&evidence, 1, &format!("extra {}", BASE64.encode(&canonical))),
                vec![],
                "seq 5",
            ),
            ("an altered proof hash", evidence.replacen(&proof_line, &BASE64.encode(&flipped), 1), vec![], "seq 5"),
            ("another index", evidence.replacen("\nindex 5\n", "\nindex 6\n", 1), vec![], "seq 6"),
            (
                "a forged checkpoint",
                evidence.replacen(&root, &audit_core::Hash::digest(b"x").to_base64(), 1),
                vec![],
                "checkpoint",
            ),
            ("a truncated file", evidence[..evidence.len() - 20].to_owned(), vec![], "not valid evidence"),
            ("a wrong key", evidence.clone(), vec!["--key", &wrong_key], "checkpoint does not verify"),
        ];
        for (what, text, args, names) in twins {
            let file = write(dir.path(), "twin.tlog-proof", &text);
            let args: Vec<&str> = if args.is_empty() { key_args.to_vec() } else { args };
            let mut argv = vec![path_str(&file)];
            argv.extend(args);
            let (code, out) = verify(&argv).await;
            assert_eq!(code, 1, "{what}: {out}");
            assert!(
                out.contains("FAILED") && out.contains(names) && out.trim_end().ends_with("NOT VERIFIED"),
                "{what}: {out}"
            );
        }
        // Unusable input: exit 2, never a success.
        let json_file = write(dir.path(), "not-evidence.json", "{\"events\": []}");
        for (what, argv) in [
            ("not a known format", vec![path_str(&json_file), key_args[0], key_args[1]]),
            ("no key", vec![path_str(&file)]),
            ("a malformed key", vec![path_str(&file), "--key", "not a key"]),
            ("a missing file", vec!["/nonexistent/evidence", key_args[0], key_args[1]]),
        ] {
            let (code, out) = verify(&argv).await;
            assert_eq!(code, 2, "{what}: {out}");
            assert!(out.contains("unusable input"), "{what}: {out}");
        }

        // Reads rules: a key of one ledger finds nothing of another; unknown events are 404.
        let (status, _) = acct.get(&format!("/v1/ledgers/{other}/events/evt_5/evidence"), &reader).await;
        assert_eq!(status, 404, "a key of another ledger");
        let (status, _) = acct.get(&format!("/v1/ledgers/{ledger}/events/nope/evidence"), &reader).await;
        assert_eq!(status, 404, "an unknown event");
        let (status, _) = acct.get(&url, &writer).await;
        assert_eq!(status, 403, "a write key cannot read");

        // Two checkpoints and the consistency proof between them.
        let old = write(
            dir.path(),
            "old.checkpoint",
            &text(&acct, &format!("/v1/ledgers/{ledger}/checkpoint?tree_size=7"), &reader).await,
        );
        let new = write(
            dir.path(),
            "new.checkpoint",
            &text(&acct, &format!("/v1/ledgers/{ledger}/checkpoint"), &reader).await,
        );
        let proof = text(&acct, &format!("/v1/ledgers/{ledger}/proofs/consistency?from=7&to=21"), &reader).await;
        let proof_file = write(dir.path(), "proof.json", &proof);
        let consistency = |proof: &Path| {
            let argv: Vec<String> =
                ["--consistency", path_str(&old), path_str(&new), "--proof", path_str(proof), key_args[0], key_args[1]]
                    .map(str::to_owned)
                    .to_vec();
            async move { verify(&argv.iter().map(String::as_str).collect::<Vec<_>>()).await }
        };
        let (code, out) = consistency(&proof_file).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("7 events is a prefix of the tree of 21 events"), "{out}");
        let parsed: Value = serde_json::from_str(&proof).expect("proof json");
        let hexes: Vec<String> =
            parsed["proof"].as_array().expect("proof").iter().map(|h| h.as_str().expect("hex").to_owned()).collect();
        let mut bad = hexes.clone();
        bad[0] = audit_core::Hash::digest(b"x").to_hex();
        let twins = [
            ("an altered proof", json!({"from": 7, "to": 21, "proof": bad}).to_string()),
            ("a proof between other sizes", json!({"from": 8, "to": 21, "proof": hexes}).to_string()),
        ];
        for (what, proof) in twins {
            let (code, out) = consistency(&write(dir.path(), "twin-proof.json", &proof)).await;
            assert_eq!(code, 1, "{what}: {out}");
            assert!(out.contains("FAILED"), "{what}: {out}");
        }
        // Hex lines work as well as the API's answer.
        let (code, out) = consistency(&write(dir.path(), "proof.txt", &hexes.join("\n"))).await;
        assert_eq!(code, 0, "{out}");
    }
}
