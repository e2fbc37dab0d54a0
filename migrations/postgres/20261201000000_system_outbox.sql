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
    created_ms BIGINT NOT NULL
);
CREATE INDEX system_outbox_account ON system_outbox (account_id, created_ms, id);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditstore_app') THEN
        GRANT SELECT, INSERT, DELETE ON system_outbox TO auditstore_app;
        GRANT USAGE ON SEQUENCE system_outbox_id_seq TO auditstore_app;
    END IF;
END
$$;
