-- The ERP tables of one tenant on Oracle Database (tested shape: Oracle Database
-- Free 23ai; works on 19c and later). Run as the tenant's schema owner:
--   sqlplus tenantql/tenantql@//127.0.0.1:1521/FREEPDB1 @sql/oracle/erp_schema.sql
-- Amounts are integer minor units (cents) so sums are exact; dates are DATE.
-- Mirrors sql/sqlite/erp_schema.sql column for column.
CREATE TABLE companies (
    id          NUMBER(18)     PRIMARY KEY,
    name        VARCHAR2(200)  NOT NULL,
    tax_id      VARCHAR2(32)   NOT NULL,
    currency    VARCHAR2(3)    NOT NULL
);

CREATE TABLE partners (
    id          NUMBER(18)     PRIMARY KEY,
    name        VARCHAR2(200)  NOT NULL,
    tax_id      VARCHAR2(32)   NOT NULL,
    kind        VARCHAR2(8)    NOT NULL CHECK (kind IN ('customer', 'supplier', 'both')),
    city        VARCHAR2(100)  NOT NULL
);

CREATE TABLE invoices (
    id          NUMBER(18)     PRIMARY KEY,
    company_id  NUMBER(18)     NOT NULL REFERENCES companies (id),
    partner_id  NUMBER(18)     NOT NULL REFERENCES partners (id),
    doc_number  VARCHAR2(32)   NOT NULL,
    kind        VARCHAR2(8)    NOT NULL CHECK (kind IN ('sale', 'purchase')),
    issue_date  DATE           NOT NULL,
    due_date    DATE           NOT NULL,
    net_cents   NUMBER(18)     NOT NULL,
    vat_cents   NUMBER(18)     NOT NULL,
    total_cents NUMBER(18)     NOT NULL,
    paid_cents  NUMBER(18)     DEFAULT 0 NOT NULL
);
CREATE INDEX invoices_company_issue ON invoices (company_id, issue_date DESC, id DESC);
CREATE INDEX invoices_partner ON invoices (partner_id);
-- Covers the dashboard's per-year sums, so they never touch the table.
CREATE INDEX invoices_company_year ON invoices (company_id, issue_date, kind, net_cents, total_cents, paid_cents, due_date, partner_id);

CREATE TABLE payments (
    id           NUMBER(18)    PRIMARY KEY,
    invoice_id   NUMBER(18)    NOT NULL REFERENCES invoices (id),
    payment_date DATE          NOT NULL,
    amount_cents NUMBER(18)    NOT NULL,
    method       VARCHAR2(16)  NOT NULL
);
CREATE INDEX payments_invoice ON payments (invoice_id);

CREATE TABLE treasury_accounts (
    id                    NUMBER(18)     PRIMARY KEY,
    company_id            NUMBER(18)     NOT NULL REFERENCES companies (id),
    name                  VARCHAR2(200)  NOT NULL,
    kind                  VARCHAR2(8)    NOT NULL CHECK (kind IN ('bank', 'cash')),
    iban                  VARCHAR2(34),
    opening_balance_cents NUMBER(18)     NOT NULL
);

CREATE TABLE treasury_transactions (
    id           NUMBER(18)     PRIMARY KEY,
    account_id   NUMBER(18)     NOT NULL REFERENCES treasury_accounts (id),
    tx_date      DATE           NOT NULL,
    amount_cents NUMBER(18)     NOT NULL,
    description  VARCHAR2(400)  NOT NULL,
    payment_id   NUMBER(18)     REFERENCES payments (id)
);
CREATE INDEX treasury_tx_account_date ON treasury_transactions (account_id, tx_date DESC, id DESC);
-- Covers balances as of a date.
CREATE INDEX treasury_tx_balance ON treasury_transactions (account_id, tx_date, amount_cents);
