//! Databases tenantql does not own: where a tenant's contract objects live and
//! how it writes (`contract_schema`, `write_mode`), and the state of tenantql's
//! own objects inside each tenant database — the version a rollout brought it
//! to, the last attempt and its error, and the lease that keeps two runners off
//! one tenant — with every rollout and its per-tenant outcome on record.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one change at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(string_len_null(Tenants::ContractSchema, 128))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(string_len(Tenants::WriteMode, 16).default("tables"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TenantDatabases::Table)
                    .col(string_len(TenantDatabases::TenantId, 36).primary_key())
                    .col(integer(TenantDatabases::SchemaVersion).default(0))
                    .col(string_len(TenantDatabases::Status, 16))
                    .col(integer(TenantDatabases::Attempt).default(0))
                    .col(text_null(TenantDatabases::LastError))
                    .col(big_integer_null(TenantDatabases::DurationMs))
                    .col(string_len_null(TenantDatabases::LastRolloutId, 36))
                    .col(string_len_null(TenantDatabases::LockedBy, 64))
                    .col(timestamp_with_time_zone_null(TenantDatabases::LockedUntil))
                    .col(timestamp_with_time_zone(TenantDatabases::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tenant_databases_tenant")
                            .from(TenantDatabases::Table, TenantDatabases::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TenantRollouts::Table)
                    .col(string_len(TenantRollouts::Id, 36).primary_key())
                    .col(integer(TenantRollouts::TargetVersion))
                    .col(string_len(TenantRollouts::Actor, 254))
                    .col(integer_null(TenantRollouts::Canary))
                    .col(string_len(TenantRollouts::Status, 16))
                    .col(integer(TenantRollouts::Requested))
                    .col(integer(TenantRollouts::Succeeded).default(0))
                    .col(integer(TenantRollouts::Failed).default(0))
                    .col(integer(TenantRollouts::Skipped).default(0))
                    .col(timestamp_with_time_zone(TenantRollouts::StartedAt))
                    .col(timestamp_with_time_zone_null(TenantRollouts::FinishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TenantRolloutResults::Table)
                    .col(string_len(TenantRolloutResults::RolloutId, 36))
                    .col(string_len(TenantRolloutResults::TenantId, 36))
                    .col(integer(TenantRolloutResults::FromVersion))
                    .col(integer(TenantRolloutResults::ToVersion))
                    .col(string_len(TenantRolloutResults::Outcome, 16))
                    .col(text_null(TenantRolloutResults::Error))
                    .col(big_integer(TenantRolloutResults::DurationMs))
                    .col(timestamp_with_time_zone(TenantRolloutResults::FinishedAt))
                    .primary_key(
                        Index::create()
                            .col(TenantRolloutResults::RolloutId)
                            .col(TenantRolloutResults::TenantId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tenant_rollout_results_rollout")
                            .from(TenantRolloutResults::Table, TenantRolloutResults::RolloutId)
                            .to(TenantRollouts::Table, TenantRollouts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TenantRolloutResults::Table.into_iden(),
            TenantRollouts::Table.into_iden(),
            TenantDatabases::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for column in [Tenants::WriteMode, Tenants::ContractSchema] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tenants::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    ContractSchema,
    WriteMode,
}

#[derive(DeriveIden)]
enum TenantDatabases {
    Table,
    TenantId,
    SchemaVersion,
    Status,
    Attempt,
    LastError,
    DurationMs,
    LastRolloutId,
    LockedBy,
    LockedUntil,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TenantRollouts {
    Table,
    Id,
    TargetVersion,
    Actor,
    Canary,
    Status,
    Requested,
    Succeeded,
    Failed,
    Skipped,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum TenantRolloutResults {
    Table,
    RolloutId,
    TenantId,
    FromVersion,
    ToVersion,
    Outcome,
    Error,
    DurationMs,
    FinishedAt,
}
