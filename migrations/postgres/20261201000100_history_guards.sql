-- Guards against changes behind the application's back (hardening):
--
-- 1. No event content is removed at all until retention archival exists:
--    a tombstone must be covered by a recorded archival, and no path
--    records one yet, so a NULLed content would be a tombstone without
--    authority. The lifecycle's migration relaxes this against its records.
--    The application role loses its UPDATE (content) grant too.
-- 2. A ledger's identity (id, account, kind, checkpoint origin) is fixed:
--    changing the origin would have the server sign checkpoints for another
--    log, changing the kind would open the system ledger to write keys.

CREATE OR REPLACE FUNCTION auditstore_refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % refused (no recorded archival covers this change)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE FUNCTION auditstore_refuse_ledger_identity_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'a ledger''s identity is immutable: DELETE refused (ledgers are not deleted this way)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.account_id IS DISTINCT FROM OLD.account_id
       OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.origin IS DISTINCT FROM OLD.origin THEN
        RAISE EXCEPTION 'a ledger''s identity is immutable: UPDATE refused (id, account, kind and origin are fixed)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledgers_identity_fixed BEFORE UPDATE OR DELETE ON ledgers
    FOR EACH ROW EXECUTE FUNCTION auditstore_refuse_ledger_identity_change();

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditstore_app') THEN
        REVOKE UPDATE (content) ON events FROM auditstore_app;
    END IF;
END
$$;
