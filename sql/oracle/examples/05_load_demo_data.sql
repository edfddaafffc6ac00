-- Demo data for the vendor-like schema: moves tenantql's demo rows
-- (sql/oracle/erp_seed.sql, loaded into tenantql's reference tables in this
-- schema by erp_schema.sql) into the vendor's tables, then drops the reference
-- tables. Used by the docker compose stack (docker/oracle-init/); a real
-- client's database has its own data. Run as the vendor's schema owner.
INSERT INTO parties (party_id, party_type, legal_name, vat_no, city, currency_code)
SELECT id, 'O', name, tax_id, ' ', currency FROM companies;
INSERT INTO parties (party_id, party_type, legal_name, vat_no, city)
SELECT id + 1000, CASE kind WHEN 'customer' THEN 'C' WHEN 'supplier' THEN 'S' ELSE 'B' END,
       name, tax_id, city
FROM partners;
INSERT INTO documents (doc_id, entity_id, party_id, doc_no, doc_type, doc_date, due_at,
                       amount_net, amount_tax, amount_gross, amount_settled, posted_by)
SELECT id, company_id, partner_id + 1000, doc_number,
       CASE kind WHEN 'sale' THEN 'ARI' ELSE 'API' END,
       CAST(issue_date AS TIMESTAMP) + INTERVAL '9' HOUR, CAST(due_date AS TIMESTAMP),
       net_cents / 100, vat_cents / 100, total_cents / 100, paid_cents / 100, 'migration'
FROM invoices;
INSERT INTO settlements (settlement_id, doc_id, settled_on, amount, channel)
SELECT id, invoice_id, CAST(payment_date AS TIMESTAMP) + INTERVAL '14' HOUR, amount_cents / 100,
       CASE method WHEN 'transfer' THEN 'TRF' WHEN 'card' THEN 'CARD'
                   WHEN 'direct_debit' THEN 'DD' ELSE 'CASH' END
FROM payments;
INSERT INTO cash_accounts (account_no, entity_id, label, account_type, iban, opening_amount)
SELECT id, company_id, name, CASE kind WHEN 'bank' THEN 'B' ELSE 'C' END, iban,
       opening_balance_cents / 100
FROM treasury_accounts;
INSERT INTO cash_movements (movement_id, account_no, booked_on, amount, memo, settlement_id)
SELECT id, account_id, CAST(tx_date AS TIMESTAMP) + INTERVAL '12' HOUR, amount_cents / 100,
       description, payment_id
FROM treasury_transactions;
COMMIT;
DROP TABLE treasury_transactions;
DROP TABLE treasury_accounts;
DROP TABLE payments;
DROP TABLE invoices;
DROP TABLE partners;
DROP TABLE companies;
