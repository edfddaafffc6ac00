-- tenantql's change log for one tenant's PostgreSQL database: every invoice
-- inserted or updated and every payment inserted leaves a row here, which the
-- change watcher polls with
--   SELECT id, invoice_id FROM tenantql_changes WHERE id > $1 ORDER BY id LIMIT 500
-- and turns into invoiceEvents for subscribers. Writes through the API publish
-- their own events and delete their rows in the same transaction. Applied by
-- `tenantql demo seed` after the data is loaded; run it by hand after
-- erp_schema.sql on a database loaded some other way:
--   psql "postgres://tenantql@db.example.com/erp" -f sql/postgres/change_log.sql
-- Ids come from a sequence, so a transaction that commits late may carry an id
-- below one already read; the watcher re-reads the last 1,000 ids on every poll
-- and skips the ones it has seen.
CREATE TABLE IF NOT EXISTS tenantql_changes (
    id          BIGSERIAL PRIMARY KEY,
    invoice_id  BIGINT    NOT NULL
);

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
