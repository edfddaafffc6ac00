use sea_orm::entity::prelude::*;

/// One audited event: a GraphQL operation, a refused request, an admin change or
/// a CLI change. Never holds a secret: variables are redacted before they get here.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    pub request_id: Option<String>,
    pub tenant_id: Option<String>,
    pub tenant_slug: Option<String>,
    pub actor_user_id: Option<String>,
    pub actor_email: Option<String>,
    /// `graphql`, `http` (refused before GraphQL ran) or `cli`.
    pub source: String,
    /// `query`, `mutation`, `refused`, or an admin change such as `tenant.suspend`.
    pub action: String,
    /// What a change was made to (a tenant slug, a member's email).
    pub target: Option<String>,
    pub operation_type: Option<String>,
    pub operation_name: Option<String>,
    /// SHA-256 of the document with comments and insignificant whitespace removed.
    pub document_hash: Option<String>,
    /// JSON, with every value under a secret-sounding name replaced.
    pub variables: Option<String>,
    /// `ok`, `error` or `refused`.
    pub outcome: String,
    pub error_code: Option<String>,
    pub duration_us: Option<i64>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    /// JSON; never holds a secret.
    pub details: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
