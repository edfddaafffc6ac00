-- Demo data for the vendor-like tables (tests, trying the example): moves
-- tenantql's demo rows from its reference tables (erp_schema.sql and the
-- seeder) into the vendor's tables of 01_vendor_erp.sql, then drops the
-- reference tables so 02_contract_views.sql can take their names. Partners
-- share one parties table with companies: their ids move by 1000.
INSERT INTO parties (party_id, party_type, legal_name, vat_no, city, currency_code)
SELECT id, 'O', name, tax_id, '', currency FROM companies;
INSERT INTO parties (party_id, party_type, legal_name, vat_no, city)
SELECT id + 1000, CASE kind WHEN 'customer' THEN 'C' WHEN 'supplier' THEN 'S' ELSE 'B' END,
       name, tax_id, city
FROM partners;
INSERT INTO documents (doc_id, entity_id, party_id, doc_no, doc_type, doc_date, due_at,
                       amount_net, amount_tax, amount_gross, amount_settled)
SELECT id, company_id, partner_id + 1000, doc_number,
       CASE kind WHEN 'sale' THEN 'ARI' ELSE 'API' END,
       issue_date || ' 09:30:00', due_date || ' 18:00:00',
       net_cents / 100.0, vat_cents / 100.0, total_cents / 100.0, paid_cents / 100.0
FROM invoices;
INSERT INTO settlements (settlement_id, doc_id, settled_on, amount, channel)
SELECT id, invoice_id, payment_date || ' 14:00:00', amount_cents / 100.0,
       CASE method WHEN 'transfer' THEN 'TRF' WHEN 'card' THEN 'CARD'
                   WHEN 'direct_debit' THEN 'DD' ELSE 'CASH' END
FROM payments;
INSERT INTO cash_accounts (account_no, entity_id, label, account_type, iban, opening_amount)
SELECT id, company_id, name, CASE kind WHEN 'bank' THEN 'B' ELSE 'C' END, iban,
       opening_balance_cents / 100.0
FROM treasury_accounts;
INSERT INTO cash_movements (movement_id, account_no, booked_on, amount, memo, settlement_id)
SELECT id, account_id, tx_date || ' 12:00:00', amount_cents / 100.0, description, payment_id
FROM treasury_transactions;
DROP TABLE treasury_transactions;
DROP TABLE treasury_accounts;
DROP TABLE payments;
DROP TABLE invoices;
DROP TABLE partners;
DROP TABLE companies;
