//! The sealed event record and the blind-index term: what one data key
//! (DEK) does to an event's content.
//!
//! An event's content is sealed with AES-256-GCM (NIST SP 800-38D) under a
//! random 96-bit nonce, with the ledger id, the seq and the key version as
//! associated data, so a sealed record copied to another row or ledger fails
//! to open. Equality filters use HMAC-SHA256 (RFC 2104) terms keyed with an
//! index key derived by HKDF-SHA256 (RFC 5869) from the ledger's first DEK,
//! so the index stays usable across DEK rotations without re-indexing.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::key_providers::SecretKey;
use crate::StoreError;

/// First byte of a sealed event record (format version 1).
const SEALED_V1: u8 = 0x01;
const NONCE_LEN: usize = 12;
/// Header of a sealed record: format byte, key version, nonce.
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// `ledger_heads.key_version` once a ledger's keys are destroyed.
pub(crate) const DESTROYED: i64 = -1;

/// One unwrapped DEK, ready to use. Both keys are zeroized on drop (the
/// `aes-gcm` zeroize feature clears the expanded key schedule).
pub(crate) struct Dek {
    version: u32,
    cipher: Aes256Gcm,
    index: Hmac<Sha256>,
}

impl std::fmt::Debug for Dek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dek").field("version", &self.version).finish_non_exhaustive()
    }
}

impl Dek {
    pub(super) fn new(version: u32, key: &SecretKey) -> Result<Self, StoreError> {
        let mut index_key = Zeroizing::new([0u8; 32]);
        hkdf::Hkdf::<Sha256>::new(None, key.as_slice())
            .expand(b"auditstore/v1/blind-index", index_key.as_mut_slice())
            .map_err(|_| StoreError::Keys("index key derivation failed".into()))?;
        let index = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(index_key.as_slice())
            .map_err(|_| StoreError::Keys("bad index key".into()))?;
        let cipher =
            Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| StoreError::Keys("bad data key length".into()))?;
        Ok(Self { version, cipher, index })
    }

    pub(crate) fn version(&self) -> u32 {
        self.version
    }

    /// Seals an event record of `ledger` at `seq`.
    pub(crate) fn seal(&self, ledger: &str, seq: u64, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = aad(ledger, seq, self.version);
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: &aad })
            .map_err(|_| StoreError::Keys("sealing an event failed".into()))?;
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub(super) fn open(&self, ledger: &str, seq: u64, record: &[u8]) -> Result<Vec<u8>, StoreError> {
        let nonce: [u8; NONCE_LEN] = record
            .get(5..HEADER_LEN)
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| integrity(ledger, seq, "is truncated"))?;
        let aad = aad(ledger, seq, self.version);
        self.cipher.decrypt(&Nonce::from(nonce), Payload { msg: &record[HEADER_LEN..], aad: &aad }).map_err(|_| {
            integrity(
                ledger,
                seq,
                "failed authenticated decryption: it was altered, or moved from another row or ledger",
            )
        })
    }

    /// The blind-index term of `field = value` (only meaningful from a
    /// ledger's first DEK; see [`Keyring::index_key`]).
    pub(crate) fn term(&self, field: &str, value: &str) -> [u8; 32] {
        let mut mac = self.index.clone();
        mac.update(b"auditstore/v1/term\n");
        mac.update(field.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

pub(super) fn integrity(ledger: &str, seq: u64, what: &str) -> StoreError {
    StoreError::Integrity(format!("the stored record of event seq {seq} in ledger {ledger} {what}"))
}

/// Associated data of a sealed event: what it is, where it belongs, and
/// which key sealed it.
fn aad(ledger: &str, seq: u64, version: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(40 + ledger.len());
    aad.extend_from_slice(b"auditstore/v1/event\0");
    aad.extend_from_slice(ledger.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&seq.to_be_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

/// The key version a stored record was sealed with; `None` for a record
/// written before encryption existed (plain JSON).
pub(super) fn sealed_version(record: &[u8]) -> Option<u32> {
    match record.first() {
        Some(&SEALED_V1) => record.get(1..5).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dek(seed: u8, version: u32) -> Dek {
        Dek::new(version, &Zeroizing::new([seed; 32])).expect("dek")
    }

    #[test]
    fn a_sealed_record_opens_only_where_it_was_sealed() {
        let key = dek(1, 1);
        let sealed = key.seal("ldg_a", 7, b"{\"action\":\"x\"}").expect("sealed");
        assert_eq!(sealed_version(&sealed), Some(1));
        assert_eq!(key.open("ldg_a", 7, &sealed).expect("opens"), b"{\"action\":\"x\"}");
        assert!(!sealed.windows(6).any(|w| w == b"action"), "no plaintext in the record");

        for (ledger, seq) in [("ldg_a", 8), ("ldg_b", 7)] {
            let error = key.open(ledger, seq, &sealed).expect_err("moved record refused");
            assert!(matches!(error, StoreError::Integrity(_)), "{error}");
        }
        // The same record under another key version's number fails too.
        assert!(dek(1, 2).open("ldg_a", 7, &sealed).is_err());
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(key.open("ldg_a", 7, &flipped).is_err());
        assert!(key.open("ldg_a", 7, &sealed[..10]).is_err());
    }

    #[test]
    fn nonces_differ_between_seals_of_the_same_record() {
        let key = dek(1, 1);
        let a = key.seal("ldg_a", 1, b"same").expect("sealed");
        let b = key.seal("ldg_a", 1, b"same").expect("sealed");
        assert_ne!(a, b);
    }

    #[test]
    fn terms_are_keyed_per_ledger_key_and_field() {
        let (a, b) = (dek(1, 1), dek(2, 1));
        assert_eq!(a.term("action", "login"), a.term("action", "login"));
        assert_ne!(a.term("action", "login"), b.term("action", "login"));
        assert_ne!(a.term("action", "login"), a.term("actor.id", "login"));
        assert_ne!(a.term("ac", "tionlogin"), a.term("action", "login"));
    }

    #[test]
    fn plain_json_is_not_taken_for_a_sealed_record() {
        assert_eq!(sealed_version(b"{\"a\":1}"), None);
        assert_eq!(sealed_version(b""), None);
    }
}
