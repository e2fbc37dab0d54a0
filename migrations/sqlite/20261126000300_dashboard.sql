-- Dashboard accounts (store/src/users.rs): users with argon2id passwords and
-- TOTP, single-use setup and invite links, recovery codes, and the session
-- table of tower-sessions-sqlx-store (created here rather than by the
-- library, so that the application never needs DDL rights).

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
    totp_secret        BLOB,
    totp_active        INTEGER NOT NULL DEFAULT 0 CHECK (totp_active IN (0, 1)),
    -- The last TOTP time step accepted: a code is never accepted twice.
    totp_last_step     INTEGER NOT NULL DEFAULT -1,
    -- Sessions carry the generation they were opened in; raising it signs
    -- the user out everywhere.
    session_generation INTEGER NOT NULL DEFAULT 0,
    failed_logins      INTEGER NOT NULL DEFAULT 0,
    locked_until_ms    INTEGER NOT NULL DEFAULT 0,
    created_ms         INTEGER NOT NULL,
    removed_ms         INTEGER
);
CREATE INDEX users_account ON users (account_id);

CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id),
    -- SHA-256 of the code (128 random bits: no slow hash needed).
    code_hash BLOB NOT NULL,
    used_ms   INTEGER,
    PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;

CREATE TABLE user_links (
    -- SHA-256 of the link's secret token.
    token_hash BLOB PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('setup', 'invite')),
    account_id TEXT REFERENCES accounts (id),
    email      TEXT,
    role       TEXT CHECK (role IN ('owner', 'admin', 'auditor')),
    created_by TEXT,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_ms    INTEGER
) WITHOUT ROWID;

CREATE TABLE tower_sessions (
    id          TEXT PRIMARY KEY NOT NULL,
    data        BLOB NOT NULL,
    expiry_date INTEGER NOT NULL
);
