-- An ERP vendor's schema on Oracle, as tenantql finds it in a client's database
-- (the Oracle twin of sql/postgres/examples/01_vendor_erp.sql): other names,
-- amounts in currency units as NUMBER(15,2), dates as TIMESTAMP, companies and
-- partners in one PARTIES table with a type column, ids from the vendor's
-- sequences. Run as the vendor's schema owner:
--   sqlplus erp_owner@//db:1521/ERP @sql/oracle/examples/01_vendor_erp.sql
CREATE SEQUENCE party_seq START WITH 10000;
CREATE SEQUENCE document_seq START WITH 10000;
CREATE SEQUENCE document_no_seq START WITH 10000;
CREATE SEQUENCE settlement_seq START WITH 10000;
CREATE SEQUENCE movement_seq START WITH 10000;

-- O: one of the client's own legal entities; C customer, S supplier, B both.
CREATE TABLE parties (
    party_id       NUMBER(12)     DEFAULT party_seq.NEXTVAL PRIMARY KEY,
    party_type     CHAR(1)        NOT NULL CHECK (party_type IN ('O', 'C', 'S', 'B')),
    legal_name     VARCHAR2(200)  NOT NULL,
    vat_no         VARCHAR2(40)   NOT NULL,
    city           VARCHAR2(100)  DEFAULT ' ' NOT NULL,
    currency_code  CHAR(3),
    created_at     TIMESTAMP      DEFAULT SYSTIMESTAMP NOT NULL
);
CREATE INDEX parties_type_name ON parties (party_type, legal_name, party_id);

-- ARI: an invoice to a customer; API: one from a supplier.
CREATE TABLE documents (
    doc_id          NUMBER(12)     DEFAULT document_seq.NEXTVAL PRIMARY KEY,
    entity_id       NUMBER(12)     NOT NULL REFERENCES parties (party_id),
    party_id        NUMBER(12)     NOT NULL REFERENCES parties (party_id),
    doc_no          VARCHAR2(30)   NOT NULL UNIQUE,
    doc_type        CHAR(3)        NOT NULL CHECK (doc_type IN ('ARI', 'API')),
    doc_date        TIMESTAMP      NOT NULL,
    due_at          TIMESTAMP      NOT NULL,
    amount_net      NUMBER(15,2)   NOT NULL,
    amount_tax      NUMBER(15,2)   NOT NULL,
    amount_gross    NUMBER(15,2)   NOT NULL,
    amount_settled  NUMBER(15,2)   DEFAULT 0 NOT NULL,
    posted_by       VARCHAR2(60)   DEFAULT USER NOT NULL
);
-- What the contract's queries need, on the expressions the views map.
CREATE INDEX documents_entity_date ON documents (entity_id, TRUNC(doc_date) DESC, doc_id DESC);
CREATE INDEX documents_party ON documents (party_id);

CREATE TABLE settlements (
    settlement_id  NUMBER(12)     DEFAULT settlement_seq.NEXTVAL PRIMARY KEY,
    doc_id         NUMBER(12)     NOT NULL REFERENCES documents (doc_id),
    settled_on     TIMESTAMP      NOT NULL,
    amount         NUMBER(15,2)   NOT NULL CHECK (amount > 0),
    channel        VARCHAR2(4)    NOT NULL CHECK (channel IN ('TRF', 'CARD', 'DD', 'CASH'))
);
CREATE INDEX settlements_doc ON settlements (doc_id);

CREATE TABLE cash_accounts (
    account_no      NUMBER(12)     PRIMARY KEY,
    entity_id       NUMBER(12)     NOT NULL REFERENCES parties (party_id),
    label           VARCHAR2(100)  NOT NULL,
    account_type    CHAR(1)        NOT NULL CHECK (account_type IN ('B', 'C')),
    iban            VARCHAR2(34),
    opening_amount  NUMBER(15,2)   NOT NULL
);
CREATE INDEX cash_accounts_entity ON cash_accounts (entity_id);

CREATE TABLE cash_movements (
    movement_id    NUMBER(12)     DEFAULT movement_seq.NEXTVAL PRIMARY KEY,
    account_no     NUMBER(12)     NOT NULL REFERENCES cash_accounts (account_no),
    booked_on      TIMESTAMP      NOT NULL,
    amount         NUMBER(15,2)   NOT NULL,
    memo           VARCHAR2(200)  NOT NULL,
    settlement_id  NUMBER(12)     REFERENCES settlements (settlement_id)
);
CREATE INDEX cash_movements_account ON cash_movements (account_no, TRUNC(booked_on) DESC, movement_id DESC);
