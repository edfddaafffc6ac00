//! The operator's use cases over tenant databases: check one against the
//! contract, and roll tenantql's own objects out to many.
//!
//! A rollout migrates each tenant under a lease in the control plane (so two
//! instances or commands never migrate one tenant at once), records every
//! tenant's outcome, never lets one tenant's failure stop the others, and —
//! with a canary — migrates a few first and stops if any of them fails. It runs
//! only when an operator asks: never implicitly on a request.
use std::time::Instant;

use futures_util::StreamExt;
use serde_json::json;

use crate::{
    audit::{self, Actor, AuditEntry},
    contract::{self, migrations, CheckReport},
    control::{
        entities::tenant::{self, WriteMode},
        tenant_databases::{self, Finished, ResultRow, RolloutCounts},
        tenants,
    },
    error::AppError,
    state::Services,
    tenancy::pools::store_failure,
};

/// Longest one tenant's migration may hold its lease before another runner may take over.
const LEASE_MINUTES: i64 = 15;
/// Tenants migrated at once unless the operator says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Most tenants migrated at once.
pub const MAX_CONCURRENCY: usize = 64;
/// Most tenants one request may name (`--all` names none).
pub const MAX_NAMED_TENANTS: usize = 1000;

fn scope(tenant: &tenant::Model) -> Option<(&str, &str)> {
    Some((tenant.id.as_str(), tenant.slug.as_str()))
}

/// Whether the tenant's contract relations are tenantql's own tables, which
/// the `own_tables` step equips with sequences and triggers.
pub fn owns_tables(tenant: &tenant::Model) -> bool {
    tenant.write_mode == WriteMode::Tables && tenant.contract_schema.is_none()
}

/// The tenant's database held against the contract, over a session of its
/// own (the live pool is left alone).
pub(crate) async fn report(
    services: &Services,
    tenant: &tenant::Model,
) -> Result<CheckReport, AppError> {
    let mut session = services.pools.open_session(tenant).await?;
    contract::check(
        &mut session.conn,
        tenant.contract_schema.as_deref(),
        tenant.write_mode,
    )
    .await
    .map_err(|e| store_failure(&tenant.slug, e))
}

/// Reads the tenant database's dictionary and holds it against the contract;
/// when the contract holds, clears the contract fault this instance last saw
/// for the tenant.
pub async fn check(
    services: &Services,
    actor: &Actor,
    slug: &str,
) -> Result<CheckReport, AppError> {
    let tenant = tenants::get_by_slug(&services.control.db, slug).await?;
    let report = report(services, &tenant).await?;
    if report.ok() {
        services.pools.contract_passed(&tenant.id);
    }
    let entry = AuditEntry::change(actor, "tenant.check_database", scope(&tenant), slug)
        .with_details(json!({
            "errors": report.errors(),
            "warnings": report.warnings(),
            "ownVersion": report.own_version,
        }));
    audit::record_change(&services.control.db, entry).await?;
    Ok(report)
}

/// Which tenants a rollout covers and how it runs.
#[derive(Debug, Clone, Default)]
pub struct RolloutRequest {
    /// Empty: every tenant that is not deleted.
    pub slugs: Vec<String>,
    pub dry_run: bool,
    pub concurrency: usize,
    /// Migrate this many first (in slug order); stop if any of them fails.
    pub canary: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Brought to the target version.
    Migrated,
    /// Already at the target: nothing done.
    Current,
    Failed,
    /// Another runner holds the tenant.
    Locked,
    /// Left out: the canary failed.
    Skipped,
    /// Dry run: what would be done.
    Planned,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Migrated => "migrated",
            Outcome::Current => "current",
            Outcome::Failed => "failed",
            Outcome::Locked => "locked",
            Outcome::Skipped => "skipped",
            Outcome::Planned => "planned",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TenantOutcome {
    pub slug: String,
    pub tenant_id: String,
    pub from_version: u32,
    pub to_version: u32,
    pub outcome: Outcome,
    pub error: Option<String>,
    /// The steps after `from_version` (a dry run's plan; what a run applied).
    pub steps: Vec<migrations::Planned>,
    pub duration_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Rollout {
    /// None for a dry run (nothing is recorded).
    pub id: Option<String>,
    pub target_version: u32,
    /// completed, failed (some tenant failed), stopped (a canary failed), dry-run.
    pub status: &'static str,
    pub tenants: Vec<TenantOutcome>,
}

impl Rollout {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.tenants.iter().filter(|t| t.outcome == outcome).count()
    }
}

async fn tenants_of(services: &Services, slugs: &[String]) -> Result<Vec<tenant::Model>, AppError> {
    let db = &services.control.db;
    if slugs.is_empty() {
        return tenants::list(db).await;
    }
    let rows = tenants::by_slugs(db, slugs).await?;
    let named: std::collections::HashSet<&str> = slugs.iter().map(String::as_str).collect();
    if rows.len() < named.len() {
        return Err(AppError::NotFound("tenant"));
    }
    Ok(rows)
}

fn outcome(tenant: &tenant::Model, outcome: Outcome, started: Instant) -> TenantOutcome {
    TenantOutcome {
        slug: tenant.slug.clone(),
        tenant_id: tenant.id.clone(),
        from_version: 0,
        to_version: 0,
        outcome,
        error: None,
        steps: Vec::new(),
        duration_ms: started.elapsed().as_millis() as i64,
    }
}

/// What a run would do for one tenant: its version and the steps after it.
async fn plan_one(services: &Services, tenant: tenant::Model) -> TenantOutcome {
    let tenant = &tenant;
    let started = Instant::now();
    let mut result = outcome(tenant, Outcome::Planned, started);
    let version = async {
        let mut session = services.pools.open_session(tenant).await?;
        migrations::current_version(&mut session.conn)
            .await
            .map_err(|e| store_failure(&tenant.slug, e))
    };
    match version.await {
        Ok(version) => {
            result.from_version = version;
            result.to_version = migrations::target_version().max(version);
            result.steps = migrations::plan(version, owns_tables(tenant));
        }
        Err(err) => {
            result.outcome = Outcome::Failed;
            result.error = Some(err.to_string());
        }
    }
    result.duration_ms = started.elapsed().as_millis() as i64;
    result
}

/// Migrates one tenant under its lease and records the outcome.
async fn migrate_one(
    services: &Services,
    rollout_id: &str,
    tenant: tenant::Model,
) -> TenantOutcome {
    let tenant = &tenant;
    let started = Instant::now();
    let db = &services.control.db;
    let mut result = outcome(tenant, Outcome::Failed, started);
    let lease = chrono::Duration::minutes(LEASE_MINUTES);
    match tenant_databases::lease(db, &tenant.id, rollout_id, lease).await {
        Ok(true) => {}
        Ok(false) => {
            result.outcome = Outcome::Locked;
            result.error = Some("another runner is migrating this tenant".into());
            record(db, rollout_id, &result).await;
            return result;
        }
        Err(err) => {
            result.error = Some(format!("the control plane refused the lease: {err}"));
            return result;
        }
    }
    let run = async {
        let mut session = services
            .pools
            .open_session(tenant)
            .await
            .map_err(|e| (None, e.to_string()))?;
        migrations::migrate(&mut session.conn, owns_tables(tenant))
            .await
            .map_err(|e| (e.at, e.to_string()))
    };
    let finished = match run.await {
        Ok((from, to)) => {
            result.from_version = from;
            result.to_version = to;
            result.steps = migrations::plan(from, owns_tables(tenant));
            result.outcome = if result.steps.is_empty() {
                Outcome::Current
            } else {
                Outcome::Migrated
            };
            Finished::At(to)
        }
        Err((at, error)) => {
            result.from_version = at.unwrap_or(0);
            result.to_version = at.unwrap_or(0);
            result.error = Some(error);
            Finished::Failed {
                version: at,
                error: result.error.as_deref().unwrap_or_default(),
            }
        }
    };
    result.duration_ms = started.elapsed().as_millis() as i64;
    if let Err(err) = tenant_databases::finish(
        db,
        &tenant.id,
        rollout_id,
        finished,
        result.duration_ms,
        Some(rollout_id),
    )
    .await
    {
        tracing::warn!(tenant = %tenant.slug, error = %err.detail(), "recording a tenant migration failed");
    }
    record(db, rollout_id, &result).await;
    result
}

/// The tenant's line in the rollout's record.
async fn record(db: &sea_orm::DatabaseConnection, rollout_id: &str, result: &TenantOutcome) {
    let row = ResultRow {
        tenant_id: &result.tenant_id,
        from_version: result.from_version,
        to_version: result.to_version,
        outcome: result.outcome.as_str(),
        error: result.error.as_deref(),
        duration_ms: result.duration_ms,
    };
    if let Err(err) = tenant_databases::record_result(db, rollout_id, row).await {
        tracing::warn!(tenant = %result.slug, error = %err.detail(), "recording a rollout outcome failed");
    }
}

async fn migrate_all(
    services: &Services,
    rollout_id: &str,
    tenants: &[tenant::Model],
    concurrency: usize,
) -> Vec<TenantOutcome> {
    let mut outcomes: Vec<TenantOutcome> = futures_util::stream::iter(tenants.to_vec())
        .map(|tenant| migrate_one(services, rollout_id, tenant))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    outcomes.sort_by(|a, b| a.slug.cmp(&b.slug));
    outcomes
}

/// Runs (or with `dry_run`, plans) a rollout to the target version.
pub async fn migrate(
    services: &Services,
    actor: &Actor,
    request: RolloutRequest,
) -> Result<Rollout, AppError> {
    if request.concurrency == 0 || request.concurrency > MAX_CONCURRENCY {
        return Err(AppError::bad_input(
            "concurrency",
            format!("concurrency is 1 to {MAX_CONCURRENCY}"),
        ));
    }
    if request.slugs.len() > MAX_NAMED_TENANTS {
        return Err(AppError::bad_input(
            "slugs",
            format!("name at most {MAX_NAMED_TENANTS} tenants, or none for all of them"),
        ));
    }
    if request.canary == Some(0) {
        return Err(AppError::bad_input(
            "canary",
            "a canary is at least 1 tenant",
        ));
    }
    let tenants = tenants_of(services, &request.slugs).await?;
    let target_version = migrations::target_version();
    if request.dry_run {
        let mut planned: Vec<TenantOutcome> = futures_util::stream::iter(tenants.clone())
            .map(|tenant| plan_one(services, tenant))
            .buffer_unordered(request.concurrency)
            .collect()
            .await;
        planned.sort_by(|a, b| a.slug.cmp(&b.slug));
        return Ok(Rollout {
            id: None,
            target_version,
            status: "dry-run",
            tenants: planned,
        });
    }
    let db = &services.control.db;
    let started_by = actor.email.clone().unwrap_or_else(|| "unknown".into());
    let rollout = tenant_databases::start_rollout(
        db,
        target_version,
        &started_by,
        request.canary,
        tenants.len(),
    )
    .await?;
    let (canary, rest) = tenants.split_at(request.canary.unwrap_or(0).min(tenants.len()));
    let mut outcomes = migrate_all(services, &rollout.id, canary, request.concurrency).await;
    let canary_failed = outcomes.iter().any(|o| o.outcome == Outcome::Failed);
    if canary_failed {
        let now = Instant::now();
        for tenant in rest {
            let mut skipped = outcome(tenant, Outcome::Skipped, now);
            skipped.error = Some("not migrated: a canary tenant failed".into());
            record(db, &rollout.id, &skipped).await;
            outcomes.push(skipped);
        }
    } else {
        outcomes.extend(migrate_all(services, &rollout.id, rest, request.concurrency).await);
    }
    let not_migrated = outcomes
        .iter()
        .any(|o| matches!(o.outcome, Outcome::Failed | Outcome::Locked));
    let done = Rollout {
        id: Some(rollout.id.clone()),
        target_version,
        status: match (canary_failed, not_migrated) {
            (true, _) => "stopped",
            (false, true) => "failed",
            (false, false) => "completed",
        },
        tenants: outcomes,
    };
    tenant_databases::finish_rollout(
        db,
        &rollout.id,
        done.status,
        RolloutCounts {
            succeeded: done.count(Outcome::Migrated) + done.count(Outcome::Current),
            failed: done.count(Outcome::Failed) + done.count(Outcome::Locked),
            skipped: done.count(Outcome::Skipped),
        },
    )
    .await?;
    let entry = AuditEntry::change(actor, "tenant.migrate_databases", None, &rollout.id)
        .with_details(json!({
            "targetVersion": target_version,
            "tenants": done.tenants.len(),
            "migrated": done.count(Outcome::Migrated),
            "failed": done.count(Outcome::Failed),
            "status": done.status,
        }));
    audit::record_change(db, entry).await?;
    Ok(done)
}
