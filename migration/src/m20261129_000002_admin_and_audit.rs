//! The admin API and the audit log: soft-deleted tenants, one-time password-set
//! tokens for invited members, and the audit log in the shape requests fill.
//!
//! Nothing wrote `audit_log` before this migration, so it is replaced rather than
//! altered (SQLite alters one column per statement).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(timestamp_with_time_zone_null(Tenants::DeletedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PasswordSetTokens::Table)
                    .col(string_len(PasswordSetTokens::TokenHash, 64).primary_key())
                    .col(string_len(PasswordSetTokens::UserId, 36))
                    .col(timestamp_with_time_zone(PasswordSetTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PasswordSetTokens::UsedAt))
                    .col(timestamp_with_time_zone(PasswordSetTokens::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_password_set_tokens_user")
                            .from(PasswordSetTokens::Table, PasswordSetTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(pk_auto(AuditLog::Id).big_integer())
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(string_len_null(AuditLog::RequestId, 64))
                    .col(string_len_null(AuditLog::TenantId, 36))
                    .col(string_len_null(AuditLog::TenantSlug, 63))
                    .col(string_len_null(AuditLog::ActorUserId, 36))
                    .col(string_len_null(AuditLog::ActorEmail, 254))
                    .col(string_len(AuditLog::Source, 16))
                    .col(string_len(AuditLog::Action, 64))
                    .col(string_len_null(AuditLog::Target, 255))
                    .col(string_len_null(AuditLog::OperationType, 16))
                    .col(string_len_null(AuditLog::OperationName, 128))
                    .col(string_len_null(AuditLog::DocumentHash, 64))
                    .col(text_null(AuditLog::Variables))
                    .col(string_len(AuditLog::Outcome, 16))
                    .col(string_len_null(AuditLog::ErrorCode, 32))
                    .col(big_integer_null(AuditLog::DurationUs))
                    .col(string_len_null(AuditLog::ClientAddr, 64))
                    .col(string_len_null(AuditLog::UserAgent, 255))
                    .col(text_null(AuditLog::Details))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_audit_log_tenant_slug",
                vec![AuditLog::TenantSlug, AuditLog::Id],
            ),
            ("idx_audit_log_at", vec![AuditLog::At]),
        ] {
            let mut index = Index::create();
            index.name(name).table(AuditLog::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PasswordSetTokens::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .drop_column(Tenants::DeletedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    DeletedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum PasswordSetTokens {
    Table,
    TokenHash,
    UserId,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    RequestId,
    TenantId,
    TenantSlug,
    ActorUserId,
    ActorEmail,
    Source,
    Action,
    Target,
    OperationType,
    OperationName,
    DocumentHash,
    Variables,
    Outcome,
    ErrorCode,
    DurationUs,
    ClientAddr,
    UserAgent,
    Details,
}
