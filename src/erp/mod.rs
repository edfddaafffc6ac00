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

use crate::{error::AppError, store::StoreError};

/// A row that does not map is a bug or a schema mismatch: internal, with detail in the log.
pub(crate) fn mapping(err: StoreError) -> AppError {
    AppError::internal(anyhow::anyhow!("mapping a tenant row: {err}"))
}
