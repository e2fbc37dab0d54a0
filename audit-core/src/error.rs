//! The crate's two error types: [`ValidationError`] for input that does not satisfy the event
//! model, and [`VerifyError`] for everything that fails verification or parsing of untrusted
//! proofs, hashes and notes.

use std::borrow::Cow;
use std::fmt;

use crate::ids::Seq;

/// Input that does not satisfy the event model (DESIGN §3, `docs/FORMAT.md` §2).
///
/// `field` is the JSON path of the offending value (`actor.id`, `metadata`, …) so that an API
/// can name it in an RFC 9457 problem document; `message` says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    field: Cow<'static, str>,
    message: String,
}

impl ValidationError {
    /// A new error about `field`.
    pub fn new(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// The JSON path of the offending value, e.g. `actor.id`.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Why a proof, chain segment, hash, note or checkpoint did not verify.
///
/// Every verification entry point returns this instead of panicking, whatever the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A hash was not 32 bytes in the expected encoding.
    #[error("malformed hash: {0}")]
    MalformedHash(String),
    /// A leaf index is not below the tree size.
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A range `[start, end)` is empty or does not fit in the tree.
    #[error("range [{start}, {end}) is empty or exceeds tree size {size}")]
    InvalidRange {
        /// First leaf of the range.
        start: u64,
        /// One past the last leaf of the range.
        end: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof from a larger to a smaller tree.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeDecreased {
        /// The old tree size.
        old: u64,
        /// The new tree size.
        new: u64,
    },
    /// A consistency proof from the empty tree (RFC 9162 §2.1.4 requires 0 < first).
    #[error("a consistency proof from an empty tree is meaningless")]
    EmptyOldTree,
    /// The number of leaf hashes given does not match the range.
    #[error("expected {want} leaf hashes, got {got}")]
    LeafCount {
        /// How many were given.
        got: usize,
        /// How many the range needs.
        want: u64,
    },
    /// The proof has the wrong number of hashes for the sizes and indices given.
    #[error("proof has {got} hashes, expected {want}")]
    ProofLength {
        /// How many were given.
        got: usize,
        /// How many were expected.
        want: usize,
    },
    /// The root recomputed from the proof differs from the expected root.
    #[error("the root computed from the proof does not match the expected root")]
    RootMismatch,
    /// The old root recomputed from a consistency proof differs from the claimed old root.
    #[error("the old root computed from the proof does not match the expected old root")]
    OldRootMismatch,
    /// The chain hash stored at `seq` is not `SHA-256(0x02 || previous || leaf_hash)`.
    #[error("chain hash mismatch at seq {seq}")]
    ChainMismatch {
        /// The first sequence number whose chain hash is wrong.
        seq: Seq,
    },
    /// A signed note violates C2SP signed-note syntax.
    #[error("malformed note: {0}")]
    MalformedNote(String),
    /// A checkpoint body violates C2SP tlog-checkpoint syntax.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// A verifier key string is not `<name>+<hex key id>+<base64(0x01 || key)>`.
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(String),
    /// A signature by a known key did not verify (C2SP signed-note: reject the whole note).
    #[error("invalid signature by known key {name}+{key_id:08x}")]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// No signature in the note is by a known key.
    #[error("no signature by a known key")]
    NoKnownSignature,
    /// An evidence file violates its format (docs/FORMAT.md §12).
    #[error("malformed evidence: {0}")]
    MalformedEvidence(String),
    /// An export file violates its format, or its manifest disagrees with its content
    /// (docs/FORMAT.md §13).
    #[error("malformed export: {0}")]
    MalformedExport(String),
    /// Rows `[start, end)` of an export do not verify.
    #[error("seqs {start}..{end}: {what}")]
    ExportMismatch {
        /// The first seq concerned.
        start: u64,
        /// One past the last seq concerned.
        end: u64,
        /// What failed.
        what: String,
    },
    /// The checkpoint's origin is not the one the verifier expected.
    #[error("checkpoint origin {got:?} is not the expected {want:?}")]
    OriginMismatch {
        /// The origin in the checkpoint.
        got: String,
        /// The origin the caller expected.
        want: String,
    },
}
