-- The system-event outbox (store/src/system/outbox.rs): a change and the
-- system event that records it commit in one transaction; the system
-- ledger's writer appends the row and deletes it in its own commit. The
-- event id is chosen with the row, so appending one twice is a retry.

CREATE TABLE system_outbox (
    id         BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    event_id   TEXT NOT NULL UNIQUE,
    -- The normalised event, sealed with the instance's outbox key
    -- (AES-256-GCM; account and event id as associated data).
    sealed     BYTEA NOT NULL,
    created_ms BIGINT NOT NULL,
    -- Set when the row could not be appended (it does not open, or its id
    -- is taken by other content): kept for the tamper monitor and an
    -- operator, and skipped so that the account's later events still go in.
    failed_ms  BIGINT
);
-- Rows are appended in id order: ids are assigned inside the change's
-- transaction, after its row locks, so they follow commit order where
-- changes conflict.
CREATE INDEX system_outbox_account ON system_outbox (account_id, id);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditstore_app') THEN
        GRANT SELECT, INSERT, UPDATE (failed_ms), DELETE ON system_outbox TO auditstore_app;
        GRANT USAGE ON SEQUENCE system_outbox_id_seq TO auditstore_app;
    END IF;
END
$$;
