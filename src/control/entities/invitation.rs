use sea_orm::entity::prelude::*;

use super::membership::MemberRole;

/// An invitation to a tenant waiting for its invitee. Only the token's SHA-256
/// is stored; the token itself went to the invitee's e-mail address.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invitations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub tenant_id: String,
    /// Normalized, as the admin typed it: says nothing about whether an account exists.
    pub email: String,
    pub role: MemberRole,
    /// The e-mail of whoever invited (for the tenant's admins).
    pub invited_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
