//! Signing in and finding out who you are: `login`, `selectTenant`, `me`, `myTenants`.
use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::{actor, caller, guards, services};
use crate::{
    admin::members,
    auth::{sessions::SignedIn, Role as TokenRole},
    control::{
        entities::{tenant as tenant_row, tenant::TenantStatus as RowStatus},
        memberships,
    },
    error::AppError,
    request_id::RequestMeta,
    tenancy::TenantRef,
};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Member,
    PlatformAdmin,
}

impl From<TokenRole> for Role {
    fn from(role: TokenRole) -> Self {
        match role {
            TokenRole::Admin => Role::Admin,
            TokenRole::Member => Role::Member,
            TokenRole::PlatformAdmin => Role::PlatformAdmin,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Suspended,
    /// Soft-deleted by a platform admin; only operators see such tenants.
    Deleted,
}

impl From<RowStatus> for TenantStatus {
    fn from(status: RowStatus) -> Self {
        match status {
            RowStatus::Active => TenantStatus::Active,
            RowStatus::Suspended => TenantStatus::Suspended,
            RowStatus::Deleted => TenantStatus::Deleted,
        }
    }
}

impl From<TenantStatus> for RowStatus {
    fn from(status: TenantStatus) -> Self {
        match status {
            TenantStatus::Active => RowStatus::Active,
            TenantStatus::Suspended => RowStatus::Suspended,
            TenantStatus::Deleted => RowStatus::Deleted,
        }
    }
}

/// A tenant as its members see it.
#[derive(SimpleObject, Debug, Clone)]
pub struct Tenant {
    pub id: ID,
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
}

impl From<tenant_row::Model> for Tenant {
    fn from(t: tenant_row::Model) -> Self {
        Tenant {
            id: ID(t.id),
            slug: t.slug,
            name: t.display_name,
            status: t.status.into(),
        }
    }
}

impl From<&TenantRef> for Tenant {
    /// Only active tenants produce a context, hence the status.
    fn from(t: &TenantRef) -> Self {
        Tenant {
            id: ID(t.id.clone()),
            slug: t.slug.clone(),
            name: t.display_name.clone(),
            status: TenantStatus::Active,
        }
    }
}

/// The signed-in caller.
#[derive(SimpleObject)]
pub struct Me {
    pub id: ID,
    pub email: String,
    /// The role in `tenant` (or PLATFORM_ADMIN for a platform token), as it is now.
    pub role: Role,
    /// The tenant this token acts for; null for a platform-admin token.
    pub tenant: Option<Tenant>,
}

#[derive(SimpleObject)]
pub struct TenantMembership {
    pub tenant: Tenant,
    pub role: Role,
}

/// A bearer token and what it is good for.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub role: Role,
    pub tenant: Option<Tenant>,
}

impl From<SignedIn> for AuthPayload {
    fn from(signed_in: SignedIn) -> Self {
        AuthPayload {
            expires_at: signed_in.issued.expires_at(),
            role: signed_in.issued.claims.role.into(),
            token: signed_in.issued.token,
            tenant: signed_in.tenant.map(Tenant::from),
        }
    }
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// Who the token belongs to, for which tenant, with which role.
    #[graphql(guard = "guards::SignedIn")]
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Me> {
        let caller = caller(ctx)?;
        Ok(Me {
            id: ID(caller.user_id.clone()),
            email: caller.email.clone(),
            role: caller.role.into(),
            tenant: caller.tenant.as_ref().map(Tenant::from),
        })
    }

    /// Every tenant the caller belongs to, for a tenant switcher.
    #[graphql(guard = "guards::SignedIn")]
    async fn my_tenants(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TenantMembership>> {
        let caller = caller(ctx)?;
        let rows = memberships::list_for_user(&services(ctx).control.db, &caller.user_id).await?;
        Ok(rows
            .into_iter()
            .map(|(m, t)| TenantMembership {
                role: TokenRole::from(m.role).into(),
                tenant: t.into(),
            })
            .collect())
    }
}

/// The door to every password check: one per request, and within the sign-in
/// limits of the account (when named) and of the client's address.
async fn sign_in_admitted(ctx: &Context<'_>, account: Option<&str>) -> Result<(), AppError> {
    let meta = ctx.data_opt::<RequestMeta>();
    if meta.is_some_and(|meta| !meta.sign_in.take()) {
        return Err(AppError::bad_input(
            "password",
            "a request may sign in (login, acceptInvitation, setPassword) only once",
        ));
    }
    let address = meta.and_then(|meta| meta.client_addr).map(|addr| addr.ip());
    services(ctx)
        .admission
        .admit_sign_in(account, address)
        .await
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Exchange email and password for a token. Name the tenant to sign in to; it
    /// may be left out by platform admins (platform token) and by members of
    /// exactly one tenant. The only operation open without a token.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        tenant: Option<String>,
    ) -> async_graphql::Result<AuthPayload> {
        sign_in_admitted(ctx, Some(&email)).await?;
        let password = SecretString::from(password);
        let signed_in = services(ctx)
            .sessions
            .login(&email, password, tenant.as_deref())
            .await?;
        Ok(signed_in.into())
    }

    /// A new token for another tenant the caller belongs to.
    #[graphql(guard = "guards::UserSession")]
    async fn select_tenant(
        &self,
        ctx: &Context<'_>,
        tenant: String,
    ) -> async_graphql::Result<AuthPayload> {
        let caller = caller(ctx)?;
        Ok(services(ctx)
            .sessions
            .select_tenant(&caller.user_id, &tenant)
            .await?
            .into())
    }

    /// Signs out: the token of this request is refused from now on, on every
    /// instance, until it would have expired. Other tokens of the user stay valid.
    #[graphql(guard = "guards::UserSession")]
    async fn logout(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let caller = caller(ctx)?;
        let token = caller.token.as_ref().ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("a signed-in request without its token"))
        })?;
        services(ctx)
            .tokens
            .revocations()
            .revoke(&token.jti, &caller.user_id, token.expires_at)
            .await?;
        Ok(true)
    }

    /// Choose a password with a one-time password-set token (handed out by a
    /// platform operator). Open without a bearer token, like `login`.
    async fn set_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        password: String,
    ) -> async_graphql::Result<bool> {
        sign_in_admitted(ctx, None).await?;
        let token = SecretString::from(token);
        let password = SecretString::from(password);
        members::set_password(services(ctx), &actor(ctx), &token, password).await?;
        Ok(true)
    }

    /// Accept an invitation with the token from its e-mail, choosing the password
    /// you sign in with from now on (your current one, if you have an account
    /// already). Open without a bearer token, like `login`; sign in afterwards.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        token: String,
        password: String,
    ) -> async_graphql::Result<InvitationAccepted> {
        sign_in_admitted(ctx, None).await?;
        let token = SecretString::from(token);
        let password = SecretString::from(password);
        let accepted = members::accept(services(ctx), &actor(ctx), &token, password).await?;
        Ok(InvitationAccepted {
            email: accepted.user.email,
            tenant: accepted.tenant_slug,
            role: TokenRole::from(accepted.role).into(),
        })
    }
}

/// The membership an accepted invitation made.
#[derive(SimpleObject)]
pub struct InvitationAccepted {
    pub email: String,
    /// The tenant's slug, to name in `login`.
    pub tenant: String,
    pub role: Role,
}
