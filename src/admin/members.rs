//! A tenant admin's use cases over the members of their own tenant. The tenant is
//! always the caller's (from the verified token): no argument can name another.
//!
//! Users are global (one person, many tenants); memberships are per tenant. A
//! member is named by email, and an email that is not a member of this tenant
//! answers NOT_FOUND whether or not the user exists elsewhere.
use chrono::{DateTime, Utc};

use secrecy::SecretString;
use serde_json::json;

use sea_orm::ActiveEnum;

use crate::{
    audit::{commit_with, Actor, AuditEntry},
    auth::password,
    control::{
        entities::{membership, membership::MemberRole, user},
        memberships, password_tokens, users,
    },
    error::AppError,
    state::Services,
    tenancy::TenantRef,
};

/// A member as a tenant admin sees them.
pub struct Member {
    pub user: user::Model,
    pub membership: membership::Model,
}

/// The one-time token a newly created user sets their password with.
pub struct Invitation {
    pub token: SecretString,
    pub expires_at: DateTime<Utc>,
}

fn scope(tenant: &TenantRef) -> Option<(&str, &str)> {
    Some((tenant.id.as_str(), tenant.slug.as_str()))
}

fn not_a_member() -> AppError {
    AppError::NotFound("member")
}

pub async fn list(services: &Services, tenant: &TenantRef) -> Result<Vec<Member>, AppError> {
    Ok(
        memberships::list_for_tenant(&services.control.db, &tenant.id)
            .await?
            .into_iter()
            .map(|(membership, user)| Member { user, membership })
            .collect(),
    )
}

/// Adds `email` to the tenant with `role`. A user new to tenantql is created
/// without a password and gets a one-time password-set token (returned once).
pub async fn add(
    services: &Services,
    actor: &Actor,
    tenant: &TenantRef,
    email: &str,
    role: MemberRole,
) -> Result<(Member, Option<Invitation>), AppError> {
    let email = users::normalize_email(email)?;
    let txn = services.control.begin_change().await?;
    let (user, invitation) = match users::find_by_email(&txn, &email).await? {
        Some(user) => (user, None),
        None => {
            let user = users::insert(&txn, &email, password::UNUSABLE.into(), false).await?;
            let (token, expires_at) = password_tokens::issue(&txn, &user.id).await?;
            (user, Some(Invitation { token, expires_at }))
        }
    };
    if memberships::find(&txn, &user.id, &tenant.id)
        .await?
        .is_some()
    {
        return Err(AppError::Conflict(format!(
            "{email} is already a member; change their role with changeMemberRole"
        )));
    }
    memberships::grant(&txn, &user.id, &tenant.id, role).await?;
    let membership = memberships::find(&txn, &user.id, &tenant.id)
        .await?
        .ok_or_else(not_a_member)?;
    commit_with(
        txn,
        AuditEntry::change(actor, "member.add", scope(tenant), &email).with_details(json!({
            "role": role.to_value(),
            "userCreated": invitation.is_some(),
        })),
    )
    .await?;
    services.forget_cached_answers();
    Ok((Member { user, membership }, invitation))
}

/// The member and their membership, or NOT_FOUND for anyone not in this tenant.
async fn find_member(
    db: &impl sea_orm::ConnectionTrait,
    tenant: &TenantRef,
    email: &str,
) -> Result<Member, AppError> {
    let user = users::find_by_email(db, email)
        .await?
        .ok_or_else(not_a_member)?;
    let membership = memberships::find(db, &user.id, &tenant.id)
        .await?
        .ok_or_else(not_a_member)?;
    Ok(Member { user, membership })
}

/// Serializes membership changes of one tenant: on PostgreSQL the tenant's row is
/// locked (`FOR UPDATE`) until the transaction ends, so two admins demoting each
/// other at once cannot both pass the last-admin check. (SQLite needs no row lock:
/// `begin_change` already holds the database's write lock.)
async fn lock_tenant(
    db: &impl sea_orm::ConnectionTrait,
    tenant: &TenantRef,
) -> Result<(), AppError> {
    use sea_orm::{EntityTrait, QuerySelect};
    crate::control::entities::tenant::Entity::find_by_id(tenant.id.as_str())
        .lock_exclusive()
        .one(db)
        .await?;
    Ok(())
}

/// Refuses a change that would leave the tenant without an admin.
async fn keep_an_admin(
    db: &impl sea_orm::ConnectionTrait,
    tenant: &TenantRef,
    member: &Member,
) -> Result<(), AppError> {
    if member.membership.role == MemberRole::Admin
        && memberships::count_admins(db, &tenant.id).await? <= 1
    {
        return Err(AppError::Conflict(
            "the tenant's last admin cannot be removed or demoted; make someone else admin first"
                .into(),
        ));
    }
    Ok(())
}

pub async fn change_role(
    services: &Services,
    actor: &Actor,
    tenant: &TenantRef,
    email: &str,
    role: MemberRole,
) -> Result<Member, AppError> {
    let txn = services.control.begin_change().await?;
    lock_tenant(&txn, tenant).await?;
    let member = find_member(&txn, tenant, email).await?;
    if member.membership.role == role {
        return Ok(member);
    }
    if role != MemberRole::Admin {
        keep_an_admin(&txn, tenant, &member).await?;
    }
    memberships::grant(&txn, &member.user.id, &tenant.id, role).await?;
    let entry = AuditEntry::change(
        actor,
        "member.change_role",
        scope(tenant),
        &member.user.email,
    )
    .with_details(json!({
        "from": member.membership.role.to_value(),
        "to": role.to_value(),
    }));
    commit_with(txn, entry).await?;
    services.forget_cached_answers();
    let mut member = member;
    member.membership.role = role;
    Ok(member)
}

pub async fn remove(
    services: &Services,
    actor: &Actor,
    tenant: &TenantRef,
    email: &str,
) -> Result<Member, AppError> {
    let txn = services.control.begin_change().await?;
    lock_tenant(&txn, tenant).await?;
    let member = find_member(&txn, tenant, email).await?;
    keep_an_admin(&txn, tenant, &member).await?;
    memberships::revoke(&txn, &member.user.id, &tenant.id).await?;
    commit_with(
        txn,
        AuditEntry::change(actor, "member.remove", scope(tenant), &member.user.email),
    )
    .await?;
    services.forget_cached_answers();
    Ok(member)
}

/// Redeems a password-set token: the invited user chooses a password.
pub async fn set_password(
    services: &Services,
    actor: &Actor,
    token: &SecretString,
    new_password: SecretString,
) -> Result<user::Model, AppError> {
    password::validate_new_password(&new_password)?;
    let hash = password::hash(new_password).await?;
    let txn = services.control.begin_change().await?;
    let user_id = password_tokens::redeem(&txn, token).await?;
    let user = users::find_by_id(&txn, &user_id)
        .await?
        .ok_or(AppError::bad_input(
            "token",
            "this password-set token is not valid",
        ))?;
    let user = users::set_password_hash(&txn, user, hash).await?;
    let mut as_user = actor.clone();
    as_user.user_id = Some(user.id.clone());
    as_user.email = Some(user.email.clone());
    commit_with(
        txn,
        AuditEntry::change(&as_user, "user.set_password", None, &user.email),
    )
    .await?;
    Ok(user)
}
