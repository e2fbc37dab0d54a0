-- Integrity findings (store/src/ledger/findings.rs): stored events that a
-- read or the indexer found altered (the record does not open, or its
-- content disagrees with its row), kept for the tamper monitor and an
-- operator. One row per event; a repeated finding updates it.

CREATE TABLE integrity_findings (
    ledger_id     TEXT NOT NULL REFERENCES ledgers (id),
    seq           INTEGER NOT NULL,
    -- The event id as the row says (possibly the altered part).
    event_id      TEXT NOT NULL,
    detail        TEXT NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    times         INTEGER NOT NULL,
    PRIMARY KEY (ledger_id, seq)
);

-- Findings are evidence: nothing in the application deletes them.
CREATE TRIGGER integrity_findings_refuse_delete BEFORE DELETE ON integrity_findings
BEGIN
    SELECT RAISE(ABORT, 'integrity findings are kept: DELETE refused');
END;
