//! The API keys of the caller's own tenant, for its admins (`TenantAdmin`). The
//! tenant is always the token's.
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use crate::{
    admin::api_keys::{self, CreatedKey, KeySpec},
    auth::api_keys::PREFIX,
    control::entities::api_key,
    resolvers::{actor, caller, guards::TenantAdmin, services},
};

/// What a key may do in its tenant.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::control::entities::api_key::ApiKeyRole")]
pub enum ApiKeyRole {
    /// What a member may do: queries, subscriptions and the ERP writes.
    Member,
    /// Queries and subscriptions only; every mutation is refused.
    Reader,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ApiKeyStatus {
    Active,
    Expired,
    Revoked,
}

/// A machine client's key, without its secret.
#[derive(SimpleObject)]
pub struct ApiKey {
    /// The key id: `tqk_<id>_…` in the key itself.
    pub id: ID,
    pub name: String,
    pub role: ApiKeyRole,
    /// Runs only published (trusted) documents.
    pub persisted_only: bool,
    pub status: ApiKeyStatus,
    /// How the key starts (`tqk_<id>_`), to recognise it.
    pub prefix: String,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Its last use, to the minute.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The key this one replaced.
    pub rotated_from: Option<ID>,
}

impl From<api_key::Model> for ApiKey {
    fn from(row: api_key::Model) -> Self {
        let status = if row.revoked_at.is_some() {
            ApiKeyStatus::Revoked
        } else if row.expires_at <= Utc::now() {
            ApiKeyStatus::Expired
        } else {
            ApiKeyStatus::Active
        };
        ApiKey {
            prefix: format!("{PREFIX}{}_", row.id),
            id: ID(row.id),
            name: row.name,
            role: row.role.into(),
            persisted_only: row.persisted_only,
            status,
            created_by: row.created_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
            rotated_from: row.rotated_from.map(ID),
        }
    }
}

/// A new key. `key` is shown this once: store it where the client reads it.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    /// Send as `Authorization: Bearer <key>`.
    pub key: String,
    pub api_key: ApiKey,
}

impl From<CreatedKey> for CreatedApiKey {
    fn from(created: CreatedKey) -> Self {
        CreatedApiKey {
            key: created.key.expose_secret().to_string(),
            api_key: created.row.into(),
        }
    }
}

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// What the key is for (`Power BI`, `nightly export`), 1-64 characters.
    pub name: String,
    /// Default MEMBER.
    pub role: Option<ApiKeyRole>,
    /// Only published (trusted) documents run with it. Default false.
    pub persisted_only: Option<bool>,
    /// Default and maximum set by the operator (90 and 365 unless configured).
    pub expires_in_days: Option<i32>,
}

fn days(value: Option<i32>) -> Option<u32> {
    value.map(|d| d.max(0) as u32)
}

#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// The API keys of the caller's tenant, newest first (revoked and expired
    /// ones too, for the record).
    #[graphql(guard = "TenantAdmin")]
    async fn api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiKey>> {
        let tenant = caller(ctx)?.tenant()?;
        let keys = api_keys::list(services(ctx), &tenant.id).await?;
        Ok(keys.into_iter().map(ApiKey::from).collect())
    }
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// A new API key of the caller's tenant for a machine client.
    #[graphql(guard = "TenantAdmin")]
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> async_graphql::Result<CreatedApiKey> {
        let tenant = caller(ctx)?.tenant()?;
        let spec = KeySpec {
            name: input.name,
            role: input.role.unwrap_or(ApiKeyRole::Member).into(),
            persisted_only: input.persisted_only.unwrap_or(false),
            expires_in_days: days(input.expires_in_days),
        };
        let created =
            api_keys::create(services(ctx), &actor(ctx), (&tenant.id, &tenant.slug), spec).await?;
        Ok(created.into())
    }

    /// Revokes a key of the caller's tenant.
    #[graphql(guard = "TenantAdmin")]
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ApiKey> {
        let tenant = caller(ctx)?.tenant()?;
        let key =
            api_keys::revoke(services(ctx), &actor(ctx), (&tenant.id, &tenant.slug), &id).await?;
        Ok(key.into())
    }

    /// A new key in place of `id`, with its name and role; `id` keeps working
    /// for `overlapHours` (default 24, at most 168) so the client can switch.
    #[graphql(guard = "TenantAdmin")]
    async fn rotate_api_key(
        &self,
        ctx: &Context<'_>,
        id: ID,
        overlap_hours: Option<i32>,
        expires_in_days: Option<i32>,
    ) -> async_graphql::Result<CreatedApiKey> {
        let tenant = caller(ctx)?.tenant()?;
        let created = api_keys::rotate(
            services(ctx),
            &actor(ctx),
            (&tenant.id, &tenant.slug),
            &id,
            overlap_hours.unwrap_or(24).max(0) as u32,
            days(expires_in_days),
        )
        .await?;
        Ok(created.into())
    }
}
