//! Export files written by `auditstore admin export` from a real ledger on
//! both backends, verified offline by the real `auditstore verify`; every
//! tampered twin fails with exit 1 and names what failed.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::Digest as _;

use crate::api::{account, servers};
use crate::common::auditstore_verify as verify;

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// A ZIP's members: name and bytes, in order.
pub(crate) type Members = Vec<(String, Vec<u8>)>;

/// The members of a ZIP, in order.
fn members(path: &Path) -> Members {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).expect("open")).expect("zip");
    (0..zip.len())
        .map(|i| {
            let mut file = zip.by_index(i).expect("member");
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).expect("read");
            (file.name().expect("member name").into_owned(), bytes)
        })
        .collect()
}

/// Writes `members` as a ZIP at `path`; with `fix`, the manifest's digests are recomputed
/// first, so that only the content checks can catch what was changed.
pub(crate) fn write_zip(path: &Path, mut members: Members, fix: bool) {
    if fix {
        let digests: Vec<(String, Value)> = members
            .iter()
            .filter(|(name, _)| name != "manifest.json")
            .map(|(name, bytes)| {
                (name.clone(), json!({"sha256": hex::encode(sha2::Sha256::digest(bytes)), "bytes": bytes.len()}))
            })
            .collect();
        let manifest = members.iter_mut().find(|(name, _)| name == "manifest.json").expect("manifest");
        let mut value: Value = serde_json::from_slice(&manifest.1).expect("manifest json");
        for (name, digest) in digests {
            value["members"][name] = digest;
        }
        manifest.1 = serde_json::to_vec_pretty(&value).expect("json");
    }
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).expect("create"));
    for (name, bytes) in members {
        zip.start_file(name, zip::write::SimpleFileOptions::default()).expect("start");
        zip.write_all(&bytes).expect("write");
    }
    zip.finish().expect("finish");
}

/// The export's members with `edit` applied to the named one.
pub(crate) fn edited(path: &Path, member: &str, edit: impl FnOnce(Vec<u8>) -> Vec<u8>) -> Members {
    let mut all = members(path);
    let entry = all.iter_mut().find(|(name, _)| name == member).expect("member");
    entry.1 = edit(std::mem::take(&mut entry.1));
    all
}

pub(crate) fn lines(bytes: Vec<u8>, edit: impl FnOnce(&mut Vec<String>)) -> Vec<u8> {
    let text = String::from_utf8(bytes).expect("utf-8");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    edit(&mut lines);
    (lines.join("\n") + "\n").into_bytes()
}

#[tokio::test]
async fn an_export_verifies_offline_and_every_tampered_twin_fails() {
    for server in servers().await {
        let acct = account(server).await;
        let ledger = acct.ledger("exports").await;
        let writer = acct.key("write", None).await;
        // 1,234 events: more than one window of rows.
        acct.append_invoices(&ledger, &writer, 0..1234, 500).await;
        let dir = tempfile::tempdir().expect("dir");
        let key = acct.checkpoint_key().await;
        let export = |name: &str, range: &[&str]| {
            let out: PathBuf = dir.path().join(name);
            let mut args = vec!["export".to_owned(), "--ledger".into(), ledger.clone(), "--out".into(), s(&out).into()];
            args.extend(range.iter().map(|a| (*a).to_owned()));
            let server = &acct.server;
            async move {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                (server.admin(&args).await, out)
            }
        };

        // The whole ledger: verified with the published key, and self-asserted without it.
        let (printed, full) = export("full.zip", &[]).await;
        let printed = printed.expect("export");
        assert_eq!(
            (printed["events"].as_u64(), printed["from_seq"].as_u64(), printed["to_seq"].as_u64()),
            (Some(1234), Some(0), Some(1233))
        );
        let bytes = std::fs::read(&full).expect("file");
        assert_eq!(printed["sha256"], hex::encode(sha2::Sha256::digest(&bytes)), "the printed digest is the file's");
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&full).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "only its owner reads decrypted events");
        }
        assert!(!dir.path().join("full.partial").exists());
        let (code, out) = verify(&[s(&full), "--key", &key]).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("1234 rows") && out.contains("range proof") && !out.contains("SELF-ASSERTED"), "{out}");
        let (code, out) = verify(&[s(&full)]).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("SELF-ASSERTED"), "no key given is said loudly: {out}");
        let (again, _) = export("full.zip", &[]).await;
        assert!(again.expect_err("never overwrites").contains("exists already"));

        // A range in the middle verifies too; one beyond the ledger is refused and writes nothing.
        let (printed, part) = export("part.zip", &["--from-seq", "100", "--to-seq", "899"]).await;
        assert_eq!(printed.expect("export")["events"], 800);
        let (code, out) = verify(&[s(&part), "--key", &key]).await;
        assert_eq!(code, 0, "{out}");
        let (refused, beyond) = export("beyond.zip", &["--from-seq", "1000", "--to-seq", "5000"]).await;
        assert!(refused.is_err() && !beyond.exists());

        // The export is in the account's system ledger, with its digest.
        let system = acct.system_ledger().await;
        let reader = acct.key("read", None).await;
        let (_, found) =
            acct.get(&format!("/v1/ledgers/{system}/events?action=export.completed&limit=10"), &reader).await;
        let found = found["events"].as_array().expect("events").clone();
        let full_event = found.iter().find(|e| e["metadata"]["events"] == 1234).expect("the full export's event");
        assert_eq!(full_event["metadata"]["sha256"], hex::encode(sha2::Sha256::digest(&bytes)));

        // Tampered twins, each with its digests fixed up (so the content checks must catch it)
        // unless the digest is the point.
        let alter_field = |b| lines(b, |l| l[5] = l[5].replace("\"inv_105\"", "\"inv_999\""));
        // Whitespace a JSON parser ignores: the rows still verify, only the digest differs.
        let respace = |b| lines(b, |l| l[5] = l[5].replacen("{\"seq\":", "{ \"seq\":", 1));
        let remove_line = |b| lines(b, |l| drop(l.remove(7)));
        let swap_lines = |b| lines(b, |l| l.swap(8, 9));
        let root_line =
            String::from_utf8(members(&full).into_iter().find(|(n, _)| n == "checkpoint.txt").expect("cp").1)
                .expect("utf-8")
                .lines()
                .nth(2)
                .expect("root")
                .to_owned();
        let forged_root = |b: Vec<u8>| {
            String::from_utf8(b)
                .expect("utf-8")
                .replace(&root_line, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
                .into_bytes()
        };
        let count_off = |b: Vec<u8>| {
            let mut m: Value = serde_json::from_slice(&b).expect("manifest");
            m["counts"]["events"] = json!(801);
            serde_json::to_vec(&m).expect("json")
        };
        let wrong_key = audit_core::VerifierKey::new(
            audit_core::KeyName::new(key.split('+').next().expect("name")).expect("name"),
            ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key(),
        )
        .to_string();
        // An extra event appended: the row after the range, from the full export.
        let next_row =
            String::from_utf8(members(&full).into_iter().find(|(n, _)| n == "events.jsonl").expect("rows").1)
                .expect("utf-8")
                .lines()
                .nth(900)
                .expect("row 900")
                .to_owned();
        let mut extra_member = members(&part);
        extra_member.push(("notes.txt".into(), b"hello".to_vec()));
        let twins: Vec<(&str, Members, bool, &str, &str)> = vec![
            ("an altered field", edited(&part, "events.jsonl", alter_field), true, &key, "seqs 105..106"),
            ("a removed line", edited(&part, "events.jsonl", remove_line), true, &key, "expected seq 107"),
            ("two lines swapped", edited(&part, "events.jsonl", swap_lines), true, &key, "expected seq 108"),
            (
                "an appended event",
                edited(&part, "events.jsonl", |b| lines(b, |l| l.push(next_row.clone()))),
                true,
                &key,
                "beyond the range",
            ),
            (
                "a forged checkpoint",
                edited(&part, "checkpoint.txt", forged_root),
                true,
                &key,
                "checkpoint does not verify",
            ),
            ("a manifest count off by one", edited(&part, "manifest.json", count_off), false, &key, "manifest counts"),
            ("an altered member, digest left", edited(&part, "events.jsonl", respace), false, &key, "SHA-256"),
            ("an extra member", extra_member.clone(), false, &key, "extra [\"notes.txt\"]"),
            ("an extra member the manifest lists", extra_member, true, &key, "an export of its kind has"),
            ("a wrong key", members(&part), false, &wrong_key, "checkpoint does not verify"),
        ];
        for (what, twin, fix, key, says) in twins {
            let path = dir.path().join("twin.zip");
            write_zip(&path, twin, fix);
            let (code, out) = verify(&[s(&path), "--key", key]).await;
            assert_eq!(code, 1, "{what}: {out}");
            assert!(out.contains("FAILED") && out.contains(says), "{what} should say {says:?}: {out}");
        }
        // CSV: a cell a spreadsheet would run as a formula is written as text, and still verifies.
        let (status, body) = acct
            .post(
                &format!("/v1/ledgers/{ledger}/events"),
                &writer,
                json!({"id": "evt_formula", "actor": {"type": "user", "id": "=HYPERLINK(\"http://evil.example\",\"x\")"},
                       "action": "invoice.updated", "resource": {"type": "invoice", "id": "-1"},
                       "occurred_at": "2026-12-02T10:00:00Z", "metadata": {"note": "@cmd"}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (printed, csv) = export("all.csv.zip", &["--format", "csv", "--from-seq", "1200"]).await;
        let printed = printed.expect("csv export");
        assert_eq!((printed["format"].as_str(), printed["events"].as_u64()), (Some("csv"), Some(35)));
        let (code, out) = verify(&[s(&csv), "--key", &key]).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("35 rows"), "{out}");
        let rows = String::from_utf8(members(&csv).into_iter().find(|(n, _)| n == "events.csv").expect("csv").1)
            .expect("utf-8");
        assert!(rows.starts_with("seq,leaf_hash,chain_hash,tombstone,id,occurred_at,"), "{rows}");
        assert!(
            rows.contains(",\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",") && rows.contains(",'-1,"),
            "{rows}"
        );
        assert!(
            !rows.contains(",=") && !rows.contains(",\"=") && !rows.contains(",-1,"),
            "no cell starts a formula: {rows}"
        );
        let twin = edited(&csv, "events.csv", |b| {
            String::from_utf8(b)
                .expect("utf-8")
                .replacen("\"inv_1205\"", "\"inv_9999\"", 1)
                .replacen("inv_1205,", "inv_9999,", 1)
                .into_bytes()
        });
        let path = dir.path().join("twin.csv.zip");
        write_zip(&path, twin, true);
        let (code, out) = verify(&[s(&path), "--key", &key]).await;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("FAILED: seqs 1205..1206"), "{out}");

        // A truncated file is not a readable archive; a file of another kind is unusable input.
        let truncated = dir.path().join("truncated.zip");
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
        let (code, out) = verify(&[s(&truncated), "--key", &key]).await;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("not a readable ZIP"), "{out}");
    }
}
