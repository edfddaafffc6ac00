//! The dashboard of one company for one calendar year.
use chrono::NaiveDate;

use super::{mapping, partners, partners::Partner, qualified, Cents};
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

/// Which parts of a dashboard an operation reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Parts {
    /// Any of revenue, expenses, receivables, payables, overdue.
    pub totals: bool,
    pub monthly: bool,
    pub cash: bool,
    pub top_customers: Option<TopCustomers>,
}

/// The top customers an operation reads: as many as its largest `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopCustomers {
    pub limit: usize,
    /// Whether their partners are read too (joined to the same statement).
    pub partners: bool,
}

impl Parts {
    /// Every part, as a live feed computes it once for all its subscribers.
    pub fn all() -> Self {
        Parts {
            totals: true,
            monthly: true,
            cash: true,
            top_customers: Some(TopCustomers {
                limit: SNAPSHOT_TOP_CUSTOMERS,
                partners: false,
            }),
        }
    }
}

/// The top customers loaded, best first; their partners when asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopList {
    pub limit: usize,
    pub customers: Vec<CustomerTotal>,
    pub partners: Option<Vec<Partner>>,
}

/// What a dashboard has loaded at one moment: the parts asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub totals: Option<Totals>,
    pub cash: Option<Cents>,
    pub monthly: Option<Vec<MonthTotals>>,
    pub top_customers: Option<TopList>,
}

/// Most customers a snapshot keeps: the most `topCustomers(limit)` may ask for.
pub const SNAPSHOT_TOP_CUSTOMERS: usize = 100;

/// The year's invoices summed per month, with every sum the totals need
/// (the totals are the months' sums added up: integers, so exactly).
fn push_months(
    sql: &mut Sql,
    company_id: i64,
    year: i32,
    today: NaiveDate,
) -> Result<(), AppError> {
    let month = sql.dialect().month_of("issue_date");
    sql.push("SELECT ")
        .push(&month)
        .push(
            " AS month_key, SUM(CASE WHEN kind = 'sale' THEN net_cents ELSE 0 END) AS revenue, \
         SUM(CASE WHEN kind = 'purchase' THEN net_cents ELSE 0 END) AS expenses, \
         SUM(CASE WHEN kind = 'sale' THEN total_cents - paid_cents ELSE 0 END) AS receivables, \
         SUM(CASE WHEN kind = 'purchase' THEN total_cents - paid_cents ELSE 0 END) AS payables, \
         SUM(CASE WHEN kind = 'sale' AND due_date < ",
        )
        .bind(today)
        .push(" THEN total_cents - paid_cents ELSE 0 END) AS overdue");
    in_year(sql, company_id, year)?;
    sql.push(" GROUP BY ").push(&month);
    Ok(())
}

/// Cash and bank balances of the company at the end of `as_of`: one row.
fn push_cash(sql: &mut Sql, company_id: i64, as_of: NaiveDate) {
    sql.push("SELECT SUM(a.opening_balance_cents + COALESCE((SELECT SUM(t.amount_cents) FROM ")
        .rel("treasury_transactions")
        .push(" t WHERE t.account_id = a.id AND t.tx_date <= ")
        .bind(as_of)
        .push("), 0)) AS cash_cents FROM ")
        .rel("treasury_accounts")
        .push(" a WHERE a.company_id = ")
        .bind(company_id);
}

/// The first statement of a dashboard: its cash and its months, whichever are
/// read. Both: the one-row cash outer-joined to the months, so a year without
/// invoices still has its cash. Column 0 is the cash, when read; the months
/// follow (NULL when the year has none).
fn cash_and_months(
    sql: &mut Sql,
    company_id: i64,
    year: i32,
    today: NaiveDate,
    parts: Parts,
) -> Result<(), AppError> {
    let (_, year_end) = year_bounds(year)?;
    let months = parts.totals || parts.monthly;
    match (parts.cash, months) {
        (true, true) => {
            sql.push("SELECT ca.cash_cents, mo.* FROM (");
            push_cash(sql, company_id, year_end.min(today));
            sql.push(") ca LEFT JOIN (");
            push_months(sql, company_id, year, today)?;
            sql.push(") mo ON 1 = 1");
        }
        (true, false) => push_cash(sql, company_id, year_end.min(today)),
        (false, true) => push_months(sql, company_id, year, today)?,
        (false, false) => {}
    }
    Ok(())
}

/// The year's best customers by invoiced total, joined to their partners when
/// those are read.
fn top_customers(
    sql: &mut Sql,
    company_id: i64,
    year: i32,
    top: TopCustomers,
) -> Result<(), AppError> {
    let inner = |sql: &mut Sql| -> Result<(), AppError> {
        sql.push("SELECT partner_id, SUM(total_cents) AS sales_total");
        in_year(sql, company_id, year)?;
        sql.push(
            " AND kind = 'sale' GROUP BY partner_id ORDER BY SUM(total_cents) DESC, partner_id",
        )
        .limit(top.limit);
        Ok(())
    };
    if !top.partners {
        return inner(sql);
    }
    sql.push("SELECT tc.partner_id, tc.sales_total, ")
        .push(&qualified("pa", partners::COLUMNS.split(", ")))
        .push(" FROM (");
    inner(sql)?;
    sql.push(") tc LEFT JOIN ")
        .rel("partners")
        .push(" pa ON pa.id = tc.partner_id ORDER BY tc.sales_total DESC, tc.partner_id");
    Ok(())
}

/// Twelve months, January first, from the months statement's rows (columns
/// from `at`); months without invoices are zero. Also their totals.
fn read_months(rows: &[Row], at: usize) -> Result<(Vec<MonthTotals>, Totals), StoreError> {
    let mut months: Vec<MonthTotals> = (1..=12)
        .map(|m| MonthTotals {
            month: m,
            ..Default::default()
        })
        .collect();
    // Added up wide: a year's total that leaves i64 is a mapping error, as the
    // database's own SUM would have been, never an overflow.
    let mut sums = [0i128; 5];
    for row in rows {
        if row.is_null(at)? {
            continue;
        }
        let key = row.text(at)?;
        let m: usize = key
            .get(5..7)
            .and_then(|m| m.parse().ok())
            .filter(|m| (1..=12).contains(m))
            .ok_or_else(|| StoreError::Mapping(format!("bad month key {key:?}")))?;
        for (i, sum) in sums.iter_mut().enumerate() {
            *sum += i128::from(row.int_or_zero(at + 1 + i)?);
        }
        months[m - 1].revenue = Cents(row.int_or_zero(at + 1)?);
        months[m - 1].expenses = Cents(row.int_or_zero(at + 2)?);
    }
    let total = |i: usize| {
        i64::try_from(sums[i])
            .map(Cents)
            .map_err(|_| StoreError::Mapping("a dashboard total out of range".into()))
    };
    let totals = Totals {
        revenue: total(0)?,
        expenses: total(1)?,
        receivables: total(2)?,
        payables: total(3)?,
        overdue: total(4)?,
    };
    Ok((months, totals))
}

fn read_top(rows: &[Row], top: TopCustomers) -> Result<TopList, StoreError> {
    let mut customers = Vec::with_capacity(rows.len());
    let mut partners = top.partners.then(Vec::new);
    for row in rows {
        customers.push(CustomerTotal {
            partner_id: row.int(0)?,
            total: Cents(row.int_or_zero(1)?),
        });
        if let Some(partners) = &mut partners {
            if !row.is_null(2)? {
                partners.push(partners::from_row_at(row, 2)?);
            }
        }
    }
    Ok(TopList {
        limit: top.limit,
        customers,
        partners,
    })
}

/// Loads the parts of one company's dashboard for one year: at most two
/// statements, sent side by side (one round-trip stage, two sessions).
pub async fn load(
    db: &TenantDb,
    company_id: i64,
    year: i32,
    today: NaiveDate,
    parts: Parts,
) -> Result<Snapshot, AppError> {
    let months = parts.totals || parts.monthly;
    let first = if parts.cash || months {
        let mut sql = db.sql();
        cash_and_months(&mut sql, company_id, year, today, parts)?;
        Some(sql)
    } else {
        None
    };
    let second = match parts.top_customers {
        Some(top) => {
            let mut sql = db.sql();
            top_customers(&mut sql, company_id, year, top)?;
            Some(sql)
        }
        None => None,
    };
    let (first_rows, second_rows) = tokio::try_join!(
        super::query_some(db, first.as_ref()),
        super::query_some(db, second.as_ref())
    )?;
    let mut snapshot = Snapshot::default();
    if let Some(rows) = first_rows {
        if parts.cash {
            let cash = rows.first().map(|r| r.int_or_zero(0)).transpose();
            snapshot.cash = Some(Cents(cash.map_err(mapping)?.unwrap_or(0)));
        }
        if months {
            let at = usize::from(parts.cash);
            let (monthly, totals) = read_months(&rows, at).map_err(mapping)?;
            snapshot.totals = parts.totals.then_some(totals);
            snapshot.monthly = parts.monthly.then_some(monthly);
        }
    }
    if let (Some(rows), Some(top)) = (second_rows, parts.top_customers) {
        snapshot.top_customers = Some(read_top(&rows, top).map_err(mapping)?);
    }
    Ok(snapshot)
}

/// The whole dashboard of one company and year at one moment: what a live feed
/// computes once and hands to all its subscribers.
pub async fn snapshot(
    db: &TenantDb,
    company_id: i64,
    year: i32,
    today: NaiveDate,
) -> Result<Snapshot, AppError> {
    load(db, company_id, year, today, Parts::all()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Dialect, Value};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
    }

    #[test]
    fn oracle_keeps_the_cash_of_a_year_without_invoices() {
        let mut sql = Sql::in_schema(Dialect::Oracle, Some("ERP".into()));
        cash_and_months(&mut sql, 7, 2025, today(), Parts::all()).unwrap();
        assert_eq!(
            sql.text(),
            "SELECT ca.cash_cents, mo.* FROM (SELECT SUM(a.opening_balance_cents + COALESCE((SELECT SUM(t.amount_cents) \
             FROM ERP.treasury_transactions t WHERE t.account_id = a.id AND t.tx_date <= :1), 0)) AS cash_cents \
             FROM ERP.treasury_accounts a WHERE a.company_id = :2) ca LEFT JOIN (SELECT TO_CHAR(issue_date, 'YYYY-MM') AS month_key, \
             SUM(CASE WHEN kind = 'sale' THEN net_cents ELSE 0 END) AS revenue, \
             SUM(CASE WHEN kind = 'purchase' THEN net_cents ELSE 0 END) AS expenses, \
             SUM(CASE WHEN kind = 'sale' THEN total_cents - paid_cents ELSE 0 END) AS receivables, \
             SUM(CASE WHEN kind = 'purchase' THEN total_cents - paid_cents ELSE 0 END) AS payables, \
             SUM(CASE WHEN kind = 'sale' AND due_date < :3 THEN total_cents - paid_cents ELSE 0 END) AS overdue \
             FROM ERP.invoices WHERE company_id = :4 AND issue_date >= :5 AND issue_date <= :6 \
             GROUP BY TO_CHAR(issue_date, 'YYYY-MM')) mo ON 1 = 1"
        );
        // The cash of a past year is taken at its last day, binds in text order.
        let year_end = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
        assert_eq!(sql.params()[0], year_end.into());
        assert_eq!(sql.params()[1], 7.into());
        assert_eq!(sql.params()[2], today().into());
    }

    #[test]
    fn oracle_joins_the_top_customers_it_limits_first() {
        let mut sql = Sql::new(Dialect::Oracle);
        let top = TopCustomers {
            limit: 5,
            partners: true,
        };
        top_customers(&mut sql, 7, 2025, top).unwrap();
        assert_eq!(
            sql.text(),
            "SELECT tc.partner_id, tc.sales_total, pa.id, pa.name, pa.tax_id, pa.kind, pa.city \
             FROM (SELECT partner_id, SUM(total_cents) AS sales_total FROM invoices \
             WHERE company_id = :1 AND issue_date >= :2 AND issue_date <= :3 AND kind = 'sale' \
             GROUP BY partner_id ORDER BY SUM(total_cents) DESC, partner_id FETCH FIRST 5 ROWS ONLY) tc \
             LEFT JOIN partners pa ON pa.id = tc.partner_id ORDER BY tc.sales_total DESC, tc.partner_id"
        );
        let mut alone = Sql::new(Dialect::Postgres);
        let without = TopCustomers {
            partners: false,
            ..top
        };
        top_customers(&mut alone, 7, 2025, without).unwrap();
        assert!(alone
            .text()
            .starts_with("SELECT partner_id, SUM(total_cents) AS sales_total FROM invoices"));
        assert!(alone.text().ends_with("LIMIT 5"));
    }

    #[test]
    fn the_months_add_up_to_the_totals_and_a_null_month_is_no_month() {
        let row = |key: Value, sums: [i64; 5]| {
            let mut values = vec![Value::Int(1000), key];
            values.extend(sums.map(Value::Int));
            Row(values)
        };
        let rows = vec![
            row("2025-01".into(), [10, 1, 5, 0, 2]),
            row("2025-03".into(), [20, 2, 0, 1, 0]),
        ];
        let (months, totals) = read_months(&rows, 1).unwrap();
        assert_eq!(
            (months[0].revenue, months[2].expenses),
            (Cents(10), Cents(2))
        );
        assert_eq!(
            months[1],
            MonthTotals {
                month: 2,
                ..Default::default()
            }
        );
        assert_eq!(
            totals,
            Totals {
                revenue: Cents(30),
                expenses: Cents(3),
                receivables: Cents(5),
                payables: Cents(1),
                overdue: Cents(2),
            }
        );
        let empty = vec![Row(vec![
            Value::Int(1000),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ])];
        assert_eq!(read_months(&empty, 1).unwrap().1, Totals::default());
        let overflow = vec![
            row("2025-01".into(), [i64::MAX; 5]),
            row("2025-02".into(), [i64::MAX; 5]),
        ];
        assert!(read_months(&overflow, 1).is_err());
    }
}
