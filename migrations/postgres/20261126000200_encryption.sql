-- Envelope encryption (store/src/sealing.rs): per-ledger data keys, stored
-- only wrapped by the key provider, and instance secrets such as the
-- checkpoint signing key.

CREATE TABLE ledger_keys (
    ledger_id  TEXT NOT NULL REFERENCES ledgers (id),
    version    BIGINT NOT NULL CHECK (version > 0),
    -- 'local' or 'aws-kms', and which KEK of it wrapped the key.
    provider   TEXT NOT NULL,
    kek_id     TEXT NOT NULL,
    wrapped    BYTEA NOT NULL,
    -- The ledger's size when this version became current.
    from_seq   BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    wrapped_ms BIGINT NOT NULL,
    PRIMARY KEY (ledger_id, version)
);

CREATE TABLE instance_secrets (
    name       TEXT PRIMARY KEY,
    provider   TEXT NOT NULL,
    kek_id     TEXT NOT NULL,
    wrapped    BYTEA NOT NULL,
    created_ms BIGINT NOT NULL,
    wrapped_ms BIGINT NOT NULL
);

-- The DEK version new events are sealed with: 0 before the first one is
-- created, -1 once the ledger's keys are destroyed.
ALTER TABLE ledger_heads ADD COLUMN key_version BIGINT NOT NULL DEFAULT 0;

-- Events below this seq were stored before encryption existed and are
-- plain JSON; every later record must be sealed.
ALTER TABLE ledgers ADD COLUMN plaintext_below BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ledgers ADD COLUMN keys_destroyed_ms BIGINT;
UPDATE ledgers SET plaintext_below = (SELECT tree_size FROM ledger_heads h WHERE h.ledger_id = ledgers.id);

-- Filter terms become keyed HMACs: the old unkeyed terms are dropped and
-- the indexer rebuilds the index from the start.
DELETE FROM event_terms;
UPDATE index_progress SET indexed_size = 0;

-- The application role rotates and destroys keys; it still cannot change
-- events.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditstore_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON ledger_keys TO auditstore_app;
        GRANT SELECT, INSERT, UPDATE ON instance_secrets TO auditstore_app;
        GRANT DELETE ON event_terms TO auditstore_app;
    END IF;
END;
$$;
