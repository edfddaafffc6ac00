//! Pending invitations to a tenant. The token is shown once — to the invitee, by
//! e-mail — and only its SHA-256 is kept; using it takes the row away, so an
//! invitation is accepted at most once even when two requests race.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use secrecy::{ExposeSecret, SecretString};

use super::{
    entities::{invitation, membership::MemberRole},
    password_tokens::{self, TOKEN_LIFETIME},
};
use crate::error::AppError;

fn invalid() -> AppError {
    AppError::bad_input("token", "this invitation is not valid")
}

/// A new invitation of `email` to the tenant, replacing a pending one for the
/// same address (its token stops working). Returns the token (the only time it
/// exists in clear) and the stored row.
pub async fn issue(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    email: &str,
    role: MemberRole,
    invited_by: Option<&str>,
) -> Result<(SecretString, invitation::Model), AppError> {
    revoke(db, tenant_id, email).await?;
    let (token, token_hash) = password_tokens::generate();
    let now = Utc::now();
    let expires_at = now + TOKEN_LIFETIME;
    let row = invitation::ActiveModel {
        token_hash: Set(token_hash),
        tenant_id: Set(tenant_id.to_string()),
        email: Set(email.to_string()),
        role: Set(role),
        invited_by: Set(invited_by.map(str::to_string)),
        created_at: Set(now),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    Ok((token, row))
}

/// Removes the pending invitation of `email`, if any; whether there was one.
pub async fn revoke(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    email: &str,
) -> Result<bool, AppError> {
    let removed = invitation::Entity::delete_many()
        .filter(invitation::Column::TenantId.eq(tenant_id))
        .filter(invitation::Column::Email.eq(email))
        .exec(db)
        .await?;
    Ok(removed.rows_affected > 0)
}

/// Invitations of the tenant that have not expired, newest first.
pub async fn list_for_tenant(
    db: &impl ConnectionTrait,
    tenant_id: &str,
) -> Result<Vec<invitation::Model>, AppError> {
    Ok(invitation::Entity::find()
        .filter(invitation::Column::TenantId.eq(tenant_id))
        .filter(invitation::Column::ExpiresAt.gt(Utc::now()))
        .order_by_desc(invitation::Column::CreatedAt)
        .all(db)
        .await?)
}

/// How many invitations of the tenant are waiting (expired ones included until
/// they are replaced or revoked).
pub async fn count_for_tenant(db: &impl ConnectionTrait, tenant_id: &str) -> Result<u64, AppError> {
    Ok(invitation::Entity::find()
        .filter(invitation::Column::TenantId.eq(tenant_id))
        .count(db)
        .await?)
}

/// The invitation a still-valid token belongs to, without using it up.
pub async fn find_valid(
    db: &impl ConnectionTrait,
    token: &SecretString,
) -> Result<invitation::Model, AppError> {
    invitation::Entity::find_by_id(password_tokens::digest(token.expose_secret()))
        .one(db)
        .await?
        .filter(|row| row.expires_at > Utc::now())
        .ok_or_else(invalid)
}

/// Uses the token up: the invitation is removed and returned. Unknown, used and
/// expired tokens all answer the same.
pub async fn take(
    db: &impl ConnectionTrait,
    token: &SecretString,
) -> Result<invitation::Model, AppError> {
    let row = find_valid(db, token).await?;
    let taken = invitation::Entity::delete_many()
        .filter(invitation::Column::TokenHash.eq(row.token_hash.as_str()))
        .filter(invitation::Column::ExpiresAt.gt(Utc::now()))
        .exec(db)
        .await?;
    if taken.rows_affected != 1 {
        return Err(invalid());
    }
    Ok(row)
}
