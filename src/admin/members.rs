//! A tenant admin's use cases over the members of their own tenant. The tenant is
//! always the caller's (from the verified token): no argument can name another.
//!
//! Users are global (one person, many tenants); memberships are per tenant. A
//! member is named by email, and an email that is not a member of this tenant
//! answers NOT_FOUND whether or not the user exists elsewhere.
//!
//! A tenant admin never creates an account or holds a credential of one: an
//! account may belong to people in other tenants. Members join by invitation,
//! mailed to the invitee, and become members when they accept it.
use chrono::{DateTime, Utc};

use secrecy::SecretString;
use serde_json::json;

use sea_orm::ActiveEnum;

use crate::{
    audit::{commit_with, Actor, AuditEntry},
    auth::password,
    control::{
        entities::{invitation, membership, membership::MemberRole, user},
        invitations, memberships, password_tokens, users,
    },
    error::AppError,
    mail::InvitationMail,
    state::Services,
    tenancy::TenantRef,
};

/// A member as a tenant admin sees them.
pub struct Member {
    pub user: user::Model,
    pub membership: membership::Model,
}

/// An invitation as the inviting admin sees it: the same whether or not the
/// address has an account anywhere on the platform.
pub struct PendingInvitation {
    pub email: String,
    pub role: MemberRole,
    pub invited_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<invitation::Model> for PendingInvitation {
    fn from(row: invitation::Model) -> Self {
        PendingInvitation {
            email: row.email,
            role: row.role,
            invited_by: row.invited_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }
    }
}

/// At most this many invitations wait per tenant: each one is a mail sent.
pub const MAX_PENDING_INVITATIONS: u64 = 200;

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

/// Invites `email` to the tenant with `role`. Nothing about the account is
/// touched or revealed: the one-time token goes to the address by mail, and
/// the membership exists only once its owner accepts (`accept`). The admin
/// learns only whether the address is already a member of this tenant.
pub async fn invite(
    services: &Services,
    actor: &Actor,
    tenant: &TenantRef,
    email: &str,
    role: MemberRole,
) -> Result<PendingInvitation, AppError> {
    let email = users::normalize_email(email)?;
    let Some(mailer) = services.mailer.as_deref() else {
        return Err(AppError::NotConfigured(
            "invitations go to the invitee by e-mail, and this server has no mail relay \
             (TENANTQL_SMTP_URL); ask a platform operator to add the member",
        ));
    };
    let txn = services.control.begin_change().await?;
    if let Some(user) = users::find_by_email(&txn, &email).await? {
        if memberships::find(&txn, &user.id, &tenant.id)
            .await?
            .is_some()
        {
            return Err(AppError::Conflict(format!(
                "{email} is already a member; change their role with changeMemberRole"
            )));
        }
    }
    if invitations::count_for_tenant(&txn, &tenant.id).await? >= MAX_PENDING_INVITATIONS {
        return Err(AppError::LimitExceeded(format!(
            "{MAX_PENDING_INVITATIONS} invitations are waiting already; revoke some first"
        )));
    }
    let (token, invitation) =
        invitations::issue(&txn, &tenant.id, &email, role, actor.email.as_deref()).await?;
    commit_with(
        txn,
        AuditEntry::change(actor, "member.invite", scope(tenant), &email)
            .with_details(json!({ "role": role.to_value() })),
    )
    .await?;
    let mail = InvitationMail {
        to: &email,
        tenant_name: &tenant.display_name,
        role: &role.to_value(),
        token: &token,
        expires_at: invitation.expires_at,
    };
    if let Err(e) = mailer.send_invitation(&mail).await {
        // Not sent: withdraw it, so nothing waits that nobody was told about.
        invitations::revoke(&services.control.db, &tenant.id, &email).await?;
        return Err(e);
    }
    Ok(invitation.into())
}

/// The tenant's invitations still waiting, newest first.
pub async fn pending(
    services: &Services,
    tenant: &TenantRef,
) -> Result<Vec<PendingInvitation>, AppError> {
    Ok(
        invitations::list_for_tenant(&services.control.db, &tenant.id)
            .await?
            .into_iter()
            .map(PendingInvitation::from)
            .collect(),
    )
}

/// Withdraws the invitation of `email` (its token stops working).
pub async fn revoke_invitation(
    services: &Services,
    actor: &Actor,
    tenant: &TenantRef,
    email: &str,
) -> Result<(), AppError> {
    let email = users::normalize_email(email)?;
    let txn = services.control.begin_change().await?;
    if !invitations::revoke(&txn, &tenant.id, &email).await? {
        return Err(AppError::NotFound("invitation"));
    }
    commit_with(
        txn,
        AuditEntry::change(actor, "member.revoke_invitation", scope(tenant), &email),
    )
    .await
}

/// The request's actor as the user it signed in as (anonymous until now).
fn acting_as(actor: &Actor, user: &user::Model) -> Actor {
    Actor {
        user_id: Some(user.id.clone()),
        email: Some(user.email.clone()),
        ..actor.clone()
    }
}

/// What accepting an invitation did.
pub struct Accepted {
    pub user: user::Model,
    pub tenant_slug: String,
    pub role: MemberRole,
}

/// The invitee accepts with the mailed token and the password they will sign
/// in with: a new account is created with it, an existing account's password
/// becomes it (whoever reads the address's mail owns the account — and a
/// password chosen by anyone else before stops working). The token is checked
/// before the password is hashed, and used up exactly once.
pub async fn accept(
    services: &Services,
    actor: &Actor,
    token: &SecretString,
    new_password: SecretString,
) -> Result<Accepted, AppError> {
    invitations::find_valid(&services.control.db, token).await?;
    password::validate_new_password(&new_password)?;
    let hash = password::hash(new_password).await?;
    let txn = services.control.begin_change().await?;
    let invitation = invitations::take(&txn, token).await?;
    let user = match users::find_by_email(&txn, &invitation.email).await? {
        Some(user) => users::set_password_hash(&txn, user, hash).await?,
        None => users::insert(&txn, &invitation.email, hash, false).await?,
    };
    if user.disabled {
        return Err(AppError::Forbidden("this account is disabled".into()));
    }
    if memberships::find(&txn, &user.id, &invitation.tenant_id)
        .await?
        .is_none()
    {
        memberships::grant(&txn, &user.id, &invitation.tenant_id, invitation.role).await?;
    }
    let as_user = acting_as(actor, &user);
    let tenant_id = invitation.tenant_id.clone();
    let tenant_slug = crate::control::tenants::find_by_id(&txn, &tenant_id)
        .await?
        .filter(|t| t.deleted_at.is_none())
        .map(|t| t.slug)
        .ok_or_else(|| AppError::bad_input("token", "this invitation is not valid"))?;
    commit_with(
        txn,
        AuditEntry::change(
            &as_user,
            "member.accept_invitation",
            Some((tenant_id.as_str(), tenant_slug.as_str())),
            &user.email,
        )
        .with_details(json!({ "role": invitation.role.to_value() })),
    )
    .await?;
    services.forget_cached_answers();
    Ok(Accepted {
        user,
        tenant_slug,
        role: invitation.role,
    })
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

/// Redeems a password-set token (handed out by a platform operator): the user
/// chooses a password. The token is checked before the password is hashed.
pub async fn set_password(
    services: &Services,
    actor: &Actor,
    token: &SecretString,
    new_password: SecretString,
) -> Result<user::Model, AppError> {
    password_tokens::user_of(&services.control.db, token).await?;
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
    let as_user = acting_as(actor, &user);
    commit_with(
        txn,
        AuditEntry::change(&as_user, "user.set_password", None, &user.email),
    )
    .await?;
    Ok(user)
}
