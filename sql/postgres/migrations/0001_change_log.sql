-- tenantql migration 1 (PostgreSQL): the change log, in the schema tenantql's
-- account creates in (the first of its search_path: its own schema, or public).
-- The watcher polls
--   SELECT id, invoice_id FROM tenantql_changes WHERE id > $1 ORDER BY id LIMIT 500
-- and turns the rows into invoiceEvents. Ids come from a sequence, so a
-- transaction that commits late may carry an id below one already read; the
-- watcher re-reads the last 1,000 ids on every poll and skips those it has seen.
-- `tenantql_note_change(invoice_id)` is what a client's triggers on the ERP
-- vendor's tables call (granted EXECUTE by the DBA to the vendor's writer);
-- it runs as its owner, so the writer needs no privilege on the table.
-- Applied by `tenantql tenant migrate`; idempotent; one transaction.
CREATE TABLE IF NOT EXISTS tenantql_changes (
    id          BIGSERIAL PRIMARY KEY,
    invoice_id  BIGINT    NOT NULL
);

CREATE OR REPLACE FUNCTION tenantql_note_change(p_invoice_id BIGINT) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    INSERT INTO tenantql_changes (invoice_id) VALUES (p_invoice_id)
$$;
