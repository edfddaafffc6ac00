//! The operator's use cases over tenants, users and memberships. The CLI calls
//! these today; the guarded admin mutations will call the same functions.
use sea_orm::TransactionTrait;
use secrecy::SecretString;

use crate::{
    auth::{keys, password},
    control::{
        entities::{membership::MemberRole, tenant, tenant::TenantStatus, user},
        memberships,
        tenants::{self, NewTenant},
        users, ControlPlane,
    },
    error::AppError,
};

/// Adds a tenant together with its signing key, atomically.
pub async fn add_tenant(control: &ControlPlane, new: NewTenant) -> Result<tenant::Model, AppError> {
    let txn = control.db.begin().await?;
    let tenant = tenants::insert(&txn, &control.sealer, new).await?;
    keys::create(&txn, &control.sealer, Some(&tenant.id)).await?;
    txn.commit().await?;
    Ok(tenant)
}

pub async fn set_tenant_status(
    control: &ControlPlane,
    slug: &str,
    status: TenantStatus,
) -> Result<tenant::Model, AppError> {
    tenants::set_status(&control.db, slug, status).await
}

pub async fn add_user(
    control: &ControlPlane,
    email: &str,
    password: SecretString,
    is_platform_admin: bool,
) -> Result<user::Model, AppError> {
    // Refuse a malformed email before paying for an argon2 hash.
    users::normalize_email(email)?;
    let hash = password::hash(password).await?;
    users::insert(&control.db, email, hash, is_platform_admin).await
}

pub async fn set_user_disabled(
    control: &ControlPlane,
    email: &str,
    disabled: bool,
) -> Result<user::Model, AppError> {
    users::set_disabled(&control.db, email, disabled).await
}

pub async fn grant(
    control: &ControlPlane,
    email: &str,
    slug: &str,
    role: MemberRole,
) -> Result<(), AppError> {
    let user = users::get_by_email(&control.db, email).await?;
    let tenant = tenants::get_by_slug(&control.db, slug).await?;
    memberships::grant(&control.db, &user.id, &tenant.id, role).await
}

/// Returns whether the user was a member.
pub async fn revoke(control: &ControlPlane, email: &str, slug: &str) -> Result<bool, AppError> {
    let user = users::get_by_email(&control.db, email).await?;
    let tenant = tenants::get_by_slug(&control.db, slug).await?;
    memberships::revoke(&control.db, &user.id, &tenant.id).await
}
