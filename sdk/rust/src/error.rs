//! One error type (docs/SDK.md §4). The API key never appears in any of
//! them.

use std::time::Duration;

/// An RFC 9457 problem document the server answered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Problem {
    pub status: u16,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub detail: String,
    /// The offending member of the request, when the server names one.
    #[serde(default)]
    pub field: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The response's `Retry-After`, when it had one.
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

/// What can go wrong.
/// The two signed notes of a [`Error::Fork`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkNotes {
    /// The note the tracker had stored (empty if it kept none).
    pub stored: String,
    /// The note it was shown.
    pub seen: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a problem document.
    #[error("AuditStore answered {status}: {detail}", status = .0.status, detail = .0.detail)]
    Problem(Problem),
    /// No answer: connection, TLS or timeout.
    #[error("AuditStore could not be reached: {0}")]
    Network(String),
    /// Something did not verify.
    #[error("verification failed: {0}")]
    Verification(String),
    /// Two different trees of one size: the server showed two histories.
    #[error("FORK: ledger {ledger} has two different trees of size {size} (stored root {stored}, new root {seen})")]
    Fork {
        ledger: String,
        size: u64,
        stored: String,
        seen: String,
        /// The two signed notes: the evidence of the two histories.
        notes: Box<ForkNotes>,
    },
    /// A smaller tree than one already verified: the server rolled back.
    #[error("ROLLBACK: ledger {ledger} was verified at size {stored}, now shown at size {seen}")]
    Rollback { ledger: String, stored: u64, seen: u64 },
    /// The queue is full (see `Config::when_full`).
    #[error("the event queue is full")]
    QueueFull,
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
    /// The configuration cannot be used.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An answer that is not what the API documents.
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// The checkpoint store failed.
    #[error("checkpoint store: {0}")]
    Store(String),
}

impl Error {
    /// Whether retrying the same request can help (docs/SDK.md §3).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Network(_) => true,
            Error::Problem(p) => p.status == 408 || p.status == 429 || p.status >= 500,
            _ => false,
        }
    }
}

impl From<audit_core::VerifyError> for Error {
    fn from(e: audit_core::VerifyError) -> Self {
        Error::Verification(e.to_string())
    }
}
