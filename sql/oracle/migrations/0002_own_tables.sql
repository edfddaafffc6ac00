-- tenantql migration 2 (Oracle), for schemas whose contract relations are
-- tenantql's own tables (write mode `tables`): id sequences starting past the
-- ids in use (a write takes NEXTVAL, never a table lock), a unique key on
-- invoice numbers, and the triggers that fill the change log. Where the
-- contract is a client's views this step records itself as not applicable.
-- One block at a time, each idempotent.
DECLARE
    next_id NUMBER;
BEGIN
    SELECT COALESCE(MAX(id), 0) + 1 INTO next_id FROM invoices;
    EXECUTE IMMEDIATE 'CREATE SEQUENCE invoices_id_seq START WITH ' || next_id || ' CACHE 20';
EXCEPTION WHEN OTHERS THEN IF SQLCODE != -955 THEN RAISE; END IF;
END;
/
DECLARE
    next_id NUMBER;
BEGIN
    SELECT COALESCE(MAX(id), 0) + 1 INTO next_id FROM payments;
    EXECUTE IMMEDIATE 'CREATE SEQUENCE payments_id_seq START WITH ' || next_id || ' CACHE 20';
EXCEPTION WHEN OTHERS THEN IF SQLCODE != -955 THEN RAISE; END IF;
END;
/
DECLARE
    next_id NUMBER;
BEGIN
    SELECT COALESCE(MAX(id), 0) + 1 INTO next_id FROM treasury_transactions;
    EXECUTE IMMEDIATE 'CREATE SEQUENCE treasury_transactions_id_seq START WITH ' || next_id || ' CACHE 20';
EXCEPTION WHEN OTHERS THEN IF SQLCODE != -955 THEN RAISE; END IF;
END;
/
BEGIN
    EXECUTE IMMEDIATE 'CREATE UNIQUE INDEX invoices_doc_number ON invoices (doc_number)';
EXCEPTION WHEN OTHERS THEN IF SQLCODE NOT IN (-955, -1408) THEN RAISE; END IF;
END;
/
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
