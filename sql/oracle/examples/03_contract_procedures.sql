-- The contract's write procedures (`procedures` write mode) on Oracle, over
-- the vendor's rules and sequences: PL/SQL functions returning the id of the
-- row written (tenantql calls them in a block, `BEGIN :out_id := f(...); END;`,
-- inside its transaction, and commits). They lock only the rows they write and
-- refuse by the contract's convention:
--   RAISE_APPLICATION_ERROR(-20400, msg) → BAD_USER_INPUT,
--   RAISE_APPLICATION_ERROR(-20409, msg) → CONFLICT,
-- msg being shown to the user; any other error is INTERNAL (logged, never shown).
-- Definer's rights: tenantql's account holds EXECUTE, and nothing on the
-- vendor's tables. Run as the contract schema's owner (it needs SELECT,
-- INSERT, UPDATE on the vendor's tables and SELECT on its sequences):
--   sqlplus erp_contract@//db:1521/ERP @sql/oracle/examples/03_contract_procedures.sql ERP_OWNER NORTH_READER
DEFINE vendor = &1
DEFINE reader = &2

CREATE OR REPLACE FUNCTION tenantql_record_payment(
    p_invoice_id IN NUMBER, p_amount_cents IN NUMBER, p_payment_date IN DATE, p_method IN VARCHAR2)
RETURN NUMBER AUTHID DEFINER AS
    v_doc        &vendor..documents%ROWTYPE;
    v_amount     NUMBER(15,2) := p_amount_cents / 100;
    v_channel    VARCHAR2(4);
    v_account    NUMBER(12);
    v_settlement NUMBER(12);
BEGIN
    v_channel := CASE p_method WHEN 'transfer' THEN 'TRF' WHEN 'card' THEN 'CARD'
                               WHEN 'direct_debit' THEN 'DD' WHEN 'cash' THEN 'CASH' END;
    IF v_channel IS NULL THEN
        RAISE_APPLICATION_ERROR(-20400, 'unknown payment method ' || p_method);
    END IF;
    IF p_amount_cents <= 0 THEN
        RAISE_APPLICATION_ERROR(-20400, 'the amount must be greater than 0');
    END IF;
    BEGIN
        -- The document's row, and only it, is locked while its balance is checked.
        SELECT * INTO v_doc FROM &vendor..documents WHERE doc_id = p_invoice_id FOR UPDATE;
    EXCEPTION WHEN NO_DATA_FOUND THEN
        RAISE_APPLICATION_ERROR(-20400, 'no such invoice');
    END;
    IF p_payment_date < TRUNC(v_doc.doc_date) THEN
        RAISE_APPLICATION_ERROR(-20400, 'the payment date is before the invoice''s date');
    END IF;
    IF v_amount > v_doc.amount_gross - v_doc.amount_settled THEN
        RAISE_APPLICATION_ERROR(-20400, 'the amount exceeds the invoice''s balance ('
            || TO_CHAR(v_doc.amount_gross - v_doc.amount_settled, 'FM999999999990.00') || ')');
    END IF;
    INSERT INTO &vendor..settlements (doc_id, settled_on, amount, channel)
    VALUES (v_doc.doc_id, p_payment_date, v_amount, v_channel)
    RETURNING settlement_id INTO v_settlement;
    UPDATE &vendor..documents SET amount_settled = amount_settled + v_amount WHERE doc_id = v_doc.doc_id;
    BEGIN
        SELECT account_no INTO v_account FROM &vendor..cash_accounts
        WHERE entity_id = v_doc.entity_id AND account_type = 'B'
        ORDER BY account_no FETCH FIRST 1 ROWS ONLY;
        INSERT INTO &vendor..cash_movements (account_no, booked_on, amount, memo, settlement_id)
        VALUES (v_account, p_payment_date,
                CASE v_doc.doc_type WHEN 'ARI' THEN v_amount ELSE -v_amount END,
                'Payment ' || v_doc.doc_no, v_settlement);
    EXCEPTION WHEN NO_DATA_FOUND THEN NULL;
    END;
    RETURN v_settlement;
END;
/

CREATE OR REPLACE FUNCTION tenantql_create_invoice(
    p_company_id IN NUMBER, p_partner_id IN NUMBER, p_kind IN VARCHAR2, p_issue_date IN DATE,
    p_due_date IN DATE, p_net_cents IN NUMBER, p_vat_cents IN NUMBER)
RETURN NUMBER AUTHID DEFINER AS
    v_type    CHAR(3);
    v_found   NUMBER;
    v_created NUMBER(12);
BEGIN
    v_type := CASE p_kind WHEN 'sale' THEN 'ARI' WHEN 'purchase' THEN 'API' END;
    IF v_type IS NULL THEN
        RAISE_APPLICATION_ERROR(-20400, 'unknown invoice kind ' || p_kind);
    END IF;
    SELECT COUNT(*) INTO v_found FROM &vendor..parties WHERE party_id = p_company_id AND party_type = 'O';
    IF v_found = 0 THEN
        RAISE_APPLICATION_ERROR(-20400, 'no such company');
    END IF;
    SELECT COUNT(*) INTO v_found FROM &vendor..parties WHERE party_id = p_partner_id AND party_type <> 'O';
    IF v_found = 0 THEN
        RAISE_APPLICATION_ERROR(-20400, 'no such partner');
    END IF;
    INSERT INTO &vendor..documents (entity_id, party_id, doc_no, doc_type, doc_date, due_at,
                                    amount_net, amount_tax, amount_gross)
    VALUES (p_company_id, p_partner_id,
            v_type || '-' || TO_CHAR(p_issue_date, 'YYYY') || '-' || &vendor..document_no_seq.NEXTVAL,
            v_type, p_issue_date, p_due_date,
            p_net_cents / 100, p_vat_cents / 100, (p_net_cents + p_vat_cents) / 100)
    RETURNING doc_id INTO v_created;
    RETURN v_created;
END;
/

GRANT EXECUTE ON tenantql_record_payment TO &reader;
GRANT EXECUTE ON tenantql_create_invoice TO &reader;
