//! What a tenantql token says. Only `auth::tokens` creates or reads these.
use serde::{Deserialize, Serialize};

use crate::control::entities::membership::MemberRole;

/// The caller's role. Tenant roles come from the membership; the platform role
/// from the user's platform-admin flag and only ever in a platform-key token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
    PlatformAdmin,
}

impl Role {
    /// The name written in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::PlatformAdmin => "platform_admin",
        }
    }
}

impl From<MemberRole> for Role {
    fn from(role: MemberRole) -> Self {
        match role {
            MemberRole::Admin => Role::Admin,
            MemberRole::Member => Role::Member,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Tenant slug. Absent only in platform-admin tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub role: Role,
    pub exp: u64,
    pub iat: u64,
    pub nbf: u64,
    pub aud: String,
    pub iss: String,
    pub jti: String,
}
