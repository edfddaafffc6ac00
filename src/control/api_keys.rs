//! API keys in the control plane: created, listed per tenant, found by id,
//! revoked, shortened (rotation), and their last use.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};

use super::entities::api_key::{self, ApiKeyRole};
use crate::error::AppError;

/// Keys a tenant may have that are neither revoked nor expired.
pub const MAX_LIVE_KEYS_PER_TENANT: u64 = 100;

pub struct NewApiKey {
    pub id: String,
    pub secret_hash: String,
    pub tenant_id: String,
    pub name: String,
    pub role: ApiKeyRole,
    pub persisted_only: bool,
    pub created_by: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub rotated_from: Option<String>,
}

pub async fn insert(db: &impl ConnectionTrait, new: NewApiKey) -> Result<api_key::Model, AppError> {
    let live = api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(&new.tenant_id))
        .filter(api_key::Column::RevokedAt.is_null())
        .filter(api_key::Column::ExpiresAt.gt(Utc::now()))
        .count(db)
        .await?;
    if live >= MAX_LIVE_KEYS_PER_TENANT {
        return Err(AppError::Conflict(format!(
            "the tenant already has {MAX_LIVE_KEYS_PER_TENANT} live API keys; revoke one first"
        )));
    }
    let row = api_key::ActiveModel {
        id: Set(new.id),
        tenant_id: Set(new.tenant_id),
        name: Set(new.name),
        role: Set(new.role),
        persisted_only: Set(new.persisted_only),
        secret_hash: Set(new.secret_hash),
        created_by: Set(new.created_by),
        created_at: Set(Utc::now()),
        expires_at: Set(new.expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
        rotated_from: Set(new.rotated_from),
    };
    Ok(row.insert(db).await?)
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<api_key::Model>, AppError> {
    Ok(api_key::Entity::find_by_id(id).one(db).await?)
}

/// A key of `tenant_id`, or NOT_FOUND (a key of another tenant is not found either).
pub async fn get_in_tenant(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    id: &str,
) -> Result<api_key::Model, AppError> {
    find(db, id)
        .await?
        .filter(|key| key.tenant_id == tenant_id)
        .ok_or(AppError::NotFound("API key"))
}

/// The tenant's keys, newest first (revoked and expired ones included).
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: &str,
) -> Result<Vec<api_key::Model>, AppError> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(tenant_id))
        .order_by_desc(api_key::Column::CreatedAt)
        .all(db)
        .await?)
}

pub async fn revoke(
    db: &impl ConnectionTrait,
    key: api_key::Model,
) -> Result<api_key::Model, AppError> {
    let mut active: api_key::ActiveModel = key.into();
    active.revoked_at = Set(Some(Utc::now()));
    Ok(active.update(db).await?)
}

/// Ends a key at `at` at the latest (a rotation's overlap).
pub async fn expire_by(
    db: &impl ConnectionTrait,
    key: api_key::Model,
    at: DateTime<Utc>,
) -> Result<api_key::Model, AppError> {
    let expires_at = key.expires_at.min(at);
    let mut active: api_key::ActiveModel = key.into();
    active.expires_at = Set(expires_at);
    Ok(active.update(db).await?)
}

pub async fn touch(db: &impl ConnectionTrait, id: &str, at: DateTime<Utc>) -> Result<(), AppError> {
    api_key::Entity::update_many()
        .col_expr(
            api_key::Column::LastUsedAt,
            sea_orm::sea_query::Expr::value(at),
        )
        .filter(api_key::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
