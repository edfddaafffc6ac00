//! Tenants, users, memberships, signing keys, audit log and control-plane metadata.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ControlMeta::Table)
                    .col(string_len(ControlMeta::Key, 64).primary_key())
                    .col(text(ControlMeta::Value))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(string_len(Tenants::Id, 36).primary_key())
                    .col(string_len_uniq(Tenants::Slug, 63))
                    .col(string_len(Tenants::DisplayName, 200))
                    .col(string_len(Tenants::Status, 16))
                    .col(string_len(Tenants::Backend, 16))
                    .col(text(Tenants::ConnectString))
                    .col(string_len_null(Tenants::DbUsername, 128))
                    .col(text_null(Tenants::DbPasswordSealed))
                    .col(string_len_null(Tenants::SshHost, 255))
                    .col(integer_null(Tenants::SshPort))
                    .col(string_len_null(Tenants::SshUser, 128))
                    .col(text_null(Tenants::SshPrivateKeySealed))
                    .col(integer(Tenants::PoolMaxSize))
                    .col(integer(Tenants::PoolMinIdle))
                    .col(integer(Tenants::PoolAcquireTimeoutMs))
                    .col(big_integer(Tenants::ConfigVersion))
                    .col(timestamp_with_time_zone(Tenants::CreatedAt))
                    .col(timestamp_with_time_zone(Tenants::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(string_len(Users::Id, 36).primary_key())
                    .col(string_len_uniq(Users::Email, 254))
                    .col(text(Users::PasswordHash))
                    .col(boolean(Users::IsPlatformAdmin))
                    .col(boolean(Users::Disabled))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(string_len(Memberships::UserId, 36))
                    .col(string_len(Memberships::TenantId, 36))
                    .col(string_len(Memberships::Role, 16))
                    .col(timestamp_with_time_zone(Memberships::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(Memberships::UserId)
                            .col(Memberships::TenantId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_memberships_user")
                            .from(Memberships::Table, Memberships::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_memberships_tenant")
                            .from(Memberships::Table, Memberships::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_memberships_tenant")
                    .table(Memberships::Table)
                    .col(Memberships::TenantId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(string_len(SigningKeys::Kid, 64).primary_key())
                    // NULL: the platform key, which signs platform-admin tokens.
                    .col(string_len_null(SigningKeys::TenantId, 36))
                    .col(string_len(SigningKeys::Algorithm, 16))
                    .col(text(SigningKeys::PublicKey))
                    .col(text(SigningKeys::PrivateKeySealed))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_signing_keys_tenant")
                            .from(SigningKeys::Table, SigningKeys::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_signing_keys_tenant")
                    .table(SigningKeys::Table)
                    .col(SigningKeys::TenantId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(pk_auto(AuditLog::Id).big_integer())
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(string_len_null(AuditLog::ActorUserId, 36))
                    .col(string_len_null(AuditLog::TenantId, 36))
                    .col(string_len(AuditLog::Action, 64))
                    .col(string_len_null(AuditLog::Target, 255))
                    .col(string_len(AuditLog::Outcome, 16))
                    .col(string_len_null(AuditLog::RequestId, 64))
                    .col(text_null(AuditLog::Details))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_tenant_at")
                    .table(AuditLog::Table)
                    .col(AuditLog::TenantId)
                    .col(AuditLog::At)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SigningKeys::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Memberships::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Tenants::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ControlMeta::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ControlMeta {
    Table,
    Key,
    Value,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Slug,
    DisplayName,
    Status,
    Backend,
    ConnectString,
    DbUsername,
    DbPasswordSealed,
    SshHost,
    SshPort,
    SshUser,
    SshPrivateKeySealed,
    PoolMaxSize,
    PoolMinIdle,
    PoolAcquireTimeoutMs,
    ConfigVersion,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    PasswordHash,
    IsPlatformAdmin,
    Disabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    UserId,
    TenantId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    TenantId,
    Algorithm,
    PublicKey,
    PrivateKeySealed,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    ActorUserId,
    TenantId,
    Action,
    Target,
    Outcome,
    RequestId,
    Details,
}
