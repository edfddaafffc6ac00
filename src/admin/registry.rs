//! The operator's use cases over tenants, users and memberships: the platform
//! admin's GraphQL mutations and the CLI call the same functions.
//!
//! Every change writes its audit row in the same transaction as the change, and
//! afterwards forgets this process's cached answers, so it applies here at once
//! (other instances see it within the context-cache lifetime).
use sea_orm::ActiveEnum;
use secrecy::SecretString;
use serde_json::json;

use crate::{
    audit::{self, commit_with, Actor, AuditEntry},
    auth::{keys, password},
    control::{
        entities::{
            membership::MemberRole,
            tenant::{self, BackendKind, TenantStatus},
            user,
        },
        memberships, password_tokens,
        tenants::{self, NewTenant, TenantChanges, TunnelConfig},
        users,
    },
    error::AppError,
    origins::OriginList,
    state::Services,
    store::{oracle, postgres},
    tenancy::{
        pools::{Hop, Probe},
        tunnel,
    },
};

fn scope(tenant: &tenant::Model) -> Option<(&str, &str)> {
    Some((tenant.id.as_str(), tenant.slug.as_str()))
}

/// Refuses, before anything is stored, a connect string the server could not
/// use: a PostgreSQL one it cannot read, or an Oracle one a tunnel cannot point at.
fn check_connect_string(
    backend: BackendKind,
    connect_string: &str,
    behind_a_bastion: bool,
) -> Result<(), AppError> {
    let endpoint = match backend {
        BackendKind::Postgres => postgres::endpoint(connect_string).map(drop),
        BackendKind::Oracle if behind_a_bastion => oracle::endpoint(connect_string).map(drop),
        _ => Ok(()),
    };
    endpoint.map_err(|e| AppError::bad_input("connectString", e.to_string()))
}

/// Refuses key texts the tunnel could not use. Checked when they are given:
/// stored ones passed it, so a later update need not open them.
fn check_tunnel_keys(tunnel: &TunnelConfig) -> Result<(), AppError> {
    use secrecy::ExposeSecret;
    tunnel::parse_private_key(tunnel.private_key.expose_secret())
        .map_err(|e| AppError::bad_input("tunnel.privateKey", e.to_string()))?;
    tunnel::expected_fingerprint(&tunnel.host_key)
        .map_err(|e| AppError::bad_input("tunnel.hostKey", e.to_string()))?;
    Ok(())
}

/// A tenant's origins in canonical text, for its audit rows.
fn origin_rules(tenant: &tenant::Model) -> Vec<String> {
    OriginList::from_stored(tenant.allowed_origins.as_deref()).rules()
}

/// Adds a tenant together with its signing key, atomically.
pub async fn add_tenant(
    services: &Services,
    actor: &Actor,
    new: NewTenant,
) -> Result<tenant::Model, AppError> {
    check_connect_string(new.backend, &new.connect_string, new.tunnel.is_some())?;
    if let Some(tunnel) = &new.tunnel {
        check_tunnel_keys(tunnel)?;
    }
    let control = &services.control;
    let txn = control.begin_change().await?;
    let tenant = tenants::insert(&txn, &control.sealer, new).await?;
    keys::create(&txn, &control.sealer, Some(&tenant.id)).await?;
    let entry = AuditEntry::change(actor, "tenant.create", scope(&tenant), &tenant.slug)
        .with_details(json!({
            "backend": tenant.backend.to_value(),
            "dbPasswordSet": tenant.db_password_sealed.is_some(),
            "tunnel": tenant.ssh_host.is_some(),
            "allowedOrigins": origin_rules(&tenant),
        }));
    commit_with(txn, entry).await?;
    services.origins.tenant_changed().await;
    Ok(tenant)
}

/// Whether `slug` could be given to a new tenant (well-formed, not reserved, and
/// not used by any tenant, deleted ones included).
pub async fn slug_available(services: &Services, slug: &str) -> Result<bool, AppError> {
    if tenants::validate_slug(slug).is_err() {
        return Ok(false);
    }
    Ok(tenants::find_any_by_slug(&services.control.db, slug)
        .await?
        .is_none())
}

pub async fn update_tenant(
    services: &Services,
    actor: &Actor,
    slug: &str,
    changes: TenantChanges,
) -> Result<tenant::Model, AppError> {
    let control = &services.control;
    let txn = control.begin_change().await?;
    let tenant = tenants::get_by_slug(&txn, slug).await?;
    let fields = changes.changed_fields();
    if fields.is_empty() {
        return Err(AppError::bad_input("input", "nothing to change"));
    }
    if let Some(Some(tunnel)) = &changes.tunnel {
        check_tunnel_keys(tunnel)?;
    }
    let behind_a_bastion = match &changes.tunnel {
        Some(tunnel) => tunnel.is_some(),
        None => tenant.ssh_host.is_some(),
    };
    let connect_after = changes
        .connect_string
        .as_deref()
        .unwrap_or(&tenant.connect_string);
    check_connect_string(tenant.backend, connect_after, behind_a_bastion)?;
    let origins_changed = changes.allowed_origins.is_some();
    let tenant = tenants::update(&txn, &control.sealer, tenant, changes).await?;
    let mut details = json!({ "changed": fields, "configVersion": tenant.config_version });
    if origins_changed {
        details["allowedOrigins"] = origin_rules(&tenant).into();
    }
    let entry = AuditEntry::change(actor, "tenant.update", scope(&tenant), &tenant.slug)
        .with_details(details);
    commit_with(txn, entry).await?;
    services.forget_cached_answers();
    if origins_changed {
        services.origins.tenant_changed().await;
    }
    Ok(tenant)
}

pub async fn set_tenant_status(
    services: &Services,
    actor: &Actor,
    slug: &str,
    status: TenantStatus,
) -> Result<tenant::Model, AppError> {
    let action = match status {
        TenantStatus::Active => "tenant.activate",
        TenantStatus::Suspended => "tenant.suspend",
        TenantStatus::Deleted => {
            return Err(AppError::bad_input(
                "status",
                "delete a tenant with deleteTenant",
            ))
        }
    };
    let txn = services.control.begin_change().await?;
    let tenant = tenants::get_by_slug(&txn, slug).await?;
    let tenant = tenants::set_status(&txn, tenant, status).await?;
    commit_with(
        txn,
        AuditEntry::change(actor, action, scope(&tenant), &tenant.slug),
    )
    .await?;
    services.forget_cached_answers();
    services.origins.tenant_changed().await;
    Ok(tenant)
}

/// Soft-deletes a tenant: its row stays (the audit trail names it, its slug is
/// never reused), its signing keys go (every token ends now), its pool closes.
/// `confirm` must repeat the slug.
pub async fn delete_tenant(
    services: &Services,
    actor: &Actor,
    slug: &str,
    confirm: &str,
) -> Result<tenant::Model, AppError> {
    if confirm != slug {
        return Err(AppError::bad_input(
            "confirm",
            "to delete a tenant, repeat its slug in `confirm`",
        ));
    }
    let txn = services.control.begin_change().await?;
    let tenant = tenants::get_by_slug(&txn, slug).await?;
    let tenant = tenants::set_status(&txn, tenant, TenantStatus::Deleted).await?;
    keys::delete_all(&txn, Some(&tenant.id)).await?;
    commit_with(
        txn,
        AuditEntry::change(actor, "tenant.delete", scope(&tenant), &tenant.slug),
    )
    .await?;
    services.forget_cached_answers();
    services.origins.tenant_changed().await;
    services.pools.reload(&tenant.id);
    Ok(tenant)
}

/// Seals a new database password; pools reconnect with it. The password is
/// never echoed, logged or audited.
pub async fn rotate_credentials(
    services: &Services,
    actor: &Actor,
    slug: &str,
    password: &SecretString,
) -> Result<tenant::Model, AppError> {
    use secrecy::ExposeSecret;
    if password.expose_secret().is_empty() || password.expose_secret().len() > 1024 {
        return Err(AppError::bad_input(
            "password",
            "a database password is 1-1024 characters",
        ));
    }
    let control = &services.control;
    let txn = control.begin_change().await?;
    let tenant = tenants::get_by_slug(&txn, slug).await?;
    let tenant = tenants::set_db_password(&txn, &control.sealer, tenant, password).await?;
    commit_with(
        txn,
        AuditEntry::change(
            actor,
            "tenant.rotate_credentials",
            scope(&tenant),
            &tenant.slug,
        )
        .with_details(json!({ "configVersion": tenant.config_version })),
    )
    .await?;
    services.forget_cached_answers();
    Ok(tenant)
}

/// Replaces the signing key of a tenant (`Some(slug)`) or of the platform: every
/// token the old key signed stops verifying at once in this process.
pub async fn rotate_signing_key(
    services: &Services,
    actor: &Actor,
    slug: Option<&str>,
) -> Result<String, AppError> {
    let control = &services.control;
    let txn = control.begin_change().await?;
    let tenant = match slug {
        Some(slug) => Some(tenants::get_by_slug(&txn, slug).await?),
        None => None,
    };
    let tenant_id = tenant.as_ref().map(|t| t.id.as_str());
    let key = keys::replace(&txn, &control.sealer, tenant_id).await?;
    let target = slug.unwrap_or("platform");
    let scope = tenant.as_ref().and_then(scope);
    commit_with(
        txn,
        AuditEntry::change(actor, "key.rotate", scope, target)
            .with_details(json!({ "kid": key.kid })),
    )
    .await?;
    services.forget_cached_answers();
    Ok(key.kid)
}

/// Tests the tenant's database with a fresh session (the live pool is left
/// alone). Audited: it reaches into a client's network.
pub async fn test_connection(
    services: &Services,
    actor: &Actor,
    slug: &str,
) -> Result<Probe, AppError> {
    let tenant = tenants::get_by_slug(&services.control.db, slug).await?;
    let mut probe = services.pools.probe(&tenant).await?;
    if probe.reason.is_none() {
        probe.hops.push(contract_hop(services, &tenant).await);
    }
    let entry = AuditEntry::change(actor, "tenant.test_connection", scope(&tenant), slug)
        .with_details(json!({
            "reachable": probe.reason.is_none(),
            "latencyMs": probe.latency.as_millis() as u64,
        }));
    audit::record_change(&services.control.db, entry).await?;
    Ok(probe)
}

/// The last hop of a connection test: the database against the contract
/// (the first thing wrong, if anything; `tenant check` lists everything).
async fn contract_hop(services: &Services, tenant: &tenant::Model) -> Hop {
    let started = std::time::Instant::now();
    let reason = match super::tenant_database::report(services, tenant).await {
        Ok(report) => report.first_error(),
        Err(err) => Some(err.to_string()),
    };
    Hop {
        name: "schema",
        latency: started.elapsed(),
        reason,
    }
}

/// Makes every instance rebuild the tenant's pool (a new `config_version`), and
/// this one at once.
pub async fn reload_pool(
    services: &Services,
    actor: &Actor,
    slug: &str,
) -> Result<tenant::Model, AppError> {
    let txn = services.control.begin_change().await?;
    let tenant = tenants::get_by_slug(&txn, slug).await?;
    let tenant = tenants::bump_config_version(&txn, tenant).await?;
    commit_with(
        txn,
        AuditEntry::change(actor, "tenant.reload_pool", scope(&tenant), &tenant.slug)
            .with_details(json!({ "configVersion": tenant.config_version })),
    )
    .await?;
    services.pools.reload(&tenant.id);
    services.forget_cached_answers();
    Ok(tenant)
}

pub async fn add_user(
    services: &Services,
    actor: &Actor,
    email: &str,
    password: SecretString,
    is_platform_admin: bool,
) -> Result<user::Model, AppError> {
    // Refuse a malformed email before paying for an argon2 hash.
    users::normalize_email(email)?;
    let hash = password::hash(password).await?;
    let txn = services.control.begin_change().await?;
    let user = users::insert(&txn, email, hash, is_platform_admin).await?;
    commit_with(
        txn,
        AuditEntry::change(actor, "user.create", None, &user.email)
            .with_details(json!({ "platformAdmin": is_platform_admin })),
    )
    .await?;
    Ok(user)
}

/// Adds a user without a password, and a one-time token with which they choose
/// one: an operator's way to onboard someone without mail (the operator owns
/// the platform; tenant admins invite by mail instead).
pub async fn add_user_with_token(
    services: &Services,
    actor: &Actor,
    email: &str,
    is_platform_admin: bool,
) -> Result<(user::Model, SecretString, chrono::DateTime<chrono::Utc>), AppError> {
    let email = users::normalize_email(email)?;
    let txn = services.control.begin_change().await?;
    let user = users::insert(&txn, &email, password::UNUSABLE.into(), is_platform_admin).await?;
    let (token, expires_at) = password_tokens::issue(&txn, &user.id).await?;
    commit_with(
        txn,
        AuditEntry::change(actor, "user.create", None, &user.email)
            .with_details(json!({ "platformAdmin": is_platform_admin, "passwordSetToken": true })),
    )
    .await?;
    Ok((user, token, expires_at))
}

pub async fn set_user_disabled(
    services: &Services,
    actor: &Actor,
    email: &str,
    disabled: bool,
) -> Result<user::Model, AppError> {
    let txn = services.control.begin_change().await?;
    let user = users::set_disabled(&txn, email, disabled).await?;
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    commit_with(txn, AuditEntry::change(actor, action, None, &user.email)).await?;
    services.forget_cached_answers();
    Ok(user)
}

/// Grants `role` (the operator's `grant`; tenant admins use `members`).
pub async fn grant(
    services: &Services,
    actor: &Actor,
    email: &str,
    slug: &str,
    role: MemberRole,
) -> Result<(), AppError> {
    let txn = services.control.begin_change().await?;
    let user = users::get_by_email(&txn, email).await?;
    let tenant = tenants::get_by_slug(&txn, slug).await?;
    memberships::grant(&txn, &user.id, &tenant.id, role).await?;
    commit_with(
        txn,
        AuditEntry::change(actor, "member.grant", scope(&tenant), &user.email)
            .with_details(json!({ "role": role.to_value() })),
    )
    .await?;
    services.forget_cached_answers();
    Ok(())
}

/// Returns whether the user was a member.
pub async fn revoke(
    services: &Services,
    actor: &Actor,
    email: &str,
    slug: &str,
) -> Result<bool, AppError> {
    let txn = services.control.begin_change().await?;
    let user = users::get_by_email(&txn, email).await?;
    let tenant = tenants::get_by_slug(&txn, slug).await?;
    let removed = memberships::revoke(&txn, &user.id, &tenant.id).await?;
    if !removed {
        return Ok(false);
    }
    commit_with(
        txn,
        AuditEntry::change(actor, "member.revoke", scope(&tenant), &user.email),
    )
    .await?;
    services.forget_cached_answers();
    Ok(true)
}

/// Deletes audit rows older than `age`; the prune itself is audited.
pub async fn prune_audit(
    services: &Services,
    actor: &Actor,
    age: std::time::Duration,
) -> Result<u64, AppError> {
    let age = chrono::Duration::from_std(age)
        .map_err(|_| AppError::bad_input("olderThan", "that age is too large"))?;
    let before = chrono::Utc::now() - age;
    let txn = services.control.begin_change().await?;
    let pruned = audit::prune(&txn, before).await?;
    commit_with(
        txn,
        AuditEntry::change(actor, "audit.prune", None, "audit_log")
            .with_details(json!({ "before": before.to_rfc3339(), "pruned": pruned })),
    )
    .await?;
    Ok(pruned)
}
