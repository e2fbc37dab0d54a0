-- Guards against changes behind the application's back (hardening):
--
-- 1. No event content is removed at all until retention archival exists:
--    a tombstone must be covered by a recorded archival, and no path
--    records one yet, so a NULLed content would be a tombstone without
--    authority. The lifecycle's migration relaxes this against its records.
-- 2. A ledger's identity (id, account, kind, checkpoint origin) is fixed:
--    changing the origin would have the server sign checkpoints for another
--    log, changing the kind would open the system ledger to write keys.

DROP TRIGGER events_refuse_update;
CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are immutable: no recorded archival covers this change');
END;

CREATE TRIGGER ledgers_identity_fixed BEFORE UPDATE OF id, account_id, kind, origin ON ledgers
WHEN NEW.id IS NOT OLD.id OR NEW.account_id IS NOT OLD.account_id
  OR NEW.kind IS NOT OLD.kind OR NEW.origin IS NOT OLD.origin
BEGIN
    SELECT RAISE(ABORT, 'a ledger''s identity is immutable: id, account, kind and origin are fixed');
END;
CREATE TRIGGER ledgers_refuse_delete BEFORE DELETE ON ledgers
BEGIN
    SELECT RAISE(ABORT, 'a ledger''s identity is immutable: ledgers are not deleted this way');
END;
