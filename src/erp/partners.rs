//! Business partners: customers and suppliers.
use std::collections::HashMap;

use super::keyset;
use crate::{
    error::AppError,
    store::{Row, StoreError},
    tenancy::TenantDb,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerKind {
    Customer,
    Supplier,
    Both,
}

impl PartnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PartnerKind::Customer => "customer",
            PartnerKind::Supplier => "supplier",
            PartnerKind::Both => "both",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "customer" => Ok(PartnerKind::Customer),
            "supplier" => Ok(PartnerKind::Supplier),
            "both" => Ok(PartnerKind::Both),
            other => Err(StoreError::Mapping(format!(
                "unknown partner kind {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    pub id: i64,
    pub name: String,
    pub tax_id: String,
    pub kind: PartnerKind,
    pub city: String,
}

impl Partner {
    pub fn cursor(&self) -> String {
        keyset::encode(&[&self.name, &self.id.to_string()])
    }
}

pub(crate) const COLUMNS: &str = "id, name, tax_id, kind, city";
/// How many columns `COLUMNS` names.
pub(crate) const COLUMN_COUNT: usize = 5;

fn from_row(row: &Row) -> Result<Partner, StoreError> {
    from_row_at(row, 0)
}

/// The partner whose `COLUMNS` start at column `at`.
pub(crate) fn from_row_at(row: &Row, at: usize) -> Result<Partner, StoreError> {
    Ok(Partner {
        id: row.int(at)?,
        name: row.text(at + 1)?,
        tax_id: row.text(at + 2)?,
        kind: PartnerKind::parse(&row.text(at + 3)?)?,
        city: row.text(at + 4)?,
    })
}

pub async fn by_ids(db: &TenantDb, ids: &[i64]) -> Result<HashMap<i64, Partner>, AppError> {
    let mut sql = db.sql();
    sql.push("SELECT ")
        .push(COLUMNS)
        .push(" FROM ")
        .rel("partners")
        .push(" WHERE ")
        .in_list("id", ids.iter().copied());
    let rows = super::fetch(db, &sql, from_row).await?;
    Ok(rows.into_iter().map(|p| (p.id, p)).collect())
}

/// A page of partners by name; `kind` matches partners of that kind or of both.
pub async fn page(
    db: &TenantDb,
    kind: Option<PartnerKind>,
    after: Option<&str>,
    first: usize,
) -> Result<(Vec<Partner>, bool), AppError> {
    let mut sql = db.sql();
    sql.push("SELECT ")
        .push(COLUMNS)
        .push(" FROM ")
        .rel("partners")
        .push(" WHERE 1 = 1");
    if let Some(kind) = kind {
        sql.push(" AND kind IN (")
            .bind(kind.as_str())
            .push(", 'both')");
    }
    if let Some(cursor) = after {
        let parts = keyset::decode(cursor, 2)?;
        let id: i64 = parts[1]
            .parse()
            .map_err(|_| AppError::bad_input("after", "not a cursor from this list"))?;
        sql.push(" AND (name > ")
            .bind(parts[0].as_str())
            .push(" OR (name = ")
            .bind(parts[0].as_str())
            .push(" AND id > ")
            .bind(id)
            .push("))");
    }
    sql.push(" ORDER BY name, id").limit(first + 1);
    let rows = super::fetch(db, &sql, from_row).await?;
    Ok(keyset::split_page(rows, first))
}
