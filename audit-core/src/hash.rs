//! The 32-byte SHA-256 value used for every hash in the format, and the RFC 9162 hashing
//! primitives.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::VerifyError;

/// A SHA-256 output.
///
/// Equality is constant-time (via [`subtle`]), so comparing a computed hash with an untrusted
/// one never leaks how many leading bytes matched. Its text form (Display, serde) is 64
/// lowercase hex digits; checkpoints use base64 instead ([`Hash::to_base64`]).
#[derive(Clone, Copy)]
pub struct Hash([u8; 32]);

/// The value of each lowercase hex digit; 0xff for every other byte.
const HEX_VALUE: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Domain-separation byte of an RFC 9162 leaf hash (§2.1.1).
pub(crate) const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation byte of an RFC 9162 interior node hash (§2.1.1).
pub(crate) const NODE_PREFIX: u8 = 0x01;

impl Hash {
    /// The length of a hash in bytes.
    pub const LEN: usize = 32;

    /// Wraps raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// SHA-256 of `data`.
    pub fn digest(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }

    /// Constant-time equality; `==` uses this too.
    pub fn ct_eq(&self, other: &Hash) -> bool {
        // The differences of the four 64-bit words folded into one, then one constant-time
        // comparison with zero: no branch depends on where the bytes differ. Byte by byte
        // through `subtle` it was thirty-two barriers, a few percent of verifying an export,
        // which compares two hashes a row.
        let word = |h: &[u8; 32], i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&h[i * 8..i * 8 + 8]);
            u64::from_ne_bytes(w)
        };
        let diff = (0..4).fold(0u64, |acc, i| acc | (word(&self.0, i) ^ word(&other.0, i)));
        diff.ct_eq(&0).into()
    }

    /// Parses 64 lowercase hex digits (the only form this crate emits).
    pub fn from_hex(s: &str) -> Result<Self, VerifyError> {
        // By table rather than through the hex crate: one pass that also refuses upper case,
        // and verifying an export decodes two hashes a row (a tenth of its time went here).
        let digits = s.as_bytes();
        let invalid = || VerifyError::MalformedHash("expected 64 lowercase hex digits".into());
        if digits.len() != 64 {
            return Err(invalid());
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let (high, low) = (HEX_VALUE[usize::from(pair[0])], HEX_VALUE[usize::from(pair[1])]);
            if (high | low) > 0x0f {
                return Err(invalid());
            }
            *byte = (high << 4) | low;
        }
        Ok(Self(out))
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(64);
        self.push_hex(&mut out);
        out
    }

    /// Appends the lowercase hex to `out`.
    pub fn push_hex(&self, out: &mut String) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for byte in self.0 {
            out.push(char::from(DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
    }

    /// Parses standard, padded base64 (RFC 4648 §4) of exactly 32 bytes.
    pub fn from_base64(s: &str) -> Result<Self, VerifyError> {
        let bytes = BASE64.decode(s).map_err(|e| VerifyError::MalformedHash(format!("invalid base64: {e}")))?;
        Self::try_from(bytes.as_slice())
    }

    /// Standard, padded base64 (RFC 4648 §4), as used in checkpoints.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }
}

impl TryFrom<&[u8]> for Hash {
    type Error = VerifyError;

    fn try_from(bytes: &[u8]) -> Result<Self, VerifyError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| VerifyError::MalformedHash(format!("expected 32 bytes, got {}", bytes.len())))
    }
}

impl PartialEq for Hash {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

impl Eq for Hash {}

impl std::hash::Hash for Hash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Consistent with `PartialEq`: equal values have equal bytes.
        self.0.hash(state);
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 64];
        // Encoding 32 bytes into a 64-byte buffer cannot fail.
        hex::encode_to_slice(self.0, &mut buf).map_err(|_| fmt::Error)?;
        // Hex digits are ASCII, hence valid UTF-8.
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl FromStr for Hash {
    type Err = VerifyError;

    fn from_str(s: &str) -> Result<Self, VerifyError> {
        Self::from_hex(s)
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// RFC 9162 §2.1.1 leaf hash: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(data);
    Hash(h.finalize().into())
}

/// RFC 9162 §2.1.1 interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = NODE_PREFIX;
    buf[1..33].copy_from_slice(&left.0);
    buf[33..].copy_from_slice(&right.0);
    Hash::digest(&buf)
}

/// RFC 9162 §2.1.1: the hash of an empty tree is the hash of the empty string.
pub fn empty_root() -> Hash {
    Hash::digest(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_strictness() {
        let h = Hash::digest(b"abc");
        assert_eq!(Hash::from_hex(&h.to_hex()).ok(), Some(h));
        assert!(Hash::from_hex(&h.to_hex().to_uppercase()).is_err());
        assert!(Hash::from_hex(&h.to_hex()[..62]).is_err());
        assert!(Hash::from_hex(&format!("{}zz", &h.to_hex()[..62])).is_err());
        // Every byte value in every position: exactly the lowercase digits decode, to what the
        // hex crate gives, and `to_hex`, `push_hex` and Display agree.
        let text = h.to_hex();
        assert_eq!(text, hex::encode(h.as_bytes()));
        assert_eq!(text, h.to_string());
        for position in [0, 1, 62, 63] {
            for byte in 0..=255u8 {
                let mut digits = text.clone().into_bytes();
                digits[position] = byte;
                let Ok(candidate) = String::from_utf8(digits) else { continue };
                let ours = Hash::from_hex(&candidate).ok().map(|h| *h.as_bytes());
                let lowercase = byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte);
                let theirs = hex::decode(&candidate).ok().filter(|_| lowercase);
                assert_eq!(ours.map(|b| b.to_vec()), theirs, "{candidate}");
            }
        }
        assert_eq!(format!("{h}"), h.to_hex());
    }

    #[test]
    fn base64_round_trip_and_length() {
        let h = Hash::digest(b"abc");
        assert_eq!(Hash::from_base64(&h.to_base64()).ok(), Some(h));
        assert!(Hash::from_base64("ZG9uJ3QgY2FyZSAy").is_err());
        assert!(Hash::try_from(&[0u8; 31][..]).is_err());
    }

    #[test]
    fn equality_is_by_value() {
        let a = Hash::digest(b"a");
        let mut bytes = *a.as_bytes();
        assert!(a.ct_eq(&Hash::from_bytes(bytes)));
        // A difference in any one bit of any word is seen.
        for bit in 0..256 {
            bytes[bit / 8] ^= 1 << (bit % 8);
            assert!(!a.ct_eq(&Hash::from_bytes(bytes)), "bit {bit}");
            assert_ne!(a, Hash::from_bytes(bytes));
            bytes[bit / 8] ^= 1 << (bit % 8);
        }
        assert_eq!(a, Hash::from_bytes(bytes));
    }
}
