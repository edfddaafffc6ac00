//! An invoice page with the relations its selection reads, in one round-trip
//! stage on at most two sessions, however far away the tenant's database is.
//!
//! Two statements, sent side by side: the page joined to its partners (with its
//! company as one more row), and the payments of the same page, which embeds the page's own
//! statement instead of waiting for its ids. Two sessions see two snapshots: an
//! invoice the first statement returned but the second did not (written in
//! between) has its payments read after, by id — one more round trip only then.
use std::collections::{HashMap, HashSet};

use super::{
    companies::{self, Company},
    invoices::{self, Invoice, PageQuery},
    keyset, mapping, partners,
    partners::Partner,
    payments::{self, Payment},
    qualified,
};
use crate::{error::AppError, store::Sql, tenancy::TenantDb};

/// What a page's selection reads besides the invoices themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relations {
    pub partner: bool,
    pub company: bool,
    pub payments: bool,
}

/// A page of invoices and the selected relations of its rows.
#[derive(Debug, Default)]
pub struct Page {
    pub invoices: Vec<Invoice>,
    pub has_next: bool,
    /// The page's partners, when selected.
    pub partners: HashMap<i64, Partner>,
    /// The page's company, when selected.
    pub companies: HashMap<i64, Company>,
    /// Every invoice of the page, with or without payments, when selected.
    pub payments: HashMap<i64, Vec<Payment>>,
}

/// `count` NULL columns, each after a comma.
fn push_nulls(sql: &mut Sql, count: usize) {
    for _ in 0..count {
        sql.push(", NULL");
    }
}

/// The page joined to the partners it selects (`pg.*`, then the partner's
/// columns, NULL where a row has none). The company, the same for every row
/// (the page is one company's), is one more row instead of columns on each:
/// `UNION ALL` a row whose invoice columns are NULL and whose last columns are
/// the company's.
pub(crate) fn page_statement(
    sql: &mut Sql,
    page: &PageQuery<'_>,
    wanted: Relations,
) -> Result<(), AppError> {
    if !(wanted.partner || wanted.company) {
        return invoices::push_page(sql, invoices::COLUMNS, page, page.first + 1);
    }
    let partner_columns = if wanted.partner {
        partners::COLUMN_COUNT
    } else {
        0
    };
    sql.push("SELECT pg.*");
    if wanted.partner {
        sql.push(", ")
            .push(&qualified("pa", partners::COLUMNS.split(", ")));
    }
    if wanted.company {
        push_nulls(sql, companies::COLUMN_COUNT);
    }
    sql.push(" FROM (");
    invoices::push_page(sql, invoices::COLUMNS, page, page.first + 1)?;
    sql.push(") pg");
    if wanted.partner {
        sql.push(" LEFT JOIN ")
            .rel("partners")
            .push(" pa ON pa.id = pg.partner_id");
    }
    if wanted.company {
        sql.push(" UNION ALL SELECT NULL");
        push_nulls(sql, invoices::COLUMN_COUNT - 1 + partner_columns);
        sql.push(", ")
            .push(&qualified("co", companies::COLUMNS.split(", ")))
            .push(" FROM ")
            .rel("companies")
            .push(" co WHERE co.id = ")
            .bind(page.company_id);
    }
    // No ORDER BY outside: the rows are put back in the page's order in `load`
    // (sorting them here would cost the database a sort of every joined row).
    Ok(())
}

/// The payments of the page's rows: each row's id, then its payments' columns
/// (NULL for a row without payments), in no order (`load` orders them).
pub(crate) fn payments_statement(sql: &mut Sql, page: &PageQuery<'_>) -> Result<(), AppError> {
    sql.push("SELECT pg.id, ")
        .push(&qualified("py", payments::COLUMNS.iter().copied()))
        .push(" FROM (");
    invoices::push_page(sql, "id", page, page.first)?;
    sql.push(") pg LEFT JOIN ")
        .rel("payments")
        .push(" py ON py.invoice_id = pg.id");
    Ok(())
}

/// Loads the page and what `wanted` selects of it.
pub async fn load(
    db: &TenantDb,
    page: &PageQuery<'_>,
    wanted: Relations,
) -> Result<Page, AppError> {
    let mut rows_sql = db.sql();
    page_statement(&mut rows_sql, page, wanted)?;
    let payments_sql = if wanted.payments {
        let mut sql = db.sql();
        payments_statement(&mut sql, page)?;
        Some(sql)
    } else {
        None
    };
    let (rows, payment_rows) = tokio::try_join!(
        db.query(&rows_sql),
        super::query_some(db, payments_sql.as_ref())
    )?;

    let mut loaded = Page::default();
    let partner_at = invoices::COLUMN_COUNT;
    let company_at = partner_at
        + if wanted.partner {
            partners::COLUMN_COUNT
        } else {
            0
        };
    let mut invoices = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.is_null(0).map_err(mapping)? {
            // The company's own row.
            let company = companies::from_row_at(row, company_at).map_err(mapping)?;
            loaded.companies.insert(company.id, company);
            continue;
        }
        let invoice = invoices::from_row(row).map_err(mapping)?;
        // A partner met before is not read again.
        if wanted.partner
            && !row.is_null(partner_at).map_err(mapping)?
            && !loaded.partners.contains_key(&invoice.partner_id)
        {
            let partner = partners::from_row_at(row, partner_at).map_err(mapping)?;
            loaded.partners.insert(partner.id, partner);
        }
        invoices.push(invoice);
    }
    if wanted.partner || wanted.company {
        // The page's order: newest first by (issue date, id), as its statement limits.
        invoices.sort_unstable_by_key(|i| std::cmp::Reverse((i.issue_date, i.id)));
    }
    (loaded.invoices, loaded.has_next) = keyset::split_page(invoices, page.first);

    if let Some(rows) = payment_rows {
        for row in &rows {
            let invoice = row.int(0).map_err(mapping)?;
            let list = loaded.payments.entry(invoice).or_default();
            if !row.is_null(1).map_err(mapping)? {
                list.push(payments::from_row_at(row, 1).map_err(mapping)?);
            }
        }
        for list in loaded.payments.values_mut() {
            list.sort_unstable_by_key(|p| (p.date, p.id));
        }
        let covered: HashSet<i64> = loaded.payments.keys().copied().collect();
        let missed: Vec<i64> = loaded
            .invoices
            .iter()
            .map(|i| i.id)
            .filter(|id| !covered.contains(id))
            .collect();
        if !missed.is_empty() {
            loaded
                .payments
                .extend(payments::by_invoice_ids(db, &missed).await?);
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{erp::invoices::InvoiceFilter, store::Dialect};

    fn query<'a>(filter: &'a InvoiceFilter, after: Option<&'a str>) -> PageQuery<'a> {
        PageQuery {
            company_id: 3,
            filter,
            today: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            after,
            first: 100,
        }
    }

    #[test]
    fn column_counts_match_the_column_lists() {
        assert_eq!(
            invoices::COLUMNS.split(", ").count(),
            invoices::COLUMN_COUNT
        );
        assert_eq!(
            partners::COLUMNS.split(", ").count(),
            partners::COLUMN_COUNT
        );
        assert_eq!(
            companies::COLUMNS.split(", ").count(),
            companies::COLUMN_COUNT
        );
    }

    #[test]
    fn oracle_joins_the_page_it_limits_first() {
        let filter = InvoiceFilter::default();
        let cursor = keyset::encode(&["2026-03-01", "42"]);
        let mut sql = Sql::in_schema(Dialect::Oracle, Some("ERP".into()));
        let all = Relations {
            partner: true,
            company: true,
            payments: true,
        };
        page_statement(&mut sql, &query(&filter, Some(&cursor)), all).unwrap();
        assert_eq!(
            sql.text(),
            "SELECT pg.*, pa.id, pa.name, pa.tax_id, pa.kind, pa.city, NULL, NULL, NULL, NULL \
             FROM (SELECT id, company_id, partner_id, doc_number, kind, issue_date, due_date, net_cents, vat_cents, total_cents, paid_cents \
             FROM ERP.invoices WHERE company_id = :1 AND (issue_date < :2 OR (issue_date = :3 AND id < :4)) \
             ORDER BY issue_date DESC, id DESC FETCH FIRST 101 ROWS ONLY) pg \
             LEFT JOIN ERP.partners pa ON pa.id = pg.partner_id \
             UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
             co.id, co.name, co.tax_id, co.currency FROM ERP.companies co WHERE co.id = :5"
        );
        assert_eq!(sql.params().len(), 5);
        assert_eq!(sql.params()[4], crate::store::Value::Int(3));
    }

    #[test]
    fn payments_embed_the_same_page_without_its_probe_row() {
        let filter = InvoiceFilter {
            kind: Some(invoices::InvoiceKind::Sale),
            ..Default::default()
        };
        let mut oracle = Sql::new(Dialect::Oracle);
        payments_statement(&mut oracle, &query(&filter, None)).unwrap();
        assert_eq!(
            oracle.text(),
            "SELECT pg.id, py.id, py.invoice_id, py.payment_date, py.amount_cents, py.method \
             FROM (SELECT id FROM invoices WHERE company_id = :1 AND kind = :2 \
             ORDER BY issue_date DESC, id DESC FETCH FIRST 100 ROWS ONLY) pg \
             LEFT JOIN payments py ON py.invoice_id = pg.id"
        );
        let mut postgres = Sql::new(Dialect::Postgres);
        payments_statement(&mut postgres, &query(&filter, None)).unwrap();
        assert!(postgres.text().contains(
            "WHERE company_id = $1 AND kind = $2 ORDER BY issue_date DESC, id DESC LIMIT 100) pg"
        ));
    }

    #[test]
    fn a_page_without_relations_is_the_page_alone() {
        let filter = InvoiceFilter::default();
        let mut sql = Sql::new(Dialect::Sqlite);
        page_statement(&mut sql, &query(&filter, None), Relations::default()).unwrap();
        assert!(sql.text().starts_with("SELECT id, company_id"));
        assert!(!sql.text().contains("JOIN"));
    }
}
