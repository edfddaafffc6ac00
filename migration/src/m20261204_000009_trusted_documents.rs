//! Trusted documents: the operations a deployment, a tenant or one of its client
//! apps publishes ahead of time, by id (`sha256:<hex>`), and per tenant the mode
//! in which free-form documents are still run (NULL: the deployment's mode).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TrustedDocuments::Table)
                    .col(string_len(TrustedDocuments::Scope, 36))
                    .col(string_len(TrustedDocuments::ClientName, 128))
                    .col(string_len(TrustedDocuments::DocumentId, 71))
                    .col(text(TrustedDocuments::Body))
                    .col(timestamp_with_time_zone(TrustedDocuments::PublishedAt))
                    .primary_key(
                        Index::create()
                            .col(TrustedDocuments::Scope)
                            .col(TrustedDocuments::ClientName)
                            .col(TrustedDocuments::DocumentId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(string_len_null(Tenants::DocumentsMode, 16))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .drop_column(Tenants::DocumentsMode)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(TrustedDocuments::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum TrustedDocuments {
    Table,
    Scope,
    ClientName,
    DocumentId,
    Body,
    PublishedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    DocumentsMode,
}
