-- The tenant-database contract (docs/TENANT_DATABASE.md) as views over the
-- vendor's tables, in the contract schema (a user of the DBA's own that holds
-- SELECT ... WITH GRANT OPTION on the vendor's tables), granted read-only to
-- tenantql's account through a role of this client's own (never one shared
-- with another client's account). Run as the contract schema's owner, naming
-- the vendor's schema and the role:
--   sqlplus erp_contract@//db:1521/ERP @sql/oracle/examples/02_contract_views.sql ERP_OWNER NORTH_READER
-- Register the tenant with `--contract-schema erp_contract`.
DEFINE vendor = &1
DEFINE reader = &2

CREATE OR REPLACE VIEW companies AS
SELECT p.party_id AS id, p.legal_name AS name, p.vat_no AS tax_id,
       NVL(p.currency_code, 'EUR') AS currency
FROM &vendor..parties p WHERE p.party_type = 'O';

CREATE OR REPLACE VIEW partners AS
SELECT p.party_id AS id, p.legal_name AS name, p.vat_no AS tax_id,
       CASE p.party_type WHEN 'C' THEN 'customer' WHEN 'S' THEN 'supplier' ELSE 'both' END AS kind,
       p.city
FROM &vendor..parties p WHERE p.party_type IN ('C', 'S', 'B');

CREATE OR REPLACE VIEW invoices AS
SELECT d.doc_id AS id, d.entity_id AS company_id, d.party_id AS partner_id,
       d.doc_no AS doc_number,
       CASE d.doc_type WHEN 'ARI' THEN 'sale' ELSE 'purchase' END AS kind,
       TRUNC(d.doc_date) AS issue_date, TRUNC(d.due_at) AS due_date,
       CAST(d.amount_net * 100 AS NUMBER(18)) AS net_cents,
       CAST(d.amount_tax * 100 AS NUMBER(18)) AS vat_cents,
       CAST(d.amount_gross * 100 AS NUMBER(18)) AS total_cents,
       CAST(d.amount_settled * 100 AS NUMBER(18)) AS paid_cents
FROM &vendor..documents d;

CREATE OR REPLACE VIEW payments AS
SELECT s.settlement_id AS id, s.doc_id AS invoice_id,
       TRUNC(s.settled_on) AS payment_date,
       CAST(s.amount * 100 AS NUMBER(18)) AS amount_cents,
       CASE s.channel WHEN 'TRF' THEN 'transfer' WHEN 'CARD' THEN 'card'
                      WHEN 'DD' THEN 'direct_debit' ELSE 'cash' END AS method
FROM &vendor..settlements s;

CREATE OR REPLACE VIEW treasury_accounts AS
SELECT a.account_no AS id, a.entity_id AS company_id, a.label AS name,
       CASE a.account_type WHEN 'B' THEN 'bank' ELSE 'cash' END AS kind,
       a.iban, CAST(a.opening_amount * 100 AS NUMBER(18)) AS opening_balance_cents
FROM &vendor..cash_accounts a;

CREATE OR REPLACE VIEW treasury_transactions AS
SELECT m.movement_id AS id, m.account_no AS account_id,
       TRUNC(m.booked_on) AS tx_date,
       CAST(m.amount * 100 AS NUMBER(18)) AS amount_cents,
       m.memo AS description, m.settlement_id AS payment_id
FROM &vendor..cash_movements m;

GRANT SELECT ON companies TO &reader;
GRANT SELECT ON partners TO &reader;
GRANT SELECT ON invoices TO &reader;
GRANT SELECT ON payments TO &reader;
GRANT SELECT ON treasury_accounts TO &reader;
GRANT SELECT ON treasury_transactions TO &reader;
