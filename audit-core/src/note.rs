//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 signatures, and the
//! verifier key encoding of `golang.org/x/mod/sumdb/note`.
//!
//! A note is a text ending in a newline, a blank line, then one or more signature lines
//! `— <key name> <base64(key id || signature)>\n` (U+2014 EM DASH, space). The key id is the
//! first four bytes, big-endian, of `SHA-256(key name || 0x0A || 0x01 || public key)`.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::VerifyError;

/// The signed-note signature type byte of Ed25519 (C2SP signed-note, "Signature types").
pub const ED25519_TYPE: u8 = 0x01;
/// The most signature lines a note may carry (the spec requires accepting at least 16).
pub const MAX_SIGNATURES: usize = 100;
/// The prefix of a signature line: U+2014 EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// A signed-note key name: non-empty, without Unicode spaces, `+` or control characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyName(String);

impl KeyName {
    /// Validates a key name (C2SP signed-note, "Format").
    pub fn new(name: impl Into<String>) -> Result<Self, VerifyError> {
        let name = name.into();
        check_name(&name).map_err(VerifyError::MalformedVerifierKey)?;
        Ok(Self(name))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("key name is empty".into());
    }
    if name.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control()) {
        return Err(format!("key name {name:?} contains a space, '+' or a control character"));
    }
    Ok(())
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyName({:?})", self.0)
    }
}

/// The C2SP key id of an Ed25519 key:
/// `SHA-256(name || 0x0A || 0x01 || public key)[:4]`, big-endian.
pub fn key_id(name: &KeyName, key: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.0.as_bytes());
    h.update([b'\n', ED25519_TYPE]);
    h.update(key.as_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A trusted Ed25519 note verifier key, written `<name>+<key id as 8 hex digits>+<base64(0x01
/// || public key)>` (the `golang.org/x/mod/sumdb/note` verifier key format).
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: KeyName,
    id: u32,
    key: VerifyingKey,
}

impl VerifierKey {
    /// The verifier key of `key` under `name`.
    pub fn new(name: KeyName, key: VerifyingKey) -> Self {
        let id = key_id(&name, &key);
        Self { name, id, key }
    }

    /// The key name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The 32-bit key id.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = [0u8; 33];
        raw[0] = ED25519_TYPE;
        raw[1..].copy_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, BASE64.encode(raw))
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl FromStr for VerifierKey {
    type Err = VerifyError;

    /// Parses `<name>+<8 hex digits>+<base64(0x01 || 32-byte key)>`, checking that the key id
    /// matches the name and key and that the key is a valid, non-weak Ed25519 point.
    fn from_str(s: &str) -> Result<Self, VerifyError> {
        let bad = |why: &str| VerifyError::MalformedVerifierKey(why.to_owned());
        // The name has no '+', the id is hex; base64 may contain '+', so split only twice.
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected <name>+<key id>+<key>"));
        };
        let name = KeyName::new(name)?;
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("key id must be 8 hex digits"));
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| bad("key id is not hex"))?;
        let raw = BASE64.decode(key_b64).map_err(|_| bad("key is not standard base64"))?;
        let (&kind, key) = raw.split_first().ok_or_else(|| bad("key is empty"))?;
        if kind != ED25519_TYPE {
            return Err(bad("not an Ed25519 (type 0x01) key"));
        }
        let key: [u8; 32] = key.try_into().map_err(|_| bad("an Ed25519 key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| bad("not an Ed25519 point"))?;
        if key.is_weak() {
            return Err(bad("weak (small-order) Ed25519 key"));
        }
        let parsed = Self::new(name, key);
        if parsed.id != id {
            return Err(bad("key id does not match the name and key"));
        }
        Ok(parsed)
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_id: u32,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// The key name on the line.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The key id (first four bytes of the decoded signature).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }
    /// The signature bytes after the key id.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
}

/// A parsed, not yet verified signed note. Its text MUST be ignored until
/// [`SignedNote::verify`] succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// Parses a signed note strictly (C2SP signed-note, "Format"): UTF-8 without control
    /// characters other than newline; the text ends with a newline and is separated from the
    /// signature lines by the last blank line; each signature line is
    /// `— <name> <base64>` with a valid name and at least 5 decoded bytes; at most
    /// [`MAX_SIGNATURES`] lines.
    pub fn parse(note: &str) -> Result<Self, VerifyError> {
        let bad = |why: String| VerifyError::MalformedNote(why);
        if let Some(c) = note.chars().find(|&c| c != '\n' && (c as u32) < 0x20) {
            return Err(bad(format!("contains control character {c:?}")));
        }
        let split = note.rfind("\n\n").ok_or_else(|| bad("no blank line before the signatures".into()))?;
        let (text, sigs) = (&note[..=split], &note[split + 2..]);
        if sigs.is_empty() {
            return Err(bad("no signature lines".into()));
        }
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(bad("the last signature line does not end with a newline".into()));
        };
        let mut signatures = Vec::new();
        for (i, line) in sigs.split('\n').enumerate() {
            if i >= MAX_SIGNATURES {
                return Err(bad(format!("more than {MAX_SIGNATURES} signatures")));
            }
            let Some(rest) = line.strip_prefix(SIG_PREFIX) else {
                return Err(bad(format!("signature line {} does not start with \"\u{2014} \"", i + 1)));
            };
            let Some((name, b64)) = rest.split_once(' ') else {
                return Err(bad(format!("signature line {} has no signature", i + 1)));
            };
            check_name(name).map_err(|e| bad(format!("signature line {}: {e}", i + 1)))?;
            let raw = BASE64.decode(b64).map_err(|_| bad(format!("signature line {}: not standard base64", i + 1)))?;
            if raw.len() < 5 {
                return Err(bad(format!("signature line {}: too short", i + 1)));
            }
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
                signature: raw[4..].to_vec(),
            });
        }
        Ok(Self { text: text.to_owned(), signatures })
    }

    /// The signed text, including its final newline. Untrusted until verified.
    pub fn unverified_text(&self) -> &str {
        &self.text
    }

    /// The signature lines.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Verifies the note against trusted keys and returns its text (C2SP signed-note,
    /// "Signatures"): signatures by unknown keys (name and id not both matching a trusted key)
    /// are ignored; every signature by a known key must verify, else the whole note is
    /// rejected; at least one must exist.
    pub fn verify(&self, keys: &[VerifierKey]) -> Result<&str, VerifyError> {
        let mut verified = 0usize;
        for sig in &self.signatures {
            let mut matching = keys.iter().filter(|k| k.id == sig.key_id && k.name.0 == sig.name);
            let Some(key) = matching.next() else {
                continue;
            };
            if matching.any(|other| other.key != key.key) {
                return Err(VerifyError::MalformedVerifierKey(format!(
                    "ambiguous trusted keys for {}+{:08x}",
                    sig.name, sig.key_id
                )));
            }
            let invalid = || VerifyError::InvalidSignature { name: sig.name.clone(), key_id: sig.key_id };
            let bytes: [u8; 64] = sig.signature.as_slice().try_into().map_err(|_| invalid())?;
            key.key.verify_strict(self.text.as_bytes(), &Signature::from_bytes(&bytes)).map_err(|_| invalid())?;
            verified += 1;
        }
        if verified == 0 {
            return Err(VerifyError::NoKnownSignature);
        }
        Ok(&self.text)
    }
}

/// Signs `text` as a C2SP signed note with one Ed25519 signature by `key` under `name`.
///
/// `text` must be non-empty, end with a newline and contain no control characters other than
/// newline.
pub fn sign(text: &str, name: &KeyName, key: &SigningKey) -> Result<String, VerifyError> {
    if !text.ends_with('\n') {
        return Err(VerifyError::MalformedNote("text must end with a newline".into()));
    }
    if text.chars().any(|c| c != '\n' && (c as u32) < 0x20) {
        return Err(VerifyError::MalformedNote("text contains a control character".into()));
    }
    let id = key_id(name, &key.verifying_key());
    let signature = key.sign(text.as_bytes()).to_bytes();
    let mut raw = Vec::with_capacity(68);
    raw.extend_from_slice(&id.to_be_bytes());
    raw.extend_from_slice(&signature);
    Ok(format!("{text}\n{SIG_PREFIX}{name} {}\n", BASE64.encode(raw)))
}
