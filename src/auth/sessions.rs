//! The sign-in use cases: `login` and `selectTenant`.
use std::{sync::Arc, time::Duration};

use secrecy::SecretString;

use super::{
    password,
    tokens::{Audience, IssuedToken, TokenService},
};
use crate::{
    control::{
        entities::{tenant, tenant::TenantStatus, user},
        memberships, tenants, users, ControlPlane,
    },
    error::AppError,
};

/// One message for unknown email, wrong password and disabled user alike.
const BAD_CREDENTIALS: &str = "wrong email or password";

pub struct Sessions {
    control: ControlPlane,
    tokens: Arc<TokenService>,
}

/// A token plus the tenant it is for (`None` for platform tokens).
pub struct SignedIn {
    pub issued: IssuedToken,
    pub tenant: Option<tenant::Model>,
}

impl Sessions {
    pub fn new(control: ControlPlane, tokens: Arc<TokenService>) -> Self {
        Sessions { control, tokens }
    }

    /// Checks the password (same cost for unknown users) and mints a token for
    /// `tenant`, or for the platform / the user's only tenant when none is named.
    pub async fn login(
        &self,
        email: &str,
        password: SecretString,
        tenant: Option<&str>,
    ) -> Result<SignedIn, AppError> {
        let user = users::find_by_email(&self.control.db, email).await?;
        let matches =
            password::verify(user.as_ref().map(|u| u.password_hash.clone()), password).await?;
        let user = match user {
            Some(user) if matches && !user.disabled => user,
            _ => return Err(AppError::Unauthenticated(BAD_CREDENTIALS)),
        };
        match tenant {
            Some(slug) => {
                self.sign_in_to(&user, slug, self.tokens.default_ttl())
                    .await
            }
            None if user.is_platform_admin => {
                self.sign_in_to_platform(&user, self.tokens.default_ttl())
                    .await
            }
            None => {
                let mut mine = memberships::list_for_user(&self.control.db, &user.id).await?;
                if mine.len() != 1 {
                    return Err(AppError::bad_input(
                        "tenant",
                        "you belong to several tenants (or none): name the tenant to sign in to",
                    ));
                }
                let (_, tenant) = mine.remove(0);
                self.sign_in_to(&user, &tenant.slug, self.tokens.default_ttl())
                    .await
            }
        }
    }

    /// A new token for another tenant the caller belongs to.
    pub async fn select_tenant(&self, user_id: &str, slug: &str) -> Result<SignedIn, AppError> {
        let user = users::find_by_id(&self.control.db, user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(AppError::Unauthenticated("the token's user is disabled"))?;
        self.sign_in_to(&user, slug, self.tokens.default_ttl())
            .await
    }

    /// A token minted by an operator (`tenantql token`), without a password: for
    /// scripts and GraphiQL. The same membership and status checks as `login` apply.
    pub async fn mint(
        &self,
        email: &str,
        tenant: Option<&str>,
        ttl: Duration,
    ) -> Result<SignedIn, AppError> {
        let user = users::get_by_email(&self.control.db, email).await?;
        if user.disabled {
            return Err(AppError::Forbidden(format!(
                "user `{}` is disabled",
                user.email
            )));
        }
        match tenant {
            Some(slug) => self.sign_in_to(&user, slug, ttl).await,
            None if user.is_platform_admin => self.sign_in_to_platform(&user, ttl).await,
            None => Err(AppError::bad_input(
                "tenant",
                "only platform admins get a token without a tenant",
            )),
        }
    }

    async fn sign_in_to_platform(
        &self,
        user: &user::Model,
        ttl: Duration,
    ) -> Result<SignedIn, AppError> {
        let issued = self.tokens.issue(&user.id, Audience::Platform, ttl).await?;
        Ok(SignedIn {
            issued,
            tenant: None,
        })
    }

    async fn sign_in_to(
        &self,
        user: &user::Model,
        slug: &str,
        ttl: Duration,
    ) -> Result<SignedIn, AppError> {
        // Unknown tenant and foreign tenant answer alike: no probing for slugs.
        let not_member = || AppError::Forbidden(format!("you are not a member of tenant `{slug}`"));
        let tenant = tenants::find_by_slug(&self.control.db, slug)
            .await?
            .ok_or_else(not_member)?;
        let membership = memberships::find(&self.control.db, &user.id, &tenant.id)
            .await?
            .ok_or_else(not_member)?;
        if tenant.status == TenantStatus::Suspended {
            return Err(AppError::TenantSuspended(tenant.slug));
        }
        let issued = self
            .tokens
            .issue(
                &user.id,
                Audience::Tenant {
                    tenant_id: &tenant.id,
                    slug: &tenant.slug,
                    role: membership.role.into(),
                },
                ttl,
            )
            .await?;
        Ok(SignedIn {
            issued,
            tenant: Some(tenant),
        })
    }
}
