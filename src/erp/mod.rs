//! The ERP reporting domain of one tenant: companies, partners, invoices, payments,
//! treasury and the dashboard. Each module holds its records and the queries that
//! load them, written once over `Sql` and run on the request's `TenantDb`.
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
    tenancy::TenantDb,
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
