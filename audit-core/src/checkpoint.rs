//! Signed checkpoints: a C2SP tlog-checkpoint body (<https://c2sp.org/tlog-checkpoint>) —
//! origin, tree size, base64 root hash, one per line — signed as a C2SP signed note with
//! Ed25519 ([`crate::note`]).

use ed25519_dalek::SigningKey;

use crate::error::VerifyError;
use crate::hash::Hash;
use crate::ids::{LedgerId, TreeSize};
use crate::note::{self, KeyName, SignedNote, VerifierKey};

/// AuditStore's checkpoint origin for a ledger: `<host>/ledgers/<ledger_id>`.
pub fn ledger_origin(host: &str, ledger: &LedgerId) -> String {
    format!("{host}/ledgers/{ledger}")
}

/// Whether `origin` names the ledger `ledger_id` (`<any host>/ledgers/<ledger_id>`): the host
/// may have changed since the ledger was made, its id never.
pub fn origin_names_ledger(origin: &str, ledger_id: &str) -> bool {
    origin.strip_suffix(ledger_id).is_some_and(|prefix| prefix.ends_with("/ledgers/"))
}

/// A tree head: the origin (which log), the tree size and the RFC 9162 root at that size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: TreeSize,
    root: Hash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint to sign. The origin must be non-empty and, as C2SP recommends, contain no
    /// Unicode spaces, `+` or control characters.
    pub fn new(origin: impl Into<String>, size: TreeSize, root: Hash) -> Result<Self, VerifyError> {
        let origin = origin.into();
        if origin.is_empty() || origin.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control()) {
            return Err(VerifyError::MalformedCheckpoint(format!(
                "origin {origin:?} must be non-empty without spaces, '+' or control characters"
            )));
        }
        Ok(Self { origin, size, root, extensions: Vec::new() })
    }

    /// The log's identity, `<host>/ledgers/<ledger_id>` for AuditStore.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> TreeSize {
        self.size
    }

    /// The root hash at that size.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// Extension lines of a foreign checkpoint (AuditStore writes none).
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: `<origin>\n<size>\n<base64 root>\n` plus any extension lines.
    pub fn body(&self) -> String {
        let mut body = format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64());
        for ext in &self.extensions {
            body.push_str(ext);
            body.push('\n');
        }
        body
    }

    /// Parses a checkpoint body strictly (C2SP tlog-checkpoint, "Note text"): at least three
    /// non-empty lines each ending in a newline; a decimal size without leading zeros that
    /// fits in 64 bits; a standard base64 root of 32 bytes; optional non-empty extension lines.
    pub fn parse_body(text: &str) -> Result<Self, VerifyError> {
        let bad = |why: String| VerifyError::MalformedCheckpoint(why);
        let Some(text) = text.strip_suffix('\n') else {
            return Err(bad("body does not end with a newline".into()));
        };
        let mut lines = text.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(bad("expected origin, tree size and root hash lines".into()));
        };
        if origin.is_empty() {
            return Err(bad("origin line is empty".into()));
        }
        if origin.chars().any(char::is_control) {
            return Err(bad("origin contains a control character".into()));
        }
        let digits_ok =
            !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit()) && (size == "0" || !size.starts_with('0'));
        if !digits_ok {
            return Err(bad(format!("tree size {size:?} is not a decimal number without leading zeros")));
        }
        let size = size.parse::<u64>().map_err(|_| bad(format!("tree size {size:?} does not fit in 64 bits")))?;
        let root = Hash::from_base64(root).map_err(|e| bad(format!("root hash: {e}")))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("empty extension line".into()));
        }
        Ok(Self { origin: origin.to_owned(), size: TreeSize(size), root, extensions })
    }

    /// Signs the checkpoint: the body as a C2SP signed note with one Ed25519 signature by
    /// `key` under `name`.
    pub fn sign(&self, name: &KeyName, key: &SigningKey) -> Result<String, VerifyError> {
        note::sign(&self.body(), name, key)
    }

    /// Parses a signed checkpoint, verifies it against trusted keys (see
    /// [`SignedNote::verify`]) and parses its body.
    pub fn open(signed: &str, keys: &[VerifierKey]) -> Result<Self, VerifyError> {
        let note = SignedNote::parse(signed)?;
        let text = note.verify(keys)?;
        Self::parse_body(text)
    }

    /// Like [`Checkpoint::open`], and checks that the checkpoint is for `origin` (clients must
    /// not accept another log's checkpoint).
    pub fn open_for_origin(signed: &str, keys: &[VerifierKey], origin: &str) -> Result<Self, VerifyError> {
        let cp = Self::open(signed, keys)?;
        if cp.origin != origin {
            return Err(VerifyError::OriginMismatch { got: cp.origin, want: origin.to_owned() });
        }
        Ok(cp)
    }
}
