//! One-time password-set tokens for invited users. The token is 32 random bytes
//! shown once; only its SHA-256 is stored, so a copy of the control plane cannot
//! be used to take over an invited account.
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::entities::password_set_token;
use crate::error::AppError;

/// How long an invitation's token stays good.
pub const TOKEN_LIFETIME: chrono::Duration = chrono::Duration::hours(72);

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Creates a token for `user_id`; returns it (the only time it exists in clear)
/// and when it expires.
pub async fn issue(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<(SecretString, DateTime<Utc>), AppError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let now = Utc::now();
    let expires_at = now + TOKEN_LIFETIME;
    password_set_token::ActiveModel {
        token_hash: Set(digest(&token)),
        user_id: Set(user_id.to_string()),
        expires_at: Set(expires_at),
        used_at: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok((SecretString::from(token), expires_at))
}

/// Marks the token used and returns its user id; unknown, used and expired
/// tokens all answer the same.
pub async fn redeem(db: &impl ConnectionTrait, token: &SecretString) -> Result<String, AppError> {
    let invalid = || AppError::bad_input("token", "this password-set token is not valid");
    let row = password_set_token::Entity::find_by_id(digest(token.expose_secret()))
        .one(db)
        .await?
        .ok_or_else(invalid)?;
    if row.used_at.is_some() || row.expires_at <= Utc::now() {
        return Err(invalid());
    }
    let user_id = row.user_id.clone();
    let mut active: password_set_token::ActiveModel = row.into();
    active.used_at = Set(Some(Utc::now()));
    active.update(db).await?;
    Ok(user_id)
}
