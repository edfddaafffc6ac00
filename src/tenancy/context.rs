//! Verified claims → `TenantContext`, the only source of a request's tenant.
//!
//! A token proves who signed in and for which tenant; it does not prove that the
//! tenant is still active or that the user is still an enabled member. Those are
//! checked against the control plane on every request, with the answer reused for
//! at most `context_cache_secs` (≤ 30 s): the bound on how long a suspension,
//! disabled user or revoked membership can lag behind.
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::{
    auth::{Claims, Role},
    control::{
        entities::{
            api_key::{self, ApiKeyRole},
            tenant,
            tenant::{BackendKind, DocumentsMode, TenantStatus, WriteMode},
        },
        memberships,
        tenants::{self, TenantLimits},
        users, ControlPlane,
    },
    error::AppError,
    origins::OriginList,
    store::Dialect,
};

/// How an API key's caller is named where a user id would be.
pub const API_KEY_USER: &str = "apikey:";

/// Entries kept at most; past this the cache starts over rather than grow.
const MAX_CACHED_CONTEXTS: usize = 50_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRef {
    pub id: String,
    pub slug: String,
    pub display_name: String,
    pub backend: BackendKind,
    /// Bumped when connection settings change: the pool manager rebuilds on it.
    pub config_version: i64,
    pub limits: TenantLimits,
    /// Where its contract relations live (None: the session's own schema).
    pub contract_schema: Option<std::sync::Arc<str>>,
    pub write_mode: WriteMode,
    /// Web origins of the tenant's own apps, beyond the deployment's.
    pub allowed_origins: std::sync::Arc<OriginList>,
    /// Whether its callers may send free-form documents (None: the deployment's mode).
    pub documents_mode: Option<DocumentsMode>,
}

impl From<tenant::Model> for TenantRef {
    fn from(row: tenant::Model) -> Self {
        TenantRef {
            limits: TenantLimits::of(&row),
            id: row.id,
            slug: row.slug,
            display_name: row.display_name,
            backend: row.backend,
            config_version: row.config_version,
            contract_schema: row.contract_schema.as_deref().map(Into::into),
            write_mode: row.write_mode,
            allowed_origins: OriginList::from_stored(row.allowed_origins.as_deref()).into(),
            documents_mode: row.documents_mode,
        }
    }
}

impl TenantRef {
    pub fn dialect(&self) -> Dialect {
        match self.backend {
            BackendKind::Sqlite => Dialect::Sqlite,
            BackendKind::Oracle => Dialect::Oracle,
            BackendKind::Postgres => Dialect::Postgres,
        }
    }
}

/// The verified caller of one request. Built only from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantContext {
    pub user_id: String,
    pub email: String,
    /// The current role: the membership's role now, not the one in the token.
    pub role: Role,
    /// `None` for a platform-admin token, which acts for no tenant by itself.
    pub tenant: Option<TenantRef>,
    /// The token this request came with (set by the edge that verified it).
    pub token: Option<TokenRef>,
    /// Set when the caller is a machine client with an API key, not a user.
    pub api_key: Option<ApiKeyRef>,
}

/// The API key a machine client called with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRef {
    pub id: String,
    /// Its role is `reader`: every mutation is refused.
    pub read_only: bool,
    /// Only published documents run with it.
    pub persisted_only: bool,
}

/// Which token a caller presented, so it can be signed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRef {
    pub jti: String,
    /// Unix seconds.
    pub expires_at: u64,
}

impl TenantContext {
    /// The tenant this request acts for; a platform token has none.
    pub fn tenant(&self) -> Result<&TenantRef, AppError> {
        self.tenant.as_ref().ok_or_else(|| {
            AppError::Forbidden(
                "this operation needs a tenant token; use selectTenant or login with a tenant"
                    .into(),
            )
        })
    }
}

type CacheKey = (String, Option<String>);

pub struct ContextResolver {
    control: ControlPlane,
    ttl: Duration,
    cache: Mutex<HashMap<CacheKey, (TenantContext, Instant)>>,
}

impl ContextResolver {
    pub fn new(control: ControlPlane, ttl: Duration) -> Self {
        ContextResolver {
            control,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn resolve(&self, claims: &Claims) -> Result<TenantContext, AppError> {
        let key = (claims.sub.clone(), claims.tenant.clone());
        if let Some(ctx) = self.cached(&key) {
            return Ok(ctx);
        }
        let ctx = self.load(claims).await?;
        self.remember(key, &ctx);
        Ok(ctx)
    }

    fn cached(&self, key: &CacheKey) -> Option<TenantContext> {
        if self.ttl.is_zero() {
            return None;
        }
        let cache = self.cache.lock().expect("context cache lock");
        let (ctx, at) = cache.get(key)?;
        (at.elapsed() < self.ttl).then(|| ctx.clone())
    }

    fn remember(&self, key: CacheKey, ctx: &TenantContext) {
        if self.ttl.is_zero() {
            return;
        }
        let mut cache = self.cache.lock().expect("context cache lock");
        if cache.len() >= MAX_CACHED_CONTEXTS {
            let ttl = self.ttl;
            cache.retain(|_, (_, at)| at.elapsed() < ttl);
            if cache.len() >= MAX_CACHED_CONTEXTS {
                cache.clear();
            }
        }
        cache.insert(key, (ctx.clone(), Instant::now()));
    }

    /// Forget every cached answer, e.g. after this process changed a tenant or member.
    pub fn forget_all(&self) {
        self.cache.lock().expect("context cache lock").clear();
    }

    async fn load(&self, claims: &Claims) -> Result<TenantContext, AppError> {
        let db = &self.control.db;
        let user = users::find_by_id(db, &claims.sub)
            .await?
            .ok_or(AppError::Unauthenticated(
                "the token's user no longer exists",
            ))?;
        if user.disabled {
            return Err(AppError::Unauthenticated("the token's user is disabled"));
        }
        let Some(slug) = &claims.tenant else {
            // Only platform-key tokens come without a tenant (checked in verification).
            if !user.is_platform_admin {
                return Err(AppError::Forbidden(
                    "the user is no longer a platform admin".into(),
                ));
            }
            return Ok(TenantContext {
                user_id: user.id,
                email: user.email,
                role: Role::PlatformAdmin,
                tenant: None,
                token: None,
                api_key: None,
            });
        };
        let tenant = tenants::find_by_slug(db, slug)
            .await?
            .ok_or(AppError::Unauthenticated(
                "the token's tenant no longer exists",
            ))?;
        let membership = memberships::find(db, &user.id, &tenant.id)
            .await?
            .ok_or_else(|| {
                AppError::Forbidden(format!("you are no longer a member of tenant `{slug}`"))
            })?;
        if tenant.status == TenantStatus::Suspended {
            return Err(AppError::TenantSuspended(tenant.slug));
        }
        Ok(TenantContext {
            user_id: user.id,
            email: user.email,
            role: membership.role.into(),
            tenant: Some(TenantRef::from(tenant)),
            token: None,
            api_key: None,
        })
    }

    /// The caller of a verified API key: its tenant as of now (reused like any
    /// context). The key's id stands for the user: audit rows, rate limits and
    /// fair share count it as its own caller.
    pub async fn resolve_key(&self, key: &api_key::Model) -> Result<TenantContext, AppError> {
        let cache_key = (
            format!("{API_KEY_USER}{}", key.id),
            Some(key.tenant_id.clone()),
        );
        if let Some(ctx) = self.cached(&cache_key) {
            return Ok(ctx);
        }
        let tenant = tenants::find_by_id(&self.control.db, &key.tenant_id)
            .await?
            .filter(|t| t.status != TenantStatus::Deleted)
            .ok_or(AppError::Unauthenticated(
                "the API key's tenant no longer exists",
            ))?;
        if tenant.status == TenantStatus::Suspended {
            return Err(AppError::TenantSuspended(tenant.slug));
        }
        let ctx = TenantContext {
            user_id: cache_key.0.clone(),
            email: cache_key.0.clone(),
            role: Role::Member,
            tenant: Some(TenantRef::from(tenant)),
            token: None,
            api_key: Some(ApiKeyRef {
                id: key.id.clone(),
                read_only: key.role == ApiKeyRole::Reader,
                persisted_only: key.persisted_only,
            }),
        };
        self.remember(cache_key, &ctx);
        Ok(ctx)
    }
}
