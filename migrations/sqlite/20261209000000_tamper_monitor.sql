-- The tamper monitor (store/src/monitor): each ledger re-verified from the
-- position it last verified, and all of it on a slower full sweep; what it
-- finds is recorded once per kind and seq range, and kept.

-- Where the monitor stands in each ledger: the size verified so far and
-- the walk's state there (the chain hash, the Merkle frontier and the
-- partial groups of stored levels: store/src/monitor/state.rs), so the
-- next pass starts where this one stopped without trusting rows again.
CREATE TABLE monitor_progress (
    ledger_id          TEXT PRIMARY KEY REFERENCES ledgers (id),
    verified_size      INTEGER NOT NULL,
    state              BLOB NOT NULL,
    last_verified_ms   INTEGER NOT NULL,
    last_full_sweep_ms INTEGER
);

-- One row per anomaly: its kind and the first and last seq it affects.
-- No foreign key: a finding outlives the ledger it was found in (like the
-- deletion record), it is evidence.
CREATE TABLE integrity_anomalies (
    anomaly_id      TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL,
    ledger_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    first_seq       INTEGER NOT NULL,
    last_seq        INTEGER NOT NULL,
    detail          TEXT NOT NULL,
    found_ms        INTEGER NOT NULL,
    last_seen_ms    INTEGER NOT NULL,
    acknowledged_ms INTEGER,
    acknowledged_by TEXT,
    UNIQUE (ledger_id, kind, first_seq, last_seq),
    CHECK (first_seq <= last_seq)
);
CREATE INDEX integrity_anomalies_by_account ON integrity_anomalies (account_id, found_ms);

-- A finding is never removed nor rewritten: only seen again, and
-- acknowledged once.
CREATE TRIGGER integrity_anomalies_refuse_delete BEFORE DELETE ON integrity_anomalies
BEGIN
    SELECT RAISE(ABORT, 'integrity anomalies are kept: DELETE refused');
END;
CREATE TRIGGER integrity_anomalies_refuse_change BEFORE UPDATE ON integrity_anomalies
WHEN NEW.anomaly_id IS NOT OLD.anomaly_id OR NEW.account_id IS NOT OLD.account_id
  OR NEW.ledger_id IS NOT OLD.ledger_id OR NEW.kind IS NOT OLD.kind
  OR NEW.first_seq IS NOT OLD.first_seq OR NEW.last_seq IS NOT OLD.last_seq
  OR NEW.detail IS NOT OLD.detail OR NEW.found_ms IS NOT OLD.found_ms
  OR NEW.last_seen_ms < OLD.last_seen_ms
  OR (OLD.acknowledged_ms IS NOT NULL
      AND (NEW.acknowledged_ms IS NOT OLD.acknowledged_ms OR NEW.acknowledged_by IS NOT OLD.acknowledged_by))
BEGIN
    SELECT RAISE(ABORT, 'integrity anomalies are kept as found: only seen again or acknowledged once');
END;
