-- Live updates of rows the ERP changes: a trigger on the vendor's documents
-- that notes each changed invoice through tenantql_note_change, which
-- `tenantql tenant migrate` creates in tenantql's own schema (executable by
-- every account). The call is dynamic and its failure ignored, so the
-- trigger may be created before the migration runs and a vendor's write never
-- fails on tenantql's account. Run as (or for) the vendor's schema, naming
-- tenantql's schema:
--   sqlplus erp_owner@//db:1521/ERP @sql/oracle/examples/04_change_triggers.sql TENANTQL
DEFINE tenantql = &1

CREATE OR REPLACE TRIGGER note_document_changed
AFTER INSERT OR UPDATE ON documents FOR EACH ROW
BEGIN
    EXECUTE IMMEDIATE 'BEGIN &tenantql..tenantql_note_change(:1); END;' USING :NEW.doc_id;
EXCEPTION
    -- ORA-06550: not migrated yet (the procedure does not exist).
    WHEN OTHERS THEN IF SQLCODE != -6550 THEN RAISE; END IF;
END;
/
