-- The tenant-database contract (docs/TENANT_DATABASE.md) as views over the
-- vendor's tables of 01_vendor_erp.sql, in the file's main database. Amounts
-- are rounded to minor units (SQLite keeps NUMERIC(15,2) as floating point:
-- CAST alone would cut 12.34 * 100 to 1233), dates cut to the day.
CREATE VIEW IF NOT EXISTS companies AS
SELECT party_id AS id, legal_name AS name, vat_no AS tax_id,
       COALESCE(currency_code, 'EUR') AS currency
FROM parties WHERE party_type = 'O';

CREATE VIEW IF NOT EXISTS partners AS
SELECT party_id AS id, legal_name AS name, vat_no AS tax_id,
       CASE party_type WHEN 'C' THEN 'customer' WHEN 'S' THEN 'supplier' ELSE 'both' END AS kind,
       city
FROM parties WHERE party_type IN ('C', 'S', 'B');

CREATE VIEW IF NOT EXISTS invoices AS
SELECT doc_id AS id, entity_id AS company_id, party_id AS partner_id, doc_no AS doc_number,
       CASE doc_type WHEN 'ARI' THEN 'sale' ELSE 'purchase' END AS kind,
       date(doc_date) AS issue_date, date(due_at) AS due_date,
       CAST(ROUND(amount_net * 100) AS INTEGER) AS net_cents,
       CAST(ROUND(amount_tax * 100) AS INTEGER) AS vat_cents,
       CAST(ROUND(amount_gross * 100) AS INTEGER) AS total_cents,
       CAST(ROUND(amount_settled * 100) AS INTEGER) AS paid_cents
FROM documents;

CREATE VIEW IF NOT EXISTS payments AS
SELECT settlement_id AS id, doc_id AS invoice_id, date(settled_on) AS payment_date,
       CAST(ROUND(amount * 100) AS INTEGER) AS amount_cents,
       CASE channel WHEN 'TRF' THEN 'transfer' WHEN 'CARD' THEN 'card'
                    WHEN 'DD' THEN 'direct_debit' ELSE 'cash' END AS method
FROM settlements;

CREATE VIEW IF NOT EXISTS treasury_accounts AS
SELECT account_no AS id, entity_id AS company_id, label AS name,
       CASE account_type WHEN 'B' THEN 'bank' ELSE 'cash' END AS kind,
       iban, CAST(ROUND(opening_amount * 100) AS INTEGER) AS opening_balance_cents
FROM cash_accounts;

CREATE VIEW IF NOT EXISTS treasury_transactions AS
SELECT movement_id AS id, account_no AS account_id, date(booked_on) AS tx_date,
       CAST(ROUND(amount * 100) AS INTEGER) AS amount_cents,
       memo AS description, settlement_id AS payment_id
FROM cash_movements;
