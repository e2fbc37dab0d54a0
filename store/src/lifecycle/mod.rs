//! The records lifecycle: exports, retention policies and legal holds
//! (and, to come, archival and ledger deletion).

pub mod exports;
pub mod holds;
pub mod retention;
