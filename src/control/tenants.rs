//! Tenant rows: validation of what an operator may store, and the queries over them.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use secrecy::SecretString;

use super::{
    entities::tenant::{self, BackendKind, TenantStatus},
    OnConstraint,
};
use crate::{
    error::AppError,
    tenancy::sealing::{SealError, Sealer},
};

/// Field names bound into the sealed columns' associated data.
pub const DB_PASSWORD_FIELD: &str = "db_password";
pub const SSH_PRIVATE_KEY_FIELD: &str = "ssh_private_key";

pub const DEFAULT_POOL_MAX_SIZE: u32 = 10;
pub const DEFAULT_POOL_MIN_IDLE: u32 = 0;
pub const DEFAULT_POOL_ACQUIRE_TIMEOUT_MS: u32 = 5000;

/// Per-tenant pool limits. They apply per server instance: with N instances a
/// tenant's database sees up to N × `max_size` sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    pub max_size: u32,
    pub min_idle: u32,
    pub acquire_timeout_ms: u32,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits {
            max_size: DEFAULT_POOL_MAX_SIZE,
            min_idle: DEFAULT_POOL_MIN_IDLE,
            acquire_timeout_ms: DEFAULT_POOL_ACQUIRE_TIMEOUT_MS,
        }
    }
}

impl PoolLimits {
    fn validate(&self) -> Result<(), AppError> {
        if !(1..=1000).contains(&self.max_size) {
            return Err(AppError::bad_input(
                "poolMaxSize",
                "pool max size must be between 1 and 1000",
            ));
        }
        if self.min_idle > self.max_size {
            return Err(AppError::bad_input(
                "poolMinIdle",
                "pool warm minimum cannot exceed its max size",
            ));
        }
        if !(1..=600_000).contains(&self.acquire_timeout_ms) {
            return Err(AppError::bad_input(
                "poolAcquireTimeoutMs",
                "acquire timeout must be between 1 ms and 10 minutes",
            ));
        }
        Ok(())
    }
}

/// What an operator supplies to add a tenant. The password is sealed before it is stored.
#[derive(Debug)]
pub struct NewTenant {
    pub slug: String,
    pub display_name: String,
    pub backend: BackendKind,
    pub connect_string: String,
    pub db_username: Option<String>,
    pub db_password: Option<SecretString>,
    pub pool: PoolLimits,
}

/// Slugs appear in tokens, URLs and metrics labels: keep them short and plain.
pub fn validate_slug(slug: &str) -> Result<(), AppError> {
    let ok = (2..=63).contains(&slug.len())
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_input(
            "slug",
            "a tenant slug is 2-63 characters of a-z, 0-9 and '-', starting with a letter",
        ))
    }
}

pub async fn insert(
    db: &impl ConnectionTrait,
    sealer: &Sealer,
    new: NewTenant,
) -> Result<tenant::Model, AppError> {
    validate_slug(&new.slug)?;
    new.pool.validate()?;
    let display_name = new.display_name.trim();
    if display_name.is_empty() || display_name.len() > 200 {
        return Err(AppError::bad_input(
            "displayName",
            "display name must be 1-200 characters",
        ));
    }
    if new.connect_string.trim().is_empty() {
        return Err(AppError::bad_input(
            "connectString",
            "a connect string is required",
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    let password = new
        .db_password
        .as_ref()
        .map(|p| sealer.seal_str(&id, DB_PASSWORD_FIELD, p));
    let slug = new.slug.clone();
    tenant::ActiveModel {
        id: Set(id.clone()),
        slug: Set(new.slug),
        display_name: Set(display_name.to_string()),
        status: Set(TenantStatus::Active),
        backend: Set(new.backend),
        connect_string: Set(new.connect_string),
        db_username: Set(new.db_username),
        db_password_sealed: Set(password),
        ssh_host: Set(None),
        ssh_port: Set(None),
        ssh_user: Set(None),
        ssh_private_key_sealed: Set(None),
        pool_max_size: Set(new.pool.max_size as i32),
        pool_min_idle: Set(new.pool.min_idle as i32),
        pool_acquire_timeout_ms: Set(new.pool.acquire_timeout_ms as i32),
        config_version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .on_conflict(|| format!("a tenant with slug `{slug}` already exists"))
}

/// The tenant's database password, opened for connecting. Fails if the sealed
/// value was moved from another tenant's row or sealed under an unknown key.
pub fn open_db_password(
    sealer: &Sealer,
    tenant: &tenant::Model,
) -> Result<Option<SecretString>, SealError> {
    tenant
        .db_password_sealed
        .as_deref()
        .map(|sealed| sealer.open_string(&tenant.id, DB_PASSWORD_FIELD, sealed))
        .transpose()
}

pub async fn find_by_slug(
    db: &impl ConnectionTrait,
    slug: &str,
) -> Result<Option<tenant::Model>, AppError> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug))
        .one(db)
        .await?)
}

pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<tenant::Model>, AppError> {
    Ok(tenant::Entity::find_by_id(id).one(db).await?)
}

pub async fn get_by_slug(db: &impl ConnectionTrait, slug: &str) -> Result<tenant::Model, AppError> {
    find_by_slug(db, slug)
        .await?
        .ok_or(AppError::NotFound("tenant"))
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<tenant::Model>, AppError> {
    Ok(tenant::Entity::find()
        .order_by_asc(tenant::Column::Slug)
        .all(db)
        .await?)
}

pub async fn set_status(
    db: &impl ConnectionTrait,
    slug: &str,
    status: TenantStatus,
) -> Result<tenant::Model, AppError> {
    let row = get_by_slug(db, slug).await?;
    let mut active: tenant::ActiveModel = row.into();
    active.status = Set(status);
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for good in ["acme", "globex-2", "a1"] {
            assert!(validate_slug(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "Acme",
            "1acme",
            "acme-",
            "ac_me",
            "ac me",
            &"a".repeat(64),
        ] {
            assert!(validate_slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pool_limits() {
        assert!(PoolLimits::default().validate().is_ok());
        let too_warm = PoolLimits {
            min_idle: 11,
            ..PoolLimits::default()
        };
        assert!(too_warm.validate().is_err());
        let zero = PoolLimits {
            max_size: 0,
            ..PoolLimits::default()
        };
        assert!(zero.validate().is_err());
    }
}
