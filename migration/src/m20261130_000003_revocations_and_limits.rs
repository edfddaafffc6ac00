//! Signed-out tokens, and each tenant's own rate and concurrency limits.
//!
//! `revoked_tokens` keeps a token's id until the token would have expired, so
//! a restarted instance (or one without Redis) still refuses it. The limit
//! columns are NULL for "the server's default".
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tenant columns this migration adds, one ALTER each (SQLite alters one
/// column per statement).
const LIMIT_COLUMNS: [Tenants; 5] = [
    Tenants::RateLimitPerSec,
    Tenants::RateLimitBurst,
    Tenants::UserRateLimitPerSec,
    Tenants::UserRateLimitBurst,
    Tenants::MaxConcurrentOperations,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RevokedTokens::Table)
                    .col(string_len(RevokedTokens::Jti, 64).primary_key())
                    .col(string_len(RevokedTokens::UserId, 36))
                    .col(big_integer(RevokedTokens::ExpiresAt))
                    .col(big_integer(RevokedTokens::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_revoked_tokens_revoked_at")
                    .table(RevokedTokens::Table)
                    .col(RevokedTokens::RevokedAt)
                    .to_owned(),
            )
            .await?;
        for column in LIMIT_COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tenants::Table)
                        .add_column(integer_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in LIMIT_COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tenants::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(RevokedTokens::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    RateLimitPerSec,
    RateLimitBurst,
    UserRateLimitPerSec,
    UserRateLimitBurst,
    MaxConcurrentOperations,
}

#[derive(DeriveIden)]
enum RevokedTokens {
    Table,
    Jti,
    UserId,
    ExpiresAt,
    RevokedAt,
}
