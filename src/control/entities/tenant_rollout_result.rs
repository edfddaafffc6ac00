use sea_orm::entity::prelude::*;

/// One tenant's outcome in a rollout.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_rollout_results")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub rollout_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    pub from_version: i32,
    pub to_version: i32,
    /// migrated, current (nothing to do), failed, locked (another runner held it), skipped.
    pub outcome: String,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub finished_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
