//! The ERP reporting domain of one tenant: companies, partners, invoices, payments,
//! treasury and the dashboard. Each module holds its records and the queries that
//! load them, written once over `Sql` and run on the request's `TenantDb`.
pub mod changes;
pub mod companies;
pub mod dashboard;
pub mod invoices;
pub mod keyset;
pub mod money;
pub mod partners;
pub mod payments;
pub mod seed;
pub mod treasury;

pub use money::Cents;

use crate::{
    error::AppError,
    store::{Row, Sql, StoreError},
    tenancy::{TenantDb, Transaction},
};

/// A row that does not map is a bug or a schema mismatch: internal, with detail in the log.
pub(crate) fn mapping(err: StoreError) -> AppError {
    AppError::internal(anyhow::anyhow!("mapping a tenant row: {err}"))
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

/// The next id of `table`, allocated inside a write transaction: the ERP
/// tables number their rows from 1 with plain keys (no identity or sequence, so
/// existing tenant schemas work unchanged); Oracle locks the table first, SQLite
/// already holds the write lock.
pub(crate) async fn next_id(tx: &mut Transaction<'_>, table: &str) -> Result<i64, AppError> {
    let dialect = tx.dialect();
    if let Some(lock) = dialect.lock_for_insert(table) {
        tx.execute(&Sql::raw(dialect, &lock)).await?;
    }
    let select = format!("SELECT COALESCE(MAX(id), 0) + 1 FROM {table}");
    let rows = tx.query(&Sql::raw(dialect, &select)).await?;
    rows.first()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("MAX(id) returned no row")))?
        .int(0)
        .map_err(mapping)
}
