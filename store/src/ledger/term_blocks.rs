//! Where a term row lands in the filter index.
//!
//! Terms are HMACs, so a ledger's term rows for one batch of events are
//! spread over its whole B-tree. On SQLite, whose one writer is shared by
//! appends and the indexer, that made the index the costliest write of
//! ingest, and ever costlier as a ledger grew: a batch of 20,000 events
//! dirtied a page per resource term once the tree outgrew the page cache,
//! and each dirtied page is written to the WAL and again to the database
//! (2,367 bytes written an event at 1.6 million events, and a per-event cost
//! that kept rising). So on SQLite a stored term starts with its event's
//! block, `seq >> BLOCK_BITS`: a batch's rows land in the subtree of the one
//! or two blocks it covers, whatever the ledger's size (447 bytes an
//! event, with a cost that stays flat). A search walks the blocks newest
//! first, one seek per block, as a search of a time-partitioned index does,
//! up to [`BLOCKS_PER_QUERY`] blocks a query.
//!
//! PostgreSQL keeps one block per ledger (no prefix): its writers run side
//! by side, and there a search's walk would be a round trip per block.
//!
//! The layout is part of the schema (see the term blocks migration): rows
//! written with one block size are found only with that block size.

use crate::crypto::records::{Term, TERM_LEN};
use crate::Backend;

/// Events per block of the SQLite term index: 65,536. A block's term rows
/// (about 2 MB) stay within the page cache while a batch is written.
pub(crate) const BLOCK_BITS: u32 = 16;
/// Bytes of the block number that lead a stored term on SQLite: a `u64`
/// seq shifted by `BLOCK_BITS` fits in 48 bits.
const BLOCK_LEN: usize = 6;
/// Blocks one search query looks in (16.7 million events on SQLite): the
/// first term's stored forms go in one `IN` list, which SQLite walks in
/// descending order along the index, newest block first, with no sort.
pub(crate) const BLOCKS_PER_QUERY: usize = 256;
const STORED_LEN: usize = BLOCK_LEN + TERM_LEN;

/// A search's terms for one query: the first one as stored in each block
/// of a run of blocks (newest first), the further ones as computed.
pub(crate) struct TermRuns<'a> {
    pub(crate) first: &'a [StoredTerm],
    pub(crate) further: &'a [Term],
    pub(crate) layout: TermLayout,
}

/// On SQLite, a further term as stored in the block of the row `t`: the
/// block bytes of `t.term` and then the term, bound as hex (SQLite's `||`
/// concatenates text, so the blob is put together from hex and unhexed).
/// Closed with `))` after the bind.
const IN_BLOCK_OF_T: &str = "unhex(hex(substr(t.term, 1, 6)) || ";

impl TermRuns<'_> {
    /// `t.term IN (...)`: the first term's rows (`t`) in the run's blocks.
    pub(crate) fn push_first<'q, DB>(&self, query: &mut sqlx::QueryBuilder<'q, DB>)
    where
        DB: sqlx::Database,
        Vec<u8>: 'q + sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        query.push("t.term IN (");
        let mut first = query.separated(", ");
        for stored in self.first {
            first.push_bind(stored.as_slice().to_vec());
        }
        query.push(")");
    }

    /// ` AND EXISTS (...)` for each further term: point lookups of the first
    /// term's rows, in the same block.
    pub(crate) fn push_further<'q, DB>(&self, query: &mut sqlx::QueryBuilder<'q, DB>)
    where
        DB: sqlx::Database,
        Vec<u8>: 'q + sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        String: 'q + sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        for term in self.further {
            query.push(
                " AND EXISTS (SELECT 1 FROM event_terms x WHERE x.ledger = t.ledger AND x.seq = t.seq AND x.term = ",
            );
            if self.layout.blocked {
                query.push(IN_BLOCK_OF_T).push_bind(hex::encode_upper(term)).push("))");
            } else {
                query.push_bind(term.to_vec()).push(")");
            }
        }
    }
}

/// A term as the index stores it: on SQLite its event's block (big endian,
/// so byte order is block order) and then the term; on PostgreSQL the term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct StoredTerm {
    bytes: [u8; STORED_LEN],
    len: u8,
}

impl StoredTerm {
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The term index layout of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TermLayout {
    blocked: bool,
}

impl TermLayout {
    pub(crate) fn of(backend: Backend) -> Self {
        Self { blocked: backend == Backend::Sqlite }
    }

    /// The block an event's term rows are stored in.
    pub(crate) fn block_of(self, seq: u64) -> u64 {
        if self.blocked {
            seq >> BLOCK_BITS
        } else {
            0
        }
    }

    /// `term` as stored for the events of `block`.
    pub(crate) fn in_block(self, term: &Term, block: u64) -> StoredTerm {
        let mut bytes = [0u8; STORED_LEN];
        if self.blocked {
            bytes[..BLOCK_LEN].copy_from_slice(&block.to_be_bytes()[8 - BLOCK_LEN..]);
            bytes[BLOCK_LEN..].copy_from_slice(term);
            StoredTerm { bytes, len: STORED_LEN as u8 }
        } else {
            bytes[..TERM_LEN].copy_from_slice(term);
            StoredTerm { bytes, len: TERM_LEN as u8 }
        }
    }

    /// `term` as stored for the event `seq`.
    pub(crate) fn stored(self, term: &Term, seq: u64) -> StoredTerm {
        self.in_block(term, self.block_of(seq))
    }

    /// The blocks that hold the events below `before`, newest first.
    pub(crate) fn blocks_below(self, before: u64) -> impl Iterator<Item = u64> {
        let top = before.checked_sub(1).map(|last| self.block_of(last));
        top.into_iter().flat_map(|top| (0..=top).rev())
    }

    /// `term` as stored in each block below `before`, newest first, in runs
    /// of at most [`BLOCKS_PER_QUERY`]: one search query each.
    pub(crate) fn runs_below(self, term: Term, before: u64) -> impl Iterator<Item = Vec<StoredTerm>> {
        let mut blocks = self.blocks_below(before).peekable();
        std::iter::from_fn(move || {
            blocks.peek()?;
            Some(blocks.by_ref().take(BLOCKS_PER_QUERY).map(|block| self.in_block(&term, block)).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{TermLayout, BLOCK_BITS, BLOCK_LEN, IN_BLOCK_OF_T};
    use crate::Backend;

    const SQLITE: TermLayout = TermLayout { blocked: true };
    const POSTGRES: TermLayout = TermLayout { blocked: false };

    #[test]
    fn the_layout_follows_the_backend() {
        assert_eq!(TermLayout::of(Backend::Sqlite), SQLITE);
        assert_eq!(TermLayout::of(Backend::Postgres), POSTGRES);
    }

    #[test]
    fn a_sqlite_term_leads_with_its_block_in_byte_order() {
        let term = [0xAB; 16];
        let first = SQLITE.stored(&term, 0);
        assert_eq!(first.as_slice(), [&[0u8; 6][..], &term[..]].concat());
        let last_of_first = SQLITE.stored(&term, (1 << BLOCK_BITS) - 1);
        assert_eq!(first, last_of_first, "one block, one stored term");
        let second = SQLITE.stored(&term, 1 << BLOCK_BITS);
        assert_eq!(&second.as_slice()[..6], [0, 0, 0, 0, 0, 1]);
        // Byte order is block order, before the term's own bytes.
        assert!(second > SQLITE.stored(&[0xFF; 16], 0));
        let top = SQLITE.stored(&term, u64::MAX);
        assert_eq!(&top.as_slice()[..6], [0xFF; 6], "every seq has a block of its own");
        assert_ne!(top, SQLITE.stored(&term, u64::MAX >> 1));
    }

    #[test]
    fn the_sql_takes_as_many_block_bytes_as_a_stored_term_has() {
        assert!(IN_BLOCK_OF_T.contains(&format!("substr(t.term, 1, {BLOCK_LEN})")), "{IN_BLOCK_OF_T}");
    }

    #[test]
    fn a_postgres_term_is_the_term() {
        let term = [7u8; 16];
        assert_eq!(POSTGRES.stored(&term, 0).as_slice(), term);
        assert_eq!(POSTGRES.stored(&term, 1 << 40).as_slice(), term);
        assert_eq!(POSTGRES.blocks_below(1 << 40).collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn a_search_looks_in_runs_of_blocks_newest_first() {
        let term = [3u8; 16];
        let block = 1u64 << BLOCK_BITS;
        let runs: Vec<Vec<_>> = SQLITE.runs_below(term, 600 * block).collect();
        assert_eq!(runs.iter().map(Vec::len).collect::<Vec<_>>(), [256, 256, 88]);
        assert_eq!(runs[0][0], SQLITE.in_block(&term, 599), "the newest block first");
        assert_eq!(runs[2][87], SQLITE.in_block(&term, 0), "the oldest last");
        assert_eq!(SQLITE.runs_below(term, 0).count(), 0);
        assert_eq!(POSTGRES.runs_below(term, 600 * block).collect::<Vec<_>>(), [vec![POSTGRES.stored(&term, 0)]]);
    }

    #[test]
    fn the_blocks_below_a_seq_are_walked_newest_first() {
        let block = 1u64 << BLOCK_BITS;
        assert_eq!(SQLITE.blocks_below(0).count(), 0, "nothing below 0");
        assert_eq!(SQLITE.blocks_below(1).collect::<Vec<_>>(), [0]);
        assert_eq!(SQLITE.blocks_below(block).collect::<Vec<_>>(), [0]);
        assert_eq!(SQLITE.blocks_below(block + 1).collect::<Vec<_>>(), [1, 0]);
        assert_eq!(SQLITE.blocks_below(3 * block).collect::<Vec<_>>(), [2, 1, 0]);
        assert_eq!(POSTGRES.blocks_below(0).count(), 0);
    }
}
