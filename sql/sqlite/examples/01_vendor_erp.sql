-- An ERP vendor's tables in an SQLite file, as tenantql might find a small
-- client's database (the twin of sql/postgres/examples/01_vendor_erp.sql):
-- other names, amounts in currency units, timestamps as text, companies and
-- partners in one parties table, ids from the vendor's own numbering. SQLite
-- has no stored procedures, so such a tenant is `read-only` (or `tables` when
-- tenantql owns the file); the contract views are in 02_contract_views.sql.
CREATE TABLE IF NOT EXISTS parties (
    party_id       INTEGER PRIMARY KEY,
    party_type     TEXT    NOT NULL CHECK (party_type IN ('O', 'C', 'S', 'B')),
    legal_name     TEXT    NOT NULL,
    vat_no         TEXT    NOT NULL,
    city           TEXT    NOT NULL DEFAULT '',
    currency_code  TEXT
);
CREATE TABLE IF NOT EXISTS documents (
    doc_id          INTEGER PRIMARY KEY,
    entity_id       INTEGER NOT NULL REFERENCES parties (party_id),
    party_id        INTEGER NOT NULL REFERENCES parties (party_id),
    doc_no          TEXT    NOT NULL UNIQUE,
    doc_type        TEXT    NOT NULL CHECK (doc_type IN ('ARI', 'API')),
    doc_date        TEXT    NOT NULL,          -- 'YYYY-MM-DD HH:MM:SS'
    due_at          TEXT    NOT NULL,
    amount_net      NUMERIC(15,2) NOT NULL,
    amount_tax      NUMERIC(15,2) NOT NULL,
    amount_gross    NUMERIC(15,2) NOT NULL,
    amount_settled  NUMERIC(15,2) NOT NULL DEFAULT 0
);
-- On the expressions the views map (docs/TENANT_DATABASE.md, "Indexes").
CREATE INDEX IF NOT EXISTS documents_entity_date ON documents (entity_id, date(doc_date) DESC, doc_id DESC);
CREATE INDEX IF NOT EXISTS documents_party ON documents (party_id);
CREATE TABLE IF NOT EXISTS settlements (
    settlement_id  INTEGER PRIMARY KEY,
    doc_id         INTEGER NOT NULL REFERENCES documents (doc_id),
    settled_on     TEXT    NOT NULL,
    amount         NUMERIC(15,2) NOT NULL,
    channel        TEXT    NOT NULL CHECK (channel IN ('TRF', 'CARD', 'DD', 'CASH'))
);
CREATE INDEX IF NOT EXISTS settlements_doc ON settlements (doc_id);
CREATE TABLE IF NOT EXISTS cash_accounts (
    account_no      INTEGER PRIMARY KEY,
    entity_id       INTEGER NOT NULL REFERENCES parties (party_id),
    label           TEXT    NOT NULL,
    account_type    TEXT    NOT NULL CHECK (account_type IN ('B', 'C')),
    iban            TEXT,
    opening_amount  NUMERIC(15,2) NOT NULL
);
CREATE INDEX IF NOT EXISTS cash_accounts_entity ON cash_accounts (entity_id);
CREATE TABLE IF NOT EXISTS cash_movements (
    movement_id    INTEGER PRIMARY KEY,
    account_no     INTEGER NOT NULL REFERENCES cash_accounts (account_no),
    booked_on      TEXT    NOT NULL,
    amount         NUMERIC(15,2) NOT NULL,
    memo           TEXT    NOT NULL,
    settlement_id  INTEGER REFERENCES settlements (settlement_id)
);
CREATE INDEX IF NOT EXISTS cash_movements_account ON cash_movements (account_no, date(booked_on) DESC, movement_id DESC);
