-- Integrity findings (store/src/ledger/findings.rs): stored events that a
-- read or the indexer found altered (the record does not open, or its
-- content disagrees with its row), kept for the tamper monitor and an
-- operator. One row per event; a repeated finding updates it.

CREATE TABLE integrity_findings (
    ledger_id     TEXT NOT NULL REFERENCES ledgers (id),
    seq           BIGINT NOT NULL,
    -- The event id as the row says (possibly the altered part).
    event_id      TEXT NOT NULL,
    detail        TEXT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    times         BIGINT NOT NULL,
    PRIMARY KEY (ledger_id, seq)
);

-- Findings are evidence: the application role may add and update them,
-- never delete them.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditstore_app') THEN
        GRANT SELECT, INSERT, UPDATE (event_id, detail, last_seen_ms, times) ON integrity_findings TO auditstore_app;
    END IF;
END
$$;
