//! The records lifecycle: exports, retention policies with archival into
//! tombstones, legal holds, and ledger deletion.

pub mod archive;
pub mod deletion;
pub mod exports;
pub mod hold_coverage;
pub mod holds;
pub mod retention;
