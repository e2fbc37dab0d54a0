//! Ledgers: accounts and their ledgers, the ingest sequencer and its
//! commit, Merkle node storage, verified reads and proofs, the filter
//! indexer, the checkpoint signer, integrity findings and the integrity
//! summary.

pub(crate) mod accounts;
pub(crate) mod bulk;
pub(crate) mod commit;
pub(crate) mod event_rows;
pub(crate) mod events;
pub(crate) mod filter_query;
pub(crate) mod findings;
pub(crate) mod handoff;
pub(crate) mod indexer;
pub(crate) mod integrity;
pub(crate) mod nodes;
pub(crate) mod plan;
pub(crate) mod proofs;
pub(crate) mod sequencer;
pub(crate) mod signer;
pub(crate) mod term_blocks;
