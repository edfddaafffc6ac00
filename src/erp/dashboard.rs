//! The dashboard of one company for one calendar year.
use chrono::NaiveDate;

use super::{mapping, Cents};
use crate::{
    error::AppError,
    store::{Row, Sql, StoreError},
    tenancy::TenantDb,
};

/// The year's sales and purchases as of `today`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Net sales invoiced in the year.
    pub revenue: Cents,
    /// Net purchases invoiced in the year.
    pub expenses: Cents,
    /// Still owed by customers on the year's sales invoices.
    pub receivables: Cents,
    /// Still owed to suppliers on the year's purchase invoices.
    pub payables: Cents,
    /// The part of receivables past its due date.
    pub overdue: Cents,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthTotals {
    pub month: u32,
    pub revenue: Cents,
    pub expenses: Cents,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerTotal {
    pub partner_id: i64,
    pub total: Cents,
}

/// First and last day of a year we report on.
pub fn year_bounds(year: i32) -> Result<(NaiveDate, NaiveDate), AppError> {
    let bad = || AppError::bad_input("year", "year must be between 1900 and 2200");
    if !(1900..=2200).contains(&year) {
        return Err(bad());
    }
    Ok((
        NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(bad)?,
        NaiveDate::from_ymd_opt(year, 12, 31).ok_or_else(bad)?,
    ))
}

fn in_year(sql: &mut Sql, company_id: i64, year: i32) -> Result<(), AppError> {
    let (from, to) = year_bounds(year)?;
    sql.push(" FROM ")
        .rel("invoices")
        .push(" WHERE company_id = ")
        .bind(company_id)
        .push(" AND issue_date >= ")
        .bind(from)
        .push(" AND issue_date <= ")
        .bind(to);
    Ok(())
}

pub async fn totals(
    db: &TenantDb,
    company_id: i64,
    year: i32,
    today: NaiveDate,
) -> Result<Totals, AppError> {
    let mut sql = db.sql();
    sql.push(
        "SELECT SUM(CASE WHEN kind = 'sale' THEN net_cents ELSE 0 END), \
         SUM(CASE WHEN kind = 'purchase' THEN net_cents ELSE 0 END), \
         SUM(CASE WHEN kind = 'sale' THEN total_cents - paid_cents ELSE 0 END), \
         SUM(CASE WHEN kind = 'purchase' THEN total_cents - paid_cents ELSE 0 END), \
         SUM(CASE WHEN kind = 'sale' AND due_date < ",
    )
    .bind(today)
    .push(" THEN total_cents - paid_cents ELSE 0 END)");
    in_year(&mut sql, company_id, year)?;
    let rows = db.query(&sql).await?;
    let Some(row) = rows.first() else {
        return Ok(Totals::default());
    };
    let read = |row: &Row| -> Result<Totals, StoreError> {
        Ok(Totals {
            revenue: Cents(row.int_or_zero(0)?),
            expenses: Cents(row.int_or_zero(1)?),
            receivables: Cents(row.int_or_zero(2)?),
            payables: Cents(row.int_or_zero(3)?),
            overdue: Cents(row.int_or_zero(4)?),
        })
    };
    read(row).map_err(mapping)
}

/// Twelve months, January first; months without invoices are zero.
pub async fn monthly(
    db: &TenantDb,
    company_id: i64,
    year: i32,
) -> Result<Vec<MonthTotals>, AppError> {
    let month = db.dialect().month_of("issue_date");
    let mut sql = db.sql();
    sql.push("SELECT ").push(&month).push(
        ", SUM(CASE WHEN kind = 'sale' THEN net_cents ELSE 0 END), \
             SUM(CASE WHEN kind = 'purchase' THEN net_cents ELSE 0 END)",
    );
    in_year(&mut sql, company_id, year)?;
    sql.push(" GROUP BY ").push(&month);
    let mut months: Vec<MonthTotals> = (1..=12)
        .map(|m| MonthTotals {
            month: m,
            ..Default::default()
        })
        .collect();
    for row in db.query(&sql).await? {
        let key = row.text(0).map_err(mapping)?;
        let m: usize = key
            .get(5..7)
            .and_then(|m| m.parse().ok())
            .filter(|m| (1..=12).contains(m))
            .ok_or_else(|| mapping(StoreError::Mapping(format!("bad month key {key:?}"))))?;
        months[m - 1].revenue = Cents(row.int_or_zero(1).map_err(mapping)?);
        months[m - 1].expenses = Cents(row.int_or_zero(2).map_err(mapping)?);
    }
    Ok(months)
}

/// The customers with the highest invoiced totals in the year.
pub async fn top_customers(
    db: &TenantDb,
    company_id: i64,
    year: i32,
    limit: usize,
) -> Result<Vec<CustomerTotal>, AppError> {
    let mut sql = db.sql();
    sql.push("SELECT partner_id, SUM(total_cents)");
    in_year(&mut sql, company_id, year)?;
    sql.push(" AND kind = 'sale' GROUP BY partner_id ORDER BY SUM(total_cents) DESC, partner_id")
        .limit(limit);
    db.query(&sql)
        .await?
        .iter()
        .map(|r| {
            Ok(CustomerTotal {
                partner_id: r.int(0)?,
                total: Cents(r.int_or_zero(1)?),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()
        .map_err(mapping)
}

/// Cash and bank balances of the company at the end of `as_of`.
pub async fn cash(db: &TenantDb, company_id: i64, as_of: NaiveDate) -> Result<Cents, AppError> {
    let mut sql = db.sql();
    sql.push("SELECT SUM(a.opening_balance_cents + COALESCE((SELECT SUM(t.amount_cents) FROM ")
        .rel("treasury_transactions")
        .push(" t WHERE t.account_id = a.id AND t.tx_date <= ")
        .bind(as_of)
        .push("), 0)) FROM ")
        .rel("treasury_accounts")
        .push(" a WHERE a.company_id = ")
        .bind(company_id);
    let rows = db.query(&sql).await?;
    rows.first()
        .map(|r| r.int_or_zero(0).map(Cents).map_err(mapping))
        .unwrap_or(Ok(Cents(0)))
}

/// Most customers a snapshot keeps: the most `topCustomers(limit)` may ask for.
pub const SNAPSHOT_TOP_CUSTOMERS: usize = 100;

/// The whole dashboard of one company and year at one moment: what a live feed
/// computes once and hands to all its subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub totals: Totals,
    pub cash: Cents,
    pub monthly: Vec<MonthTotals>,
    pub top_customers: Vec<CustomerTotal>,
}

/// Computes every part of the dashboard (four statements, run side by side).
pub async fn snapshot(
    db: &TenantDb,
    company_id: i64,
    year: i32,
    today: NaiveDate,
) -> Result<Snapshot, AppError> {
    let (_, year_end) = year_bounds(year)?;
    let (totals, cash, monthly, top_customers) = tokio::try_join!(
        totals(db, company_id, year, today),
        cash(db, company_id, year_end.min(today)),
        monthly(db, company_id, year),
        top_customers(db, company_id, year, SNAPSHOT_TOP_CUSTOMERS),
    )?;
    Ok(Snapshot {
        totals,
        cash,
        monthly,
        top_customers,
    })
}
