-- tenantql migration 2 (PostgreSQL), for databases whose contract relations are
-- tenantql's own tables (write mode `tables`): id sequences (so a write never
-- locks a table: `nextval` instead of MAX(id) + 1), a unique key on invoice
-- numbers, and the triggers that fill the change log. Where the contract is a
-- client's views this step records itself as not applicable.
-- Applied by `tenantql tenant migrate`; idempotent; one transaction.
CREATE UNIQUE INDEX IF NOT EXISTS invoices_doc_number ON invoices (doc_number);

CREATE SEQUENCE IF NOT EXISTS invoices_id_seq;
CREATE SEQUENCE IF NOT EXISTS payments_id_seq;
CREATE SEQUENCE IF NOT EXISTS treasury_transactions_id_seq;
-- Past every id already used (by a seed or an earlier MAX + 1), never backwards.
SELECT setval('invoices_id_seq', GREATEST(nextval('invoices_id_seq'), (SELECT COALESCE(MAX(id), 0) + 1 FROM invoices)), false);
SELECT setval('payments_id_seq', GREATEST(nextval('payments_id_seq'), (SELECT COALESCE(MAX(id), 0) + 1 FROM payments)), false);
SELECT setval('treasury_transactions_id_seq', GREATEST(nextval('treasury_transactions_id_seq'), (SELECT COALESCE(MAX(id), 0) + 1 FROM treasury_transactions)), false);

CREATE OR REPLACE FUNCTION tenantql_invoice_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenantql_changes (invoice_id) VALUES (NEW.id);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION tenantql_payment_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenantql_changes (invoice_id) VALUES (NEW.invoice_id);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS tenantql_invoice_changed ON invoices;
CREATE TRIGGER tenantql_invoice_changed
AFTER INSERT OR UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION tenantql_invoice_changed();

DROP TRIGGER IF EXISTS tenantql_payment_inserted ON payments;
CREATE TRIGGER tenantql_payment_inserted
AFTER INSERT ON payments FOR EACH ROW EXECUTE FUNCTION tenantql_payment_inserted();
