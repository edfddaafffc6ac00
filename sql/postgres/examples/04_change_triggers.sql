-- Live updates of rows the ERP changes: triggers on the vendor's tables that
-- note each changed invoice in tenantql's change log, through the procedure
-- `tenantql migrate` creates in tenantql's own schema (here `tenantql`, owned
-- by tenantql's account). Until that migration has run, they note nothing,
-- so the vendor's writes never fail on tenantql's account.
CREATE OR REPLACE FUNCTION erp_vendor.note_document_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regprocedure('tenantql.tenantql_note_change(bigint)') IS NOT NULL THEN
        PERFORM tenantql.tenantql_note_change(CAST(NEW.doc_id AS BIGINT));
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS note_document_changed ON erp_vendor.documents;
CREATE TRIGGER note_document_changed
AFTER INSERT OR UPDATE ON erp_vendor.documents
FOR EACH ROW EXECUTE FUNCTION erp_vendor.note_document_changed();
