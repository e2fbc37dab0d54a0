-- Retention policies and legal holds (store/src/lifecycle): what may be
-- archived, and what never may while a hold stands. The database itself
-- keeps the promises a policy and a hold make, whoever writes to it:
--
-- 1. A locked retention policy can only be lengthened: never shortened,
--    unlocked or removed (S3 Object Lock's compliance mode, Azure's locked
--    time-based retention), on every path, raw SQL included.
-- 2. A legal hold is fixed once placed: it is released once, with a
--    reason, and an active hold is never deleted.

CREATE TABLE retention_policies (
    ledger_id   TEXT PRIMARY KEY REFERENCES ledgers (id),
    -- Events are kept this many days after their occurred_at.
    days        BIGINT NOT NULL CHECK (days BETWEEN 1 AND 36500),
    locked      BIGINT NOT NULL CHECK (locked IN (0, 1)),
    -- Who set the policy last, and when (the system event's actor).
    set_by_type TEXT NOT NULL,
    set_by_id   TEXT NOT NULL,
    set_ms      BIGINT NOT NULL,
    -- When it was locked; NULL while unlocked.
    locked_ms   BIGINT,
    CHECK ((locked = 1) = (locked_ms IS NOT NULL))
);

CREATE FUNCTION auditstore_retention_only_lengthens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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
CREATE TRIGGER retention_locked_only_lengthens BEFORE UPDATE OR DELETE ON retention_policies
    FOR EACH ROW EXECUTE FUNCTION auditstore_retention_only_lengthens();

CREATE FUNCTION auditstore_refuse_truncate_locked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% refused on %: a locked retention policy or an active legal hold is never removed in bulk', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER retention_refuse_truncate BEFORE TRUNCATE ON retention_policies
    FOR EACH STATEMENT EXECUTE FUNCTION auditstore_refuse_truncate_locked();

CREATE TABLE legal_holds (
    hold_id        TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    -- NULL: the hold covers every ledger of the account.
    ledger_id      TEXT REFERENCES ledgers (id),
    case_name      TEXT NOT NULL,
    reason         TEXT NOT NULL,
    -- The scope; all NULL holds the whole ledger (or account). occurred_at
    -- from from_ms (included) to to_ms (excluded), exact actor and
    -- resource ids.
    from_ms        BIGINT,
    to_ms          BIGINT,
    actor_id       TEXT,
    resource_id    TEXT,
    placed_by_type TEXT NOT NULL,
    placed_by_id   TEXT NOT NULL,
    placed_ms      BIGINT NOT NULL,
    released_ms      BIGINT,
    released_by_type TEXT,
    released_by_id   TEXT,
    release_reason   TEXT,
    CHECK ((released_ms IS NULL) = (release_reason IS NULL)),
    CHECK ((released_ms IS NULL) = (released_by_id IS NULL))
);
CREATE INDEX legal_holds_by_account ON legal_holds (account_id, placed_ms);

CREATE FUNCTION auditstore_hold_only_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.released_ms IS NULL THEN
            RAISE EXCEPTION 'an active legal hold cannot be deleted: release it, with a reason'
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
CREATE TRIGGER legal_holds_only_released BEFORE UPDATE OR DELETE ON legal_holds
    FOR EACH ROW EXECUTE FUNCTION auditstore_hold_only_released();
CREATE TRIGGER legal_holds_refuse_truncate BEFORE TRUNCATE ON legal_holds
    FOR EACH STATEMENT EXECUTE FUNCTION auditstore_refuse_truncate_locked();

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditstore_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON retention_policies TO auditstore_app;
        GRANT SELECT, INSERT, UPDATE (released_ms, released_by_type, released_by_id, release_reason) ON legal_holds
            TO auditstore_app;
    END IF;
END
$$;
