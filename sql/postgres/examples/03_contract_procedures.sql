-- The contract's write procedures (`procedures` write mode) over the vendor's
-- own rules and sequences. Each returns the id of the row it wrote, locks only
-- the rows it writes, and refuses by the contract's convention:
--   SQLSTATE 'TQ400' → BAD_USER_INPUT (the input breaks a rule), 'TQ409' →
--   CONFLICT (the data's state forbids it now, e.g. a closed period), with a
--   message for the user; any other error is the procedure's bug: INTERNAL, logged.
-- SECURITY DEFINER: they run as their owner (the DBA), so tenantql's account
-- holds EXECUTE on them and SELECT on the views, and no privilege on the
-- vendor's tables at all.
CREATE OR REPLACE FUNCTION erp_contract.tenantql_record_payment(
    p_invoice_id BIGINT, p_amount_cents BIGINT, p_payment_date DATE, p_method TEXT)
RETURNS BIGINT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = erp_vendor, pg_temp AS $$
DECLARE
    doc        documents%ROWTYPE;
    amount     NUMERIC(15,2) := p_amount_cents / 100.0;
    channel    VARCHAR(4);
    account    NUMERIC(12);
    settlement NUMERIC(12);
BEGIN
    channel := CASE p_method WHEN 'transfer' THEN 'TRF' WHEN 'card' THEN 'CARD'
                             WHEN 'direct_debit' THEN 'DD' WHEN 'cash' THEN 'CASH' END;
    IF channel IS NULL THEN
        RAISE EXCEPTION 'unknown payment method %', p_method USING ERRCODE = 'TQ400';
    END IF;
    IF p_amount_cents <= 0 THEN
        RAISE EXCEPTION 'the amount must be greater than 0' USING ERRCODE = 'TQ400';
    END IF;
    -- The document's row, and only it, is locked while its balance is checked:
    -- concurrent payments of one invoice queue here and never overpay it.
    SELECT * INTO doc FROM documents WHERE doc_id = p_invoice_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such invoice' USING ERRCODE = 'TQ400';
    END IF;
    IF p_payment_date < CAST(doc.doc_date AS DATE) THEN
        RAISE EXCEPTION 'the payment date is before the invoice''s date' USING ERRCODE = 'TQ400';
    END IF;
    IF amount > doc.amount_gross - doc.amount_settled THEN
        RAISE EXCEPTION 'the amount exceeds the invoice''s balance (%)', doc.amount_gross - doc.amount_settled
            USING ERRCODE = 'TQ400';
    END IF;
    INSERT INTO settlements (doc_id, settled_on, amount, channel)
    VALUES (doc.doc_id, p_payment_date, amount, channel)
    RETURNING settlement_id INTO settlement;
    UPDATE documents SET amount_settled = amount_settled + amount WHERE doc_id = doc.doc_id;
    SELECT account_no INTO account FROM cash_accounts
    WHERE entity_id = doc.entity_id AND account_type = 'B' ORDER BY account_no LIMIT 1;
    IF FOUND THEN
        INSERT INTO cash_movements (account_no, booked_on, amount, memo, settlement_id)
        VALUES (account, p_payment_date,
                CASE doc.doc_type WHEN 'ARI' THEN amount ELSE -amount END,
                'Payment ' || doc.doc_no, settlement);
    END IF;
    RETURN settlement;
END
$$;

CREATE OR REPLACE FUNCTION erp_contract.tenantql_create_invoice(
    p_company_id BIGINT, p_partner_id BIGINT, p_kind TEXT, p_issue_date DATE,
    p_due_date DATE, p_net_cents BIGINT, p_vat_cents BIGINT)
RETURNS BIGINT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = erp_vendor, pg_temp AS $$
DECLARE
    doc_type CHAR(3);
    created  NUMERIC(12);
BEGIN
    doc_type := CASE p_kind WHEN 'sale' THEN 'ARI' WHEN 'purchase' THEN 'API' END;
    IF doc_type IS NULL THEN
        RAISE EXCEPTION 'unknown invoice kind %', p_kind USING ERRCODE = 'TQ400';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM parties WHERE party_id = p_company_id AND party_type = 'O') THEN
        RAISE EXCEPTION 'no such company' USING ERRCODE = 'TQ400';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM parties WHERE party_id = p_partner_id AND party_type <> 'O') THEN
        RAISE EXCEPTION 'no such partner' USING ERRCODE = 'TQ400';
    END IF;
    -- The vendor's own numbering: its sequence, not tenantql's.
    INSERT INTO documents (entity_id, party_id, doc_no, doc_type, doc_date, due_at,
                           amount_net, amount_tax, amount_gross)
    VALUES (p_company_id, p_partner_id,
            doc_type || '-' || to_char(p_issue_date, 'YYYY') || '-' || nextval('document_no_seq'),
            doc_type, p_issue_date, p_due_date,
            p_net_cents / 100.0, p_vat_cents / 100.0, (p_net_cents + p_vat_cents) / 100.0)
    RETURNING doc_id INTO created;
    RETURN created;
END
$$;

REVOKE ALL ON FUNCTION erp_contract.tenantql_record_payment(BIGINT, BIGINT, DATE, TEXT) FROM PUBLIC;
REVOKE ALL ON FUNCTION erp_contract.tenantql_create_invoice(BIGINT, BIGINT, TEXT, DATE, DATE, BIGINT, BIGINT) FROM PUBLIC;
DO $$
DECLARE
    reader TEXT := current_database() || '_reader';
BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION erp_contract.tenantql_record_payment(BIGINT, BIGINT, DATE, TEXT) TO %I', reader);
    EXECUTE format('GRANT EXECUTE ON FUNCTION erp_contract.tenantql_create_invoice(BIGINT, BIGINT, TEXT, DATE, DATE, BIGINT, BIGINT) TO %I', reader);
END $$;
