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
    secret            BLOB NOT NULL,
    previous_secret   BLOB,
    previous_until_ms INTEGER,
    created_ms        INTEGER NOT NULL,
    created_by_type   TEXT NOT NULL,
    created_by_id     TEXT NOT NULL,
    secret_rotated_ms INTEGER,
    failing_since_ms  INTEGER,
    disabled_ms       INTEGER,
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
    payload    BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX webhook_messages_by_time ON webhook_messages (created_ms);

-- One message to one endpoint: pending until delivered (a 2xx) or given up.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id      TEXT NOT NULL REFERENCES webhook_messages (id),
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL,
    next_attempt_ms INTEGER,
    last_attempt_ms INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    finished_ms     INTEGER,
    created_ms      INTEGER NOT NULL,
    UNIQUE (message_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_ms) WHERE status <> 'pending';

-- Every attempt of a delivery, as the dashboard shows it.
CREATE TABLE webhook_attempts (
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    http_status INTEGER,
    error       TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

-- The last staleness of each ledger's verification that was reported
-- (integrity.stale), so each episode is reported once.
CREATE TABLE integrity_stale_reports (
    ledger_id   TEXT PRIMARY KEY REFERENCES ledgers (id),
    since_ms    INTEGER NOT NULL,
    reported_ms INTEGER NOT NULL
);
