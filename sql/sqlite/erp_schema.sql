-- The ERP tables of one tenant's embedded SQLite store (demo and tests).
-- Amounts are integer minor units (cents); dates are ISO text (YYYY-MM-DD).
-- Mirrors sql/oracle/erp_schema.sql column for column.
CREATE TABLE IF NOT EXISTS companies (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    tax_id      TEXT    NOT NULL,
    currency    TEXT    NOT NULL
);

CREATE TABLE IF NOT EXISTS partners (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    tax_id      TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('customer', 'supplier', 'both')),
    city        TEXT    NOT NULL
);

CREATE TABLE IF NOT EXISTS invoices (
    id          INTEGER PRIMARY KEY,
    company_id  INTEGER NOT NULL REFERENCES companies (id),
    partner_id  INTEGER NOT NULL REFERENCES partners (id),
    doc_number  TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('sale', 'purchase')),
    issue_date  TEXT    NOT NULL,
    due_date    TEXT    NOT NULL,
    net_cents   INTEGER NOT NULL,
    vat_cents   INTEGER NOT NULL,
    total_cents INTEGER NOT NULL,
    paid_cents  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS invoices_company_issue ON invoices (company_id, issue_date DESC, id DESC);
CREATE INDEX IF NOT EXISTS invoices_partner ON invoices (partner_id);
-- Covers the dashboard's per-year sums, so they never touch the table.
CREATE INDEX IF NOT EXISTS invoices_company_year ON invoices (company_id, issue_date, kind, net_cents, total_cents, paid_cents, due_date, partner_id);

CREATE TABLE IF NOT EXISTS payments (
    id           INTEGER PRIMARY KEY,
    invoice_id   INTEGER NOT NULL REFERENCES invoices (id),
    payment_date TEXT    NOT NULL,
    amount_cents INTEGER NOT NULL,
    method       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_invoice ON payments (invoice_id);

CREATE TABLE IF NOT EXISTS treasury_accounts (
    id                    INTEGER PRIMARY KEY,
    company_id            INTEGER NOT NULL REFERENCES companies (id),
    name                  TEXT    NOT NULL,
    kind                  TEXT    NOT NULL CHECK (kind IN ('bank', 'cash')),
    iban                  TEXT,
    opening_balance_cents INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS treasury_transactions (
    id           INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES treasury_accounts (id),
    tx_date      TEXT    NOT NULL,
    amount_cents INTEGER NOT NULL,
    description  TEXT    NOT NULL,
    payment_id   INTEGER REFERENCES payments (id)
);
CREATE INDEX IF NOT EXISTS treasury_tx_account_date ON treasury_transactions (account_id, tx_date DESC, id DESC);
-- Covers balances as of a date.
CREATE INDEX IF NOT EXISTS treasury_tx_balance ON treasury_transactions (account_id, tx_date, amount_cents);
