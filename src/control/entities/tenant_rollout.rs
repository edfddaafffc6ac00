use sea_orm::entity::prelude::*;

/// One run of the tenant-database migrator: what it aimed at and how it ended.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_rollouts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub target_version: i32,
    /// Who started it (e-mail, or `cli:<user>`).
    pub actor: String,
    /// Tenants migrated first; the rollout stops if any of them fails.
    pub canary: Option<i32>,
    /// running, completed, stopped (a canary failed), failed (some tenant failed).
    pub status: String,
    pub requested: i32,
    pub succeeded: i32,
    pub failed: i32,
    /// Already at the target, or left out because the canary failed.
    pub skipped: i32,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
