-- An ERP vendor's schema, as tenantql finds it in a client's database: not
-- tenantql's tables. Other names, amounts in currency units (NUMERIC(15,2)),
-- dates as timestamps, the client's own companies and its partners in one
-- parties table with a type column, ids from the vendor's sequences, and a
-- vendor application writing to it all day. tenantql reads it through the
-- contract views (02_contract_views.sql) and writes through the client's
-- procedures (03_contract_procedures.sql); nothing here is tenantql's.
CREATE SCHEMA IF NOT EXISTS erp_vendor;

CREATE SEQUENCE IF NOT EXISTS erp_vendor.party_seq START WITH 10000;
CREATE SEQUENCE IF NOT EXISTS erp_vendor.document_seq START WITH 10000;
CREATE SEQUENCE IF NOT EXISTS erp_vendor.document_no_seq START WITH 10000;
CREATE SEQUENCE IF NOT EXISTS erp_vendor.settlement_seq START WITH 10000;
CREATE SEQUENCE IF NOT EXISTS erp_vendor.movement_seq START WITH 10000;

-- O: one of the client's own legal entities; C customer, S supplier, B both.
CREATE TABLE IF NOT EXISTS erp_vendor.parties (
    party_id       NUMERIC(12)   PRIMARY KEY DEFAULT nextval('erp_vendor.party_seq'),
    party_type     CHAR(1)       NOT NULL CHECK (party_type IN ('O', 'C', 'S', 'B')),
    legal_name     VARCHAR(200)  NOT NULL,
    vat_no         VARCHAR(40)   NOT NULL,
    city           VARCHAR(100)  NOT NULL DEFAULT '',
    currency_code  CHAR(3),
    created_at     TIMESTAMP     NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS parties_type_name ON erp_vendor.parties (party_type, legal_name, party_id);

-- ARI: an invoice to a customer (receivable); API: one from a supplier (payable).
CREATE TABLE IF NOT EXISTS erp_vendor.documents (
    doc_id          NUMERIC(12)    PRIMARY KEY DEFAULT nextval('erp_vendor.document_seq'),
    entity_id       NUMERIC(12)    NOT NULL REFERENCES erp_vendor.parties (party_id),
    party_id        NUMERIC(12)    NOT NULL REFERENCES erp_vendor.parties (party_id),
    doc_no          VARCHAR(30)    NOT NULL UNIQUE,
    doc_type        CHAR(3)        NOT NULL CHECK (doc_type IN ('ARI', 'API')),
    doc_date        TIMESTAMP      NOT NULL,
    due_at          TIMESTAMP      NOT NULL,
    amount_net      NUMERIC(15,2)  NOT NULL,
    amount_tax      NUMERIC(15,2)  NOT NULL,
    amount_gross    NUMERIC(15,2)  NOT NULL,
    amount_settled  NUMERIC(15,2)  NOT NULL DEFAULT 0,
    posted_by       VARCHAR(60)    NOT NULL DEFAULT current_user
);
-- What the contract's queries need, on the expressions the views map
-- (docs/TENANT_DATABASE.md, "Indexes"): a company's documents newest first,
-- a partner's documents, the settlements of a document, an account's movements.
CREATE INDEX IF NOT EXISTS documents_entity_date
    ON erp_vendor.documents (entity_id, (CAST(doc_date AS DATE)) DESC, doc_id DESC);
-- Covers the dashboard's sums of a year, so they never touch the table (an
-- index-only scan needs the raw doc_date beside its expression, and a vacuumed
-- table: VACUUM ANALYZE after a bulk load).
CREATE INDEX IF NOT EXISTS documents_entity_year
    ON erp_vendor.documents (entity_id, (CAST(doc_date AS DATE)))
    INCLUDE (doc_date, doc_type, amount_net, amount_gross, amount_settled, due_at, party_id);
CREATE INDEX IF NOT EXISTS documents_party ON erp_vendor.documents (party_id);

CREATE TABLE IF NOT EXISTS erp_vendor.settlements (
    settlement_id  NUMERIC(12)    PRIMARY KEY DEFAULT nextval('erp_vendor.settlement_seq'),
    doc_id         NUMERIC(12)    NOT NULL REFERENCES erp_vendor.documents (doc_id),
    settled_on     TIMESTAMP      NOT NULL,
    amount         NUMERIC(15,2)  NOT NULL CHECK (amount > 0),
    channel        VARCHAR(4)     NOT NULL CHECK (channel IN ('TRF', 'CARD', 'DD', 'CASH'))
);
CREATE INDEX IF NOT EXISTS settlements_doc ON erp_vendor.settlements (doc_id);

-- B: a bank account, C: a cash box.
CREATE TABLE IF NOT EXISTS erp_vendor.cash_accounts (
    account_no      NUMERIC(12)    PRIMARY KEY,
    entity_id       NUMERIC(12)    NOT NULL REFERENCES erp_vendor.parties (party_id),
    label           VARCHAR(100)   NOT NULL,
    account_type    CHAR(1)        NOT NULL CHECK (account_type IN ('B', 'C')),
    iban            VARCHAR(34),
    opening_amount  NUMERIC(15,2)  NOT NULL
);
CREATE INDEX IF NOT EXISTS cash_accounts_entity ON erp_vendor.cash_accounts (entity_id);

CREATE TABLE IF NOT EXISTS erp_vendor.cash_movements (
    movement_id    NUMERIC(12)    PRIMARY KEY DEFAULT nextval('erp_vendor.movement_seq'),
    account_no     NUMERIC(12)    NOT NULL REFERENCES erp_vendor.cash_accounts (account_no),
    booked_on      TIMESTAMP      NOT NULL,
    amount         NUMERIC(15,2)  NOT NULL,
    memo           VARCHAR(200)   NOT NULL,
    settlement_id  NUMERIC(12)    REFERENCES erp_vendor.settlements (settlement_id)
);
CREATE INDEX IF NOT EXISTS cash_movements_account
    ON erp_vendor.cash_movements (account_no, (CAST(booked_on AS DATE)) DESC, movement_id DESC);
