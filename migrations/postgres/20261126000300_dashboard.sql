-- Dashboard accounts (store/src/users.rs): users with argon2id passwords and
-- TOTP, single-use setup and invite links, recovery codes, and the session
-- table of tower-sessions-sqlx-store (created here rather than by the
-- library, so that the application role never needs DDL rights).

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL REFERENCES accounts (id),
    -- Lower-cased; one user per address across the instance.
    email              TEXT NOT NULL UNIQUE,
    -- PHC string of argon2id.
    password_hash      TEXT NOT NULL,
    role               TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'auditor')),
    -- The TOTP secret sealed with the instance's dashboard key (AES-256-GCM,
    -- the user id as associated data); NULL until enrolment starts.
    totp_secret        BYTEA,
    totp_active        BOOLEAN NOT NULL DEFAULT FALSE,
    -- The last TOTP time step accepted: a code is never accepted twice.
    totp_last_step     BIGINT NOT NULL DEFAULT -1,
    -- Sessions carry the generation they were opened in; raising it signs
    -- the user out everywhere.
    session_generation BIGINT NOT NULL DEFAULT 0,
    failed_logins      BIGINT NOT NULL DEFAULT 0,
    locked_until_ms    BIGINT NOT NULL DEFAULT 0,
    created_ms         BIGINT NOT NULL,
    removed_ms         BIGINT
);
CREATE INDEX users_account ON users (account_id);

CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id),
    -- SHA-256 of the code (128 random bits: no slow hash needed).
    code_hash BYTEA NOT NULL,
    used_ms   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE user_links (
    -- SHA-256 of the link's secret token.
    token_hash BYTEA PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('setup', 'invite')),
    account_id TEXT REFERENCES accounts (id),
    email      TEXT,
    role       TEXT CHECK (role IN ('owner', 'admin', 'auditor')),
    created_by TEXT,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    used_ms    BIGINT
);

CREATE SCHEMA IF NOT EXISTS tower_sessions;
CREATE TABLE tower_sessions.session (
    id          TEXT PRIMARY KEY NOT NULL,
    data        BYTEA NOT NULL,
    expiry_date TIMESTAMPTZ NOT NULL
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditstore_app') THEN
        GRANT SELECT, INSERT, UPDATE ON users, user_links TO auditstore_app;
        GRANT SELECT, INSERT, UPDATE, DELETE ON recovery_codes TO auditstore_app;
        GRANT USAGE ON SCHEMA tower_sessions TO auditstore_app;
        GRANT SELECT, INSERT, UPDATE, DELETE ON tower_sessions.session TO auditstore_app;
    END IF;
END;
$$;
