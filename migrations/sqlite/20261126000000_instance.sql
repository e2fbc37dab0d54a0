-- One row describing this installation. Its presence tells readiness checks
-- that the schema has been migrated, not merely that the database answers.
CREATE TABLE instance (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO instance (singleton) VALUES (1);
