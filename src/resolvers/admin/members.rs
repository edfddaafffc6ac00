//! A tenant admin's API: the members and the audit log of the caller's own
//! tenant. Every field is guarded by `TenantAdmin`, and the tenant is always the
//! token's: no argument names a tenant, and an email outside it is NOT_FOUND.
use async_graphql::{connection::Connection, Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::audit_log::{self, AuditLogEntry, AuditLogFilter};
use crate::{
    admin::members,
    auth::password,
    control::entities::membership::MemberRole as RowRole,
    resolvers::{actor, caller, guards::TenantAdmin, services},
    tenancy::TenantRef,
};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum MemberRole {
    Admin,
    Member,
}

impl From<MemberRole> for RowRole {
    fn from(role: MemberRole) -> Self {
        match role {
            MemberRole::Admin => RowRole::Admin,
            MemberRole::Member => RowRole::Member,
        }
    }
}

impl From<RowRole> for MemberRole {
    fn from(role: RowRole) -> Self {
        match role {
            RowRole::Admin => MemberRole::Admin,
            RowRole::Member => MemberRole::Member,
        }
    }
}

#[derive(SimpleObject)]
pub struct TenantMember {
    pub user_id: ID,
    pub email: String,
    pub role: MemberRole,
    /// A disabled user cannot sign in to any tenant.
    pub disabled: bool,
    /// False until an invited user has chosen a password.
    pub password_set: bool,
    pub member_since: DateTime<Utc>,
}

impl From<members::Member> for TenantMember {
    fn from(m: members::Member) -> Self {
        TenantMember {
            user_id: ID(m.user.id),
            email: m.user.email,
            role: m.membership.role.into(),
            disabled: m.user.disabled,
            password_set: m.user.password_hash != password::UNUSABLE,
            member_since: m.membership.created_at,
        }
    }
}

/// An invitation waiting for its invitee. It looks the same whether or not the
/// address has an account: a tenant admin learns nothing about accounts
/// outside their tenant.
#[derive(SimpleObject)]
pub struct TenantInvitation {
    pub email: String,
    pub role: MemberRole,
    /// Who invited (their e-mail), when known.
    pub invited_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<members::PendingInvitation> for TenantInvitation {
    fn from(i: members::PendingInvitation) -> Self {
        TenantInvitation {
            email: i.email,
            role: i.role.into(),
            invited_by: i.invited_by,
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct AddMemberPayload {
    /// The invitation mailed to the address; the member joins when they accept it.
    pub invitation: TenantInvitation,
}

/// The admin's own tenant.
fn own_tenant<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a TenantRef> {
    Ok(caller(ctx)?.tenant()?)
}

#[derive(Default)]
pub struct TenantAdminQuery;

#[Object]
impl TenantAdminQuery {
    /// The members of the caller's tenant, by email.
    #[graphql(guard = "TenantAdmin")]
    async fn tenant_members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TenantMember>> {
        let members = members::list(services(ctx), own_tenant(ctx)?).await?;
        Ok(members.into_iter().map(TenantMember::from).collect())
    }

    /// Invitations of the caller's tenant still waiting for their invitee.
    #[graphql(guard = "TenantAdmin")]
    async fn tenant_invitations(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<TenantInvitation>> {
        let pending = members::pending(services(ctx), own_tenant(ctx)?).await?;
        Ok(pending.into_iter().map(TenantInvitation::from).collect())
    }

    /// The caller's tenant's audit log, newest first — never another tenant's,
    /// whatever the filter says.
    #[graphql(guard = "TenantAdmin")]
    async fn audit_logs(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditLogFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, AuditLogEntry>> {
        let tenant = own_tenant(ctx)?;
        // By slug, not id: rows of requests refused at the door know the tenant only
        // by the verified token's slug (slugs are never reused, even after deletion).
        let filter = filter
            .unwrap_or_default()
            .scoped(None, Some(tenant.slug.clone()));
        Ok(audit_log::page(
            services(ctx),
            filter,
            first,
            after,
            audit_log::Reader::TenantAdmin,
        )
        .await?)
    }
}

#[derive(Default)]
pub struct TenantAdminMutation;

#[Object]
impl TenantAdminMutation {
    /// Invites `email` to the caller's tenant with `role`: the invitation goes to
    /// that address by e-mail, and they become a member when they accept it
    /// (`acceptInvitation`). Inviting the same address again replaces the
    /// invitation. The answer is the same whether or not the address has an
    /// account.
    #[graphql(guard = "TenantAdmin")]
    async fn add_member(
        &self,
        ctx: &Context<'_>,
        email: String,
        role: MemberRole,
    ) -> async_graphql::Result<AddMemberPayload> {
        let tenant = own_tenant(ctx)?;
        let invitation =
            members::invite(services(ctx), &actor(ctx), tenant, &email, role.into()).await?;
        Ok(AddMemberPayload {
            invitation: invitation.into(),
        })
    }

    /// Withdraws the waiting invitation of `email`; its token stops working.
    #[graphql(guard = "TenantAdmin")]
    async fn revoke_invitation(
        &self,
        ctx: &Context<'_>,
        email: String,
    ) -> async_graphql::Result<bool> {
        let tenant = own_tenant(ctx)?;
        members::revoke_invitation(services(ctx), &actor(ctx), tenant, &email).await?;
        Ok(true)
    }

    /// Changes a member's role; the last admin cannot be demoted.
    #[graphql(guard = "TenantAdmin")]
    async fn change_member_role(
        &self,
        ctx: &Context<'_>,
        email: String,
        role: MemberRole,
    ) -> async_graphql::Result<TenantMember> {
        let tenant = own_tenant(ctx)?;
        Ok(
            members::change_role(services(ctx), &actor(ctx), tenant, &email, role.into())
                .await?
                .into(),
        )
    }

    /// Removes a member from the caller's tenant (the user stays, with any other
    /// memberships); the last admin cannot be removed.
    #[graphql(guard = "TenantAdmin")]
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        email: String,
    ) -> async_graphql::Result<TenantMember> {
        let tenant = own_tenant(ctx)?;
        Ok(members::remove(services(ctx), &actor(ctx), tenant, &email)
            .await?
            .into())
    }
}
