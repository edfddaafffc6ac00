//! Tenant databases for platform admins: the contract check, the rollout of
//! tenantql's own objects, and what each tenant's record says.
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::platform::TenantWriteMode;
use crate::{
    admin::tenant_database::{self, Outcome, Rollout, RolloutRequest, TenantOutcome},
    contract::{migrations, CheckReport, ObjectReport, Severity},
    control::entities::tenant_database::{self as record, MigrationStatus},
    resolvers::{actor, guards::PlatformAdmin, services},
    tenancy::pools::ContractFault,
};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum FindingSeverity {
    /// tenantql cannot serve what depends on this object.
    Error,
    /// Works, but worth the DBA's attention.
    Warning,
}

#[derive(SimpleObject)]
pub struct ContractFinding {
    pub severity: FindingSeverity,
    /// The column or privilege concerned; null: the object itself.
    pub subject: Option<String>,
    pub message: String,
}

#[derive(SimpleObject)]
pub struct ContractObject {
    /// The contract's name for it (`invoices`, `tenantql_record_payment`, …).
    pub name: String,
    /// `relation` or `procedure`.
    pub kind: String,
    /// What the database has under that name (table, view, function); null: nothing.
    pub found_as: Option<String>,
    pub ok: bool,
    pub findings: Vec<ContractFinding>,
}

impl From<&ObjectReport> for ContractObject {
    fn from(o: &ObjectReport) -> Self {
        ContractObject {
            name: o.name.to_string(),
            kind: o.kind.to_string(),
            found_as: o.found_as.clone(),
            ok: o.ok(),
            findings: o
                .findings
                .iter()
                .map(|f| ContractFinding {
                    severity: match f.severity {
                        Severity::Error => FindingSeverity::Error,
                        Severity::Warning => FindingSeverity::Warning,
                    },
                    subject: f.subject.clone(),
                    message: f.message.clone(),
                })
                .collect(),
        }
    }
}

/// A tenant database held against the contract (`docs/TENANT_DATABASE.md`).
#[derive(SimpleObject)]
pub struct TenantDatabaseCheck {
    /// No errors: everything tenantql reads and calls is there.
    pub ok: bool,
    pub contract_version: String,
    /// The schema looked in; null: the database account's own.
    pub schema: Option<String>,
    pub write_mode: TenantWriteMode,
    pub errors: u32,
    pub warnings: u32,
    pub objects: Vec<ContractObject>,
    /// The version tenantql's own objects are at in this database.
    pub own_version: u32,
    pub target_version: u32,
}

impl From<CheckReport> for TenantDatabaseCheck {
    fn from(r: CheckReport) -> Self {
        TenantDatabaseCheck {
            ok: r.ok(),
            contract_version: r.contract_version.to_string(),
            schema: r.schema.clone(),
            write_mode: r.write_mode.into(),
            errors: r.errors() as u32,
            warnings: r.warnings() as u32,
            objects: r.objects.iter().map(ContractObject::from).collect(),
            own_version: r.own_version,
            target_version: r.target_version,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DatabaseMigrationStatus {
    /// Never migrated by a runner or seeder.
    Unknown,
    Migrating,
    /// At the version its last run brought it to.
    Current,
    /// Its last run failed; see lastError.
    Failed,
}

/// A feature that needs a version of tenantql's objects in the tenant database.
#[derive(SimpleObject)]
pub struct DatabaseFeature {
    pub name: String,
    pub available: bool,
    /// Why not, when it is not.
    pub reason: Option<String>,
}

/// tenantql's own objects in the tenant's database, as the control plane knows them.
pub struct TenantDatabaseState {
    pub row: Option<record::Model>,
}

impl TenantDatabaseState {
    fn version(&self) -> u32 {
        self.row
            .as_ref()
            .map(|r| r.schema_version.max(0) as u32)
            .unwrap_or(0)
    }
}

#[Object]
impl TenantDatabaseState {
    /// The last step applied (0: none known).
    async fn schema_version(&self) -> u32 {
        self.version()
    }
    async fn target_version(&self) -> u32 {
        migrations::target_version()
    }
    async fn status(&self) -> DatabaseMigrationStatus {
        match self.row.as_ref().map(|r| r.status) {
            None | Some(MigrationStatus::Unknown) => DatabaseMigrationStatus::Unknown,
            Some(MigrationStatus::Migrating) => DatabaseMigrationStatus::Migrating,
            Some(MigrationStatus::Current) => DatabaseMigrationStatus::Current,
            Some(MigrationStatus::Failed) => DatabaseMigrationStatus::Failed,
        }
    }
    /// Attempts since it was last brought to a version.
    async fn attempt(&self) -> u32 {
        self.row
            .as_ref()
            .map(|r| r.attempt.max(0) as u32)
            .unwrap_or(0)
    }
    async fn last_error(&self) -> Option<&str> {
        self.row.as_ref()?.last_error.as_deref()
    }
    async fn duration_ms(&self) -> Option<i64> {
        self.row.as_ref()?.duration_ms
    }
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.row.as_ref().map(|r| r.updated_at)
    }
    /// What depends on the version: `liveChanges` (rows changed outside
    /// tenantql reach subscribers) needs the change log.
    async fn features(&self) -> Vec<DatabaseFeature> {
        let version = self.version();
        let needed = migrations::CHANGE_LOG_VERSION;
        vec![DatabaseFeature {
            name: "liveChanges".into(),
            available: version >= needed,
            reason: (version < needed).then(|| {
                format!(
                    "its database is at version {version}; the change log needs {needed}: run `tenantql tenant migrate`"
                )
            }),
        }]
    }
}

/// The last time this instance found the tenant's contract broken.
#[derive(SimpleObject)]
pub struct ContractHealth {
    /// What the database said was missing (a column, relation or procedure).
    pub object: String,
    pub at: DateTime<Utc>,
}

impl From<ContractFault> for ContractHealth {
    fn from(f: ContractFault) -> Self {
        ContractHealth {
            object: f.object,
            at: f.at,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum RolloutOutcome {
    Migrated,
    Current,
    Failed,
    Locked,
    Skipped,
    Planned,
}

#[derive(SimpleObject)]
pub struct RolloutStep {
    pub version: u32,
    pub name: String,
    /// False: recorded without change (not for this kind of database).
    pub applies: bool,
}

#[derive(SimpleObject)]
pub struct TenantRolloutOutcome {
    pub slug: String,
    pub from_version: u32,
    pub to_version: u32,
    pub outcome: RolloutOutcome,
    pub error: Option<String>,
    pub steps: Vec<RolloutStep>,
    pub duration_ms: i64,
}

impl From<TenantOutcome> for TenantRolloutOutcome {
    fn from(t: TenantOutcome) -> Self {
        TenantRolloutOutcome {
            slug: t.slug,
            from_version: t.from_version,
            to_version: t.to_version,
            outcome: match t.outcome {
                Outcome::Migrated => RolloutOutcome::Migrated,
                Outcome::Current => RolloutOutcome::Current,
                Outcome::Failed => RolloutOutcome::Failed,
                Outcome::Locked => RolloutOutcome::Locked,
                Outcome::Skipped => RolloutOutcome::Skipped,
                Outcome::Planned => RolloutOutcome::Planned,
            },
            error: t.error,
            steps: t
                .steps
                .into_iter()
                .map(|s| RolloutStep {
                    version: s.version,
                    name: s.name.to_string(),
                    applies: s.applies,
                })
                .collect(),
            duration_ms: t.duration_ms,
        }
    }
}

#[derive(SimpleObject)]
pub struct TenantRollout {
    /// Null for a dry run (nothing is recorded).
    pub id: Option<String>,
    pub target_version: u32,
    /// completed, failed (a tenant failed or was locked), stopped (a canary failed), dry-run.
    pub status: String,
    pub tenants: Vec<TenantRolloutOutcome>,
}

impl From<Rollout> for TenantRollout {
    fn from(r: Rollout) -> Self {
        TenantRollout {
            id: r.id,
            target_version: r.target_version,
            status: r.status.to_string(),
            tenants: r.tenants.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(InputObject, Default)]
pub struct MigrateTenantDatabasesInput {
    /// The tenants to migrate; null or empty: every tenant that is not deleted.
    pub slugs: Option<Vec<String>>,
    /// Report, per tenant, the steps a run would apply, and change nothing.
    pub dry_run: Option<bool>,
    /// Tenants migrated at once (default 4, at most 64).
    pub concurrency: Option<u32>,
    /// Migrate this many tenants first and stop if any of them fails.
    pub canary: Option<u32>,
}

#[derive(Default)]
pub struct TenantDatabaseQuery;

#[Object]
impl TenantDatabaseQuery {
    /// Reads the tenant database's data dictionary and holds it against the
    /// contract: per object and column, present, of a readable type, nullable
    /// only where allowed, and the privileges tenantql's account holds.
    #[graphql(guard = "PlatformAdmin")]
    async fn check_tenant_database(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<TenantDatabaseCheck> {
        Ok(tenant_database::check(services(ctx), &actor(ctx), &slug)
            .await?
            .into())
    }
}

#[derive(Default)]
pub struct TenantDatabaseMutation;

#[Object]
impl TenantDatabaseMutation {
    /// Brings tenantql's own objects in tenant databases (the change log and,
    /// for databases tenantql created, sequences and triggers) to the target
    /// version. One tenant's failure never stops the others; a second run
    /// retries only what is not at the target.
    #[graphql(guard = "PlatformAdmin")]
    async fn migrate_tenant_databases(
        &self,
        ctx: &Context<'_>,
        input: Option<MigrateTenantDatabasesInput>,
    ) -> async_graphql::Result<TenantRollout> {
        let input = input.unwrap_or_default();
        let request = RolloutRequest {
            slugs: input.slugs.unwrap_or_default(),
            dry_run: input.dry_run.unwrap_or(false),
            concurrency: input
                .concurrency
                .map(|c| c as usize)
                .unwrap_or(tenant_database::DEFAULT_CONCURRENCY),
            canary: input.canary.map(|c| c as usize),
        };
        Ok(
            tenant_database::migrate(services(ctx), &actor(ctx), request)
                .await?
                .into(),
        )
    }
}
