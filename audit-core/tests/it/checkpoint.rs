//! Signed checkpoints and notes: the golang.org/x/mod/sumdb/note reference example byte for
//! byte, sign/open round trips with tampered twins, and strict rejection of malformed input.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::SigningKey;

use audit_core::note::{self, SignedNote};
use audit_core::{ledger_origin, Checkpoint, Hash, KeyName, LedgerId, TreeSize, VerifierKey, VerifyError};

// The reference example of golang.org/x/mod/sumdb/note (note_test.go).
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_TEXT: &str =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

fn go_signing_key() -> SigningKey {
    let b64 = GO_SKEY.splitn(5, '+').last().unwrap();
    let raw = BASE64.decode(b64).unwrap();
    assert_eq!(raw[0], 0x01);
    SigningKey::from_bytes(&raw[1..].try_into().unwrap())
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

#[test]
fn go_reference_note_byte_for_byte() {
    let sk = go_signing_key();
    let name = KeyName::new("PeterNeumann").unwrap();
    let vkey = VerifierKey::new(name.clone(), sk.verifying_key());
    assert_eq!(vkey.to_string(), GO_VKEY);
    assert_eq!(vkey.key_id(), 0xc74f20a3);
    assert_eq!(GO_VKEY.parse::<VerifierKey>().unwrap(), vkey);
    let signed = note::sign(GO_TEXT, &name, &sk).unwrap();
    assert_eq!(signed, format!("{GO_TEXT}\n{GO_SIG}"));
    let parsed = SignedNote::parse(&signed).unwrap();
    assert_eq!(parsed.verify(std::slice::from_ref(&vkey)).unwrap(), GO_TEXT);
    // Twin: one changed letter in the text.
    let tampered = signed.replace("cryptography", "cryptographY");
    let err = SignedNote::parse(&tampered).unwrap().verify(&[vkey]).unwrap_err();
    assert!(matches!(err, VerifyError::InvalidSignature { .. }), "{err}");
}

#[test]
fn verifier_key_manglings_are_rejected() {
    // As note_test.go: every proper substring and every single-byte change must fail.
    let b = GO_VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i != 0 || j != b.len() {
                let s = std::str::from_utf8(&b[i..j]).unwrap();
                assert!(s.parse::<VerifierKey>().is_err(), "{s}");
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] = m[i].wrapping_add(1);
        if let Ok(s) = std::str::from_utf8(&m) {
            assert!(s.parse::<VerifierKey>().is_err(), "{s}");
        }
    }
    assert!("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW".parse::<VerifierKey>().is_err());
    // A small-order (weak) key is refused even with a matching id.
    let weak = ed25519_dalek::VerifyingKey::from_bytes(&[0u8; 32]);
    if let Ok(weak) = weak {
        let s = VerifierKey::new(KeyName::new("w").unwrap(), weak).to_string();
        assert!(s.parse::<VerifierKey>().is_err());
    }
}

fn sample() -> (Checkpoint, KeyName, SigningKey, VerifierKey) {
    let origin = ledger_origin("audit.example.com", &LedgerId::new("acme-prod").unwrap());
    assert_eq!(origin, "audit.example.com/ledgers/acme-prod");
    let cp = Checkpoint::new(origin, TreeSize(20852163), Hash::digest(b"root")).unwrap();
    let name = KeyName::new("audit.example.com").unwrap();
    let sk = key(7);
    let vk = VerifierKey::new(name.clone(), sk.verifying_key());
    (cp, name, sk, vk)
}

#[test]
fn checkpoint_sign_open_and_tampered_twins() {
    let (cp, name, sk, vk) = sample();
    let signed = cp.sign(&name, &sk).unwrap();
    let body = cp.body();
    assert_eq!(body, format!("audit.example.com/ledgers/acme-prod\n20852163\n{}\n", Hash::digest(b"root").to_base64()));
    assert!(signed.starts_with(&format!("{body}\n\u{2014} audit.example.com ")));
    assert_eq!(Checkpoint::open(&signed, std::slice::from_ref(&vk)).unwrap(), cp);
    assert_eq!(Checkpoint::open_for_origin(&signed, std::slice::from_ref(&vk), cp.origin()).unwrap(), cp);
    assert!(matches!(
        Checkpoint::open_for_origin(&signed, std::slice::from_ref(&vk), "audit.example.com/ledgers/other"),
        Err(VerifyError::OriginMismatch { .. })
    ));
    // Any changed byte of the body or the signature line fails (as malformed or as invalid).
    let bytes = signed.as_bytes();
    for i in 0..bytes.len() {
        let mut m = bytes.to_vec();
        m[i] ^= 0x01;
        if let Ok(s) = String::from_utf8(m) {
            assert!(Checkpoint::open(&s, std::slice::from_ref(&vk)).is_err(), "byte {i}");
        }
    }
    // A wrong key (same name, other key) is unknown; no known signature means rejection.
    let other = VerifierKey::new(name.clone(), key(8).verifying_key());
    assert_eq!(Checkpoint::open(&signed, std::slice::from_ref(&other)), Err(VerifyError::NoKnownSignature));
    let other_name = VerifierKey::new(KeyName::new("elsewhere").unwrap(), sk.verifying_key());
    assert_eq!(Checkpoint::open(&signed, &[other_name]), Err(VerifyError::NoKnownSignature));
    assert_eq!(Checkpoint::open(&signed, &[]), Err(VerifyError::NoKnownSignature));
    // Unknown signers are ignored: a cosignature by another key does not disturb.
    let witness = note::sign(&body, &KeyName::new("witness.example").unwrap(), &key(9)).unwrap();
    let witness_line = witness.rsplit_once("\n\n").unwrap().1;
    let cosigned = format!("{signed}{witness_line}");
    assert_eq!(Checkpoint::open(&cosigned, &[vk.clone(), other]).unwrap(), cp);
    // A bad signature by a known key rejects the whole note, even next to a good one.
    let forged_line = format!(
        "\u{2014} audit.example.com {}\n",
        BASE64.encode([&vk.key_id().to_be_bytes()[..], &[0u8; 64]].concat())
    );
    let with_forgery = format!("{signed}{forged_line}");
    assert!(matches!(Checkpoint::open(&with_forgery, &[vk]), Err(VerifyError::InvalidSignature { .. })));
}

#[test]
fn malformed_notes_are_rejected_with_a_reason() {
    let (cp, name, sk, vk) = sample();
    let signed = cp.sign(&name, &sk).unwrap();
    let (body, sig_line) = signed.rsplit_once("\n\n").unwrap();
    let body = format!("{body}\n");
    let sig = sig_line.trim_end_matches('\n').rsplit_once(' ').unwrap().1.to_owned();
    let cases: Vec<(&str, String)> = vec![
        ("no blank line", format!("{body}{sig_line}")),
        ("no signatures", format!("{body}\n")),
        ("no final newline", format!("{body}\n{}", sig_line.trim_end())),
        ("hyphen instead of em dash", format!("{body}\n- audit.example.com {sig}\n")),
        ("no space after dash", format!("{body}\n\u{2014}audit.example.com {sig}\n")),
        ("name with plus", format!("{body}\n\u{2014} audit+x {sig}\n")),
        ("missing signature", format!("{body}\n\u{2014} audit.example.com\n")),
        ("bad base64", format!("{body}\n\u{2014} audit.example.com !!!!\n")),
        ("too short", format!("{body}\n\u{2014} audit.example.com AAAA\n")),
        ("control character", format!("{}\u{1}{}", &body[..3], &signed[3..])),
        ("carriage return", signed.replace('\n', "\r\n")),
        ("too many signatures", format!("{body}\n{}", sig_line.repeat(101))),
        ("empty", String::new()),
    ];
    for (what, text) in cases {
        let err = Checkpoint::open(&text, std::slice::from_ref(&vk)).unwrap_err();
        assert!(matches!(err, VerifyError::MalformedNote(_)), "{what}: got {err}");
        assert!(SignedNote::parse(&text).is_err(), "{what}");
    }
    // Up to 100 signature lines are fine.
    let many = format!("{body}\n{}", sig_line.repeat(100));
    assert!(Checkpoint::open(&many, &[vk]).is_ok());
}

#[test]
fn malformed_checkpoint_bodies_are_rejected() {
    let root = Hash::digest(b"r").to_base64();
    let bad = [
        format!("o\n01\n{root}\n"),
        format!("o\n-1\n{root}\n"),
        format!("o\n1 \n{root}\n"),
        format!("o\n18446744073709551616\n{root}\n"),
        format!("o\n\n{root}\n"),
        format!("\n1\n{root}\n"),
        "o\n1\nZG9uJ3QgY2FyZSAy\n".to_owned(),
        format!("o\n1\n{}\n", &root[..root.len() - 1]),
        format!("o\n1\n{root}"),
        "o\n1\n".to_owned(),
        format!("o\n1\n{root}\n\next\n"),
    ];
    for body in bad {
        assert!(matches!(Checkpoint::parse_body(&body), Err(VerifyError::MalformedCheckpoint(_))), "{body:?}");
    }
    let ok = Checkpoint::parse_body(&format!("o\n0\n{root}\n")).unwrap();
    assert_eq!(ok.size(), TreeSize(0));
    let ext = Checkpoint::parse_body(&format!("o\n18446744073709551615\n{root}\next one\n")).unwrap();
    assert_eq!(ext.extensions(), ["ext one"]);
    assert_eq!(Checkpoint::parse_body(&ext.body()).unwrap(), ext);
    assert!(Checkpoint::new("has space", TreeSize(1), Hash::digest(b"")).is_err());
    assert!(Checkpoint::new("", TreeSize(1), Hash::digest(b"")).is_err());
    assert!(note::sign("no newline", &KeyName::new("k").unwrap(), &key(1)).is_err());
    assert!(KeyName::new("a b").is_err());
    assert!(KeyName::new("").is_err());
}
