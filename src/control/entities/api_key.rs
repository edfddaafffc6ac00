use sea_orm::entity::prelude::*;

/// What an API key may do in its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, clap::ValueEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ApiKeyRole {
    /// What a member may do: queries, subscriptions and the ERP writes.
    #[sea_orm(string_value = "member")]
    Member,
    /// Queries and subscriptions only; every mutation is refused.
    #[sea_orm(string_value = "reader")]
    Reader,
}

impl ApiKeyRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyRole::Member => "member",
            ApiKeyRole::Reader => "reader",
        }
    }
}

/// A machine client's key. Only the SHA-256 of its secret is stored; the key
/// itself was shown once, to whoever created it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    /// The key id, the part of the key after `tqk_` and before the next `_`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub role: ApiKeyRole,
    /// Runs only published (trusted) documents, whatever the tenant's mode.
    pub persisted_only: bool,
    pub secret_hash: String,
    /// The e-mail (or `cli:<who>`) of whoever created it.
    pub created_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// Written at most once a minute per key and instance.
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// The key this one replaced (`rotateApiKey`).
    pub rotated_from: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
