//! One-time password-set tokens for invited users. The token is 32 random bytes
//! shown once; only its SHA-256 is stored, so a copy of the control plane cannot
//! be used to take over an invited account.
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};
use secrecy::{ExposeSecret, SecretString};

use super::entities::password_set_token;
use crate::error::AppError;

/// How long an invitation's token stays good.
pub const TOKEN_LIFETIME: chrono::Duration = chrono::Duration::hours(72);

/// The stored form of a one-time token (password-set tokens, invitations).
pub(crate) fn digest(token: &str) -> String {
    crate::digest::sha256_hex(token)
}

/// A new one-time token (32 random bytes, URL-safe) and its stored form.
pub(crate) fn generate() -> (SecretString, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = digest(&token);
    (SecretString::from(token), hash)
}

/// Creates a token for `user_id`; returns it (the only time it exists in clear)
/// and when it expires.
pub async fn issue(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<(SecretString, DateTime<Utc>), AppError> {
    let (token, token_hash) = generate();
    let now = Utc::now();
    let expires_at = now + TOKEN_LIFETIME;
    password_set_token::ActiveModel {
        token_hash: Set(token_hash),
        user_id: Set(user_id.to_string()),
        expires_at: Set(expires_at),
        used_at: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok((token, expires_at))
}

/// The user a still-valid token belongs to, without using it up: checked
/// before a password is hashed, so an invalid token costs no argon2 work.
pub async fn user_of(db: &impl ConnectionTrait, token: &SecretString) -> Result<String, AppError> {
    let row = password_set_token::Entity::find_by_id(digest(token.expose_secret()))
        .one(db)
        .await?
        .filter(|row| row.used_at.is_none() && row.expires_at > Utc::now())
        .ok_or_else(invalid)?;
    Ok(row.user_id)
}

fn invalid() -> AppError {
    AppError::bad_input("token", "this password-set token is not valid")
}

/// Marks the token used and returns its user id; unknown, used and expired
/// tokens all answer the same. One conditional UPDATE, so of two requests
/// redeeming the same token at once exactly one succeeds, on either backend.
pub async fn redeem(db: &impl ConnectionTrait, token: &SecretString) -> Result<String, AppError> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let hash = digest(token.expose_secret());
    let now = Utc::now();
    let used = password_set_token::Entity::update_many()
        .col_expr(
            password_set_token::Column::UsedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(password_set_token::Column::TokenHash.eq(hash.as_str()))
        .filter(password_set_token::Column::UsedAt.is_null())
        .filter(password_set_token::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    if used.rows_affected != 1 {
        return Err(invalid());
    }
    let row = password_set_token::Entity::find_by_id(hash)
        .one(db)
        .await?
        .ok_or_else(invalid)?;
    Ok(row.user_id)
}
