-- Accounts, ledgers, events with their hash chain and Merkle nodes, signed
-- checkpoints and API keys. Times are Unix milliseconds (UTC) in both
-- backends, hashes raw 32-byte strings.

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);

CREATE TABLE ledgers (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'system')),
    -- The checkpoint origin, fixed at creation so every checkpoint of the
    -- ledger names the same log even if the server's host name changes.
    origin     TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

-- One row per ledger: how many events it holds and the last chain hash.
-- Every append locks it (SELECT ... FOR UPDATE) inside the append
-- transaction, so two server processes can never fork a chain.
CREATE TABLE ledger_heads (
    ledger_id  TEXT PRIMARY KEY REFERENCES ledgers (id),
    tree_size  BIGINT NOT NULL,
    chain_hash BYTEA NOT NULL,
    root_hash  BYTEA NOT NULL
);

CREATE TABLE events (
    ledger_id   TEXT NOT NULL REFERENCES ledgers (id),
    seq         BIGINT NOT NULL,
    event_id    TEXT NOT NULL,
    occurred_ms BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    -- The normalised event as JSON; NULL once tombstoned by retention.
    content     BYTEA,
    leaf_hash   BYTEA NOT NULL,
    chain_hash  BYTEA NOT NULL,
    PRIMARY KEY (ledger_id, seq)
);
CREATE UNIQUE INDEX events_by_event_id ON events (ledger_id, event_id);

-- Perfect Merkle subtrees at levels 4, 8, 12, ... (level 0, the leaves, is
-- events.leaf_hash). Any other subtree is at most 8 stored hashes away, so a
-- proof still reads O(log n) rows while ingest writes one node per 15 events.
CREATE TABLE merkle_nodes (
    ledger_id TEXT NOT NULL REFERENCES ledgers (id),
    level     SMALLINT NOT NULL,
    idx       BIGINT NOT NULL,
    hash      BYTEA NOT NULL,
    PRIMARY KEY (ledger_id, level, idx)
);

-- The public key every checkpoint of this database is signed with. All
-- server processes sharing the database must hold the matching private key;
-- a process with another key refuses to start rather than sign checkpoints
-- that verifiers would reject.
CREATE TABLE checkpoint_signers (
    key_name   TEXT PRIMARY KEY,
    public_key BYTEA NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE checkpoints (
    ledger_id  TEXT NOT NULL REFERENCES ledgers (id),
    tree_size  BIGINT NOT NULL,
    root_hash  BYTEA NOT NULL,
    note       TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (ledger_id, tree_size)
);

-- Equality-filter terms (actor, action, resource), one row per term and
-- event, written by the indexer after the commit (store/src/indexer.rs).
CREATE TABLE event_terms (
    ledger_id TEXT NOT NULL,
    term      BYTEA NOT NULL,
    seq       BIGINT NOT NULL,
    PRIMARY KEY (ledger_id, term, seq)
);

-- How many events of each ledger are in event_terms (a prefix: seq below it).
CREATE TABLE index_progress (
    ledger_id    TEXT PRIMARY KEY REFERENCES ledgers (id),
    indexed_size BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    name         TEXT NOT NULL,
    permission   TEXT NOT NULL CHECK (permission IN ('read', 'write', 'admin')),
    -- 'account': every ledger of the account; 'ledgers': only those in
    -- api_key_ledgers (none left means no access, never account-wide).
    scope        TEXT NOT NULL CHECK (scope IN ('account', 'ledgers')),
    secret_hash  BYTEA NOT NULL,
    created_ms   BIGINT NOT NULL,
    created_by   TEXT,
    revoked_ms   BIGINT,
    last_used_ms BIGINT,
    replaces     TEXT REFERENCES api_keys (id)
);

-- The ledgers of a key whose scope is 'ledgers'.
CREATE TABLE api_key_ledgers (
    key_id    TEXT NOT NULL REFERENCES api_keys (id),
    ledger_id TEXT NOT NULL REFERENCES ledgers (id),
    PRIMARY KEY (key_id, ledger_id)
);

-- The database itself refuses to change history. The only UPDATE allowed on
-- an event is retention's tombstone: content to NULL, nothing else touched.
CREATE FUNCTION auditstore_refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.content IS NOT NULL AND NEW.content IS NULL
       AND NEW.ledger_id = OLD.ledger_id AND NEW.seq = OLD.seq AND NEW.event_id = OLD.event_id
       AND NEW.occurred_ms = OLD.occurred_ms AND NEW.received_ms = OLD.received_ms
       AND NEW.leaf_hash = OLD.leaf_hash AND NEW.chain_hash = OLD.chain_hash THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'events are immutable: % refused (only retention may tombstone an event)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER events_refuse_change BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION auditstore_refuse_event_change();
CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION auditstore_refuse_event_change();

CREATE FUNCTION auditstore_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is immutable: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER merkle_nodes_refuse_change BEFORE UPDATE OR DELETE ON merkle_nodes
    FOR EACH ROW EXECUTE FUNCTION auditstore_refuse_change();
CREATE TRIGGER checkpoints_refuse_change BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION auditstore_refuse_change();
CREATE TRIGGER merkle_nodes_refuse_truncate BEFORE TRUNCATE ON merkle_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION auditstore_refuse_change();
CREATE TRIGGER checkpoints_refuse_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION auditstore_refuse_change();

-- Least privilege: a role for the application processes, without UPDATE or
-- DELETE on history (only the tombstone column may be updated). Operators
-- grant it to the login role the servers use; see docs/POSTGRES.md. Created
-- only when the migrating user may create roles.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditstore_app')
       AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
        CREATE ROLE auditstore_app NOLOGIN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditstore_app') THEN
        GRANT SELECT, INSERT ON events, merkle_nodes, checkpoints, event_terms, checkpoint_signers TO auditstore_app;
        GRANT UPDATE (content) ON events TO auditstore_app;
        GRANT SELECT, INSERT, UPDATE ON accounts, ledgers, ledger_heads, index_progress, api_keys, api_key_ledgers, instance TO auditstore_app;
        GRANT SELECT ON _sqlx_migrations TO auditstore_app;
    END IF;
END;
$$;
