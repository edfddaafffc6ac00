//! The control plane's record of tenantql's objects inside each tenant
//! database, the lease that keeps one runner per tenant at a time, and the
//! rollouts with their per-tenant outcomes.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    sea_query::{Expr, OnConflict},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use super::entities::{
    tenant_database::{self, MigrationStatus},
    tenant_rollout, tenant_rollout_result,
};
use crate::error::AppError;

pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: &str,
) -> Result<Option<tenant_database::Model>, AppError> {
    Ok(tenant_database::Entity::find_by_id(tenant_id)
        .one(db)
        .await?)
}

/// Every tenant's record, for listings.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<tenant_database::Model>, AppError> {
    Ok(tenant_database::Entity::find().all(db).await?)
}

async fn ensure_row(db: &impl ConnectionTrait, tenant_id: &str) -> Result<(), AppError> {
    let row = tenant_database::ActiveModel {
        tenant_id: Set(tenant_id.to_string()),
        schema_version: Set(0),
        status: Set(MigrationStatus::Unknown),
        attempt: Set(0),
        last_error: Set(None),
        duration_ms: Set(None),
        last_rollout_id: Set(None),
        locked_by: Set(None),
        locked_until: Set(None),
        updated_at: Set(Utc::now()),
    };
    tenant_database::Entity::insert(row)
        .on_conflict(
            OnConflict::column(tenant_database::Column::TenantId)
                .do_nothing()
                .to_owned(),
        )
        .do_nothing()
        .exec(db)
        .await?;
    Ok(())
}

/// Takes the tenant for `holder` until `ttl` from now, unless another holder's
/// lease is still running: one conditional UPDATE, so two instances or
/// commands racing for a tenant cannot both win.
pub async fn lease(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    holder: &str,
    ttl: Duration,
) -> Result<bool, AppError> {
    ensure_row(db, tenant_id).await?;
    let now = Utc::now();
    let taken = tenant_database::Entity::update_many()
        .col_expr(tenant_database::Column::LockedBy, Expr::value(holder))
        .col_expr(tenant_database::Column::LockedUntil, Expr::value(now + ttl))
        .col_expr(
            tenant_database::Column::Status,
            Expr::value(MigrationStatus::Migrating.as_str()),
        )
        .col_expr(
            tenant_database::Column::Attempt,
            Expr::col(tenant_database::Column::Attempt).add(1),
        )
        .col_expr(tenant_database::Column::UpdatedAt, Expr::value(now))
        .filter(tenant_database::Column::TenantId.eq(tenant_id))
        .filter(
            sea_orm::Condition::any()
                .add(tenant_database::Column::LockedUntil.is_null())
                .add(tenant_database::Column::LockedUntil.lt(now)),
        )
        .exec(db)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// How one tenant's migration ended.
pub enum Finished<'a> {
    At(u32),
    /// `version`: where the failure left the database, if it could be read.
    Failed {
        version: Option<u32>,
        error: &'a str,
    },
}

/// Records the outcome and gives the lease back (only `holder`'s).
pub async fn finish(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    holder: &str,
    finished: Finished<'_>,
    duration_ms: i64,
    rollout_id: Option<&str>,
) -> Result<(), AppError> {
    use tenant_database::Column;
    let mut update = tenant_database::Entity::update_many()
        .col_expr(Column::LockedBy, Expr::value(Option::<String>::None))
        .col_expr(
            Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::DurationMs, Expr::value(duration_ms))
        .col_expr(Column::LastRolloutId, Expr::value(rollout_id))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()));
    update = match finished {
        Finished::At(version) => at_version(update, version),
        Finished::Failed { version, error } => {
            let failed = update
                .col_expr(
                    Column::Status,
                    Expr::value(MigrationStatus::Failed.as_str()),
                )
                .col_expr(Column::LastError, Expr::value(error));
            match version {
                Some(version) => {
                    failed.col_expr(Column::SchemaVersion, Expr::value(version as i32))
                }
                None => failed,
            }
        }
    };
    update
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::LockedBy.eq(holder))
        .exec(db)
        .await?;
    Ok(())
}

/// Records the version a seeder brought the database to (no runner involved).
pub async fn record_version(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    version: u32,
) -> Result<(), AppError> {
    ensure_row(db, tenant_id).await?;
    use tenant_database::Column;
    at_version(tenant_database::Entity::update_many(), version)
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The columns of a tenant brought to `version`: current, no attempt pending, no error.
fn at_version(
    update: sea_orm::UpdateMany<tenant_database::Entity>,
    version: u32,
) -> sea_orm::UpdateMany<tenant_database::Entity> {
    use tenant_database::Column;
    update
        .col_expr(Column::SchemaVersion, Expr::value(version as i32))
        .col_expr(
            Column::Status,
            Expr::value(MigrationStatus::Current.as_str()),
        )
        .col_expr(Column::Attempt, Expr::value(0))
        .col_expr(Column::LastError, Expr::value(Option::<String>::None))
}

pub async fn start_rollout(
    db: &impl ConnectionTrait,
    target_version: u32,
    actor: &str,
    canary: Option<usize>,
    requested: usize,
) -> Result<tenant_rollout::Model, AppError> {
    let model = tenant_rollout::Model {
        id: uuid::Uuid::new_v4().to_string(),
        target_version: target_version as i32,
        actor: actor.chars().take(254).collect(),
        canary: canary.map(|c| c.min(i32::MAX as usize) as i32),
        status: "running".into(),
        requested: requested.min(i32::MAX as usize) as i32,
        succeeded: 0,
        failed: 0,
        skipped: 0,
        started_at: Utc::now(),
        finished_at: None,
    };
    let row: tenant_rollout::ActiveModel = model.clone().into();
    tenant_rollout::Entity::insert(row).exec(db).await?;
    Ok(model)
}

/// One tenant's outcome in a rollout.
pub struct ResultRow<'a> {
    pub tenant_id: &'a str,
    pub from_version: u32,
    pub to_version: u32,
    pub outcome: &'a str,
    pub error: Option<&'a str>,
    pub duration_ms: i64,
}

pub async fn record_result(
    db: &impl ConnectionTrait,
    rollout_id: &str,
    result: ResultRow<'_>,
) -> Result<(), AppError> {
    let row = tenant_rollout_result::ActiveModel {
        rollout_id: Set(rollout_id.to_string()),
        tenant_id: Set(result.tenant_id.to_string()),
        from_version: Set(result.from_version as i32),
        to_version: Set(result.to_version as i32),
        outcome: Set(result.outcome.to_string()),
        error: Set(result.error.map(str::to_string)),
        duration_ms: Set(result.duration_ms),
        finished_at: Set(Utc::now()),
    };
    tenant_rollout_result::Entity::insert(row).exec(db).await?;
    Ok(())
}

pub struct RolloutCounts {
    pub succeeded: usize,
    pub failed: usize,
    pub skipped: usize,
}

pub async fn finish_rollout(
    db: &impl ConnectionTrait,
    rollout_id: &str,
    status: &str,
    counts: RolloutCounts,
) -> Result<tenant_rollout::Model, AppError> {
    let small = |n: usize| n.min(i32::MAX as usize) as i32;
    let row = tenant_rollout::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(rollout_id.to_string()),
        status: Set(status.to_string()),
        succeeded: Set(small(counts.succeeded)),
        failed: Set(small(counts.failed)),
        skipped: Set(small(counts.skipped)),
        finished_at: Set(Some(Utc::now())),
        ..Default::default()
    };
    Ok(tenant_rollout::Entity::update(row).exec(db).await?)
}

/// A rollout's per-tenant outcomes.
pub async fn results(
    db: &impl ConnectionTrait,
    rollout_id: &str,
) -> Result<Vec<tenant_rollout_result::Model>, AppError> {
    Ok(tenant_rollout_result::Entity::find()
        .filter(tenant_rollout_result::Column::RolloutId.eq(rollout_id))
        .order_by_asc(tenant_rollout_result::Column::FinishedAt)
        .all(db)
        .await?)
}
