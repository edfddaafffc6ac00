//! The platform admin's API: tenants, their connections, keys and pools, and the
//! whole audit log. Every field is guarded by `PlatformAdmin`; the same use cases
//! back the CLI (`admin::registry`).
use async_graphql::{connection::Connection, Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::{
    audit_log::{self, AuditLogEntry, AuditLogFilter},
    tenant_database::{ContractHealth, TenantDatabaseState},
};
use crate::{
    admin::registry,
    control::{
        entities::{
            tenant,
            tenant::{BackendKind, DocumentsMode, TenantStatus as RowStatus, WriteMode},
        },
        tenant_databases,
        tenants::{
            self, ContractPlacement, NewTenant, PoolLimits, TenantChanges, TenantFilter,
            TenantLimits, TunnelConfig, DEFAULT_SSH_PORT,
        },
    },
    error::AppError,
    origins::OriginList,
    paging,
    resolvers::{actor, auth::TenantStatus, connection, guards::PlatformAdmin, services},
    tenancy::{
        breaker::BreakerState as PoolBreaker,
        pools::{Hop, PoolStats},
        tunnel::{TunnelState as PoolTunnelState, TunnelStatus},
    },
};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TenantBackend {
    Sqlite,
    Oracle,
    Postgres,
}

impl From<BackendKind> for TenantBackend {
    fn from(kind: BackendKind) -> Self {
        match kind {
            BackendKind::Sqlite => TenantBackend::Sqlite,
            BackendKind::Oracle => TenantBackend::Oracle,
            BackendKind::Postgres => TenantBackend::Postgres,
        }
    }
}

impl From<TenantBackend> for BackendKind {
    fn from(kind: TenantBackend) -> Self {
        match kind {
            TenantBackend::Sqlite => BackendKind::Sqlite,
            TenantBackend::Oracle => BackendKind::Oracle,
            TenantBackend::Postgres => BackendKind::Postgres,
        }
    }
}

/// The SSH bastion in front of a tenant's database.
#[derive(InputObject)]
pub struct TunnelInput {
    pub host: String,
    /// Default 22.
    pub port: Option<u16>,
    pub user: String,
    /// An unencrypted OpenSSH or PEM private key. Sealed before it is stored;
    /// never shown or logged.
    pub private_key: String,
    /// The bastion's host key as an OpenSSH public key line
    /// (`ssh-ed25519 AAAA…`, from `ssh-keyscan`) or its `SHA256:…` fingerprint.
    /// A bastion showing another key is refused.
    pub host_key: String,
}

impl From<TunnelInput> for TunnelConfig {
    fn from(t: TunnelInput) -> Self {
        TunnelConfig {
            host: t.host.trim().to_string(),
            port: t.port.unwrap_or(DEFAULT_SSH_PORT),
            user: t.user.trim().to_string(),
            private_key: SecretString::from(t.private_key),
            host_key: t.host_key,
        }
    }
}

/// A tenant's bastion as stored (its private key is never shown).
#[derive(SimpleObject)]
pub struct TunnelSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub host_key: String,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TunnelState {
    /// The first SSH connection is being made.
    Connecting,
    /// Sessions are forwarded.
    Up,
    /// Lost or never made; retried with backoff. The tenant is TENANT_UNAVAILABLE.
    Down,
}

/// This instance's tunnel for the tenant's open pool.
#[derive(SimpleObject)]
pub struct TunnelHealth {
    pub state: TunnelState,
    /// When it entered that state.
    pub since: DateTime<Utc>,
    /// Reconnections after the first connection.
    pub reconnects: u64,
    /// Why it last went down.
    pub last_error: Option<String>,
}

impl From<&TunnelStatus> for TunnelHealth {
    fn from(t: &TunnelStatus) -> Self {
        TunnelHealth {
            state: match t.state {
                PoolTunnelState::Connecting => TunnelState::Connecting,
                PoolTunnelState::Up => TunnelState::Up,
                PoolTunnelState::Down => TunnelState::Down,
            },
            since: t.since,
            reconnects: t.reconnects,
            last_error: t.last_error.map(str::to_string),
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests reach the database.
    Closed,
    /// The database failed repeatedly: requests fail fast until the next probe.
    Open,
    /// One request is probing the database.
    HalfOpen,
}

/// How a tenant's database looks from this instance.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TenantHealth {
    /// Answering.
    Healthy,
    /// No pool open on this instance (never used, or closed when idle).
    Idle,
    /// Failing: requests get TENANT_UNAVAILABLE until a probe succeeds.
    Unavailable,
    /// Reachable, but its database lacks something the contract names:
    /// requests that need it get TENANT_CONTRACT_BROKEN (see `contractFault`).
    ContractBroken,
    /// Suspended or deleted: requests are refused before reaching the database.
    Disabled,
}

/// Per-tenant pool limits. They apply per server instance: with N instances the
/// tenant's database sees up to N × maxSize sessions.
#[derive(SimpleObject, InputObject, Clone, Copy)]
#[graphql(input_name = "PoolLimitsInput")]
pub struct PoolLimitSettings {
    pub max_size: u32,
    pub min_idle: u32,
    pub acquire_timeout_ms: u32,
}

impl From<PoolLimits> for PoolLimitSettings {
    fn from(p: PoolLimits) -> Self {
        PoolLimitSettings {
            max_size: p.max_size,
            min_idle: p.min_idle,
            acquire_timeout_ms: p.acquire_timeout_ms,
        }
    }
}

impl From<PoolLimitSettings> for PoolLimits {
    fn from(p: PoolLimitSettings) -> Self {
        PoolLimits {
            max_size: p.max_size,
            min_idle: p.min_idle,
            acquire_timeout_ms: p.acquire_timeout_ms,
        }
    }
}

/// A tenant's own operation limits; a null is the server's default, 0 a rate
/// turned off.
#[derive(SimpleObject, InputObject, Debug, Clone, Copy, Default)]
#[graphql(input_name = "OperationLimitsInput")]
pub struct OperationLimits {
    /// Operations per second the whole tenant may start (on all instances).
    pub rate_limit_per_sec: Option<u32>,
    pub rate_limit_burst: Option<u32>,
    /// Operations per second each user of the tenant may start.
    pub user_rate_limit_per_sec: Option<u32>,
    pub user_rate_limit_burst: Option<u32>,
    /// Its operations executing at once on one instance.
    pub max_concurrent_operations: Option<u32>,
}

impl From<TenantLimits> for OperationLimits {
    fn from(l: TenantLimits) -> Self {
        OperationLimits {
            rate_limit_per_sec: l.rate_limit_per_sec,
            rate_limit_burst: l.rate_limit_burst,
            user_rate_limit_per_sec: l.user_rate_limit_per_sec,
            user_rate_limit_burst: l.user_rate_limit_burst,
            max_concurrent_operations: l.max_concurrent_operations,
        }
    }
}

impl From<OperationLimits> for TenantLimits {
    fn from(l: OperationLimits) -> Self {
        TenantLimits {
            rate_limit_per_sec: l.rate_limit_per_sec,
            rate_limit_burst: l.rate_limit_burst,
            user_rate_limit_per_sec: l.user_rate_limit_per_sec,
            user_rate_limit_burst: l.user_rate_limit_burst,
            max_concurrent_operations: l.max_concurrent_operations,
        }
    }
}

/// This instance's pool for the tenant.
#[derive(SimpleObject)]
pub struct TenantPoolStats {
    pub open: bool,
    pub config_version: i64,
    pub max_size: u32,
    pub size: u32,
    pub idle: u32,
    pub in_use: u32,
    pub waiters: u32,
    pub pools_created: u64,
    pub timeouts: u64,
    pub round_trips: u64,
    pub breaker: BreakerState,
    /// Null unless the tenant is behind an SSH bastion.
    pub tunnel: Option<TunnelHealth>,
}

impl From<&PoolStats> for TenantPoolStats {
    fn from(s: &PoolStats) -> Self {
        let small = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        TenantPoolStats {
            open: s.open,
            config_version: s.config_version,
            max_size: small(s.max_size),
            size: small(s.size),
            idle: small(s.idle),
            in_use: small(s.in_use),
            waiters: small(s.waiters),
            pools_created: s.pools_created,
            timeouts: s.timeouts,
            round_trips: s.round_trips,
            breaker: match s.breaker {
                PoolBreaker::Closed => BreakerState::Closed,
                PoolBreaker::Open => BreakerState::Open,
                PoolBreaker::HalfOpen => BreakerState::HalfOpen,
            },
            tunnel: s.tunnel.as_ref().map(TunnelHealth::from),
        }
    }
}

/// A tenant as its operator sees it. Secrets are never shown, only whether set.
pub struct TenantDetails {
    row: tenant::Model,
}

#[Object]
impl TenantDetails {
    async fn id(&self) -> ID {
        ID(self.row.id.clone())
    }
    async fn slug(&self) -> &str {
        &self.row.slug
    }
    async fn name(&self) -> &str {
        &self.row.display_name
    }
    async fn status(&self) -> TenantStatus {
        self.row.status.into()
    }
    async fn backend(&self) -> TenantBackend {
        self.row.backend.into()
    }
    /// SQLite: a file path. Oracle: an Easy Connect string. PostgreSQL:
    /// `host[:port]/database` or a `postgres://` URL without password. Behind a
    /// bastion, the host is as the bastion sees it.
    async fn connect_string(&self) -> &str {
        &self.row.connect_string
    }
    /// The SSH bastion its sessions go through, if any.
    async fn tunnel(&self) -> Option<TunnelSettings> {
        let row = &self.row;
        Some(TunnelSettings {
            host: row.ssh_host.clone()?,
            port: row
                .ssh_port
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(DEFAULT_SSH_PORT),
            user: row.ssh_user.clone().unwrap_or_default(),
            host_key: row.ssh_host_key.clone().unwrap_or_default(),
        })
    }
    async fn db_user(&self) -> Option<&str> {
        self.row.db_username.as_deref()
    }
    /// The schema its contract objects live in; null: the account's own.
    async fn contract_schema(&self) -> Option<&str> {
        self.row.contract_schema.as_deref()
    }
    async fn write_mode(&self) -> TenantWriteMode {
        self.row.write_mode.into()
    }
    /// Whether documents not published ahead of time run for its callers.
    async fn documents_mode(&self) -> TenantDocumentsMode {
        TenantDocumentsMode::of(self.row.documents_mode)
    }
    /// Web origins whose pages may call tenantql with this tenant's tokens,
    /// beyond the deployment's (`TENANTQL_CORS_ALLOWED_ORIGINS`).
    async fn allowed_origins(&self) -> Vec<String> {
        OriginList::from_stored(self.row.allowed_origins.as_deref()).rules()
    }
    /// Rate and concurrency limits of its operations.
    async fn limits(&self) -> OperationLimits {
        TenantLimits::of(&self.row).into()
    }
    /// Whether a database password is stored (sealed; it is never shown).
    async fn db_password_set(&self) -> bool {
        self.row.db_password_sealed.is_some()
    }
    async fn pool_limits(&self) -> PoolLimitSettings {
        PoolLimits::of(&self.row).into()
    }
    /// Bumped by every change of how the database is reached; pools follow it.
    async fn config_version(&self) -> i64 {
        self.row.config_version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.row.deleted_at
    }
    /// This instance's pool; null until the tenant's first request here.
    async fn pool_stats(&self, ctx: &Context<'_>) -> Option<TenantPoolStats> {
        services(ctx)
            .pools
            .stats(&self.row.id)
            .as_ref()
            .map(TenantPoolStats::from)
    }
    /// What this instance last found missing from the tenant's database (a
    /// passing `checkTenantDatabase` clears it); null: nothing.
    async fn contract_fault(&self, ctx: &Context<'_>) -> Option<ContractHealth> {
        services(ctx)
            .pools
            .stats(&self.row.id)?
            .contract_fault
            .map(Into::into)
    }
    /// tenantql's own objects in its database: version, last run, features.
    async fn database(&self, ctx: &Context<'_>) -> async_graphql::Result<TenantDatabaseState> {
        Ok(TenantDatabaseState {
            row: tenant_databases::get(&services(ctx).control.db, &self.row.id).await?,
        })
    }
    async fn health(&self, ctx: &Context<'_>) -> TenantHealth {
        if self.row.status != RowStatus::Active {
            return TenantHealth::Disabled;
        }
        match services(ctx).pools.stats(&self.row.id) {
            Some(s) if s.breaker != PoolBreaker::Closed => TenantHealth::Unavailable,
            Some(s) if s.contract_fault.is_some() => TenantHealth::ContractBroken,
            Some(s) if s.open => TenantHealth::Healthy,
            _ => TenantHealth::Idle,
        }
    }
}

impl From<tenant::Model> for TenantDetails {
    fn from(row: tenant::Model) -> Self {
        TenantDetails { row }
    }
}

#[derive(InputObject)]
pub struct CreateTenantInput {
    /// 3-40 characters of a-z, 0-9 and '-', starting with a letter; see `slugAvailable`.
    pub slug: String,
    /// Display name (default: the slug).
    pub name: Option<String>,
    pub backend: TenantBackend,
    /// SQLite: a file path. Oracle: an Easy Connect string (`host:port/service`).
    /// PostgreSQL: `host[:port]/database` or a `postgres://` URL without password.
    pub connect_string: String,
    pub db_user: Option<String>,
    /// Sealed before it is stored; never shown or logged.
    pub db_password: Option<String>,
    /// Default: max 10, warm 0, acquire timeout 5000 ms.
    pub pool_limits: Option<PoolLimitSettings>,
    /// Replaces all of the tenant's operation limits.
    pub limits: Option<OperationLimits>,
    /// Reach the database through this SSH bastion (Oracle and PostgreSQL).
    pub tunnel: Option<TunnelInput>,
    /// The schema holding the contract's views and procedures (Oracle and
    /// PostgreSQL); default: the database account's own schema.
    pub contract_schema: Option<String>,
    /// Default TABLES (a database tenantql created).
    pub write_mode: Option<TenantWriteMode>,
    /// Web origins of the tenant's own apps: `https://erp.client.example`, or
    /// `https://*.client.example` for its subdomains; at most 50.
    pub allowed_origins: Option<Vec<String>>,
}

/// Only the fields given change.
#[derive(InputObject)]
pub struct UpdateTenantInput {
    pub name: Option<String>,
    pub connect_string: Option<String>,
    /// An empty string removes the user.
    pub db_user: Option<String>,
    pub pool_limits: Option<PoolLimitSettings>,
    /// Replaces all of the tenant's operation limits.
    pub limits: Option<OperationLimits>,
    /// Sets (or replaces) the SSH bastion.
    pub tunnel: Option<TunnelInput>,
    /// Connects directly again.
    pub remove_tunnel: Option<bool>,
    /// An empty string: the database account's own schema.
    pub contract_schema: Option<String>,
    pub write_mode: Option<TenantWriteMode>,
    /// Replaces the tenant's web origins; an empty list: none of its own.
    pub allowed_origins: Option<Vec<String>>,
    /// Whether documents not published ahead of time run for its callers.
    pub documents_mode: Option<TenantDocumentsMode>,
}

/// A tenant's trusted-documents mode.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TenantDocumentsMode {
    /// The deployment's mode (TENANTQL_PERSISTED_DOCUMENTS).
    Deployment,
    /// Requests by documentId are refused; free-form documents run.
    Off,
    /// Free-form documents run; published ones may be sent by id.
    Allow,
    /// As ALLOW; free-form documents not in the list are counted and logged.
    LogUnknown,
    /// Only published documents run (PERSISTED_QUERY_ID_REQUIRED otherwise).
    Require,
}

impl TenantDocumentsMode {
    fn of(mode: Option<DocumentsMode>) -> Self {
        match mode {
            None => TenantDocumentsMode::Deployment,
            Some(DocumentsMode::Off) => TenantDocumentsMode::Off,
            Some(DocumentsMode::Allow) => TenantDocumentsMode::Allow,
            Some(DocumentsMode::LogUnknown) => TenantDocumentsMode::LogUnknown,
            Some(DocumentsMode::Require) => TenantDocumentsMode::Require,
        }
    }

    fn stored(self) -> Option<DocumentsMode> {
        match self {
            TenantDocumentsMode::Deployment => None,
            TenantDocumentsMode::Off => Some(DocumentsMode::Off),
            TenantDocumentsMode::Allow => Some(DocumentsMode::Allow),
            TenantDocumentsMode::LogUnknown => Some(DocumentsMode::LogUnknown),
            TenantDocumentsMode::Require => Some(DocumentsMode::Require),
        }
    }
}

/// How tenantql writes to a tenant's database.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TenantWriteMode {
    /// Into the contract's tables: a database tenantql created.
    Tables,
    /// Through the client's stored procedures (`tenantql_record_payment`,
    /// `tenantql_create_invoice`), so the ERP's own rules and sequences apply.
    Procedures,
    /// Writes answer TENANT_READ_ONLY and touch nothing.
    ReadOnly,
}

impl From<WriteMode> for TenantWriteMode {
    fn from(mode: WriteMode) -> Self {
        match mode {
            WriteMode::Tables => TenantWriteMode::Tables,
            WriteMode::Procedures => TenantWriteMode::Procedures,
            WriteMode::ReadOnly => TenantWriteMode::ReadOnly,
        }
    }
}

impl From<TenantWriteMode> for WriteMode {
    fn from(mode: TenantWriteMode) -> Self {
        match mode {
            TenantWriteMode::Tables => WriteMode::Tables,
            TenantWriteMode::Procedures => WriteMode::Procedures,
            TenantWriteMode::ReadOnly => WriteMode::ReadOnly,
        }
    }
}

#[derive(InputObject, Default)]
pub struct TenantListFilter {
    /// Default: every status but DELETED.
    pub status: Option<TenantStatus>,
    pub backend: Option<TenantBackend>,
    /// Part of the slug or name.
    pub search: Option<String>,
}

/// The answer of a connection test, with a reason safe to show when it failed.
#[derive(SimpleObject)]
pub struct ConnectionTest {
    pub reachable: bool,
    pub latency_ms: f64,
    pub reason: Option<String>,
    /// Each hop in order: `tunnel` (behind a bastion), `database`, then
    /// `schema` (the database held against the contract: its first error, as
    /// `checkTenantDatabase` lists them all). A hop after a failed one is not tried.
    pub hops: Vec<ConnectionHop>,
}

#[derive(SimpleObject)]
pub struct ConnectionHop {
    pub name: String,
    pub reachable: bool,
    pub latency_ms: f64,
    pub reason: Option<String>,
}

impl From<Hop> for ConnectionHop {
    fn from(hop: Hop) -> Self {
        ConnectionHop {
            name: hop.name.to_string(),
            reachable: hop.reason.is_none(),
            latency_ms: hop.latency.as_secs_f64() * 1000.0,
            reason: hop.reason,
        }
    }
}

#[derive(SimpleObject)]
pub struct SigningKeyRotation {
    /// The new key's id; tokens signed by the old key no longer verify.
    pub kid: String,
}

#[derive(Default)]
pub struct PlatformQuery;

#[Object]
impl PlatformQuery {
    /// Whether a new tenant could get this slug (well-formed, not reserved, unused).
    #[graphql(guard = "PlatformAdmin")]
    async fn slug_available(&self, ctx: &Context<'_>, slug: String) -> async_graphql::Result<bool> {
        Ok(registry::slug_available(services(ctx), &slug).await?)
    }

    /// Tenants by slug.
    #[graphql(guard = "PlatformAdmin")]
    async fn tenants(
        &self,
        ctx: &Context<'_>,
        filter: Option<TenantListFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, TenantDetails>> {
        let filter = filter.unwrap_or_default();
        let filter = TenantFilter {
            status: filter.status.map(Into::into),
            backend: filter.backend.map(Into::into),
            search: filter.search,
        };
        let first = paging::page_size(first)?;
        let after = after
            .map(|cursor| paging::decode(&cursor, 1).map(|mut parts| parts.remove(0)))
            .transpose()?;
        let (rows, has_next) =
            tenants::page(&services(ctx).control.db, &filter, first, after.as_deref()).await?;
        Ok(connection(
            rows,
            has_next,
            |row| paging::encode(&[&row.slug]),
            TenantDetails::from,
        ))
    }

    /// One tenant, deleted ones included, with its pool and health on this instance.
    #[graphql(guard = "PlatformAdmin")]
    async fn tenant(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<TenantDetails> {
        Ok(tenants::find_any_by_slug(&services(ctx).control.db, &slug)
            .await?
            .ok_or(AppError::NotFound("tenant"))?
            .into())
    }

    /// The whole audit log, newest first.
    #[graphql(guard = "PlatformAdmin")]
    async fn platform_audit_logs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Limit to one tenant, by slug.")] tenant: Option<String>,
        filter: Option<AuditLogFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, AuditLogEntry>> {
        let filter = filter.unwrap_or_default().scoped(None, tenant);
        Ok(audit_log::page(
            services(ctx),
            filter,
            first,
            after,
            audit_log::Reader::Platform,
        )
        .await?)
    }
}

#[derive(Default)]
pub struct PlatformMutation;

#[Object]
impl PlatformMutation {
    /// Adds a tenant and its signing key.
    #[graphql(guard = "PlatformAdmin")]
    async fn create_tenant(
        &self,
        ctx: &Context<'_>,
        input: CreateTenantInput,
    ) -> async_graphql::Result<TenantDetails> {
        let new = NewTenant {
            display_name: input.name.unwrap_or_else(|| input.slug.clone()),
            slug: input.slug,
            backend: input.backend.into(),
            connect_string: input.connect_string,
            db_username: input.db_user.filter(|u| !u.trim().is_empty()),
            db_password: input.db_password.map(SecretString::from),
            pool: input.pool_limits.map(Into::into).unwrap_or_default(),
            tunnel: input.tunnel.map(Into::into),
            contract: ContractPlacement {
                schema: input.contract_schema.filter(|s| !s.trim().is_empty()),
                write_mode: input.write_mode.map(Into::into).unwrap_or_default(),
            },
            allowed_origins: input.allowed_origins.unwrap_or_default(),
        };
        Ok(registry::add_tenant(services(ctx), &actor(ctx), new)
            .await?
            .into())
    }

    /// Changes a tenant's name, connection or pool limits. A connection or pool
    /// change gives it a new configVersion: every instance replaces its pool.
    #[graphql(guard = "PlatformAdmin")]
    async fn update_tenant(
        &self,
        ctx: &Context<'_>,
        slug: String,
        input: UpdateTenantInput,
    ) -> async_graphql::Result<TenantDetails> {
        let tunnel = match (input.tunnel, input.remove_tunnel.unwrap_or(false)) {
            (Some(_), true) => {
                return Err(AppError::bad_input(
                    "removeTunnel",
                    "give either `tunnel` or `removeTunnel`, not both",
                )
                .into())
            }
            (Some(tunnel), false) => Some(Some(tunnel.into())),
            (None, true) => Some(None),
            (None, false) => None,
        };
        let changes = TenantChanges {
            display_name: input.name,
            connect_string: input.connect_string,
            db_username: input.db_user,
            pool: input.pool_limits.map(Into::into),
            limits: input.limits.map(Into::into),
            tunnel,
            contract_schema: input
                .contract_schema
                .map(|s| Some(s.trim().to_string()).filter(|s| !s.is_empty())),
            write_mode: input.write_mode.map(Into::into),
            allowed_origins: input.allowed_origins,
            documents_mode: input.documents_mode.map(TenantDocumentsMode::stored),
        };
        Ok(
            registry::update_tenant(services(ctx), &actor(ctx), &slug, changes)
                .await?
                .into(),
        )
    }

    /// Drops every cached answer of the tenant's hot reads, on every instance
    /// (after its data was changed outside tenantql, say).
    #[graphql(guard = "PlatformAdmin")]
    async fn invalidate_tenant_cache(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<bool> {
        let services = services(ctx);
        let tenant = tenants::find_by_slug(&services.control.db, &slug)
            .await?
            .ok_or(AppError::NotFound("tenant"))?;
        services.cache.invalidate(&tenant.id).await;
        Ok(true)
    }

    /// Its members' requests answer TENANT_SUSPENDED (within the context-cache bound).
    #[graphql(guard = "PlatformAdmin")]
    async fn suspend_tenant(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<TenantDetails> {
        Ok(
            registry::set_tenant_status(services(ctx), &actor(ctx), &slug, RowStatus::Suspended)
                .await?
                .into(),
        )
    }

    #[graphql(guard = "PlatformAdmin")]
    async fn activate_tenant(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<TenantDetails> {
        Ok(
            registry::set_tenant_status(services(ctx), &actor(ctx), &slug, RowStatus::Active)
                .await?
                .into(),
        )
    }

    /// Soft delete: the row stays for the audit trail, tokens end, the slug is
    /// never reused. `confirm` must repeat the slug.
    #[graphql(guard = "PlatformAdmin")]
    async fn delete_tenant(
        &self,
        ctx: &Context<'_>,
        slug: String,
        confirm: String,
    ) -> async_graphql::Result<TenantDetails> {
        Ok(
            registry::delete_tenant(services(ctx), &actor(ctx), &slug, &confirm)
                .await?
                .into(),
        )
    }

    /// Stores a new database password (sealed; never echoed or logged).
    #[graphql(guard = "PlatformAdmin")]
    async fn rotate_tenant_credentials(
        &self,
        ctx: &Context<'_>,
        slug: String,
        db_password: String,
    ) -> async_graphql::Result<TenantDetails> {
        let password = SecretString::from(db_password);
        Ok(
            registry::rotate_credentials(services(ctx), &actor(ctx), &slug, &password)
                .await?
                .into(),
        )
    }

    /// A new signing key for the tenant: every token signed by the old one stops
    /// verifying (at once here, within the context-cache bound elsewhere).
    #[graphql(guard = "PlatformAdmin")]
    async fn rotate_tenant_signing_key(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<SigningKeyRotation> {
        let kid = registry::rotate_signing_key(services(ctx), &actor(ctx), Some(&slug)).await?;
        Ok(SigningKeyRotation { kid })
    }

    /// Opens one session to the tenant's database outside its pool (through a
    /// fresh tunnel if it is behind a bastion) and runs a trivial statement.
    #[graphql(guard = "PlatformAdmin")]
    async fn test_tenant_connection(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<ConnectionTest> {
        let probe = registry::test_connection(services(ctx), &actor(ctx), &slug).await?;
        Ok(ConnectionTest {
            reachable: probe.reason.is_none(),
            latency_ms: probe.latency.as_secs_f64() * 1000.0,
            reason: probe.reason,
            hops: probe.hops.into_iter().map(Into::into).collect(),
        })
    }

    /// Closes the tenant's pools so the next request opens fresh sessions.
    #[graphql(guard = "PlatformAdmin")]
    async fn reload_tenant_pool(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<TenantDetails> {
        Ok(registry::reload_pool(services(ctx), &actor(ctx), &slug)
            .await?
            .into())
    }
}
