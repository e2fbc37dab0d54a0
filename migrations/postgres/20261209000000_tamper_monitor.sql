-- The tamper monitor (store/src/monitor): each ledger re-verified from the
-- position it last verified, and all of it on a slower full sweep; what it
-- finds is recorded once per kind and seq range, and kept.

-- Where the monitor stands in each ledger: the size verified so far and
-- the walk's state there (the chain hash, the Merkle frontier and the
-- partial groups of stored levels: store/src/monitor/state.rs), so the
-- next pass starts where this one stopped without trusting rows again.
CREATE TABLE monitor_progress (
    ledger_id          TEXT PRIMARY KEY REFERENCES ledgers (id),
    verified_size      BIGINT NOT NULL,
    state              BYTEA NOT NULL,
    last_verified_ms   BIGINT NOT NULL,
    last_full_sweep_ms BIGINT
);

-- One row per anomaly: its kind and the first and last seq it affects.
-- No foreign key: a finding outlives the ledger it was found in (like the
-- deletion record), it is evidence.
CREATE TABLE integrity_anomalies (
    anomaly_id      TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL,
    ledger_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    first_seq       BIGINT NOT NULL,
    last_seq        BIGINT NOT NULL,
    detail          TEXT NOT NULL,
    found_ms        BIGINT NOT NULL,
    last_seen_ms    BIGINT NOT NULL,
    acknowledged_ms BIGINT,
    acknowledged_by TEXT,
    UNIQUE (ledger_id, kind, first_seq, last_seq),
    CHECK (first_seq <= last_seq)
);
CREATE INDEX integrity_anomalies_by_account ON integrity_anomalies (account_id, found_ms);

-- A finding is never removed nor rewritten: only seen again, and
-- acknowledged once.
CREATE FUNCTION auditstore_anomaly_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.anomaly_id = OLD.anomaly_id AND NEW.account_id = OLD.account_id
       AND NEW.ledger_id = OLD.ledger_id AND NEW.kind = OLD.kind
       AND NEW.first_seq = OLD.first_seq AND NEW.last_seq = OLD.last_seq
       AND NEW.detail = OLD.detail AND NEW.found_ms = OLD.found_ms
       AND NEW.last_seen_ms >= OLD.last_seen_ms
       AND (OLD.acknowledged_ms IS NULL
            OR (NEW.acknowledged_ms IS NOT DISTINCT FROM OLD.acknowledged_ms
                AND NEW.acknowledged_by IS NOT DISTINCT FROM OLD.acknowledged_by)) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'integrity anomalies are kept as found: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER integrity_anomalies_kept BEFORE UPDATE OR DELETE ON integrity_anomalies
    FOR EACH ROW EXECUTE FUNCTION auditstore_anomaly_kept();

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditstore_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON monitor_progress TO auditstore_app;
        GRANT SELECT, INSERT, UPDATE (last_seen_ms, acknowledged_ms, acknowledged_by) ON integrity_anomalies
            TO auditstore_app;
    END IF;
END
$$;
