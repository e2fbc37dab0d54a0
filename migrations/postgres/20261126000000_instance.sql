-- One row describing this installation. Its presence tells readiness checks
-- that the schema has been migrated, not merely that the database answers.
CREATE TABLE instance (
    singleton  SMALLINT PRIMARY KEY CHECK (singleton = 1),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO instance (singleton) VALUES (1);
