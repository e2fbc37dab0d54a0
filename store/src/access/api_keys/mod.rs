//! API keys: high-entropy secrets with a recognisable prefix and a checksum,
//! shown once and stored only as a SHA-256 hash.
//!
//! Format: `auds_<key id: 16 hex>_<secret: 64 hex><crc32: 8 hex>`. The prefix
//! lets secret scanners and people recognise a leaked AuditStore key; the
//! checksum rejects typos and random strings without a database read; the key
//! id finds the row, and the hash of the whole secret is compared in
//! constant time. Plain SHA-256 suffices because the secret has 256 random
//! bits: there is nothing to brute-force.

use std::fmt;

use audit_core::LedgerId;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

mod issuing;
mod lookup;

use crate::{AccountId, StoreError};

const PREFIX: &str = "auds_";
const ID_HEX: usize = 16;
const SECRET_HEX: usize = 64;
const CRC_HEX: usize = 8;
/// A key's last-use time is written at most this often, so authentication
/// does not turn every read into a write.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// An API key's public id: `key_` and 16 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ApiKeyId(String);

impl ApiKeyId {
    /// Parses a key id as shown in listings.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix("key_")?;
        (hex.len() == ID_HEX && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn hex(&self) -> &str {
        &self.0[4..]
    }
}

/// A key's secret, as shown once to its creator. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret(***)")
    }
}

impl ApiKeySecret {
    fn generate(id: &ApiKeyId) -> Self {
        let mut random = [0u8; 32];
        rand::rng().fill_bytes(&mut random);
        let body = format!("{PREFIX}{}_{}", id.hex(), hex::encode(random));
        let crc = crc32fast::hash(body.as_bytes());
        Self(format!("{body}{crc:08x}"))
    }

    /// Parses a presented secret: prefix, shape and checksum. Returns the key
    /// id it names; `None` for anything that is not a well-formed key.
    pub fn parse(presented: &str) -> Option<(Self, ApiKeyId)> {
        let rest = presented.strip_prefix(PREFIX)?;
        if rest.len() != ID_HEX + 1 + SECRET_HEX + CRC_HEX || !rest.is_ascii() {
            return None;
        }
        let (id_hex, tail) = rest.split_at(ID_HEX);
        let tail = tail.strip_prefix('_')?;
        let (_, crc_hex) = tail.split_at(SECRET_HEX);
        let body = &presented[..presented.len() - CRC_HEX];
        let crc = u32::from_str_radix(crc_hex, 16).ok()?;
        if crc32fast::hash(body.as_bytes()) != crc {
            return None;
        }
        let id = ApiKeyId::parse(&format!("key_{id_hex}"))?;
        Some((Self(presented.to_owned()), id))
    }

    /// The secret itself, to hand to its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first characters, safe to show in listings and logs.
    pub fn display_prefix(&self) -> &str {
        &self.0[..PREFIX.len() + ID_HEX]
    }

    fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Read events, proofs and checkpoints; never write.
    Read,
    /// Append events; never read them back.
    Write,
    /// Manage ledgers and keys of the account; no event access.
    Admin,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "read" => Ok(Permission::Read),
            "write" => Ok(Permission::Write),
            "admin" => Ok(Permission::Admin),
            _ => Err(StoreError::Corrupt("unknown key permission")),
        }
    }
}

/// Which ledgers a key reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyScope {
    /// Every ledger of the account, present and future.
    AccountWide,
    /// Only these ledgers.
    Ledgers(Vec<LedgerId>),
}

impl KeyScope {
    /// Whether the scope includes `ledger`.
    pub fn allows(&self, ledger: &LedgerId) -> bool {
        match self {
            KeyScope::AccountWide => true,
            KeyScope::Ledgers(ledgers) => ledgers.contains(ledger),
        }
    }
}

/// A stored key (never its secret).
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub account_id: AccountId,
    pub name: String,
    pub permission: Permission,
    pub scope: KeyScope,
    pub created_ms: i64,
    pub created_by: Option<String>,
    pub revoked_ms: Option<i64>,
    pub last_used_ms: Option<i64>,
    pub replaces: Option<ApiKeyId>,
}

impl ApiKey {
    /// What listings show of the secret: `auds_<key id hex>`.
    pub fn display_prefix(&self) -> String {
        format!("{PREFIX}{}", self.id.hex())
    }
}

/// What a new key should be.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub permission: Permission,
    pub scope: KeyScope,
    /// Who asked for it (a key id or a user), for the audit trail.
    pub created_by: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_typos_are_caught_by_the_checksum() {
        let id = ApiKeyId("key_0123456789abcdef".into());
        let secret = ApiKeySecret::generate(&id);
        assert!(secret.expose().starts_with("auds_0123456789abcdef_"));
        assert_eq!(secret.expose().len(), 5 + 16 + 1 + 64 + 8);
        let (parsed, parsed_id) = ApiKeySecret::parse(secret.expose()).expect("parses");
        assert_eq!(parsed, secret);
        assert_eq!(parsed_id, id);
        assert!(!format!("{secret:?}").contains(&secret.expose()[22..]), "Debug hides the secret");

        // Change one character of the random part: the checksum fails.
        let mut typo = secret.expose().to_owned().into_bytes();
        typo[30] = if typo[30] == b'a' { b'b' } else { b'a' };
        assert!(ApiKeySecret::parse(std::str::from_utf8(&typo).expect("ascii")).is_none());
        assert!(ApiKeySecret::parse("auds_short").is_none());
        assert!(ApiKeySecret::parse("").is_none());
        assert!(ApiKeySecret::parse(&secret.expose().replace("auds_", "xxxx_")).is_none());
    }
}
