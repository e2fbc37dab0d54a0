-- Ledger deletion (store/src/lifecycle/deletion): a deletion is scheduled
-- with a grace period, may be cancelled within it, and at its time is
-- refused while any active legal hold applies; otherwise it records the
-- ledger's final checkpoint, crypto-shreds the ledger's keys and deletes
-- its rows. The deletion record stays for good (it names no table by
-- foreign key, so it outlives the ledger and its account).
--
-- Every guard that refuses deleting history lets a row go only while a
-- deletion of its ledger is under way ('deleting'), which the database
-- allows only when no active legal hold applies to the ledger, and, for an
-- account's system ledger, only together with its account.

CREATE TABLE ledger_deletions (
    deletion_id       TEXT PRIMARY KEY,
    ledger_id         TEXT NOT NULL,
    account_id        TEXT NOT NULL,
    name              TEXT NOT NULL,
    -- 1 for the system ledger, deleted only with its account.
    with_account      INTEGER NOT NULL DEFAULT 0 CHECK (with_account IN (0, 1)),
    status            TEXT NOT NULL CHECK (status IN ('scheduled', 'cancelled', 'deleting', 'deleted')),
    requested_by_type TEXT NOT NULL,
    requested_by_id   TEXT NOT NULL,
    requested_ms      INTEGER NOT NULL,
    delete_at_ms      INTEGER NOT NULL,
    cancelled_by_type TEXT,
    cancelled_by_id   TEXT,
    cancelled_ms      INTEGER,
    -- The holds that refused it at its time, last (a JSON array of ids).
    refused_by        TEXT,
    -- The ledger as it was when its deletion began: its last signed
    -- checkpoint (the note), size and root.
    final_checkpoint  TEXT,
    final_tree_size   INTEGER,
    final_root        TEXT,
    started_ms        INTEGER,
    deleted_ms        INTEGER
);
-- At most one deletion of a ledger is scheduled or under way.
CREATE UNIQUE INDEX ledger_deletions_open ON ledger_deletions (ledger_id)
    WHERE status IN ('scheduled', 'deleting');
CREATE INDEX ledger_deletions_due ON ledger_deletions (status, delete_at_ms);

-- When a deletion is scheduled, for appends to refuse (read with the ledger).
ALTER TABLE ledgers ADD COLUMN delete_at_ms INTEGER;

CREATE TRIGGER ledger_deletions_begin_scheduled BEFORE INSERT ON ledger_deletions
WHEN NEW.status IS NOT 'scheduled'
  OR (NEW.with_account = 0 AND EXISTS (SELECT 1 FROM ledgers WHERE id = NEW.ledger_id AND kind = 'system'))
BEGIN
    SELECT RAISE(ABORT, 'a ledger deletion starts scheduled, and the system ledger is deleted only with its account');
END;
CREATE TRIGGER ledger_deletions_move_forward BEFORE UPDATE OF status ON ledger_deletions
WHEN NOT (
    (OLD.status = 'scheduled' AND NEW.status IN ('cancelled', 'deleting'))
    OR (OLD.status = 'deleting' AND NEW.status = 'deleted')
    OR NEW.status = OLD.status
)
BEGIN
    SELECT RAISE(ABORT, 'a ledger deletion only moves forward: scheduled, then cancelled or deleting, then deleted');
END;
CREATE TRIGGER ledger_deletions_held BEFORE UPDATE OF status ON ledger_deletions
WHEN NEW.status = 'deleting' AND OLD.status = 'scheduled' AND EXISTS (
    SELECT 1 FROM legal_holds
    WHERE account_id = NEW.account_id AND released_ms IS NULL AND (ledger_id IS NULL OR ledger_id = NEW.ledger_id)
)
BEGIN
    SELECT RAISE(ABORT, 'a ledger under an active legal hold cannot be deleted');
END;
CREATE TRIGGER ledger_deletions_identity_fixed BEFORE UPDATE OF deletion_id, ledger_id, account_id, with_account ON ledger_deletions
WHEN NEW.deletion_id IS NOT OLD.deletion_id OR NEW.ledger_id IS NOT OLD.ledger_id
  OR NEW.account_id IS NOT OLD.account_id OR NEW.with_account IS NOT OLD.with_account
BEGIN
    SELECT RAISE(ABORT, 'a ledger deletion record is kept as made');
END;
CREATE TRIGGER ledger_deletions_refuse_delete BEFORE DELETE ON ledger_deletions
BEGIN
    SELECT RAISE(ABORT, 'a ledger deletion record is kept as made');
END;

-- The guards against deleting history, now with the one exception.
DROP TRIGGER events_refuse_delete;
CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
WHEN NOT EXISTS (SELECT 1 FROM ledger_deletions WHERE ledger_id = OLD.ledger_id AND status = 'deleting')
BEGIN
    SELECT RAISE(ABORT, 'events are append-only and cannot be deleted');
END;
DROP TRIGGER merkle_nodes_refuse_delete;
CREATE TRIGGER merkle_nodes_refuse_delete BEFORE DELETE ON merkle_nodes
WHEN NOT EXISTS (SELECT 1 FROM ledger_deletions WHERE ledger_id = OLD.ledger_id AND status = 'deleting')
BEGIN
    SELECT RAISE(ABORT, 'Merkle nodes are immutable');
END;
DROP TRIGGER checkpoints_refuse_delete;
CREATE TRIGGER checkpoints_refuse_delete BEFORE DELETE ON checkpoints
WHEN NOT EXISTS (SELECT 1 FROM ledger_deletions WHERE ledger_id = OLD.ledger_id AND status = 'deleting')
BEGIN
    SELECT RAISE(ABORT, 'signed checkpoints are immutable');
END;
DROP TRIGGER ledgers_refuse_delete;
CREATE TRIGGER ledgers_refuse_delete BEFORE DELETE ON ledgers
WHEN NOT EXISTS (SELECT 1 FROM ledger_deletions WHERE ledger_id = OLD.id AND status = 'deleting')
BEGIN
    SELECT RAISE(ABORT, 'a ledger''s identity is immutable: ledgers are not deleted this way');
END;
DROP TRIGGER integrity_findings_refuse_delete;
CREATE TRIGGER integrity_findings_refuse_delete BEFORE DELETE ON integrity_findings
WHEN NOT EXISTS (SELECT 1 FROM ledger_deletions WHERE ledger_id = OLD.ledger_id AND status = 'deleting')
BEGIN
    SELECT RAISE(ABORT, 'integrity findings are kept: DELETE refused');
END;
DROP TRIGGER retention_locked_refuse_delete;
CREATE TRIGGER retention_locked_refuse_delete BEFORE DELETE ON retention_policies
WHEN OLD.locked = 1
  AND NOT EXISTS (SELECT 1 FROM ledger_deletions WHERE ledger_id = OLD.ledger_id AND status = 'deleting')
BEGIN
    SELECT RAISE(ABORT, 'a locked retention policy can only be lengthened: never shortened, unlocked or removed');
END;
DROP TRIGGER archivals_refuse_delete;
CREATE TRIGGER archivals_refuse_delete BEFORE DELETE ON archivals
WHEN NOT EXISTS (SELECT 1 FROM ledger_deletions WHERE ledger_id = OLD.ledger_id AND status = 'deleting')
BEGIN
    SELECT RAISE(ABORT, 'archival records are immutable');
END;
DROP TRIGGER archival_ranges_refuse_delete;
CREATE TRIGGER archival_ranges_refuse_delete BEFORE DELETE ON archival_ranges
WHEN NOT EXISTS (SELECT 1 FROM ledger_deletions WHERE ledger_id = OLD.ledger_id AND status = 'deleting')
BEGIN
    SELECT RAISE(ABORT, 'archival records are immutable');
END;
-- A hold, even released, is deleted only with its ledger, or with its
-- account once the account has no ledger left.
DROP TRIGGER legal_holds_refuse_delete;
CREATE TRIGGER legal_holds_refuse_delete BEFORE DELETE ON legal_holds
WHEN OLD.released_ms IS NULL OR NOT (
    EXISTS (SELECT 1 FROM ledger_deletions WHERE ledger_id = OLD.ledger_id AND status = 'deleting')
    OR NOT EXISTS (SELECT 1 FROM ledgers WHERE account_id = OLD.account_id)
)
BEGIN
    SELECT RAISE(ABORT, 'a legal hold is deleted only with its ledger, and never while it is active');
END;
CREATE TRIGGER ledger_heads_refuse_delete BEFORE DELETE ON ledger_heads
WHEN NOT EXISTS (SELECT 1 FROM ledger_deletions WHERE ledger_id = OLD.ledger_id AND status = 'deleting')
BEGIN
    SELECT RAISE(ABORT, 'a ledger''s head is deleted only with its ledger');
END;
