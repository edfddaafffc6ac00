-- tenantql migration 2 (SQLite), for stores whose contract relations are
-- tenantql's own tables (write mode `tables`): the triggers that fill the
-- change log, and a unique key on invoice numbers. Where the contract is a
-- client's views this step records itself as not applicable: the client's
-- DBA wires the vendor's tables to the change log (docs/TENANT_DATABASE.md).
CREATE UNIQUE INDEX IF NOT EXISTS invoices_doc_number ON invoices (doc_number);
CREATE TRIGGER IF NOT EXISTS tenantql_invoice_inserted AFTER INSERT ON invoices
BEGIN
    INSERT INTO tenantql_changes (invoice_id) VALUES (NEW.id);
END;
CREATE TRIGGER IF NOT EXISTS tenantql_invoice_updated AFTER UPDATE ON invoices
BEGIN
    INSERT INTO tenantql_changes (invoice_id) VALUES (NEW.id);
END;
CREATE TRIGGER IF NOT EXISTS tenantql_payment_inserted AFTER INSERT ON payments
BEGIN
    INSERT INTO tenantql_changes (invoice_id) VALUES (NEW.invoice_id);
END;
