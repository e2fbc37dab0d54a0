-- Envelope encryption (store/src/sealing.rs): per-ledger data keys, stored
-- only wrapped by the key provider, and instance secrets such as the
-- checkpoint signing key.

CREATE TABLE ledger_keys (
    ledger_id  TEXT NOT NULL REFERENCES ledgers (id),
    version    INTEGER NOT NULL CHECK (version > 0),
    -- 'local' or 'aws-kms', and which KEK of it wrapped the key.
    provider   TEXT NOT NULL,
    kek_id     TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    -- The ledger's size when this version became current.
    from_seq   INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    wrapped_ms INTEGER NOT NULL,
    PRIMARY KEY (ledger_id, version)
) WITHOUT ROWID;

CREATE TABLE instance_secrets (
    name       TEXT PRIMARY KEY,
    provider   TEXT NOT NULL,
    kek_id     TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    wrapped_ms INTEGER NOT NULL
);

-- The DEK version new events are sealed with: 0 before the first one is
-- created, -1 once the ledger's keys are destroyed.
ALTER TABLE ledger_heads ADD COLUMN key_version INTEGER NOT NULL DEFAULT 0;

-- Events below this seq were stored before encryption existed and are
-- plain JSON; every later record must be sealed.
ALTER TABLE ledgers ADD COLUMN plaintext_below INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ledgers ADD COLUMN keys_destroyed_ms INTEGER;
UPDATE ledgers SET plaintext_below = (SELECT tree_size FROM ledger_heads h WHERE h.ledger_id = ledgers.id);

-- Filter terms become keyed HMACs: the old unkeyed terms are dropped and
-- the indexer rebuilds the index from the start.
DELETE FROM event_terms;
UPDATE index_progress SET indexed_size = 0;
