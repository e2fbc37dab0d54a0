//! The sealed event record and the blind-index term: what one data key
//! (DEK) does to an event's content.
//!
//! An event's content is sealed with AES-256-GCM (NIST SP 800-38D) under a
//! random 96-bit nonce. The associated data binds the record to its row:
//! ledger id, seq and key version (format 1), and since format 2 also the
//! row's event id, leaf and chain hashes and times, so a sealed record
//! copied to another row or ledger fails to open, and so does one whose row
//! was edited around it. Equality filters use HMAC-SHA256 (RFC 2104) terms keyed with an
//! index key derived by HKDF-SHA256 (RFC 5869) from the ledger's first DEK,
//! so the index stays usable across DEK rotations without re-indexing.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;
use zeroize::Zeroizing;

use audit_core::Hash;

use super::key_providers::SecretKey;
use crate::StoreError;

/// First byte of a sealed event record of format 1 (associated data: ledger,
/// seq, key version), still read.
pub(crate) const SEALED_V1: u8 = 0x01;
/// First byte of a sealed event record of format 2 (format 1's associated
/// data and every other column of the row), written since the hardening.
const SEALED_V2: u8 = 0x02;
/// First byte of a sealed chunk of an export file.
const SEALED_CHUNK: u8 = 0x20;
const NONCE_LEN: usize = 12;
/// Header of a sealed record: format byte, key version, nonce.
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// `ledger_heads.key_version` once a ledger's keys are destroyed.
pub(crate) const DESTROYED: i64 = -1;

/// The bytes of a blind-index term kept: half of the HMAC, which keeps a
/// collision between two values of a ledger out of reach (about 2^64 values
/// before one is likely) while the index rows, written five an event, stay
/// small (see the compact term index migration).
pub(crate) const TERM_LEN: usize = 16;
/// A blind-index term: `TERM_LEN` bytes of HMAC-SHA256.
pub(crate) type Term = [u8; TERM_LEN];

/// The columns of an event row that its sealed record is bound to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowBinding<'a> {
    pub(crate) seq: u64,
    pub(crate) event_id: &'a str,
    pub(crate) leaf_hash: &'a Hash,
    pub(crate) chain_hash: &'a Hash,
    pub(crate) occurred_ms: i64,
    pub(crate) received_ms: i64,
}

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

    /// Seals the content of an event row of `ledger` (format 2).
    pub(crate) fn seal(&self, ledger: &str, row: &RowBinding<'_>, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.seal_as(SEALED_V2, ledger, row, plaintext)
    }

    /// Seals in the given format: 2 for every new record; 1 only to build
    /// the records of an earlier release in tests.
    pub(crate) fn seal_as(
        &self,
        format: u8,
        ledger: &str,
        row: &RowBinding<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let aad = aad(format, ledger, row, self.version)?;
        self.seal_record(format, &aad, plaintext).map_err(|()| StoreError::Keys("sealing an event failed".into()))
    }

    /// A sealed record: `format`, the key version, a random 96-bit nonce,
    /// then the ciphertext and tag of `plaintext` under `aad`.
    fn seal_record(&self, format: u8, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, ()> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self.cipher.encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad }).map_err(|_| ())?;
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.push(format);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub(super) fn open(&self, ledger: &str, row: &RowBinding<'_>, record: &[u8]) -> Result<Vec<u8>, StoreError> {
        let format = record.first().copied().unwrap_or_default();
        let nonce: [u8; NONCE_LEN] = record
            .get(5..HEADER_LEN)
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| integrity(ledger, row, "is truncated"))?;
        let aad = aad(format, ledger, row, self.version)?;
        let what = if format == SEALED_V1 {
            "failed authenticated decryption: it was altered, or moved from another row or ledger"
        } else {
            "failed authenticated decryption: it, or a column of its row (id, seq, hashes, times), was altered, \
             or it was moved from another row or ledger"
        };
        self.cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: &record[HEADER_LEN..], aad: &aad })
            .map_err(|_| integrity(ledger, row, what))
    }

    /// Seals chunk `n` of the export file `export` of `ledger` (its last
    /// when `last`): the file holds decrypted events, so it is kept under
    /// the ledger's key as the events are. The associated data binds the
    /// chunk to its ledger, export, place and key version, and marks the
    /// last one, so chunks cannot be moved, reordered or cut off unseen.
    pub(crate) fn seal_chunk(
        &self,
        ledger: &str,
        export: &str,
        n: u64,
        last: bool,
        bytes: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let aad = chunk_aad(ledger, export, n, last, self.version);
        self.seal_record(SEALED_CHUNK, &aad, bytes)
            .map_err(|()| StoreError::Keys("sealing an export chunk failed".into()))
    }

    /// Opens what [`Dek::seal_chunk`] sealed for the same place.
    pub(crate) fn open_chunk(
        &self,
        ledger: &str,
        export: &str,
        n: u64,
        last: bool,
        sealed: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let refused = || {
            StoreError::Integrity(format!(
                "chunk {n} of export {export} of ledger {ledger} failed authenticated decryption: it was altered, \
                 moved or cut off"
            ))
        };
        if sealed.first() != Some(&SEALED_CHUNK) {
            return Err(refused());
        }
        let nonce: [u8; NONCE_LEN] = sealed.get(5..HEADER_LEN).and_then(|n| n.try_into().ok()).ok_or_else(refused)?;
        let aad = chunk_aad(ledger, export, n, last, self.version);
        self.cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: &sealed[HEADER_LEN..], aad: &aad })
            .map_err(|_| refused())
    }

    /// The blind-index term of `field = value` (only meaningful from a
    /// ledger's first DEK; see [`Keyring::index_key`]): HMAC-SHA256
    /// truncated to its leftmost [`TERM_LEN`] bytes (RFC 2104 section 5).
    pub(crate) fn term(&self, field: &str, value: &str) -> Term {
        let mut mac = self.index.clone();
        mac.update(b"auditstore/v1/term\n");
        mac.update(field.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut term = [0; TERM_LEN];
        term.copy_from_slice(&full[..TERM_LEN]);
        term
    }
}

/// An integrity failure of the stored record of `row`, naming the event.
pub(crate) fn integrity(ledger: &str, row: &RowBinding<'_>, what: &str) -> StoreError {
    StoreError::Integrity(format!(
        "the stored record of event {:?} (seq {}) in ledger {ledger} {what}",
        row.event_id, row.seq
    ))
}

/// Associated data of a sealed event: what it is, where it belongs, which
/// key sealed it, and (format 2) the rest of its row. Variable-length
/// fields are NUL-terminated (ledger ids) or length-prefixed (event ids),
/// so no two rows share an encoding.
fn aad(format: u8, ledger: &str, row: &RowBinding<'_>, version: u32) -> Result<Vec<u8>, StoreError> {
    let mut aad = Vec::with_capacity(160 + ledger.len() + row.event_id.len());
    match format {
        SEALED_V1 => aad.extend_from_slice(b"auditstore/v1/event\0"),
        SEALED_V2 => aad.extend_from_slice(b"auditstore/v2/event\0"),
        _ => return Err(integrity(ledger, row, "has an unknown format")),
    }
    aad.extend_from_slice(ledger.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&row.seq.to_be_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    if format == SEALED_V2 {
        let id_len = u32::try_from(row.event_id.len()).map_err(|_| integrity(ledger, row, "has an oversized id"))?;
        aad.extend_from_slice(&id_len.to_be_bytes());
        aad.extend_from_slice(row.event_id.as_bytes());
        aad.extend_from_slice(row.leaf_hash.as_bytes());
        aad.extend_from_slice(row.chain_hash.as_bytes());
        aad.extend_from_slice(&row.occurred_ms.to_be_bytes());
        aad.extend_from_slice(&row.received_ms.to_be_bytes());
    }
    Ok(aad)
}

/// Associated data of an export chunk. Ledger and export ids are of
/// `[A-Za-z0-9._:-]`, so NUL ends them unambiguously.
fn chunk_aad(ledger: &str, export: &str, n: u64, last: bool, version: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64 + ledger.len() + export.len());
    aad.extend_from_slice(b"auditstore/v1/export-chunk\0");
    aad.extend_from_slice(ledger.as_bytes());
    aad.push(0);
    aad.extend_from_slice(export.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&n.to_be_bytes());
    aad.push(u8::from(last));
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

/// The key version a stored record was sealed with; `None` for a record
/// written before encryption existed (plain JSON, which starts with `{`).
pub(crate) fn sealed_version(record: &[u8]) -> Option<u32> {
    match record.first() {
        Some(&SEALED_V1 | &SEALED_V2 | &SEALED_CHUNK) => {
            record.get(1..5).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dek(seed: u8, version: u32) -> Dek {
        Dek::new(version, &Zeroizing::new([seed; 32])).expect("dek")
    }

    const LEAF: Hash = Hash::from_bytes([1; 32]);
    const CHAIN: Hash = Hash::from_bytes([2; 32]);

    fn row(seq: u64) -> RowBinding<'static> {
        RowBinding { seq, event_id: "evt-1", leaf_hash: &LEAF, chain_hash: &CHAIN, occurred_ms: 10, received_ms: 20 }
    }

    #[test]
    fn a_sealed_record_opens_only_where_it_was_sealed() {
        let key = dek(1, 1);
        let sealed = key.seal("ldg_a", &row(7), b"{\"action\":\"x\"}").expect("sealed");
        assert_eq!(sealed_version(&sealed), Some(1));
        assert_eq!(sealed[0], SEALED_V2);
        assert_eq!(key.open("ldg_a", &row(7), &sealed).expect("opens"), b"{\"action\":\"x\"}");
        assert!(!sealed.windows(6).any(|w| w == b"action"), "no plaintext in the record");

        for (ledger, seq) in [("ldg_a", 8), ("ldg_b", 7)] {
            let error = key.open(ledger, &row(seq), &sealed).expect_err("moved record refused");
            assert!(matches!(error, StoreError::Integrity(_)), "{error}");
            assert!(error.to_string().contains("\"evt-1\""), "names the event: {error}");
        }
        // The same record under another key version's number fails too.
        assert!(dek(1, 2).open("ldg_a", &row(7), &sealed).is_err());
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(key.open("ldg_a", &row(7), &flipped).is_err());
        assert!(key.open("ldg_a", &row(7), &sealed[..10]).is_err());
        let mut unknown = sealed.clone();
        unknown[0] = 0x03;
        assert!(key.open("ldg_a", &row(7), &unknown).is_err());
    }

    #[test]
    fn a_format_2_record_is_bound_to_every_column_of_its_row() {
        let key = dek(1, 1);
        let sealed = key.seal("ldg_a", &row(7), b"content").expect("sealed");
        let other = Hash::from_bytes([9; 32]);
        let edits: [RowBinding<'_>; 5] = [
            RowBinding { event_id: "evt-2", ..row(7) },
            RowBinding { leaf_hash: &other, ..row(7) },
            RowBinding { chain_hash: &other, ..row(7) },
            RowBinding { occurred_ms: 11, ..row(7) },
            RowBinding { received_ms: 21, ..row(7) },
        ];
        for edited in edits {
            let error = key.open("ldg_a", &edited, &sealed).expect_err("edited row refused");
            assert!(error.to_string().contains("a column of its row"), "{error}");
        }
    }

    #[test]
    fn a_format_1_record_binds_ledger_seq_and_version_only() {
        let key = dek(1, 1);
        let sealed = key.seal_as(SEALED_V1, "ldg_a", &row(7), b"old").expect("sealed");
        assert_eq!(sealed_version(&sealed), Some(1));
        // Its other columns are checked by the read against the content.
        let other = Hash::from_bytes([9; 32]);
        let edited = RowBinding { event_id: "evt-2", leaf_hash: &other, occurred_ms: 99, ..row(7) };
        assert_eq!(key.open("ldg_a", &edited, &sealed).expect("opens"), b"old");
        assert!(key.open("ldg_a", &row(8), &sealed).is_err());
        assert!(dek(1, 2).open("ldg_a", &row(7), &sealed).is_err());
    }

    #[test]
    fn an_export_chunk_opens_only_in_its_place() {
        let key = dek(1, 3);
        let sealed = key.seal_chunk("ldg_a", "exp_1", 4, false, b"PK\x03\x04 rows").expect("sealed");
        assert_eq!(sealed_version(&sealed), Some(3));
        assert_eq!(key.open_chunk("ldg_a", "exp_1", 4, false, &sealed).expect("opens"), b"PK\x03\x04 rows");
        for (ledger, export, n, last) in [
            ("ldg_b", "exp_1", 4, false),
            ("ldg_a", "exp_2", 4, false),
            ("ldg_a", "exp_1", 5, false),
            ("ldg_a", "exp_1", 4, true),
        ] {
            let error = key.open_chunk(ledger, export, n, last, &sealed).expect_err("moved chunk refused");
            assert!(matches!(error, StoreError::Integrity(_)), "{error}");
        }
        assert!(dek(1, 4).open_chunk("ldg_a", "exp_1", 4, false, &sealed).is_err());
        // An event record is not a chunk, nor the other way round.
        let record = key.seal("ldg_a", &row(4), b"content").expect("sealed");
        assert!(key.open_chunk("ldg_a", "exp_1", 4, false, &record).is_err());
        assert!(key.open("ldg_a", &row(4), &sealed).is_err());
    }

    #[test]
    fn nonces_differ_between_seals_of_the_same_record() {
        let key = dek(1, 1);
        let a = key.seal("ldg_a", &row(1), b"same").expect("sealed");
        let b = key.seal("ldg_a", &row(1), b"same").expect("sealed");
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

    /// The compact term index migration kept the first half of each stored
    /// (full) HMAC: a term is exactly that prefix, or filters would miss
    /// every event indexed before the upgrade.
    #[test]
    fn a_term_is_the_first_half_of_the_full_hmac_of_earlier_releases() {
        let secret = Zeroizing::new([7u8; 32]);
        let mut index_key = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, secret.as_slice())
            .expand(b"auditstore/v1/blind-index", &mut index_key)
            .expect("hkdf");
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&index_key).expect("key");
        mac.update(b"auditstore/v1/term\nactor.id\0jane");
        let full = mac.finalize().into_bytes();
        let term = Dek::new(1, &secret).expect("dek").term("actor.id", "jane");
        assert_eq!(term.as_slice(), &full[..TERM_LEN]);
        assert_ne!(term, Dek::new(1, &secret).expect("dek").term("actor.id", "jane "));
    }

    #[test]
    fn plain_json_is_not_taken_for_a_sealed_record() {
        assert_eq!(sealed_version(b"{\"a\":1}"), None);
        assert_eq!(sealed_version(b""), None);
    }
}
