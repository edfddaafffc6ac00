//! Invoices: sales and purchases, with what has been paid and what is still due.
use chrono::NaiveDate;
use rand::Rng;

use super::{keyset, Cents};
use crate::{
    control::entities::tenant::WriteMode,
    error::AppError,
    store::{Row, Sql, StoreError, Value},
    tenancy::{TenantDb, Transaction},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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

    pub(crate) fn parse(text: &str) -> Result<Self, StoreError> {
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

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

pub(crate) const COLUMNS: &str =
    "id, company_id, partner_id, doc_number, kind, issue_date, due_date, net_cents, vat_cents, total_cents, paid_cents";

/// How many columns `COLUMNS` names: where a joined row's next relation starts.
pub(crate) const COLUMN_COUNT: usize = 11;

pub(crate) fn from_row(row: &Row) -> Result<Invoice, StoreError> {
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

/// Which page of a company's invoices: the list's arguments, decoded.
#[derive(Debug, Clone, Copy)]
pub struct PageQuery<'a> {
    pub company_id: i64,
    pub filter: &'a InvoiceFilter,
    pub today: NaiveDate,
    pub after: Option<&'a str>,
    pub first: usize,
}

/// Appends the page's own statement: `columns` of at most `limit` of its rows,
/// newest first. Statements that read a page's relations embed it whole, so
/// they select the same rows the page does.
pub(crate) fn push_page(
    sql: &mut Sql,
    columns: &str,
    page: &PageQuery<'_>,
    limit: usize,
) -> Result<(), AppError> {
    sql.push("SELECT ")
        .push(columns)
        .push(" FROM ")
        .rel("invoices")
        .push(" WHERE company_id = ")
        .bind(page.company_id);
    push_filter(sql, page.filter, page.today);
    if let Some(cursor) = page.after {
        keyset::push_after_date_id(sql, "issue_date", cursor)?;
    }
    sql.push(" ORDER BY issue_date DESC, id DESC").limit(limit);
    Ok(())
}

pub async fn by_id(db: &TenantDb, id: i64) -> Result<Option<Invoice>, AppError> {
    let mut sql = db.sql();
    sql.push("SELECT ")
        .push(COLUMNS)
        .push(" FROM ")
        .rel("invoices")
        .push(" WHERE id = ")
        .bind(id);
    Ok(super::fetch(db, &sql, from_row).await?.pop())
}

/// The invoices with these ids (those that exist), by id.
pub async fn by_ids(db: &TenantDb, ids: &[i64]) -> Result<Vec<Invoice>, AppError> {
    let mut sql = db.sql();
    sql.push("SELECT ")
        .push(COLUMNS)
        .push(" FROM ")
        .rel("invoices")
        .push(" WHERE ")
        .in_list("id", ids.iter().copied())
        .push(" ORDER BY id");
    super::fetch(db, &sql, from_row).await
}

/// An invoice to create; the number is assigned (`S1-2026-000042`: kind,
/// company, year, the next in that series).
#[derive(Debug, Clone)]
pub struct NewInvoice {
    pub company_id: i64,
    pub partner_id: i64,
    pub kind: InvoiceKind,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    pub net: Cents,
    pub vat: Cents,
}

impl NewInvoice {
    fn validate(&self) -> Result<(), AppError> {
        if self.net.0 <= 0 {
            return Err(AppError::bad_input(
                "net",
                "the net amount must be greater than 0",
            ));
        }
        if self.vat.0 < 0 {
            return Err(AppError::bad_input("vat", "VAT cannot be negative"));
        }
        if self.due_date < self.issue_date {
            return Err(AppError::bad_input(
                "dueDate",
                "the due date cannot be before the issue date",
            ));
        }
        self.net
            .0
            .checked_add(self.vat.0)
            .filter(|total| *total < 1_000_000_000_000_000)
            .ok_or_else(|| AppError::bad_input("net", "the total is too large"))?;
        Ok(())
    }

    fn series(&self) -> String {
        let letter = match self.kind {
            InvoiceKind::Sale => 'S',
            InvoiceKind::Purchase => 'P',
        };
        format!(
            "{letter}{}-{}-",
            self.company_id,
            chrono::Datelike::year(&self.issue_date)
        )
    }
}

/// Creates an invoice as the tenant's write mode says: into the contract's
/// tables (the number assigned here: `S1-2026-000042`), through the client's
/// `tenantql_create_invoice` procedure (the ERP numbers it), or not at all.
/// The company and partner must exist in this tenant (NOT_FOUND otherwise, as
/// for any id it does not hold).
pub async fn create(db: &TenantDb, new: &NewInvoice) -> Result<Invoice, AppError> {
    new.validate()?;
    let mode = super::writable(db)?;
    // A number taken by a concurrent writer between our read and our insert
    // is refused by the unique key on it: start again, a few times at most.
    for attempt in 0..NUMBERING_ATTEMPTS {
        if attempt > 0 {
            // Writers that lost the same number do not all come back at once.
            let jitter = rand::thread_rng().gen_range(1..=5 * attempt as u64);
            tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
        }
        let mut tx = db.begin().await?;
        parties_exist(&mut tx, new).await?;
        let invoice = match mode {
            WriteMode::Procedures => Some(by_procedure(&mut tx, new).await?),
            _ => into_tables(&mut tx, new).await?,
        };
        if let Some(invoice) = invoice {
            super::changes::forget(&mut tx, invoice.id).await;
            tx.commit().await?;
            return Ok(invoice);
        }
    }
    Err(AppError::Conflict(
        "invoices in this series are being created too quickly to number; try again".into(),
    ))
}

/// Tries to number an invoice before giving up with CONFLICT. Where the
/// backend has no series lock, each round lets at least one of the writers that
/// read the same last number through (the others wait on the unique key until
/// it commits): enough for a tenant's operations under way at once, by default.
const NUMBERING_ATTEMPTS: usize = 12;

async fn parties_exist(tx: &mut Transaction<'_>, new: &NewInvoice) -> Result<(), AppError> {
    for (relation, id, noun) in [
        ("companies", new.company_id, "company"),
        ("partners", new.partner_id, "partner"),
    ] {
        let mut exists = tx.sql();
        exists
            .push("SELECT id FROM ")
            .rel(relation)
            .push(" WHERE id = ")
            .bind(id);
        if tx.query(&exists).await?.is_empty() {
            return Err(AppError::NotFound(noun));
        }
    }
    Ok(())
}

/// `tenantql_create_invoice(company_id, partner_id, kind, issue_date,
/// due_date, net_cents, vat_cents)` returns the invoice's id; the invoice is
/// read back through the contract in the same transaction.
async fn by_procedure(tx: &mut Transaction<'_>, new: &NewInvoice) -> Result<Invoice, AppError> {
    let mut call = tx.sql();
    call.call_function(
        "tenantql_create_invoice",
        vec![
            Value::Int(new.company_id),
            Value::Int(new.partner_id),
            Value::from(new.kind.as_str()),
            Value::from(new.issue_date),
            Value::from(new.due_date),
            Value::Int(new.net.0),
            Value::Int(new.vat.0),
        ],
    );
    let id = tx.call_returning_id(&call).await?;
    read(tx, id).await
}

/// The next number of the series and the row; `None` when a concurrent writer
/// took that number first.
async fn into_tables(
    tx: &mut Transaction<'_>,
    new: &NewInvoice,
) -> Result<Option<Invoice>, AppError> {
    let id = super::next_id(tx, "invoices").await?;
    let series = new.series();
    // Writers of this series through tenantql take turns where the backend
    // can: the number read below is then taken only by a writer outside tenantql.
    let mut relation = tx.sql();
    relation.rel("invoices");
    let key = format!("{}:{series}", relation.text());
    if let Some(lock) = tx.dialect().series_lock(&key) {
        tx.query(&lock).await?;
    }
    let mut last = tx.sql();
    last.push("SELECT MAX(doc_number) FROM ")
        .rel("invoices")
        .push(" WHERE doc_number LIKE ")
        .bind(format!("{series}%"));
    let last_number = tx.query(&last).await?;
    let sequence = last_number
        .first()
        .and_then(|row| row.text(0).ok())
        .and_then(|number| number.strip_prefix(&series)?.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    let invoice = Invoice {
        id,
        company_id: new.company_id,
        partner_id: new.partner_id,
        number: format!("{series}{sequence:06}"),
        kind: new.kind,
        issue_date: new.issue_date,
        due_date: new.due_date,
        net: new.net,
        vat: new.vat,
        total: new.net + new.vat,
        paid: Cents(0),
    };
    let columns: Vec<&str> = COLUMNS.split(", ").collect();
    let row = vec![
        Value::Int(invoice.id),
        Value::Int(invoice.company_id),
        Value::Int(invoice.partner_id),
        Value::from(invoice.number.as_str()),
        Value::from(invoice.kind.as_str()),
        Value::from(invoice.issue_date),
        Value::from(invoice.due_date),
        Value::Int(invoice.net.0),
        Value::Int(invoice.vat.0),
        Value::Int(invoice.total.0),
        Value::Int(0),
    ];
    let insert = tx.sql().inserting("invoices", &columns, &[row]);
    Ok(tx.execute_unique(&insert).await?.then_some(invoice))
}

/// Reads an invoice inside a write transaction, locking its row.
pub(crate) async fn lock(tx: &mut Transaction<'_>, id: i64) -> Result<Invoice, AppError> {
    let for_update = tx.dialect().for_update();
    in_transaction(tx, id, for_update).await
}

/// Reads an invoice inside a write transaction without locking it (a
/// contract view may not be lockable by tenantql's read-only account).
pub(crate) async fn read(tx: &mut Transaction<'_>, id: i64) -> Result<Invoice, AppError> {
    in_transaction(tx, id, "").await
}

async fn in_transaction(
    tx: &mut Transaction<'_>,
    id: i64,
    suffix: &str,
) -> Result<Invoice, AppError> {
    let mut sql = tx.sql();
    sql.push("SELECT ")
        .push(COLUMNS)
        .push(" FROM ")
        .rel("invoices")
        .push(" WHERE id = ")
        .bind(id)
        .push(suffix);
    let row = tx
        .query(&sql)
        .await?
        .pop()
        .ok_or(AppError::NotFound("invoice"))?;
    from_row(&row).map_err(super::mapping)
}
