//! Payments against invoices.
use std::collections::HashMap;

use chrono::NaiveDate;

use super::{mapping, Cents};
use crate::{
    error::AppError,
    store::{Row, Sql, StoreError},
    tenancy::TenantDb,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: i64,
    pub invoice_id: i64,
    pub date: NaiveDate,
    pub amount: Cents,
    pub method: String,
}

fn from_row(row: &Row) -> Result<Payment, StoreError> {
    Ok(Payment {
        id: row.int(0)?,
        invoice_id: row.int(1)?,
        date: row.date(2)?,
        amount: Cents(row.int(3)?),
        method: row.text(4)?,
    })
}

/// The payments of each invoice, oldest first; invoices without payments map to an empty list.
pub async fn by_invoice_ids(
    db: &TenantDb,
    invoice_ids: &[i64],
) -> Result<HashMap<i64, Vec<Payment>>, AppError> {
    let mut sql = Sql::new(db.dialect());
    sql.push("SELECT id, invoice_id, payment_date, amount_cents, method FROM payments WHERE ")
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
