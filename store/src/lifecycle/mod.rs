//! The records lifecycle: exports, retention policies with archival into
//! tombstones, and legal holds (and, to come, ledger deletion).

pub mod archive;
pub mod exports;
pub mod holds;
pub mod retention;
