//! A tenant admin's API: the members and the audit log of the caller's own
//! tenant. Every field is guarded by `TenantAdmin`, and the tenant is always the
//! token's: no argument names a tenant, and an email outside it is NOT_FOUND.
use async_graphql::{connection::Connection, Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

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

#[derive(SimpleObject)]
pub struct AddMemberPayload {
    pub member: TenantMember,
    /// Only when the user is new to tenantql: a one-time token for `setPassword`.
    /// Shown once; hand it to the user over a channel you trust.
    pub password_set_token: Option<String>,
    pub password_set_token_expires_at: Option<DateTime<Utc>>,
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
        Ok(audit_log::page(services(ctx), filter, first, after).await?)
    }
}

#[derive(Default)]
pub struct TenantAdminMutation;

#[Object]
impl TenantAdminMutation {
    /// Adds a member to the caller's tenant, creating the user when new (with a
    /// one-time password-set token in the answer).
    #[graphql(guard = "TenantAdmin")]
    async fn add_member(
        &self,
        ctx: &Context<'_>,
        email: String,
        role: MemberRole,
    ) -> async_graphql::Result<AddMemberPayload> {
        let tenant = own_tenant(ctx)?;
        let (member, invitation) =
            members::add(services(ctx), &actor(ctx), tenant, &email, role.into()).await?;
        Ok(AddMemberPayload {
            member: member.into(),
            password_set_token: invitation
                .as_ref()
                .map(|i| i.token.expose_secret().to_string()),
            password_set_token_expires_at: invitation.map(|i| i.expires_at),
        })
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
