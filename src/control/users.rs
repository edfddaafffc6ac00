//! User rows. Passwords arrive hashed (see `auth::password`); emails are lower-cased.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};

use super::{entities::user, OnConstraint};
use crate::error::AppError;

/// Lower-cases and checks the rough shape of an email; the mail system is the real judge.
pub fn normalize_email(email: &str) -> Result<String, AppError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(AppError::bad_input("email", "not a valid email address"))
    }
}

pub async fn insert(
    db: &impl ConnectionTrait,
    email: &str,
    password_hash: String,
    is_platform_admin: bool,
) -> Result<user::Model, AppError> {
    let email = normalize_email(email)?;
    let now = Utc::now();
    user::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        email: Set(email.clone()),
        password_hash: Set(password_hash),
        is_platform_admin: Set(is_platform_admin),
        disabled: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .on_conflict(|| format!("a user with email `{email}` already exists"))
}

/// The ids of the platform admins (a handful of operators).
pub async fn platform_admin_ids(
    db: &impl ConnectionTrait,
) -> Result<std::collections::HashSet<String>, AppError> {
    Ok(user::Entity::find()
        .filter(user::Column::IsPlatformAdmin.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect())
}

pub async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<user::Model>, AppError> {
    let email = email.trim().to_lowercase();
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await?)
}

pub async fn get_by_email(db: &impl ConnectionTrait, email: &str) -> Result<user::Model, AppError> {
    find_by_email(db, email)
        .await?
        .ok_or(AppError::NotFound("user"))
}

pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<user::Model>, AppError> {
    Ok(user::Entity::find_by_id(id).one(db).await?)
}

pub async fn set_disabled(
    db: &impl ConnectionTrait,
    email: &str,
    disabled: bool,
) -> Result<user::Model, AppError> {
    let row = get_by_email(db, email).await?;
    let mut active: user::ActiveModel = row.into();
    active.disabled = Set(disabled);
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

pub async fn set_password_hash(
    db: &impl ConnectionTrait,
    user: user::Model,
    password_hash: String,
) -> Result<user::Model, AppError> {
    let mut active: user::ActiveModel = user.into();
    active.password_hash = Set(password_hash);
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized() {
        assert_eq!(
            normalize_email(" Alice@Acme.TEST ").unwrap(),
            "alice@acme.test"
        );
        for bad in [
            "",
            "alice",
            "@acme.test",
            "alice@acme",
            "a b@acme.test",
            "alice@.test",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
