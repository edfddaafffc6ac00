//! Who belongs to which tenant, with which role.
use chrono::Utc;
use sea_orm::{
    sea_query::OnConflict, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait,
    QueryFilter, QueryOrder,
};

use super::entities::{
    membership::{self, MemberRole},
    tenant,
};
use crate::error::AppError;

/// Grants `role`, replacing whatever role the user had in that tenant.
pub async fn grant(
    db: &impl ConnectionTrait,
    user_id: &str,
    tenant_id: &str,
    role: MemberRole,
) -> Result<(), AppError> {
    membership::Entity::insert(membership::ActiveModel {
        user_id: Set(user_id.to_string()),
        tenant_id: Set(tenant_id.to_string()),
        role: Set(role),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([membership::Column::UserId, membership::Column::TenantId])
            .update_column(membership::Column::Role)
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}

/// Returns whether a membership existed.
pub async fn revoke(
    db: &impl ConnectionTrait,
    user_id: &str,
    tenant_id: &str,
) -> Result<bool, AppError> {
    let result = membership::Entity::delete_by_id((user_id.to_string(), tenant_id.to_string()))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

pub async fn find(
    db: &impl ConnectionTrait,
    user_id: &str,
    tenant_id: &str,
) -> Result<Option<membership::Model>, AppError> {
    Ok(
        membership::Entity::find_by_id((user_id.to_string(), tenant_id.to_string()))
            .one(db)
            .await?,
    )
}

/// The user's memberships with their tenants, ordered by tenant slug.
pub async fn list_for_user(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<(membership::Model, tenant::Model)>, AppError> {
    let rows = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .find_also_related(tenant::Entity)
        .order_by_asc(tenant::Column::Slug)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(m, t)| t.map(|t| (m, t)))
        .collect())
}

/// The tenant's members with their user rows, ordered by email.
pub async fn list_for_tenant(
    db: &impl ConnectionTrait,
    tenant_id: &str,
) -> Result<Vec<(membership::Model, super::entities::user::Model)>, AppError> {
    use super::entities::user;
    let rows = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant_id))
        .find_also_related(user::Entity)
        .order_by_asc(user::Column::Email)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(m, u)| u.map(|u| (m, u)))
        .collect())
}

/// How many admins the tenant has.
pub async fn count_admins(db: &impl ConnectionTrait, tenant_id: &str) -> Result<u64, AppError> {
    use sea_orm::PaginatorTrait;
    Ok(membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant_id))
        .filter(membership::Column::Role.eq(MemberRole::Admin))
        .count(db)
        .await?)
}
