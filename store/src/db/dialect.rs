//! The SQL that differs between SQLite and PostgreSQL, named by purpose.

/// One backend's statements where the two differ; everything else is
/// written once, in SQL both accept.
#[derive(Debug)]
pub(crate) struct Dialect {
    /// Starts a write transaction. SQLite's IMMEDIATE takes the write lock
    /// at BEGIN; PostgreSQL locks rows as statements reach them.
    pub(crate) begin_write: &'static str,
    /// Ends a SELECT of rows the transaction goes on to change: PostgreSQL
    /// locks them against concurrent writers, while in SQLite the write
    /// transaction already excludes every other writer.
    pub(crate) for_update: &'static str,
    /// Ends a SELECT of rows that must stay as read until the commit.
    pub(crate) for_share: &'static str,
    /// Run first in an append transaction: a stuck peer holding a ledger's
    /// head lock must not stall that ledger on every node forever (SQLite
    /// bounds waits with its busy timeout, set when it opens).
    pub(crate) bounded_append: &'static [&'static str],
    /// Run first in a transaction that stores a new wrapped key: orders it
    /// with a KEK retirement's final check (see `freeze_wrapped_keys`).
    pub(crate) guard_new_keys: &'static [&'static str],
    /// Run first in a KEK retirement's final check: no key can be stored
    /// until it commits (SQLite's write transaction does that by itself).
    pub(crate) freeze_wrapped_keys: &'static [&'static str],
}

impl Dialect {
    pub(crate) const SQLITE: Dialect = Dialect {
        begin_write: "BEGIN IMMEDIATE",
        for_update: "",
        for_share: "",
        bounded_append: &[],
        guard_new_keys: &[],
        freeze_wrapped_keys: &[],
    };

    pub(crate) const POSTGRES: Dialect = Dialect {
        begin_write: "BEGIN",
        for_update: " FOR UPDATE",
        for_share: " FOR SHARE",
        // One round trip for both (set_config with is_local is SET LOCAL).
        bounded_append: &[
            "SELECT set_config('lock_timeout', '10s', true), set_config('statement_timeout', '60s', true)",
        ],
        guard_new_keys: &["LOCK TABLE ledger_keys IN ROW EXCLUSIVE MODE"],
        freeze_wrapped_keys: &["LOCK TABLE ledger_keys, instance_secrets IN SHARE ROW EXCLUSIVE MODE"],
    };
}
