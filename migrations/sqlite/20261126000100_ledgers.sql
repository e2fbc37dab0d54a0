-- Accounts, ledgers, events with their hash chain and Merkle nodes, signed
-- checkpoints and API keys. Times are Unix milliseconds (UTC) in both
-- backends, hashes raw 32-byte blobs.

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL
);

CREATE TABLE ledgers (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'system')),
    -- The checkpoint origin, fixed at creation so every checkpoint of the
    -- ledger names the same log even if the server's host name changes.
    origin     TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    UNIQUE (account_id, name)
);

-- One row per ledger: how many events it holds and the last chain hash.
-- Every append reads and rewrites it inside the append transaction, which
-- is what serialises writers (in PostgreSQL with SELECT ... FOR UPDATE).
CREATE TABLE ledger_heads (
    ledger_id  TEXT PRIMARY KEY REFERENCES ledgers (id),
    tree_size  INTEGER NOT NULL,
    chain_hash BLOB NOT NULL,
    root_hash  BLOB NOT NULL
);

CREATE TABLE events (
    ledger_id   TEXT NOT NULL REFERENCES ledgers (id),
    seq         INTEGER NOT NULL,
    event_id    TEXT NOT NULL,
    occurred_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    -- The normalised event as JSON; NULL once tombstoned by retention.
    content     BLOB,
    leaf_hash   BLOB NOT NULL,
    chain_hash  BLOB NOT NULL,
    PRIMARY KEY (ledger_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX events_by_event_id ON events (ledger_id, event_id);

-- Perfect Merkle subtrees at levels 4, 8, 12, ... (level 0, the leaves, is
-- events.leaf_hash). Any other subtree is at most 8 stored hashes away, so a
-- proof still reads O(log n) rows while ingest writes one node per 15 events.
CREATE TABLE merkle_nodes (
    ledger_id TEXT NOT NULL REFERENCES ledgers (id),
    level     INTEGER NOT NULL,
    idx       INTEGER NOT NULL,
    hash      BLOB NOT NULL,
    PRIMARY KEY (ledger_id, level, idx)
) WITHOUT ROWID;

-- The public key every checkpoint of this database is signed with. All
-- server processes sharing the database must hold the matching private key;
-- a process with another key refuses to start rather than sign checkpoints
-- that verifiers would reject.
CREATE TABLE checkpoint_signers (
    key_name   TEXT PRIMARY KEY,
    public_key BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE checkpoints (
    ledger_id  TEXT NOT NULL REFERENCES ledgers (id),
    tree_size  INTEGER NOT NULL,
    root_hash  BLOB NOT NULL,
    note       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (ledger_id, tree_size)
) WITHOUT ROWID;

-- Equality-filter terms (actor, action, resource), one row per term and
-- event, written by the indexer after the commit (store/src/indexer.rs).
CREATE TABLE event_terms (
    ledger_id TEXT NOT NULL,
    term      BLOB NOT NULL,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (ledger_id, term, seq)
) WITHOUT ROWID;

-- How many events of each ledger are in event_terms (a prefix: seq below it).
CREATE TABLE index_progress (
    ledger_id    TEXT PRIMARY KEY REFERENCES ledgers (id),
    indexed_size INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    name         TEXT NOT NULL,
    permission   TEXT NOT NULL CHECK (permission IN ('read', 'write', 'admin')),
    -- 'account': every ledger of the account; 'ledgers': only those in
    -- api_key_ledgers (none left means no access, never account-wide).
    scope        TEXT NOT NULL CHECK (scope IN ('account', 'ledgers')),
    secret_hash  BLOB NOT NULL,
    created_ms   INTEGER NOT NULL,
    created_by   TEXT,
    revoked_ms   INTEGER,
    last_used_ms INTEGER,
    replaces     TEXT REFERENCES api_keys (id)
);

-- The ledgers of a key whose scope is 'ledgers'.
CREATE TABLE api_key_ledgers (
    key_id    TEXT NOT NULL REFERENCES api_keys (id),
    ledger_id TEXT NOT NULL REFERENCES ledgers (id),
    PRIMARY KEY (key_id, ledger_id)
) WITHOUT ROWID;

-- The database itself refuses to change history. The only UPDATE allowed on
-- an event is retention's tombstone: content to NULL, nothing else touched.
CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
WHEN NOT (
    OLD.content IS NOT NULL AND NEW.content IS NULL
    AND NEW.ledger_id = OLD.ledger_id AND NEW.seq = OLD.seq AND NEW.event_id = OLD.event_id
    AND NEW.occurred_ms = OLD.occurred_ms AND NEW.received_ms = OLD.received_ms
    AND NEW.leaf_hash = OLD.leaf_hash AND NEW.chain_hash = OLD.chain_hash
)
BEGIN
    SELECT RAISE(ABORT, 'events are immutable: only retention may tombstone an event');
END;
CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only and cannot be deleted');
END;
-- INSERT OR REPLACE deletes the old row without firing delete triggers
-- (unless a connection enables recursive_triggers, which an attacker's does
-- not), so an insert that would replace a row is refused up front.
CREATE TRIGGER events_refuse_replace BEFORE INSERT ON events
WHEN EXISTS (SELECT 1 FROM events WHERE ledger_id = NEW.ledger_id AND seq = NEW.seq)
  OR EXISTS (SELECT 1 FROM events WHERE ledger_id = NEW.ledger_id AND event_id = NEW.event_id)
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: an existing event cannot be replaced');
END;
CREATE TRIGGER merkle_nodes_refuse_replace BEFORE INSERT ON merkle_nodes
WHEN EXISTS (SELECT 1 FROM merkle_nodes WHERE ledger_id = NEW.ledger_id AND level = NEW.level AND idx = NEW.idx)
BEGIN
    SELECT RAISE(ABORT, 'Merkle nodes are immutable: an existing node cannot be replaced');
END;
CREATE TRIGGER checkpoints_refuse_replace BEFORE INSERT ON checkpoints
WHEN EXISTS (SELECT 1 FROM checkpoints WHERE ledger_id = NEW.ledger_id AND tree_size = NEW.tree_size)
BEGIN
    SELECT RAISE(ABORT, 'signed checkpoints are immutable: an existing checkpoint cannot be replaced');
END;
CREATE TRIGGER merkle_nodes_refuse_update BEFORE UPDATE ON merkle_nodes
BEGIN
    SELECT RAISE(ABORT, 'Merkle nodes are immutable');
END;
CREATE TRIGGER merkle_nodes_refuse_delete BEFORE DELETE ON merkle_nodes
BEGIN
    SELECT RAISE(ABORT, 'Merkle nodes are immutable');
END;
CREATE TRIGGER checkpoints_refuse_update BEFORE UPDATE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'signed checkpoints are immutable');
END;
CREATE TRIGGER checkpoints_refuse_delete BEFORE DELETE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'signed checkpoints are immutable');
END;
