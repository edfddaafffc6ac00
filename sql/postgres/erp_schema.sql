-- The ERP tables of one tenant on PostgreSQL (12 or later). `tenantql demo seed`
-- applies it (it is idempotent); to apply it by hand, as the tenant's schema owner:
--   psql "postgres://tenantql@db.example.com/erp" -f sql/postgres/erp_schema.sql
-- Amounts are integer minor units (cents) so sums are exact; dates are DATE.
-- Mirrors sql/sqlite/erp_schema.sql column for column.
CREATE TABLE IF NOT EXISTS companies (
    id          BIGINT  PRIMARY KEY,
    name        TEXT    NOT NULL,
    tax_id      TEXT    NOT NULL,
    currency    TEXT    NOT NULL
);

CREATE TABLE IF NOT EXISTS partners (
    id          BIGINT  PRIMARY KEY,
    name        TEXT    NOT NULL,
    tax_id      TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('customer', 'supplier', 'both')),
    city        TEXT    NOT NULL
);

CREATE TABLE IF NOT EXISTS invoices (
    id          BIGINT  PRIMARY KEY,
    company_id  BIGINT  NOT NULL REFERENCES companies (id),
    partner_id  BIGINT  NOT NULL REFERENCES partners (id),
    doc_number  TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('sale', 'purchase')),
    issue_date  DATE    NOT NULL,
    due_date    DATE    NOT NULL,
    net_cents   BIGINT  NOT NULL,
    vat_cents   BIGINT  NOT NULL,
    total_cents BIGINT  NOT NULL,
    paid_cents  BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS invoices_company_issue ON invoices (company_id, issue_date DESC, id DESC);
CREATE INDEX IF NOT EXISTS invoices_partner ON invoices (partner_id);
-- Covers the dashboard's per-year sums, so they never touch the table.
CREATE INDEX IF NOT EXISTS invoices_company_year ON invoices (company_id, issue_date, kind, net_cents, total_cents, paid_cents, due_date, partner_id);

CREATE TABLE IF NOT EXISTS payments (
    id           BIGINT  PRIMARY KEY,
    invoice_id   BIGINT  NOT NULL REFERENCES invoices (id),
    payment_date DATE    NOT NULL,
    amount_cents BIGINT  NOT NULL,
    method       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_invoice ON payments (invoice_id);

CREATE TABLE IF NOT EXISTS treasury_accounts (
    id                    BIGINT  PRIMARY KEY,
    company_id            BIGINT  NOT NULL REFERENCES companies (id),
    name                  TEXT    NOT NULL,
    kind                  TEXT    NOT NULL CHECK (kind IN ('bank', 'cash')),
    iban                  TEXT,
    opening_balance_cents BIGINT  NOT NULL
);

CREATE TABLE IF NOT EXISTS treasury_transactions (
    id           BIGINT  PRIMARY KEY,
    account_id   BIGINT  NOT NULL REFERENCES treasury_accounts (id),
    tx_date      DATE    NOT NULL,
    amount_cents BIGINT  NOT NULL,
    description  TEXT    NOT NULL,
    payment_id   BIGINT  REFERENCES payments (id)
);
CREATE INDEX IF NOT EXISTS treasury_tx_account_date ON treasury_transactions (account_id, tx_date DESC, id DESC);
-- Covers balances as of a date.
CREATE INDEX IF NOT EXISTS treasury_tx_balance ON treasury_transactions (account_id, tx_date, amount_cents);
