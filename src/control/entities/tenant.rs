use sea_orm::entity::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum TenantStatus {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "suspended")]
    Suspended,
    /// Soft-deleted: kept for the audit trail, invisible to sign-in and requests,
    /// its slug never handed out again.
    #[sea_orm(string_value = "deleted")]
    Deleted,
}

/// Which store backend holds the tenant's ERP data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, clap::ValueEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum BackendKind {
    #[sea_orm(string_value = "sqlite")]
    Sqlite,
    #[sea_orm(string_value = "oracle")]
    Oracle,
    #[sea_orm(string_value = "postgres")]
    Postgres,
}

/// How tenantql writes to a tenant's database (`recordPayment`, `createInvoice`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, EnumIter, DeriveActiveEnum, clap::ValueEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum WriteMode {
    /// Into the contract's tables: databases tenantql created (demo, tenants created empty).
    #[default]
    #[sea_orm(string_value = "tables")]
    #[value(name = "tables")]
    Tables,
    /// Through the client's stored procedures, so the ERP's own rules and sequences apply.
    #[sea_orm(string_value = "procedures")]
    #[value(name = "procedures")]
    Procedures,
    /// Never: writes answer TENANT_READ_ONLY and touch nothing.
    #[sea_orm(string_value = "read-only")]
    #[value(name = "read-only")]
    ReadOnly,
}

impl WriteMode {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Tables => "tables",
            WriteMode::Procedures => "procedures",
            WriteMode::ReadOnly => "read-only",
        }
    }
}

/// Whether documents that were not published ahead of time may run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, EnumIter, DeriveActiveEnum, clap::ValueEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum DocumentsMode {
    /// Trusted documents are not consulted; requests by `documentId` are refused.
    #[sea_orm(string_value = "off")]
    #[value(name = "off")]
    Off,
    /// Free-form documents run, and published ones can be sent by id.
    #[default]
    #[sea_orm(string_value = "allow")]
    #[value(name = "allow")]
    Allow,
    /// As `allow`, and every free-form document not in the list is counted and logged.
    #[sea_orm(string_value = "log-unknown")]
    #[value(name = "log-unknown")]
    LogUnknown,
    /// Only published documents run: free-form ones are refused before parsing.
    #[sea_orm(string_value = "require")]
    #[value(name = "require")]
    Require,
}

impl DocumentsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentsMode::Off => "off",
            DocumentsMode::Allow => "allow",
            DocumentsMode::LogUnknown => "log-unknown",
            DocumentsMode::Require => "require",
        }
    }
}

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub slug: String,
    pub display_name: String,
    pub status: TenantStatus,
    pub backend: BackendKind,
    /// SQLite: a file path. Oracle: an Easy Connect string (`host:port/service`).
    /// PostgreSQL: `host[:port]/database` or a `postgres://` URL without password.
    pub connect_string: String,
    pub db_username: Option<String>,
    /// Sealed with AAD (tenant id, `db_password`); see `sealing`.
    pub db_password_sealed: Option<String>,
    pub ssh_host: Option<String>,
    pub ssh_port: Option<i32>,
    pub ssh_user: Option<String>,
    /// Sealed with AAD (tenant id, `ssh_private_key`).
    pub ssh_private_key_sealed: Option<String>,
    /// The bastion's expected host key (OpenSSH public key line or SHA256 fingerprint).
    pub ssh_host_key: Option<String>,
    pub pool_max_size: i32,
    pub pool_min_idle: i32,
    pub pool_acquire_timeout_ms: i32,
    /// Bumped on every change of connection settings, so pools know to be replaced.
    pub config_version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
    /// Operations per second the whole tenant may start (None: the server default).
    pub rate_limit_per_sec: Option<i32>,
    pub rate_limit_burst: Option<i32>,
    /// Operations per second one user of the tenant may start.
    pub user_rate_limit_per_sec: Option<i32>,
    pub user_rate_limit_burst: Option<i32>,
    /// Operations of the tenant that may execute at once on one instance.
    pub max_concurrent_operations: Option<i32>,
    /// Where the contract's relations and procedures live (an Oracle or
    /// PostgreSQL schema); None: the session's own schema (SQLite: `main`).
    pub contract_schema: Option<String>,
    pub write_mode: WriteMode,
    /// The web origins of the tenant's own apps (a JSON array; see `origins`).
    pub allowed_origins: Option<String>,
    /// Whether free-form documents run for this tenant (None: the deployment's mode).
    pub documents_mode: Option<DocumentsMode>,
}

/// Sealed columns are left out on purpose: a tenant row may be logged.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("status", &self.status)
            .field("backend", &self.backend)
            .field("config_version", &self.config_version)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::membership::Entity")]
    Membership,
}

impl Related<super::membership::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Membership.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
