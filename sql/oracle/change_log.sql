-- tenantql's change log for one tenant's Oracle schema: every invoice inserted or
-- updated and every payment inserted leaves a row here, which the change watcher
-- polls with
--   SELECT id, invoice_id FROM tenantql_changes WHERE id > :1 ORDER BY id FETCH FIRST 500 ROWS ONLY
-- and turns into invoiceEvents for subscribers. Writes
-- through the API publish their own events and delete their rows in the same
-- transaction. Run after erp_schema.sql (and after loading data), as the schema owner:
--   sqlplus tenantql/tenantql@//127.0.0.1:1521/FREEPDB1 @sql/oracle/change_log.sql
-- Ids come from a sequence, so a transaction that commits late may carry an id
-- below one already read; the watcher re-reads the last 1,000 ids on every poll
-- and skips the ones it has seen.
CREATE SEQUENCE tenantql_changes_seq CACHE 100;

CREATE TABLE tenantql_changes (
    id          NUMBER(18) DEFAULT tenantql_changes_seq.NEXTVAL PRIMARY KEY,
    invoice_id  NUMBER(18) NOT NULL
);

CREATE OR REPLACE TRIGGER tenantql_invoice_changed
AFTER INSERT OR UPDATE ON invoices FOR EACH ROW
BEGIN
    INSERT INTO tenantql_changes (invoice_id) VALUES (:NEW.id);
END;
/

CREATE OR REPLACE TRIGGER tenantql_payment_inserted
AFTER INSERT ON payments FOR EACH ROW
BEGIN
    INSERT INTO tenantql_changes (invoice_id) VALUES (:NEW.invoice_id);
END;
/
