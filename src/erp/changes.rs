//! The tenant store's change log (`tenantql_changes`, filled by triggers: see
//! `sql/*/migrations/`), read by the change watcher.
use super::mapping;
use crate::{
    error::AppError,
    store::{Dialect, Sql},
    tenancy::{TenantDb, Transaction},
};

/// Change rows read per poll at most.
pub const BATCH: usize = 500;

/// How far back each poll re-reads: Oracle's and PostgreSQL's sequence ids may
/// commit out of order; SQLite's writers are serialized, so its ids commit in order.
pub fn window(dialect: Dialect) -> i64 {
    match dialect {
        Dialect::Sqlite => 0,
        Dialect::Oracle | Dialect::Postgres => 1_000,
    }
}

pub fn latest_sql(dialect: Dialect) -> Sql {
    Sql::raw(dialect, "SELECT COALESCE(MAX(id), 0) FROM tenantql_changes")
}

pub fn since_sql(dialect: Dialect, after: i64) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push("SELECT id, invoice_id FROM tenantql_changes WHERE id > ")
        .bind(after)
        .push(" ORDER BY id")
        .limit(BATCH);
    sql
}

pub fn prune_sql(dialect: Dialect, up_to: i64) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push("DELETE FROM tenantql_changes WHERE id <= ")
        .bind(up_to);
    sql
}

pub fn forget_sql(dialect: Dialect, invoice_id: i64) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push("DELETE FROM tenantql_changes WHERE invoice_id = ")
        .bind(invoice_id);
    sql
}

/// The version tenantql's own objects are at in the tenant database (0: never migrated).
pub async fn log_version(db: &TenantDb) -> Result<i64, AppError> {
    let rows = db
        .query_own(&crate::contract::migrations::version_sql(db.dialect()))
        .await?;
    rows.as_deref()
        .and_then(<[_]>::first)
        .map(|r| r.int_or_zero(0).map_err(mapping))
        .unwrap_or(Ok(0))
}

fn no_log() -> AppError {
    AppError::internal(anyhow::anyhow!(
        "the tenant database has no change log (tenantql_changes)"
    ))
}

/// The newest change id (0 for an empty log).
pub async fn latest(db: &TenantDb) -> Result<i64, AppError> {
    let rows = db
        .query_own(&latest_sql(db.dialect()))
        .await?
        .ok_or_else(no_log)?;
    rows.first()
        .map(|r| r.int_or_zero(0).map_err(mapping))
        .unwrap_or(Ok(0))
}

/// Changes after `after`, oldest first: (change id, invoice id).
pub async fn since(db: &TenantDb, after: i64) -> Result<Vec<(i64, i64)>, AppError> {
    db.query_own(&since_sql(db.dialect(), after))
        .await?
        .ok_or_else(no_log)?
        .iter()
        .map(|r| Ok((r.int(0)?, r.int(1)?)))
        .collect::<Result<_, crate::store::StoreError>>()
        .map_err(mapping)
}

pub async fn prune(db: &TenantDb, up_to: i64) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    tx.execute(&prune_sql(db.dialect(), up_to)).await?;
    tx.commit().await
}

/// Inside an API write: its own change rows would make the watcher announce
/// the write a second time. A store without a change log is left alone.
pub(crate) async fn forget(tx: &mut Transaction<'_>, invoice_id: i64) {
    let sql = forget_sql(tx.dialect(), invoice_id);
    tx.try_execute(&sql).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watcher_sql_per_dialect() {
        assert_eq!(
            since_sql(Dialect::Oracle, 41).text(),
            "SELECT id, invoice_id FROM tenantql_changes WHERE id > :1 ORDER BY id FETCH FIRST 500 ROWS ONLY"
        );
        assert_eq!(
            since_sql(Dialect::Sqlite, 41).text(),
            "SELECT id, invoice_id FROM tenantql_changes WHERE id > ?1 ORDER BY id LIMIT 500"
        );
        assert_eq!(
            prune_sql(Dialect::Oracle, 7).text(),
            "DELETE FROM tenantql_changes WHERE id <= :1"
        );
        assert_eq!(
            forget_sql(Dialect::Oracle, 9).text(),
            "DELETE FROM tenantql_changes WHERE invoice_id = :1"
        );
        assert_eq!(
            latest_sql(Dialect::Oracle).text(),
            "SELECT COALESCE(MAX(id), 0) FROM tenantql_changes"
        );
        assert_eq!(window(Dialect::Oracle), 1_000);
        assert_eq!(window(Dialect::Sqlite), 0);
    }
}
