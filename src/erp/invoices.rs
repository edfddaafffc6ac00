//! Invoices: sales and purchases, with what has been paid and what is still due.
use chrono::NaiveDate;

use super::{keyset, Cents};
use crate::{
    error::AppError,
    store::{Row, Sql, StoreError},
    tenancy::TenantDb,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceKind {
    Sale,
    Purchase,
}

impl InvoiceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceKind::Sale => "sale",
            InvoiceKind::Purchase => "purchase",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "sale" => Ok(InvoiceKind::Sale),
            "purchase" => Ok(InvoiceKind::Purchase),
            other => Err(StoreError::Mapping(format!(
                "unknown invoice kind {other:?}"
            ))),
        }
    }
}

/// Paid when nothing is due; overdue when something is due after the due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceStatus {
    Open,
    Paid,
    Overdue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: i64,
    pub company_id: i64,
    pub partner_id: i64,
    pub number: String,
    pub kind: InvoiceKind,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    pub net: Cents,
    pub vat: Cents,
    pub total: Cents,
    pub paid: Cents,
}

impl Invoice {
    pub fn balance(&self) -> Cents {
        self.total - self.paid
    }

    pub fn status(&self, today: NaiveDate) -> InvoiceStatus {
        if self.paid >= self.total {
            InvoiceStatus::Paid
        } else if self.due_date < today {
            InvoiceStatus::Overdue
        } else {
            InvoiceStatus::Open
        }
    }

    pub fn cursor(&self) -> String {
        keyset::encode(&[&self.issue_date.to_string(), &self.id.to_string()])
    }
}

/// Every filter is optional; all given ones must hold.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub status: Option<InvoiceStatus>,
    pub kind: Option<InvoiceKind>,
    pub partner_id: Option<i64>,
    pub issued_from: Option<NaiveDate>,
    pub issued_to: Option<NaiveDate>,
    pub min_total: Option<Cents>,
    pub max_total: Option<Cents>,
}

const COLUMNS: &str =
    "id, company_id, partner_id, doc_number, kind, issue_date, due_date, net_cents, vat_cents, total_cents, paid_cents";

fn from_row(row: &Row) -> Result<Invoice, StoreError> {
    Ok(Invoice {
        id: row.int(0)?,
        company_id: row.int(1)?,
        partner_id: row.int(2)?,
        number: row.text(3)?,
        kind: InvoiceKind::parse(&row.text(4)?)?,
        issue_date: row.date(5)?,
        due_date: row.date(6)?,
        net: Cents(row.int(7)?),
        vat: Cents(row.int(8)?),
        total: Cents(row.int(9)?),
        paid: Cents(row.int(10)?),
    })
}

fn push_filter(sql: &mut Sql, filter: &InvoiceFilter, today: NaiveDate) {
    if let Some(kind) = filter.kind {
        sql.push(" AND kind = ").bind(kind.as_str());
    }
    if let Some(partner) = filter.partner_id {
        sql.push(" AND partner_id = ").bind(partner);
    }
    if let Some(from) = filter.issued_from {
        sql.push(" AND issue_date >= ").bind(from);
    }
    if let Some(to) = filter.issued_to {
        sql.push(" AND issue_date <= ").bind(to);
    }
    if let Some(min) = filter.min_total {
        sql.push(" AND total_cents >= ").bind(min.0);
    }
    if let Some(max) = filter.max_total {
        sql.push(" AND total_cents <= ").bind(max.0);
    }
    match filter.status {
        None => {}
        Some(InvoiceStatus::Paid) => {
            sql.push(" AND paid_cents >= total_cents");
        }
        Some(InvoiceStatus::Overdue) => {
            sql.push(" AND paid_cents < total_cents AND due_date < ")
                .bind(today);
        }
        Some(InvoiceStatus::Open) => {
            sql.push(" AND paid_cents < total_cents AND due_date >= ")
                .bind(today);
        }
    }
}

/// One page of a company's invoices, newest first, continuing after `after`.
pub async fn page(
    db: &TenantDb,
    company_id: i64,
    filter: &InvoiceFilter,
    today: NaiveDate,
    after: Option<&str>,
    first: usize,
) -> Result<(Vec<Invoice>, bool), AppError> {
    let mut sql = Sql::new(db.dialect());
    sql.push("SELECT ")
        .push(COLUMNS)
        .push(" FROM invoices WHERE company_id = ")
        .bind(company_id);
    push_filter(&mut sql, filter, today);
    if let Some(cursor) = after {
        keyset::push_after_date_id(&mut sql, "issue_date", cursor)?;
    }
    sql.push(" ORDER BY issue_date DESC, id DESC")
        .limit(first + 1);
    let rows = super::fetch(db, &sql, from_row).await?;
    Ok(keyset::split_page(rows, first))
}

pub async fn by_id(db: &TenantDb, id: i64) -> Result<Option<Invoice>, AppError> {
    let mut sql = Sql::new(db.dialect());
    sql.push("SELECT ")
        .push(COLUMNS)
        .push(" FROM invoices WHERE id = ")
        .bind(id);
    Ok(super::fetch(db, &sql, from_row).await?.pop())
}
