-- Export jobs (store/src/lifecycle/exports): one row per requested export
-- file, and the file itself in sealed chunks, so that any server process
-- can run the job and any can serve the download. The file holds decrypted
-- events: each chunk is sealed with the ledger's data key (AES-256-GCM,
-- export id and chunk number as associated data), as event content is.

CREATE TABLE exports (
    export_id      TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    ledger_id      TEXT NOT NULL REFERENCES ledgers (id),
    format         TEXT NOT NULL CHECK (format IN ('jsonl', 'csv', 'parquet')),
    -- The explorer filter as requested (JSON object); NULL for a
    -- contiguous export.
    filter         TEXT,
    -- The seqs [start_seq, end_seq) read, proven at tree_size (the
    -- ledger's size when the export was requested).
    start_seq      INTEGER NOT NULL,
    end_seq        INTEGER NOT NULL,
    tree_size      INTEGER NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed', 'expired')),
    reason         TEXT,
    events_scanned INTEGER NOT NULL DEFAULT 0,
    events_written INTEGER NOT NULL DEFAULT 0,
    bytes          INTEGER NOT NULL DEFAULT 0,
    chunks         INTEGER NOT NULL DEFAULT 0,
    sha256         TEXT,
    -- Who asked: the system event actor's type and id.
    requested_by_type TEXT NOT NULL,
    requested_by_id   TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    created_ms     INTEGER NOT NULL,
    started_ms     INTEGER,
    finished_ms    INTEGER,
    expires_ms     INTEGER
);
CREATE INDEX exports_by_ledger ON exports (ledger_id, created_ms);
CREATE INDEX exports_by_status ON exports (status, created_ms);

CREATE TABLE export_chunks (
    export_id TEXT NOT NULL REFERENCES exports (export_id),
    n         INTEGER NOT NULL,
    sealed    BLOB NOT NULL,
    PRIMARY KEY (export_id, n)
);
