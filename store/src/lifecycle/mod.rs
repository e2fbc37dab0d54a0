//! The records lifecycle: exports (and, to come, retention, archival,
//! legal holds and ledger deletion).

pub mod exports;
