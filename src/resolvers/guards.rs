//! Who may call a field, declared on the field (`#[graphql(guard = "TenantAdmin")]`)
//! and checked before its resolver runs.
//!
//! Guards read only the request's verified `TenantContext`, whose role is the
//! membership's role now (not the one written in the token). Refusals carry
//! `UNAUTHENTICATED` (no token) or `FORBIDDEN`.
use async_graphql::{Context, Guard};

use crate::{auth::Role, error::AppError, tenancy::TenantContext};

fn caller<'a>(ctx: &Context<'a>) -> Result<&'a TenantContext, AppError> {
    ctx.data_opt::<TenantContext>()
        .ok_or(AppError::Unauthenticated(
            "sign in first: this operation needs a bearer token",
        ))
}

/// Any signed-in caller, tenant or platform token.
pub struct SignedIn;

impl Guard for SignedIn {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        caller(ctx)?;
        Ok(())
    }
}

/// A user who signed in (any token but an API key's): only a person has a
/// session to switch or end.
pub struct UserSession;

impl Guard for UserSession {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        if caller(ctx)?.api_key.is_some() {
            return Err(AppError::Forbidden(
                "an API key is not a session: it cannot switch tenants or sign out (revoke it instead)"
                    .into(),
            )
            .into());
        }
        Ok(())
    }
}

/// A platform admin (a platform-key token of a user who is still platform admin).
pub struct PlatformAdmin;

impl Guard for PlatformAdmin {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        if caller(ctx)?.role == Role::PlatformAdmin {
            Ok(())
        } else {
            Err(AppError::Forbidden("this operation is for platform admins".into()).into())
        }
    }
}

/// An admin of the token's tenant.
pub struct TenantAdmin;

impl Guard for TenantAdmin {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let caller = caller(ctx)?;
        caller.tenant()?;
        if caller.role == Role::Admin {
            Ok(())
        } else {
            Err(AppError::Forbidden("this operation is for the tenant's admins".into()).into())
        }
    }
}

/// Any member (admin or member) of the token's tenant.
pub struct Member;

impl Member {
    /// The guard's check on a verified caller (a compiled plan checks it
    /// without a `Context`).
    pub fn admits(caller: &TenantContext) -> Result<(), AppError> {
        caller.tenant()?;
        match caller.role {
            Role::Admin | Role::Member => Ok(()),
            Role::PlatformAdmin => Err(AppError::Forbidden(
                "this operation needs a tenant token".into(),
            )),
        }
    }
}

impl Guard for Member {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        Ok(Member::admits(caller(ctx)?)?)
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema, Value};

    use super::*;
    use crate::{control::entities::tenant::BackendKind, tenancy::TenantRef};

    struct Fields;

    #[Object]
    impl Fields {
        #[graphql(guard = "SignedIn")]
        async fn signed_in(&self) -> bool {
            true
        }
        #[graphql(guard = "Member")]
        async fn member(&self) -> bool {
            true
        }
        #[graphql(guard = "TenantAdmin")]
        async fn tenant_admin(&self) -> bool {
            true
        }
        #[graphql(guard = "PlatformAdmin")]
        async fn platform_admin(&self) -> bool {
            true
        }
    }

    fn context(role: Role) -> TenantContext {
        TenantContext {
            user_id: "u".into(),
            email: "u@x.test".into(),
            role,
            tenant: (role != Role::PlatformAdmin).then(|| TenantRef {
                id: "t".into(),
                slug: "acme".into(),
                display_name: "Acme".into(),
                backend: BackendKind::Sqlite,
                config_version: 1,
                limits: Default::default(),
                contract_schema: None,
                write_mode: Default::default(),
                allowed_origins: Default::default(),
                documents_mode: None,
            }),
            token: None,
            api_key: None,
        }
    }

    /// The code each field answers with for the caller (None: allowed).
    async fn codes(caller: Option<TenantContext>) -> Vec<Option<String>> {
        let schema = Schema::new(Fields, EmptyMutation, EmptySubscription);
        let mut out = Vec::new();
        for field in ["signedIn", "member", "tenantAdmin", "platformAdmin"] {
            let mut request = Request::new(format!("{{ {field} }}"));
            if let Some(caller) = &caller {
                request = request.data(caller.clone());
            }
            let mut response = schema.execute(request).await;
            crate::schema::classify_errors(&mut response, None);
            out.push(response.errors.first().map(|e| {
                match e.extensions.as_ref().and_then(|x| x.get("code")) {
                    Some(Value::String(code)) => code.clone(),
                    other => format!("{other:?}"),
                }
            }));
        }
        out
    }

    #[tokio::test]
    async fn each_role_gets_exactly_its_fields() {
        let no = |code: &str| Some(code.to_string());
        assert_eq!(
            codes(None).await,
            [
                no("UNAUTHENTICATED"),
                no("UNAUTHENTICATED"),
                no("UNAUTHENTICATED"),
                no("UNAUTHENTICATED")
            ]
        );
        assert_eq!(
            codes(Some(context(Role::Member))).await,
            [None, None, no("FORBIDDEN"), no("FORBIDDEN")]
        );
        assert_eq!(
            codes(Some(context(Role::Admin))).await,
            [None, None, None, no("FORBIDDEN")]
        );
        assert_eq!(
            codes(Some(context(Role::PlatformAdmin))).await,
            [None, no("FORBIDDEN"), no("FORBIDDEN"), None]
        );
    }
}
