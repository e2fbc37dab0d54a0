-- Retention policies and legal holds (store/src/lifecycle): what may be
-- archived, and what never may while a hold stands. The database itself
-- keeps the promises a policy and a hold make, whoever writes to it:
--
-- 1. A locked retention policy can only be lengthened: never shortened,
--    unlocked or removed (S3 Object Lock's compliance mode, Azure's locked
--    time-based retention), on every path, raw SQL included.
-- 2. A legal hold is fixed once placed: it is released once, with a
--    reason, and an active hold is never deleted.

CREATE TABLE retention_policies (
    ledger_id   TEXT PRIMARY KEY REFERENCES ledgers (id),
    -- Events are kept this many days after their occurred_at.
    days        INTEGER NOT NULL CHECK (days BETWEEN 1 AND 36500),
    locked      INTEGER NOT NULL CHECK (locked IN (0, 1)),
    -- Who set the policy last, and when (the system event's actor).
    set_by_type TEXT NOT NULL,
    set_by_id   TEXT NOT NULL,
    set_ms      INTEGER NOT NULL,
    -- When it was locked; NULL while unlocked.
    locked_ms   INTEGER,
    CHECK ((locked = 1) = (locked_ms IS NOT NULL))
);

CREATE TRIGGER retention_locked_only_lengthens BEFORE UPDATE ON retention_policies
WHEN OLD.locked = 1 AND (
    NEW.locked IS NOT 1 OR NEW.days < OLD.days
    OR NEW.ledger_id IS NOT OLD.ledger_id OR NEW.locked_ms IS NOT OLD.locked_ms
)
BEGIN
    SELECT RAISE(ABORT, 'a locked retention policy can only be lengthened: never shortened, unlocked or removed');
END;
CREATE TRIGGER retention_locked_refuse_delete BEFORE DELETE ON retention_policies
WHEN OLD.locked = 1
BEGIN
    SELECT RAISE(ABORT, 'a locked retention policy can only be lengthened: never shortened, unlocked or removed');
END;
-- INSERT OR REPLACE deletes the old row without firing delete triggers.
CREATE TRIGGER retention_locked_refuse_replace BEFORE INSERT ON retention_policies
WHEN EXISTS (SELECT 1 FROM retention_policies WHERE ledger_id = NEW.ledger_id AND locked = 1)
BEGIN
    SELECT RAISE(ABORT, 'a locked retention policy can only be lengthened: never shortened, unlocked or removed');
END;

CREATE TABLE legal_holds (
    hold_id        TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    -- NULL: the hold covers every ledger of the account.
    ledger_id      TEXT REFERENCES ledgers (id),
    case_name      TEXT NOT NULL,
    reason         TEXT NOT NULL,
    -- The scope; all NULL holds the whole ledger (or account). occurred_at
    -- from from_ms (included) to to_ms (excluded), exact actor and
    -- resource ids.
    from_ms        INTEGER,
    to_ms          INTEGER,
    actor_id       TEXT,
    resource_id    TEXT,
    placed_by_type TEXT NOT NULL,
    placed_by_id   TEXT NOT NULL,
    placed_ms      INTEGER NOT NULL,
    released_ms      INTEGER,
    released_by_type TEXT,
    released_by_id   TEXT,
    release_reason   TEXT,
    CHECK ((released_ms IS NULL) = (release_reason IS NULL)),
    CHECK ((released_ms IS NULL) = (released_by_id IS NULL))
);
CREATE INDEX legal_holds_by_account ON legal_holds (account_id, placed_ms);

CREATE TRIGGER legal_holds_only_released BEFORE UPDATE ON legal_holds
WHEN OLD.released_ms IS NOT NULL OR NEW.released_ms IS NULL
  OR NEW.hold_id IS NOT OLD.hold_id OR NEW.account_id IS NOT OLD.account_id
  OR NEW.ledger_id IS NOT OLD.ledger_id OR NEW.case_name IS NOT OLD.case_name
  OR NEW.reason IS NOT OLD.reason OR NEW.from_ms IS NOT OLD.from_ms OR NEW.to_ms IS NOT OLD.to_ms
  OR NEW.actor_id IS NOT OLD.actor_id OR NEW.resource_id IS NOT OLD.resource_id
  OR NEW.placed_by_type IS NOT OLD.placed_by_type OR NEW.placed_by_id IS NOT OLD.placed_by_id
  OR NEW.placed_ms IS NOT OLD.placed_ms
BEGIN
    SELECT RAISE(ABORT, 'a legal hold is fixed once placed: it can only be released, once, with a reason');
END;
CREATE TRIGGER legal_holds_refuse_delete BEFORE DELETE ON legal_holds
WHEN OLD.released_ms IS NULL
BEGIN
    SELECT RAISE(ABORT, 'an active legal hold cannot be deleted: release it, with a reason');
END;
CREATE TRIGGER legal_holds_refuse_replace BEFORE INSERT ON legal_holds
WHEN EXISTS (SELECT 1 FROM legal_holds WHERE hold_id = NEW.hold_id)
BEGIN
    SELECT RAISE(ABORT, 'a legal hold is fixed once placed: it can only be released, once, with a reason');
END;
