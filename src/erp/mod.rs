//! The ERP reporting domain of one tenant: companies, partners, invoices, payments,
//! treasury and the dashboard. Each module holds its records and the queries that
//! load them, written once over `Sql` and run on the request's `TenantDb`.
pub mod changes;
pub mod companies;
pub mod dashboard;
pub mod invoice_page;
pub mod invoices;
pub mod keyset;
pub mod money;
pub mod partners;
pub mod payments;
pub mod seed;
pub mod treasury;

pub use money::Cents;

use crate::{
    control::entities::tenant::WriteMode,
    error::AppError,
    store::{Row, Sql, StoreError},
    tenancy::{TenantDb, Transaction},
};

/// A row that does not map is a bug or a schema mismatch: internal, with detail in the log.
pub(crate) fn mapping(err: StoreError) -> AppError {
    AppError::internal(anyhow::anyhow!("mapping a tenant row: {err}"))
}

/// `columns` qualified by a table alias (`pa.id, pa.name`), for joined statements.
pub(crate) fn qualified<'a>(alias: &str, columns: impl IntoIterator<Item = &'a str>) -> String {
    let mut text = String::new();
    for column in columns {
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(alias);
        text.push('.');
        text.push_str(column);
    }
    text
}

/// Runs `sql` if there is one: a statement sent beside others only when the
/// selection needs it.
pub(crate) async fn query_some(
    db: &TenantDb,
    sql: Option<&Sql>,
) -> Result<Option<Vec<Row>>, AppError> {
    match sql {
        Some(sql) => db.query(sql).await.map(Some),
        None => Ok(None),
    }
}

/// Runs `sql` and maps every row with `from_row`.
pub(crate) async fn fetch<T>(
    db: &TenantDb,
    sql: &Sql,
    from_row: impl Fn(&Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, AppError> {
    db.query(sql)
        .await?
        .iter()
        .map(|row| from_row(row).map_err(mapping))
        .collect()
}

/// The next id of a contract table in `tables` write mode, inside the write's
/// transaction: from the table's sequence (never a lock on the table, which an
/// ERP sharing the database would wait on), or `MAX + 1` on SQLite, whose
/// transaction already holds the write lock.
pub(crate) async fn next_id(tx: &mut Transaction<'_>, table: &str) -> Result<i64, AppError> {
    let (mut qualified_table, mut qualified_sequence) = (tx.sql(), tx.sql());
    qualified_table.rel(table);
    qualified_sequence.rel(&crate::contract::sequence_of(table));
    let select = tx
        .dialect()
        .next_id(qualified_table.text(), qualified_sequence.text());
    let sql = Sql::raw(tx.dialect(), &select);
    let rows = tx.query(&sql).await?;
    rows.first()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("no id for {table}")))?
        .int(0)
        .map_err(mapping)
}

/// Refuses a write to a read-only tenant before anything reaches its database.
pub(crate) fn writable(db: &TenantDb) -> Result<WriteMode, AppError> {
    match db.tenant.write_mode {
        WriteMode::ReadOnly => Err(AppError::TenantReadOnly(db.tenant.slug.clone())),
        mode => Ok(mode),
    }
}
