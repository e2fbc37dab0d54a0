-- Webhooks (store/src/webhooks, server/src/webhooks): an account's
-- endpoints, the event types each subscribes to, and a durable outbox of
-- messages and their deliveries, written in the transaction of the change
-- they announce so none is lost, and delivered at least once.

-- An endpoint: where to POST and the signing secret (whsec_…), sealed with
-- an instance key bound to the endpoint's id; during a rotation the
-- previous secret signs too until previous_until_ms.
CREATE TABLE webhook_endpoints (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    url               TEXT NOT NULL,
    description       TEXT NOT NULL,
    secret            BYTEA NOT NULL,
    previous_secret   BYTEA,
    previous_until_ms BIGINT,
    created_ms        BIGINT NOT NULL,
    created_by_type   TEXT NOT NULL,
    created_by_id     TEXT NOT NULL,
    secret_rotated_ms BIGINT,
    failing_since_ms  BIGINT,
    disabled_ms       BIGINT,
    disabled_reason   TEXT
);
CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account_id, created_ms);

CREATE TABLE webhook_subscriptions (
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type  TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, event_type)
);
CREATE INDEX webhook_subscriptions_by_type ON webhook_subscriptions (event_type, endpoint_id);

-- A message: the body every endpoint subscribed to its type receives,
-- sealed like the system event it announces; its id is the webhook-id of
-- every delivery and every retry.
CREATE TABLE webhook_messages (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload    BYTEA NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX webhook_messages_by_time ON webhook_messages (created_ms);

-- One message to one endpoint: pending until delivered (a 2xx) or given up.
CREATE TABLE webhook_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    message_id      TEXT NOT NULL REFERENCES webhook_messages (id),
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL,
    next_attempt_ms BIGINT,
    last_attempt_ms BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    finished_ms     BIGINT,
    created_ms      BIGINT NOT NULL,
    UNIQUE (message_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_ms) WHERE status <> 'pending';

-- Every attempt of a delivery, as the dashboard shows it.
CREATE TABLE webhook_attempts (
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     BIGINT NOT NULL,
    at_ms       BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    http_status BIGINT,
    error       TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

-- The last staleness of each ledger's verification that was reported
-- (integrity.stale), so each episode is reported once.
CREATE TABLE integrity_stale_reports (
    ledger_id   TEXT PRIMARY KEY REFERENCES ledgers (id),
    since_ms    BIGINT NOT NULL,
    reported_ms BIGINT NOT NULL
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditstore_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints, webhook_subscriptions, webhook_messages,
            webhook_deliveries, webhook_attempts, integrity_stale_reports TO auditstore_app;
        GRANT USAGE, SELECT ON SEQUENCE webhook_deliveries_id_seq TO auditstore_app;
    END IF;
END
$$;
