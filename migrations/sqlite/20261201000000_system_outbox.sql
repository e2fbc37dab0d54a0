-- The system-event outbox (store/src/system/outbox.rs): a change and the
-- system event that records it commit in one transaction; the system
-- ledger's writer appends the row and deletes it in its own commit. The
-- event id is chosen with the row, so appending one twice is a retry.

CREATE TABLE system_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    event_id   TEXT NOT NULL UNIQUE,
    -- The normalised event, sealed with the instance's outbox key
    -- (AES-256-GCM; account and event id as associated data).
    sealed     BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX system_outbox_account ON system_outbox (account_id, created_ms, id);
