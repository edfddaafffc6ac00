-- tenantql migration 1 (SQLite): the change log. Every invoice inserted or
-- updated and every payment inserted leaves a row here, which the change
-- watcher turns into invoiceEvents for subscribers (writes through the API
-- publish their own events and remove their rows in the same transaction).
-- Applied by `tenantql tenant migrate` (and `tenantql demo seed`), which
-- records it in tenantql_schema_version; idempotent.
CREATE TABLE IF NOT EXISTS tenantql_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id  INTEGER NOT NULL
);
