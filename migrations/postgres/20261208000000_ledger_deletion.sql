-- Ledger deletion (store/src/lifecycle/deletion): a deletion is scheduled
-- with a grace period, may be cancelled within it, and at its time is
-- refused while any active legal hold applies; otherwise it records the
-- ledger's final checkpoint, crypto-shreds the ledger's keys and deletes
-- its rows. The deletion record stays for good (it names no table by
-- foreign key, so it outlives the ledger and its account).
--
-- Every guard that refuses deleting history lets a row go only while a
-- deletion of its ledger is under way ('deleting'), which the database
-- allows only when no active legal hold applies to the ledger, and, for an
-- account's system ledger, only together with its account. The
-- application role gets DELETE on those tables, confined by the guards.

CREATE TABLE ledger_deletions (
    deletion_id       TEXT PRIMARY KEY,
    ledger_id         TEXT NOT NULL,
    account_id        TEXT NOT NULL,
    name              TEXT NOT NULL,
    -- 1 for the system ledger, deleted only with its account.
    with_account      BIGINT NOT NULL DEFAULT 0 CHECK (with_account IN (0, 1)),
    status            TEXT NOT NULL CHECK (status IN ('scheduled', 'cancelled', 'deleting', 'deleted')),
    requested_by_type TEXT NOT NULL,
    requested_by_id   TEXT NOT NULL,
    requested_ms      BIGINT NOT NULL,
    delete_at_ms      BIGINT NOT NULL,
    cancelled_by_type TEXT,
    cancelled_by_id   TEXT,
    cancelled_ms      BIGINT,
    -- The holds that refused it at its time, last (a JSON array of ids).
    refused_by        TEXT,
    -- The ledger as it was when its deletion began: its last signed
    -- checkpoint (the note), size and root.
    final_checkpoint  TEXT,
    final_tree_size   BIGINT,
    final_root        TEXT,
    started_ms        BIGINT,
    deleted_ms        BIGINT
);
-- At most one deletion of a ledger is scheduled or under way.
CREATE UNIQUE INDEX ledger_deletions_open ON ledger_deletions (ledger_id)
    WHERE status IN ('scheduled', 'deleting');
CREATE INDEX ledger_deletions_due ON ledger_deletions (status, delete_at_ms);

-- When a deletion is scheduled, for appends to refuse (read with the ledger).
ALTER TABLE ledgers ADD COLUMN delete_at_ms BIGINT;

-- Whether a deletion of `ledger` is under way: the one authority for
-- deleting its history.
CREATE FUNCTION auditstore_deleting(ledger TEXT) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM ledger_deletions WHERE ledger_id = ledger AND status = 'deleting')
$$;

CREATE FUNCTION auditstore_ledger_deletion_rules() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'a ledger deletion record is kept as made (DELETE refused)' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'scheduled'
           OR (NEW.with_account = 0 AND EXISTS (SELECT 1 FROM ledgers WHERE id = NEW.ledger_id AND kind = 'system')) THEN
            RAISE EXCEPTION 'a ledger deletion starts scheduled, and the system ledger is deleted only with its account'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.deletion_id IS DISTINCT FROM OLD.deletion_id OR NEW.ledger_id IS DISTINCT FROM OLD.ledger_id
       OR NEW.account_id IS DISTINCT FROM OLD.account_id OR NEW.with_account IS DISTINCT FROM OLD.with_account THEN
        RAISE EXCEPTION 'a ledger deletion record is kept as made' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT ((OLD.status = 'scheduled' AND NEW.status IN ('cancelled', 'deleting'))
            OR (OLD.status = 'deleting' AND NEW.status = 'deleted') OR NEW.status = OLD.status) THEN
        RAISE EXCEPTION 'a ledger deletion only moves forward: scheduled, then cancelled or deleting, then deleted'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status = 'scheduled' AND NEW.status = 'deleting' AND EXISTS (
        SELECT 1 FROM legal_holds
        WHERE account_id = NEW.account_id AND released_ms IS NULL AND (ledger_id IS NULL OR ledger_id = NEW.ledger_id)
    ) THEN
        RAISE EXCEPTION 'a ledger under an active legal hold cannot be deleted' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_deletions_rules BEFORE INSERT OR UPDATE OR DELETE ON ledger_deletions
    FOR EACH ROW EXECUTE FUNCTION auditstore_ledger_deletion_rules();
CREATE TRIGGER ledger_deletions_refuse_truncate BEFORE TRUNCATE ON ledger_deletions
    FOR EACH STATEMENT EXECUTE FUNCTION auditstore_refuse_change();

-- The guards against deleting history, now with the one exception.
CREATE OR REPLACE FUNCTION auditstore_refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND auditstore_deleting(OLD.ledger_id) THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE'
       AND OLD.content IS NOT NULL AND NEW.content IS NULL
       AND NEW.ledger_id = OLD.ledger_id AND NEW.seq = OLD.seq AND NEW.event_id = OLD.event_id
       AND NEW.occurred_ms = OLD.occurred_ms AND NEW.received_ms = OLD.received_ms
       AND NEW.leaf_hash = OLD.leaf_hash AND NEW.chain_hash = OLD.chain_hash
       AND COALESCE((
           SELECT r.end_seq FROM archival_ranges r
           WHERE r.ledger_id = OLD.ledger_id AND r.start_seq <= OLD.seq
           ORDER BY r.start_seq DESC LIMIT 1
       ), -1) > OLD.seq THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'events are immutable: % refused (no recorded archival covers this change)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- For the tables whose rows are only ever deleted with their ledger.
CREATE FUNCTION auditstore_refuse_delete_unless_deleting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND auditstore_deleting(OLD.ledger_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is immutable: % refused (only a ledger deletion under way removes it)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
DROP TRIGGER merkle_nodes_refuse_change ON merkle_nodes;
CREATE TRIGGER merkle_nodes_refuse_change BEFORE UPDATE ON merkle_nodes
    FOR EACH ROW EXECUTE FUNCTION auditstore_refuse_change();
CREATE TRIGGER merkle_nodes_refuse_delete BEFORE DELETE ON merkle_nodes
    FOR EACH ROW EXECUTE FUNCTION auditstore_refuse_delete_unless_deleting();
DROP TRIGGER checkpoints_refuse_change ON checkpoints;
CREATE TRIGGER checkpoints_refuse_change BEFORE UPDATE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION auditstore_refuse_change();
CREATE TRIGGER checkpoints_refuse_delete BEFORE DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION auditstore_refuse_delete_unless_deleting();
CREATE TRIGGER integrity_findings_refuse_delete BEFORE DELETE ON integrity_findings
    FOR EACH ROW EXECUTE FUNCTION auditstore_refuse_delete_unless_deleting();
CREATE TRIGGER ledger_heads_refuse_delete BEFORE DELETE ON ledger_heads
    FOR EACH ROW EXECUTE FUNCTION auditstore_refuse_delete_unless_deleting();
DROP TRIGGER archivals_refuse_change ON archivals;
CREATE TRIGGER archivals_refuse_change BEFORE UPDATE ON archivals
    FOR EACH ROW EXECUTE FUNCTION auditstore_refuse_archival_change();
CREATE TRIGGER archivals_refuse_delete BEFORE DELETE ON archivals
    FOR EACH ROW EXECUTE FUNCTION auditstore_refuse_delete_unless_deleting();
DROP TRIGGER archival_ranges_refuse_change ON archival_ranges;
CREATE TRIGGER archival_ranges_refuse_change BEFORE UPDATE ON archival_ranges
    FOR EACH ROW EXECUTE FUNCTION auditstore_refuse_archival_change();
CREATE TRIGGER archival_ranges_refuse_delete BEFORE DELETE ON archival_ranges
    FOR EACH ROW EXECUTE FUNCTION auditstore_refuse_delete_unless_deleting();

CREATE OR REPLACE FUNCTION auditstore_refuse_ledger_identity_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF auditstore_deleting(OLD.id) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'a ledger''s identity is immutable: DELETE refused (ledgers are not deleted this way)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.account_id IS DISTINCT FROM OLD.account_id
       OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.origin IS DISTINCT FROM OLD.origin THEN
        RAISE EXCEPTION 'a ledger''s identity is immutable: UPDATE refused (id, account, kind and origin are fixed)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION auditstore_retention_only_lengthens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND auditstore_deleting(OLD.ledger_id) THEN
        RETURN OLD;
    END IF;
    IF OLD.locked = 1 AND (
        TG_OP = 'DELETE' OR NEW.locked IS DISTINCT FROM 1 OR NEW.days < OLD.days
        OR NEW.ledger_id IS DISTINCT FROM OLD.ledger_id OR NEW.locked_ms IS DISTINCT FROM OLD.locked_ms
    ) THEN
        RAISE EXCEPTION 'a locked retention policy can only be lengthened: never shortened, unlocked or removed (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;

-- A hold, even released, is deleted only with its ledger, or with its
-- account once the account has no ledger left.
CREATE OR REPLACE FUNCTION auditstore_hold_only_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.released_ms IS NULL OR NOT (
            (OLD.ledger_id IS NOT NULL AND auditstore_deleting(OLD.ledger_id))
            OR NOT EXISTS (SELECT 1 FROM ledgers WHERE account_id = OLD.account_id)
        ) THEN
            RAISE EXCEPTION 'a legal hold is deleted only with its ledger, and never while it is active'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.released_ms IS NOT NULL OR NEW.released_ms IS NULL
       OR NEW.hold_id IS DISTINCT FROM OLD.hold_id OR NEW.account_id IS DISTINCT FROM OLD.account_id
       OR NEW.ledger_id IS DISTINCT FROM OLD.ledger_id OR NEW.case_name IS DISTINCT FROM OLD.case_name
       OR NEW.reason IS DISTINCT FROM OLD.reason OR NEW.from_ms IS DISTINCT FROM OLD.from_ms
       OR NEW.to_ms IS DISTINCT FROM OLD.to_ms OR NEW.actor_id IS DISTINCT FROM OLD.actor_id
       OR NEW.resource_id IS DISTINCT FROM OLD.resource_id
       OR NEW.placed_by_type IS DISTINCT FROM OLD.placed_by_type OR NEW.placed_by_id IS DISTINCT FROM OLD.placed_by_id
       OR NEW.placed_ms IS DISTINCT FROM OLD.placed_ms THEN
        RAISE EXCEPTION 'a legal hold is fixed once placed: it can only be released, once, with a reason'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditstore_app') THEN
        GRANT SELECT, INSERT, UPDATE ON ledger_deletions TO auditstore_app;
        GRANT DELETE ON events, merkle_nodes, checkpoints, ledgers, ledger_heads, index_progress, api_key_ledgers,
            integrity_findings, archivals, archival_ranges, legal_holds TO auditstore_app;
        -- Account termination (the CLI): an account goes only once its
        -- ledgers have (their foreign keys refuse it before).
        GRANT DELETE ON accounts, users, user_links, api_keys TO auditstore_app;
    END IF;
END
$$;
