-- The tenant-database contract (docs/TENANT_DATABASE.md) implemented as views
-- over the vendor's tables (01_vendor_erp.sql), in a schema of the DBA's own,
-- granted read-only to tenantql's account through the role `<database>_reader`
-- (named after this database, so clients sharing a cluster never share it:
-- `GRANT <database>_reader TO <tenantql's account>`). Only that role may
-- connect to the database besides its owner. Register the tenant with
-- `--contract-schema erp_contract`.
--
-- Mapping rules a DBA follows for any vendor: ids as they are (whole numbers);
-- amounts in minor units (CAST(amount * 100 AS BIGINT)); dates as DATE; codes
-- spelled as the contract spells them (sale/purchase, customer/supplier/both,
-- transfer/card/direct_debit/cash, bank/cash).
CREATE SCHEMA IF NOT EXISTS erp_contract;

DO $$ BEGIN
    EXECUTE format('CREATE ROLE %I NOLOGIN', current_database() || '_reader');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

CREATE OR REPLACE VIEW erp_contract.companies AS
SELECT p.party_id AS id, p.legal_name AS name, p.vat_no AS tax_id,
       COALESCE(p.currency_code, 'EUR') AS currency
FROM erp_vendor.parties p WHERE p.party_type = 'O';

CREATE OR REPLACE VIEW erp_contract.partners AS
SELECT p.party_id AS id, p.legal_name AS name, p.vat_no AS tax_id,
       CASE p.party_type WHEN 'C' THEN 'customer' WHEN 'S' THEN 'supplier' ELSE 'both' END AS kind,
       p.city
FROM erp_vendor.parties p WHERE p.party_type IN ('C', 'S', 'B');

CREATE OR REPLACE VIEW erp_contract.invoices AS
SELECT d.doc_id AS id, d.entity_id AS company_id, d.party_id AS partner_id,
       d.doc_no AS doc_number,
       CASE d.doc_type WHEN 'ARI' THEN 'sale' ELSE 'purchase' END AS kind,
       CAST(d.doc_date AS DATE) AS issue_date, CAST(d.due_at AS DATE) AS due_date,
       CAST(d.amount_net * 100 AS BIGINT) AS net_cents,
       CAST(d.amount_tax * 100 AS BIGINT) AS vat_cents,
       CAST(d.amount_gross * 100 AS BIGINT) AS total_cents,
       CAST(d.amount_settled * 100 AS BIGINT) AS paid_cents
FROM erp_vendor.documents d;

CREATE OR REPLACE VIEW erp_contract.payments AS
SELECT s.settlement_id AS id, s.doc_id AS invoice_id,
       CAST(s.settled_on AS DATE) AS payment_date,
       CAST(s.amount * 100 AS BIGINT) AS amount_cents,
       CASE s.channel WHEN 'TRF' THEN 'transfer' WHEN 'CARD' THEN 'card'
                      WHEN 'DD' THEN 'direct_debit' ELSE 'cash' END AS method
FROM erp_vendor.settlements s;

CREATE OR REPLACE VIEW erp_contract.treasury_accounts AS
SELECT a.account_no AS id, a.entity_id AS company_id, a.label AS name,
       CASE a.account_type WHEN 'B' THEN 'bank' ELSE 'cash' END AS kind,
       a.iban, CAST(a.opening_amount * 100 AS BIGINT) AS opening_balance_cents
FROM erp_vendor.cash_accounts a;

CREATE OR REPLACE VIEW erp_contract.treasury_transactions AS
SELECT m.movement_id AS id, m.account_no AS account_id,
       CAST(m.booked_on AS DATE) AS tx_date,
       CAST(m.amount * 100 AS BIGINT) AS amount_cents,
       m.memo AS description, m.settlement_id AS payment_id
FROM erp_vendor.cash_movements m;

-- Read-only: the views, nothing else. The procedures (03) run as their owner.
DO $$
DECLARE
    reader TEXT := current_database() || '_reader';
BEGIN
    EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), reader);
    EXECUTE format('GRANT USAGE ON SCHEMA erp_contract TO %I', reader);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA erp_contract TO %I', reader);
END $$;
