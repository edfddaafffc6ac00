-- tenantql's change log for one tenant's embedded SQLite store: every invoice
-- inserted or updated and every payment inserted leaves a row here, which the
-- change watcher turns into invoiceEvents for subscribers (writes through the API
-- publish their own events and remove their rows in the same transaction).
-- Created by the demo seeder after the data is loaded; run it on an existing
-- store to let subscribers see rows changed outside tenantql.
CREATE TABLE IF NOT EXISTS tenantql_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id  INTEGER NOT NULL
);
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
