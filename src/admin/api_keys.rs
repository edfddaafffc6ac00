//! A tenant admin's (or an operator's) use cases over the tenant's API keys.
//! Every change is audited in its transaction; the key itself exists in clear
//! only in the answer to its creation.
use chrono::{Duration as Span, Utc};
use secrecy::SecretString;
use serde_json::json;

use crate::{
    audit::{commit_with, Actor, AuditEntry},
    auth::api_keys,
    control::{
        api_keys::{self as stored, NewApiKey},
        entities::api_key::{self, ApiKeyRole},
    },
    error::AppError,
    state::Services,
};

/// Longest name of a key.
const MAX_NAME_CHARS: usize = 64;
/// Longest overlap of a rotation: the old key lives at most this much longer.
pub const MAX_OVERLAP_HOURS: u32 = 7 * 24;

/// The tenant a key belongs to: (id, slug).
pub type TenantScope<'a> = (&'a str, &'a str);

/// A new key: shown once.
pub struct CreatedKey {
    pub key: SecretString,
    pub row: api_key::Model,
}

/// What a new key is.
pub struct KeySpec {
    pub name: String,
    pub role: ApiKeyRole,
    /// Only published documents (trusted documents) run with it.
    pub persisted_only: bool,
    /// None: the operator's default lifetime.
    pub expires_in_days: Option<u32>,
}

pub async fn create(
    services: &Services,
    actor: &Actor,
    tenant: TenantScope<'_>,
    spec: KeySpec,
) -> Result<CreatedKey, AppError> {
    issue(services, actor, tenant, spec, None).await
}

/// The tenant's keys, newest first.
pub async fn list(services: &Services, tenant_id: &str) -> Result<Vec<api_key::Model>, AppError> {
    stored::list(&services.control.db, tenant_id).await
}

/// Revokes a key of the tenant: refused here at once, on other instances
/// within the context cache's lifetime.
pub async fn revoke(
    services: &Services,
    actor: &Actor,
    tenant: TenantScope<'_>,
    id: &str,
) -> Result<api_key::Model, AppError> {
    let txn = services.control.begin_change().await?;
    let key = stored::get_in_tenant(&txn, tenant.0, id).await?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let key = stored::revoke(&txn, key).await?;
    commit_with(
        txn,
        AuditEntry::change(actor, "api_key.revoke", Some(tenant), &key.id)
            .with_details(json!({ "name": key.name })),
    )
    .await?;
    services.forget_cached_answers();
    Ok(key)
}

/// A new key with the old one's name and role; the old one keeps working for
/// `overlap_hours` (at most a week), so a client can switch without a gap.
pub async fn rotate(
    services: &Services,
    actor: &Actor,
    tenant: TenantScope<'_>,
    id: &str,
    overlap_hours: u32,
    expires_in_days: Option<u32>,
) -> Result<CreatedKey, AppError> {
    if overlap_hours > MAX_OVERLAP_HOURS {
        return Err(AppError::bad_input(
            "overlapHours",
            format!("the overlap is at most {MAX_OVERLAP_HOURS} hours"),
        ));
    }
    let old = stored::get_in_tenant(&services.control.db, tenant.0, id).await?;
    if old.revoked_at.is_some() || old.expires_at <= Utc::now() {
        return Err(AppError::Conflict(
            "this key was revoked or has expired: create a new one".into(),
        ));
    }
    let spec = KeySpec {
        name: old.name.clone(),
        role: old.role,
        persisted_only: old.persisted_only,
        expires_in_days,
    };
    let overlap_until = Utc::now() + Span::hours(i64::from(overlap_hours));
    issue(services, actor, tenant, spec, Some((old, overlap_until))).await
}

/// Creates a key (and, for a rotation, shortens the old one), audited.
async fn issue(
    services: &Services,
    actor: &Actor,
    tenant: TenantScope<'_>,
    spec: KeySpec,
    replaces: Option<(api_key::Model, chrono::DateTime<Utc>)>,
) -> Result<CreatedKey, AppError> {
    let name = spec.name.trim().to_string();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(AppError::bad_input(
            "name",
            format!("a key's name is 1-{MAX_NAME_CHARS} printable characters"),
        ));
    }
    let lifetimes = services.api_keys.lifetimes;
    let days = spec.expires_in_days.unwrap_or(lifetimes.default_days);
    if days == 0 || days > lifetimes.max_days {
        return Err(AppError::bad_input(
            "expiresInDays",
            format!(
                "a key lives 1 to {} days (TENANTQL_API_KEY_MAX_DAYS)",
                lifetimes.max_days
            ),
        ));
    }
    let new = api_keys::generate();
    let expires_at = Utc::now() + Span::days(i64::from(days));
    let txn = services.control.begin_change().await?;
    let (action, rotated_from) = match replaces {
        Some((old, until)) => {
            let old = stored::expire_by(&txn, old, until).await?;
            ("api_key.rotate", Some(old.id))
        }
        None => ("api_key.create", None),
    };
    let row = stored::insert(
        &txn,
        NewApiKey {
            id: new.id,
            secret_hash: new.secret_hash,
            tenant_id: tenant.0.to_string(),
            name,
            role: spec.role,
            persisted_only: spec.persisted_only,
            created_by: actor.email.clone(),
            expires_at,
            rotated_from,
        },
    )
    .await?;
    commit_with(
        txn,
        AuditEntry::change(actor, action, Some(tenant), &row.id).with_details(json!({
            "name": row.name,
            "role": row.role.as_str(),
            "persistedOnly": row.persisted_only,
            "expiresAt": row.expires_at.to_rfc3339(),
            "rotatedFrom": row.rotated_from,
        })),
    )
    .await?;
    services.forget_cached_answers();
    Ok(CreatedKey { key: new.key, row })
}
