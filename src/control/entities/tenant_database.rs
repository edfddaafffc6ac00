use sea_orm::entity::prelude::*;

/// Where tenantql's own objects in a tenant database stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum MigrationStatus {
    /// Never migrated by a runner (the version is what a seed recorded, or 0).
    #[sea_orm(string_value = "unknown")]
    Unknown,
    #[sea_orm(string_value = "migrating")]
    Migrating,
    #[sea_orm(string_value = "current")]
    Current,
    #[sea_orm(string_value = "failed")]
    Failed,
}

impl MigrationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationStatus::Unknown => "unknown",
            MigrationStatus::Migrating => "migrating",
            MigrationStatus::Current => "current",
            MigrationStatus::Failed => "failed",
        }
    }
}

/// tenantql's objects inside one tenant's database, as the control plane knows them.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_databases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    /// The last step applied (0: none).
    pub schema_version: i32,
    pub status: MigrationStatus,
    /// Attempts since the tenant was last at the version it was migrated to.
    pub attempt: i32,
    /// Our wording of the last failure: the step, and the database's message.
    pub last_error: Option<String>,
    pub duration_ms: Option<i64>,
    pub last_rollout_id: Option<String>,
    /// The runner holding the tenant (one at a time, across instances and commands).
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
