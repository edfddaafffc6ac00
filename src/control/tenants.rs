//! Tenant rows: validation of what an operator may store, and the queries over them.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use secrecy::SecretString;

use super::{
    entities::tenant::{self, BackendKind, DocumentsMode, TenantStatus, WriteMode},
    OnConstraint,
};
use crate::{
    error::AppError,
    origins::OriginList,
    paging,
    sealing::{SealError, Sealer},
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
    pub fn of(tenant: &tenant::Model) -> Self {
        PoolLimits {
            max_size: tenant.pool_max_size.max(0) as u32,
            min_idle: tenant.pool_min_idle.max(0) as u32,
            acquire_timeout_ms: tenant.pool_acquire_timeout_ms.max(0) as u32,
        }
    }

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
    pub tunnel: Option<TunnelConfig>,
    pub contract: ContractPlacement,
    /// Web origins of the tenant's own apps (see `origins`).
    pub allowed_origins: Vec<String>,
}

/// Where a tenant's contract objects live and how tenantql writes to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContractPlacement {
    /// An unquoted Oracle or PostgreSQL schema name (folded to upper or lower
    /// case as that database folds names); None: the session's own schema.
    pub schema: Option<String>,
    pub write_mode: WriteMode,
}

impl ContractPlacement {
    pub fn of(row: &tenant::Model) -> Self {
        ContractPlacement {
            schema: row.contract_schema.clone(),
            write_mode: row.write_mode,
        }
    }

    /// A schema name is spliced into SQL text, so it is a plain identifier or nothing.
    fn validate(&self, backend: BackendKind) -> Result<(), AppError> {
        if let Some(schema) = &self.schema {
            if backend == BackendKind::Sqlite {
                return Err(AppError::bad_input(
                    "contractSchema",
                    "an embedded SQLite store keeps its contract in its main database",
                ));
            }
            if !is_plain_identifier(schema) {
                return Err(AppError::bad_input(
                    "contractSchema",
                    "a contract schema is an unquoted identifier: a letter, then up to 127 letters, digits or _",
                ));
            }
        }
        if self.write_mode == WriteMode::Procedures && backend == BackendKind::Sqlite {
            return Err(AppError::bad_input(
                "writeMode",
                "SQLite has no stored procedures: use tables or read-only",
            ));
        }
        Ok(())
    }
}

/// A letter, then letters, digits or `_`: safe to splice, the same name in every backend.
pub fn is_plain_identifier(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub const DEFAULT_SSH_PORT: u16 = 22;

/// The SSH bastion in front of a tenant's database. The private key is sealed
/// before it is stored and never shown again.
#[derive(Clone)]
pub struct TunnelConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub private_key: SecretString,
    /// An OpenSSH public key line (`ssh-ed25519 AAAA…`) or its `SHA256:…` fingerprint.
    pub host_key: String,
}

impl std::fmt::Debug for TunnelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl TunnelConfig {
    /// The shape every bastion must have; whether the key texts parse is the
    /// tunnel's to say (`tenancy::tunnel`), checked by the registry.
    fn validate(&self, backend: BackendKind) -> Result<(), AppError> {
        use secrecy::ExposeSecret;
        if backend == BackendKind::Sqlite {
            return Err(AppError::bad_input(
                "tunnel",
                "an embedded SQLite store cannot sit behind an SSH bastion",
            ));
        }
        let plain = |v: &str| {
            !v.is_empty()
                && v.len() <= 255
                && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        if !plain(&self.host) {
            return Err(AppError::bad_input(
                "tunnel.host",
                "a bastion host name is 1-255 characters without spaces",
            ));
        }
        if self.port == 0 {
            return Err(AppError::bad_input(
                "tunnel.port",
                "a bastion port is 1-65535",
            ));
        }
        if !plain(&self.user) {
            return Err(AppError::bad_input(
                "tunnel.user",
                "a bastion user is 1-255 characters without spaces",
            ));
        }
        if self.private_key.expose_secret().len() > 16_384 {
            return Err(AppError::bad_input(
                "tunnel.privateKey",
                "a private key is at most 16 KiB",
            ));
        }
        if self.host_key.trim().is_empty() || self.host_key.len() > 16_384 {
            return Err(AppError::bad_input(
                "tunnel.hostKey",
                "the bastion's host key is required",
            ));
        }
        Ok(())
    }
}

/// Words that would read as part of the product rather than a client's name, or
/// collide with paths and labels tenantql uses.
const RESERVED_SLUGS: &[&str] = &[
    "admin",
    "administrator",
    "api",
    "app",
    "assets",
    "audit",
    "auth",
    "billing",
    "default",
    "demo",
    "graphiql",
    "graphql",
    "health",
    "help",
    "internal",
    "login",
    "logout",
    "metrics",
    "none",
    "null",
    "other",
    "platform",
    "public",
    "ready",
    "root",
    "static",
    "status",
    "support",
    "system",
    "tenant",
    "tenantql",
    "tenants",
    "test",
    "undefined",
    "www",
];

/// Slugs appear in tokens, URLs and metrics labels: keep them short and plain.
pub fn validate_slug(slug: &str) -> Result<(), AppError> {
    let shape = (3..=40).contains(&slug.len())
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.ends_with('-')
        && !slug.contains("--");
    if !shape {
        return Err(AppError::bad_input(
            "slug",
            "a tenant slug is 3-40 characters of a-z, 0-9 and single '-', starting with a letter and not ending with '-'",
        ));
    }
    if RESERVED_SLUGS.contains(&slug) {
        return Err(AppError::bad_input(
            "slug",
            format!("`{slug}` is reserved; choose another slug"),
        ));
    }
    Ok(())
}

fn validate_display_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(AppError::bad_input(
            "name",
            "a display name is 1-200 printable characters",
        ));
    }
    Ok(name.to_string())
}

fn validate_connect_string(connect: &str) -> Result<(), AppError> {
    if connect.trim().is_empty() || connect.len() > 1000 {
        return Err(AppError::bad_input(
            "connectString",
            "a connect string is required (at most 1000 characters)",
        ));
    }
    Ok(())
}

pub async fn insert(
    db: &impl ConnectionTrait,
    sealer: &Sealer,
    new: NewTenant,
) -> Result<tenant::Model, AppError> {
    validate_slug(&new.slug)?;
    new.pool.validate()?;
    let display_name = validate_display_name(&new.display_name)?;
    validate_connect_string(&new.connect_string)?;
    if let Some(tunnel) = &new.tunnel {
        tunnel.validate(new.backend)?;
    }
    new.contract.validate(new.backend)?;
    let allowed_origins = stored_origins(&new.allowed_origins)?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    let password = new
        .db_password
        .as_ref()
        .map(|p| sealer.seal_str(&id, DB_PASSWORD_FIELD, p));
    let slug = new.slug.clone();
    let mut row = tenant::ActiveModel {
        id: Set(id.clone()),
        slug: Set(new.slug),
        display_name: Set(display_name),
        status: Set(TenantStatus::Active),
        backend: Set(new.backend),
        connect_string: Set(new.connect_string),
        db_username: Set(new.db_username),
        db_password_sealed: Set(password),
        pool_max_size: Set(new.pool.max_size as i32),
        pool_min_idle: Set(new.pool.min_idle as i32),
        pool_acquire_timeout_ms: Set(new.pool.acquire_timeout_ms as i32),
        config_version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
        rate_limit_per_sec: Set(None),
        rate_limit_burst: Set(None),
        user_rate_limit_per_sec: Set(None),
        user_rate_limit_burst: Set(None),
        max_concurrent_operations: Set(None),
        contract_schema: Set(new.contract.schema),
        write_mode: Set(new.contract.write_mode),
        allowed_origins: Set(allowed_origins),
        ..Default::default()
    };
    set_tunnel(&mut row, sealer, &id, new.tunnel.as_ref());
    row.insert(db)
        .await
        .on_conflict(|| format!("a tenant with slug `{slug}` already exists"))
}

/// A tenant's origins as stored: canonical rules as a JSON array, or NULL for none.
fn stored_origins(rules: &[String]) -> Result<Option<String>, AppError> {
    let rules = OriginList::canonical_tenant_rules(rules)
        .map_err(|err| AppError::bad_input("allowedOrigins", err.to_string()))?;
    Ok((!rules.is_empty()).then(|| serde_json::Value::from(rules).to_string()))
}

/// Writes (or with `None` clears) the bastion columns, sealing the key.
fn set_tunnel(
    row: &mut tenant::ActiveModel,
    sealer: &Sealer,
    tenant_id: &str,
    tunnel: Option<&TunnelConfig>,
) {
    row.ssh_host = Set(tunnel.map(|t| t.host.clone()));
    row.ssh_port = Set(tunnel.map(|t| i32::from(t.port)));
    row.ssh_user = Set(tunnel.map(|t| t.user.clone()));
    row.ssh_private_key_sealed =
        Set(tunnel.map(|t| sealer.seal_str(tenant_id, SSH_PRIVATE_KEY_FIELD, &t.private_key)));
    row.ssh_host_key = Set(tunnel.map(|t| t.host_key.trim().to_string()));
}

/// The tenant's bastion with its private key opened, if it has one.
pub fn open_tunnel(
    sealer: &Sealer,
    tenant: &tenant::Model,
) -> Result<Option<TunnelConfig>, SealError> {
    let (Some(host), Some(user), Some(sealed)) = (
        &tenant.ssh_host,
        &tenant.ssh_user,
        &tenant.ssh_private_key_sealed,
    ) else {
        return Ok(None);
    };
    Ok(Some(TunnelConfig {
        host: host.clone(),
        port: tenant
            .ssh_port
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(DEFAULT_SSH_PORT),
        user: user.clone(),
        private_key: sealer.open_string(&tenant.id, SSH_PRIVATE_KEY_FIELD, sealed)?,
        host_key: tenant.ssh_host_key.clone().unwrap_or_default(),
    }))
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

/// A tenant that has not been deleted: what sign-in and requests may act for.
pub async fn find_by_slug(
    db: &impl ConnectionTrait,
    slug: &str,
) -> Result<Option<tenant::Model>, AppError> {
    Ok(find_any_by_slug(db, slug)
        .await?
        .filter(|t| t.status != TenantStatus::Deleted))
}

/// Any tenant row, deleted ones included (operators and the audit trail see them).
pub async fn find_any_by_slug(
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

/// A tenant that has not been deleted, or NOT_FOUND.
pub async fn get_by_slug(db: &impl ConnectionTrait, slug: &str) -> Result<tenant::Model, AppError> {
    find_by_slug(db, slug)
        .await?
        .ok_or(AppError::NotFound("tenant"))
}

/// Every tenant that has not been deleted, by slug.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<tenant::Model>, AppError> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Status.ne(TenantStatus::Deleted))
        .order_by_asc(tenant::Column::Slug)
        .all(db)
        .await?)
}

/// The tenants with these slugs that are not deleted, by slug (those that exist).
pub async fn by_slugs(
    db: &impl ConnectionTrait,
    slugs: &[String],
) -> Result<Vec<tenant::Model>, AppError> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Slug.is_in(slugs.iter().map(String::as_str)))
        .filter(tenant::Column::Status.ne(TenantStatus::Deleted))
        .order_by_asc(tenant::Column::Slug)
        .all(db)
        .await?)
}

/// Which tenants an operator lists.
#[derive(Debug, Clone, Default)]
pub struct TenantFilter {
    /// `None`: every status but deleted.
    pub status: Option<TenantStatus>,
    pub backend: Option<BackendKind>,
    /// Part of the slug or display name.
    pub search: Option<String>,
}

/// One page of tenants by slug, after the slug `after`, fetching one row more than
/// `first` to tell whether another page follows.
pub async fn page(
    db: &impl ConnectionTrait,
    filter: &TenantFilter,
    first: usize,
    after: Option<&str>,
) -> Result<(Vec<tenant::Model>, bool), AppError> {
    use tenant::Column;
    let mut query = tenant::Entity::find();
    query = match filter.status {
        Some(status) => query.filter(Column::Status.eq(status)),
        None => query.filter(Column::Status.ne(TenantStatus::Deleted)),
    };
    if let Some(backend) = filter.backend {
        query = query.filter(Column::Backend.eq(backend));
    }
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        query = query.filter(
            Condition::any()
                .add(Column::Slug.contains(search.to_lowercase()))
                .add(Column::DisplayName.contains(search)),
        );
    }
    if let Some(after) = after {
        query = query.filter(Column::Slug.gt(after));
    }
    let rows = query
        .order_by_asc(Column::Slug)
        .limit(first as u64 + 1)
        .all(db)
        .await?;
    Ok(paging::split_page(rows, first))
}

/// What an operator may change about a tenant; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct TenantChanges {
    pub display_name: Option<String>,
    pub connect_string: Option<String>,
    pub db_username: Option<String>,
    pub pool: Option<PoolLimits>,
    /// Replaces all five limits (a None in it: the server's default).
    pub limits: Option<TenantLimits>,
    /// `Some(Some(…))` sets the bastion, `Some(None)` removes it.
    pub tunnel: Option<Option<TunnelConfig>>,
    /// `Some(Some(…))` sets the contract schema, `Some(None)` clears it.
    pub contract_schema: Option<Option<String>>,
    pub write_mode: Option<WriteMode>,
    /// Replaces the tenant's web origins (empty: none of its own).
    pub allowed_origins: Option<Vec<String>>,
    /// `Some(None)`: the deployment's trusted-documents mode again.
    pub documents_mode: Option<Option<DocumentsMode>>,
}

/// The tenant's own rate and concurrency limits (None: the server's default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantLimits {
    pub rate_limit_per_sec: Option<u32>,
    pub rate_limit_burst: Option<u32>,
    pub user_rate_limit_per_sec: Option<u32>,
    pub user_rate_limit_burst: Option<u32>,
    pub max_concurrent_operations: Option<u32>,
}

impl TenantLimits {
    pub fn of(row: &tenant::Model) -> Self {
        let limit = |value: Option<i32>| value.map(|v| v.max(0) as u32);
        TenantLimits {
            rate_limit_per_sec: limit(row.rate_limit_per_sec),
            rate_limit_burst: limit(row.rate_limit_burst),
            user_rate_limit_per_sec: limit(row.user_rate_limit_per_sec),
            user_rate_limit_burst: limit(row.user_rate_limit_burst),
            max_concurrent_operations: limit(row.max_concurrent_operations),
        }
    }
}

impl TenantChanges {
    /// The names of the settings this changes, for the audit row.
    pub fn changed_fields(&self) -> Vec<&'static str> {
        [
            ("name", self.display_name.is_some()),
            ("connectString", self.connect_string.is_some()),
            ("dbUser", self.db_username.is_some()),
            ("pool", self.pool.is_some()),
            ("limits", self.limits.is_some()),
            ("tunnel", self.tunnel.is_some()),
            ("contractSchema", self.contract_schema.is_some()),
            ("writeMode", self.write_mode.is_some()),
            ("allowedOrigins", self.allowed_origins.is_some()),
            ("documentsMode", self.documents_mode.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// Applies `changes`; a change to how the database is reached bumps the
/// tenant's `config_version`, so every instance replaces its pool.
pub async fn update(
    db: &impl ConnectionTrait,
    sealer: &Sealer,
    tenant: tenant::Model,
    changes: TenantChanges,
) -> Result<tenant::Model, AppError> {
    let reconnects = changes.connect_string.is_some()
        || changes.db_username.is_some()
        || changes.pool.is_some()
        || changes.tunnel.is_some()
        || changes.contract_schema.is_some()
        || changes.write_mode.is_some();
    let version = tenant.config_version;
    if let Some(Some(tunnel)) = &changes.tunnel {
        tunnel.validate(tenant.backend)?;
    }
    let contract = ContractPlacement {
        schema: changes
            .contract_schema
            .clone()
            .unwrap_or_else(|| tenant.contract_schema.clone()),
        write_mode: changes.write_mode.unwrap_or(tenant.write_mode),
    };
    contract.validate(tenant.backend)?;
    let tenant_id = tenant.id.clone();
    let mut active: tenant::ActiveModel = tenant.into();
    if let Some(name) = &changes.display_name {
        active.display_name = Set(validate_display_name(name)?);
    }
    if let Some(connect) = changes.connect_string {
        validate_connect_string(&connect)?;
        active.connect_string = Set(connect);
    }
    if let Some(user) = changes.db_username {
        let user = user.trim().to_string();
        active.db_username = Set((!user.is_empty()).then_some(user));
    }
    if let Some(pool) = changes.pool {
        pool.validate()?;
        active.pool_max_size = Set(pool.max_size as i32);
        active.pool_min_idle = Set(pool.min_idle as i32);
        active.pool_acquire_timeout_ms = Set(pool.acquire_timeout_ms as i32);
    }
    if let Some(limits) = changes.limits {
        let column = |value: Option<u32>| value.map(|v| v.min(i32::MAX as u32) as i32);
        active.rate_limit_per_sec = Set(column(limits.rate_limit_per_sec));
        active.rate_limit_burst = Set(column(limits.rate_limit_burst));
        active.user_rate_limit_per_sec = Set(column(limits.user_rate_limit_per_sec));
        active.user_rate_limit_burst = Set(column(limits.user_rate_limit_burst));
        active.max_concurrent_operations = Set(column(limits.max_concurrent_operations));
    }
    if let Some(tunnel) = &changes.tunnel {
        set_tunnel(&mut active, sealer, &tenant_id, tunnel.as_ref());
    }
    active.contract_schema = Set(contract.schema);
    active.write_mode = Set(contract.write_mode);
    if let Some(origins) = &changes.allowed_origins {
        active.allowed_origins = Set(stored_origins(origins)?);
    }
    if let Some(mode) = changes.documents_mode {
        active.documents_mode = Set(mode);
    }
    if reconnects {
        return save_reconnecting(db, active, version).await;
    }
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

/// Saves `active` with the next `config_version`: every instance replaces the
/// tenant's pool on its next request.
async fn save_reconnecting(
    db: &impl ConnectionTrait,
    mut active: tenant::ActiveModel,
    version: i64,
) -> Result<tenant::Model, AppError> {
    active.config_version = Set(version + 1);
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

/// Seals and stores a new database password; the pool reconnects with it.
pub async fn set_db_password(
    db: &impl ConnectionTrait,
    sealer: &Sealer,
    tenant: tenant::Model,
    password: &SecretString,
) -> Result<tenant::Model, AppError> {
    let sealed = sealer.seal_str(&tenant.id, DB_PASSWORD_FIELD, password);
    let version = tenant.config_version;
    let mut active: tenant::ActiveModel = tenant.into();
    active.db_password_sealed = Set(Some(sealed));
    save_reconnecting(db, active, version).await
}

/// A new `config_version`: every instance replaces the tenant's pool on its next request.
pub async fn bump_config_version(
    db: &impl ConnectionTrait,
    tenant: tenant::Model,
) -> Result<tenant::Model, AppError> {
    let version = tenant.config_version;
    save_reconnecting(db, tenant.into(), version).await
}

pub async fn set_status(
    db: &impl ConnectionTrait,
    tenant: tenant::Model,
    status: TenantStatus,
) -> Result<tenant::Model, AppError> {
    let mut active: tenant::ActiveModel = tenant.into();
    active.status = Set(status);
    active.updated_at = Set(Utc::now());
    if status == TenantStatus::Deleted {
        active.deleted_at = Set(Some(Utc::now()));
    }
    Ok(active.update(db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for good in ["acme", "globex-2", "a1b", &"a".repeat(40)] {
            assert!(validate_slug(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "ab",
            "admin",
            "graphql",
            "ac--me",
            &"a".repeat(41),
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
