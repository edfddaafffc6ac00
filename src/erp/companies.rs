//! Companies of the tenant (legal entities whose books tenantql reports on).
use std::collections::HashMap;

use crate::{
    error::AppError,
    store::{Row, StoreError},
    tenancy::TenantDb,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    pub id: i64,
    pub name: String,
    pub tax_id: String,
    pub currency: String,
}

pub(crate) const COLUMNS: &str = "id, name, tax_id, currency";
/// How many columns `COLUMNS` names.
pub(crate) const COLUMN_COUNT: usize = 4;

fn from_row(row: &Row) -> Result<Company, StoreError> {
    from_row_at(row, 0)
}

/// The company whose `COLUMNS` start at column `at`.
pub(crate) fn from_row_at(row: &Row, at: usize) -> Result<Company, StoreError> {
    Ok(Company {
        id: row.int(at)?,
        name: row.text(at + 1)?,
        tax_id: row.text(at + 2)?,
        currency: row.text(at + 3)?,
    })
}

pub async fn list(db: &TenantDb) -> Result<Vec<Company>, AppError> {
    let mut sql = db.sql();
    sql.push("SELECT ")
        .push(COLUMNS)
        .push(" FROM ")
        .rel("companies")
        .push(" ORDER BY name, id");
    super::fetch(db, &sql, from_row).await
}

pub async fn by_ids(db: &TenantDb, ids: &[i64]) -> Result<HashMap<i64, Company>, AppError> {
    let mut sql = db.sql();
    sql.push("SELECT ")
        .push(COLUMNS)
        .push(" FROM ")
        .rel("companies")
        .push(" WHERE ")
        .in_list("id", ids.iter().copied());
    let rows = super::fetch(db, &sql, from_row).await?;
    Ok(rows.into_iter().map(|c| (c.id, c)).collect())
}
