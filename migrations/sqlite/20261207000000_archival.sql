-- Retention archival (store/src/lifecycle/archive): each archival wrote a
-- verifiable export file of the events it removes to the archive store,
-- read its digest back, and then, in one transaction, recorded itself and
-- the seq ranges it covers and turned those events into tombstones:
-- content gone, seq, event id, times, leaf and chain hashes (and the
-- Merkle nodes) kept, so every proof and checkpoint still verifies.
--
-- The database allows an event's content to be removed only where a
-- recorded archival covers its seq; an archival record is never changed
-- or removed.

CREATE TABLE archivals (
    archival_id TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    ledger_id   TEXT NOT NULL REFERENCES ledgers (id),
    -- The seqs [start_seq, end_seq) the file's proofs cover; the archived
    -- events are the archival_ranges within.
    start_seq   INTEGER NOT NULL,
    end_seq     INTEGER NOT NULL,
    events      INTEGER NOT NULL CHECK (events > 0),
    -- The signed tree size the file's inclusion proofs lead to.
    tree_size   INTEGER NOT NULL,
    -- Where the file is: file:<path below the archive directory> or
    -- s3://<bucket>/<key>.
    location    TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    -- The policy that expired the events: its days, and the occurred_at
    -- (Unix ms) before which events were past it.
    policy_days INTEGER NOT NULL,
    cutoff_ms   INTEGER NOT NULL,
    by_type     TEXT NOT NULL,
    by_id       TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    CHECK (start_seq < end_seq AND end_seq <= tree_size)
);
CREATE INDEX archivals_by_ledger ON archivals (ledger_id, created_ms);

-- Maximal runs of archived seqs; never overlapping (a tombstone is never
-- archived again).
CREATE TABLE archival_ranges (
    ledger_id   TEXT NOT NULL REFERENCES ledgers (id),
    start_seq   INTEGER NOT NULL,
    end_seq     INTEGER NOT NULL,
    archival_id TEXT NOT NULL REFERENCES archivals (archival_id),
    PRIMARY KEY (ledger_id, start_seq),
    CHECK (start_seq < end_seq)
) WITHOUT ROWID;

CREATE TRIGGER archivals_refuse_change BEFORE UPDATE ON archivals
BEGIN
    SELECT RAISE(ABORT, 'archival records are immutable');
END;
CREATE TRIGGER archivals_refuse_delete BEFORE DELETE ON archivals
BEGIN
    SELECT RAISE(ABORT, 'archival records are immutable');
END;
CREATE TRIGGER archivals_refuse_replace BEFORE INSERT ON archivals
WHEN EXISTS (SELECT 1 FROM archivals WHERE archival_id = NEW.archival_id)
BEGIN
    SELECT RAISE(ABORT, 'archival records are immutable');
END;
CREATE TRIGGER archival_ranges_refuse_change BEFORE UPDATE ON archival_ranges
BEGIN
    SELECT RAISE(ABORT, 'archival records are immutable');
END;
CREATE TRIGGER archival_ranges_refuse_delete BEFORE DELETE ON archival_ranges
BEGIN
    SELECT RAISE(ABORT, 'archival records are immutable');
END;
-- A new range may not overlap a recorded one (nor replace it).
CREATE TRIGGER archival_ranges_refuse_overlap BEFORE INSERT ON archival_ranges
WHEN EXISTS (
    SELECT 1 FROM archival_ranges
    WHERE ledger_id = NEW.ledger_id AND start_seq < NEW.end_seq AND end_seq > NEW.start_seq
)
BEGIN
    SELECT RAISE(ABORT, 'archival records are immutable: an archived range is never archived again');
END;

-- The one UPDATE allowed on an event: its content to NULL, nothing else
-- touched, where a recorded archival range covers its seq (the range that
-- starts at or below it is the only one that can).
DROP TRIGGER events_refuse_update;
CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
WHEN NOT (
    OLD.content IS NOT NULL AND NEW.content IS NULL
    AND NEW.ledger_id = OLD.ledger_id AND NEW.seq = OLD.seq AND NEW.event_id = OLD.event_id
    AND NEW.occurred_ms = OLD.occurred_ms AND NEW.received_ms = OLD.received_ms
    AND NEW.leaf_hash = OLD.leaf_hash AND NEW.chain_hash = OLD.chain_hash
    AND COALESCE((
        SELECT r.end_seq FROM archival_ranges r
        WHERE r.ledger_id = OLD.ledger_id AND r.start_seq <= OLD.seq
        ORDER BY r.start_seq DESC LIMIT 1
    ), -1) > OLD.seq
)
BEGIN
    SELECT RAISE(ABORT, 'events are immutable: no recorded archival covers this change');
END;
