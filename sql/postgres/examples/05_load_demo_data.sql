-- Demo data for the vendor-like schema (tests, benchmarks, trying the example):
-- moves tenantql's demo rows, loaded into its reference tables in `public`
-- (erp_schema.sql and the seeder), into the vendor's tables of
-- 01_vendor_erp.sql, then drops the reference tables, so the contract views
-- read the same invoices tenantql's own tables would hold. A real client's
-- database has its own data. Partners share one parties table with
-- companies: their ids move by 1000.
INSERT INTO erp_vendor.parties (party_id, party_type, legal_name, vat_no, city, currency_code)
SELECT id, 'O', name, tax_id, '', currency FROM public.companies;
INSERT INTO erp_vendor.parties (party_id, party_type, legal_name, vat_no, city)
SELECT id + 1000, CASE kind WHEN 'customer' THEN 'C' WHEN 'supplier' THEN 'S' ELSE 'B' END,
       name, tax_id, city
FROM public.partners;
INSERT INTO erp_vendor.documents (doc_id, entity_id, party_id, doc_no, doc_type, doc_date, due_at,
                                  amount_net, amount_tax, amount_gross, amount_settled, posted_by)
SELECT id, company_id, partner_id + 1000, doc_number,
       CASE kind WHEN 'sale' THEN 'ARI' ELSE 'API' END,
       issue_date + TIME '09:30', due_date + TIME '18:00',
       net_cents / 100.0, vat_cents / 100.0, total_cents / 100.0, paid_cents / 100.0, 'migration'
FROM public.invoices;
INSERT INTO erp_vendor.settlements (settlement_id, doc_id, settled_on, amount, channel)
SELECT id, invoice_id, payment_date + TIME '14:00', amount_cents / 100.0,
       CASE method WHEN 'transfer' THEN 'TRF' WHEN 'card' THEN 'CARD'
                   WHEN 'direct_debit' THEN 'DD' ELSE 'CASH' END
FROM public.payments;
INSERT INTO erp_vendor.cash_accounts (account_no, entity_id, label, account_type, iban, opening_amount)
SELECT id, company_id, name, CASE kind WHEN 'bank' THEN 'B' ELSE 'C' END, iban,
       opening_balance_cents / 100.0
FROM public.treasury_accounts;
INSERT INTO erp_vendor.cash_movements (movement_id, account_no, booked_on, amount, memo, settlement_id)
SELECT id, account_id, tx_date + TIME '12:00', amount_cents / 100.0, description, payment_id
FROM public.treasury_transactions;
SELECT setval('erp_vendor.party_seq', (SELECT CAST(MAX(party_id) + 1 AS BIGINT) FROM erp_vendor.parties), false);
SELECT setval('erp_vendor.document_seq', CAST(GREATEST(10000, (SELECT MAX(doc_id) + 1 FROM erp_vendor.documents)) AS BIGINT), false);
SELECT setval('erp_vendor.settlement_seq', CAST(GREATEST(10000, (SELECT COALESCE(MAX(settlement_id), 0) + 1 FROM erp_vendor.settlements)) AS BIGINT), false);
SELECT setval('erp_vendor.movement_seq', CAST(GREATEST(10000, (SELECT COALESCE(MAX(movement_id), 0) + 1 FROM erp_vendor.cash_movements)) AS BIGINT), false);
DROP TABLE public.treasury_transactions, public.treasury_accounts, public.payments,
           public.invoices, public.partners, public.companies;
