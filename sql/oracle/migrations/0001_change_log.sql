-- tenantql migration 1 (Oracle): the change log, in tenantql's own schema.
-- The watcher polls
--   SELECT id, invoice_id FROM tenantql_changes WHERE id > :1 ORDER BY id FETCH FIRST 500 ROWS ONLY
-- and turns the rows into invoiceEvents. Ids come from a sequence, so a
-- transaction that commits late may carry an id below one already read; the
-- watcher re-reads the last 1,000 ids on every poll and skips those it has seen.
-- `tenantql_note_change(invoice_id)` is what a client's triggers on the ERP
-- vendor's tables call: executable by every account, as PostgreSQL functions
-- are by default (all it can do is make subscribers re-read an invoice).
-- Applied by `tenantql tenant migrate`, one block at a time (Oracle DDL
-- commits as it goes), each of them idempotent so a failed run resumes; by
-- hand: sqlplus tenantql@//host:1521/ERP @sql/oracle/migrations/0001_change_log.sql
BEGIN
    EXECUTE IMMEDIATE 'CREATE SEQUENCE tenantql_changes_seq CACHE 100';
EXCEPTION WHEN OTHERS THEN IF SQLCODE != -955 THEN RAISE; END IF;
END;
/
BEGIN
    EXECUTE IMMEDIATE 'CREATE TABLE tenantql_changes (
        id          NUMBER(18) DEFAULT tenantql_changes_seq.NEXTVAL PRIMARY KEY,
        invoice_id  NUMBER(18) NOT NULL
    )';
EXCEPTION WHEN OTHERS THEN IF SQLCODE != -955 THEN RAISE; END IF;
END;
/
CREATE OR REPLACE PROCEDURE tenantql_note_change(p_invoice_id IN NUMBER) AS
BEGIN
    INSERT INTO tenantql_changes (invoice_id) VALUES (p_invoice_id);
END;
/
BEGIN
    EXECUTE IMMEDIATE 'GRANT EXECUTE ON tenantql_note_change TO PUBLIC';
END;
/
