use sea_orm::entity::prelude::*;

/// One published operation of a scope: the deployment (`*`) or a tenant (its
/// id), for every client (`client_name` empty) or one client app.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trusted_documents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_name: String,
    /// `sha256:<64 hex>` of `body`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub document_id: String,
    pub body: String,
    pub published_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
