//! Payments against invoices.
use std::collections::HashMap;

use chrono::NaiveDate;

use super::{
    invoices::{self, Invoice, InvoiceKind},
    mapping, Cents,
};
use crate::{
    control::entities::tenant::WriteMode,
    error::AppError,
    store::{Row, StoreError, Value},
    tenancy::{TenantDb, Transaction},
};

/// The columns of a payment row, in insert order.
pub const COLUMNS: &[&str] = &["id", "invoice_id", "payment_date", "amount_cents", "method"];
/// The columns of a treasury transaction row, in insert order.
pub const TRANSACTION_COLUMNS: &[&str] = &[
    "id",
    "account_id",
    "tx_date",
    "amount_cents",
    "description",
    "payment_id",
];

/// How a payment was made; the same set the demo data uses.
pub const METHODS: &[&str] = &["transfer", "card", "direct_debit", "cash"];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Payment {
    pub id: i64,
    pub invoice_id: i64,
    pub date: NaiveDate,
    pub amount: Cents,
    pub method: String,
}

fn from_row(row: &Row) -> Result<Payment, StoreError> {
    from_row_at(row, 0)
}

/// The payment whose `COLUMNS` start at column `at`.
pub(crate) fn from_row_at(row: &Row, at: usize) -> Result<Payment, StoreError> {
    Ok(Payment {
        id: row.int(at)?,
        invoice_id: row.int(at + 1)?,
        date: row.date(at + 2)?,
        amount: Cents(row.int(at + 3)?),
        method: row.text(at + 4)?,
    })
}

/// The payments of each invoice, oldest first; invoices without payments map to an empty list.
pub async fn by_invoice_ids(
    db: &TenantDb,
    invoice_ids: &[i64],
) -> Result<HashMap<i64, Vec<Payment>>, AppError> {
    let mut sql = db.sql();
    sql.push("SELECT id, invoice_id, payment_date, amount_cents, method FROM ")
        .rel("payments")
        .push(" WHERE ")
        .in_list("invoice_id", invoice_ids.iter().copied())
        .push(" ORDER BY invoice_id, payment_date, id");
    let mut grouped: HashMap<i64, Vec<Payment>> =
        invoice_ids.iter().map(|id| (*id, Vec::new())).collect();
    for row in db.query(&sql).await? {
        let payment = from_row(&row).map_err(mapping)?;
        grouped.entry(payment.invoice_id).or_default().push(payment);
    }
    Ok(grouped)
}

/// A payment to record against an invoice.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub invoice_id: i64,
    pub amount: Cents,
    pub date: NaiveDate,
    pub method: String,
}

/// Records a payment as the tenant's write mode says: into the contract's
/// tables, through the client's `tenantql_record_payment` procedure, or not at
/// all (read-only). Either way the invoice's balance is checked first, so a
/// mistake answers the same error on every tenant.
pub async fn record(db: &TenantDb, new: &NewPayment) -> Result<(Invoice, Payment), AppError> {
    if new.amount.0 <= 0 {
        return Err(AppError::bad_input(
            "amount",
            "the amount must be greater than 0",
        ));
    }
    if !METHODS.contains(&new.method.as_str()) {
        return Err(AppError::bad_input(
            "method",
            format!("the method must be one of {}", METHODS.join(", ")),
        ));
    }
    let mode = super::writable(db)?;
    let mut tx = db.begin().await?;
    // Tables: the invoice row is locked while its balance is checked, so two
    // concurrent payments can never overpay it. Procedures: the client's
    // procedure locks and checks again under its own rules.
    let invoice = match mode {
        WriteMode::Tables => invoices::lock(&mut tx, new.invoice_id).await?,
        _ => invoices::read(&mut tx, new.invoice_id).await?,
    };
    check_against(&invoice, new)?;
    let (invoice, payment) = match mode {
        WriteMode::Procedures => by_procedure(&mut tx, invoice.id, new).await?,
        _ => into_tables(&mut tx, invoice, new).await?,
    };
    super::changes::forget(&mut tx, invoice.id).await;
    tx.commit().await?;
    Ok((invoice, payment))
}

fn check_against(invoice: &Invoice, new: &NewPayment) -> Result<(), AppError> {
    if new.date < invoice.issue_date {
        return Err(AppError::bad_input(
            "date",
            format!(
                "the payment date cannot be before the invoice's issue date ({})",
                invoice.issue_date
            ),
        ));
    }
    if new.amount > invoice.balance() {
        return Err(AppError::bad_input(
            "amount",
            format!(
                "the amount exceeds the invoice's balance ({})",
                invoice.balance()
            ),
        ));
    }
    Ok(())
}

/// `tenantql_record_payment(invoice_id, amount_cents, payment_date, method)`
/// returns the payment's id; the invoice and payment are then read back
/// through the contract, in the same transaction.
async fn by_procedure(
    tx: &mut Transaction<'_>,
    invoice_id: i64,
    new: &NewPayment,
) -> Result<(Invoice, Payment), AppError> {
    let mut call = tx.sql();
    call.call_function(
        "tenantql_record_payment",
        vec![
            Value::Int(invoice_id),
            Value::Int(new.amount.0),
            Value::from(new.date),
            Value::from(new.method.as_str()),
        ],
    );
    let payment_id = tx.call_returning_id(&call).await?;
    let invoice = invoices::read(tx, invoice_id).await?;
    let mut sql = tx.sql();
    sql.push("SELECT id, invoice_id, payment_date, amount_cents, method FROM ")
        .rel("payments")
        .push(" WHERE id = ")
        .bind(payment_id);
    let row = tx.query(&sql).await?.pop().ok_or_else(|| {
        AppError::internal(anyhow::anyhow!(
            "tenantql_record_payment returned {payment_id}, which the payments relation does not hold"
        ))
    })?;
    Ok((invoice, from_row(&row).map_err(mapping)?))
}

/// The payment row, the invoice's paid amount and the movement on the
/// company's bank account (money in for a sale, out for a purchase).
async fn into_tables(
    tx: &mut Transaction<'_>,
    mut invoice: Invoice,
    new: &NewPayment,
) -> Result<(Invoice, Payment), AppError> {
    let payment = Payment {
        id: super::next_id(tx, "payments").await?,
        invoice_id: invoice.id,
        date: new.date,
        amount: new.amount,
        method: new.method.clone(),
    };
    tx.execute(&tx.sql().inserting(
        "payments",
        COLUMNS,
        &[vec![
            Value::Int(payment.id),
            Value::Int(payment.invoice_id),
            Value::from(payment.date),
            Value::Int(payment.amount.0),
            Value::from(payment.method.as_str()),
        ]],
    ))
    .await?;
    let mut paid = tx.sql();
    paid.push("UPDATE ")
        .rel("invoices")
        .push(" SET paid_cents = paid_cents + ")
        .bind(payment.amount.0)
        .push(" WHERE id = ")
        .bind(invoice.id);
    tx.execute(&paid).await?;
    invoice.paid = invoice.paid + payment.amount;

    let mut account = tx.sql();
    account
        .push("SELECT id FROM ")
        .rel("treasury_accounts")
        .push(" WHERE company_id = ")
        .bind(invoice.company_id)
        .push(" AND kind = 'bank' ORDER BY id")
        .limit(1);
    if let Some(account) = tx.query(&account).await?.first() {
        let account_id = account.int(0).map_err(mapping)?;
        let signed = match invoice.kind {
            InvoiceKind::Sale => payment.amount.0,
            InvoiceKind::Purchase => -payment.amount.0,
        };
        let id = super::next_id(tx, "treasury_transactions").await?;
        tx.execute(&tx.sql().inserting(
            "treasury_transactions",
            TRANSACTION_COLUMNS,
            &[vec![
                Value::Int(id),
                Value::Int(account_id),
                Value::from(payment.date),
                Value::Int(signed),
                Value::from(format!("Payment {}", invoice.number)),
                Value::Int(payment.id),
            ]],
        ))
        .await?;
    }
    Ok((invoice, payment))
}
