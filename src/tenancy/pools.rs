//! Tenant id → that tenant's connection pool, created on first use.
//!
//! - **Lazy, single-flight**: the first request for a tenant creates its pool;
//!   requests racing it wait for that one creation instead of making their own.
//! - **Limits per tenant** (max size, warm minimum, acquire timeout) from the
//!   tenant's row; a request that cannot get a connection in time gets
//!   POOL_TIMEOUT — and only that tenant's requests wait.
//! - **Replacement**: a newer `config_version` builds a new pool; work holding the
//!   old one finishes on it, and it closes when the last holder lets go.
//! - **Idle eviction**: a pool unused for the idle TTL is dropped by the reaper.
//! - **Circuit breaker**: connection failures open the tenant's breaker; its
//!   requests fail fast with TENANT_UNAVAILABLE until a probe succeeds.
//! - **SSH tunnel**: a tenant behind a bastion gets a tunnel with each pool
//!   generation (`tunnel`); its sessions connect through it, and a session
//!   opened over an SSH session that has since been lost is never reused.
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, RwLock,
    },
    time::Duration,
};

use deadpool::managed::{
    self, Metrics, Object, PoolError, RecycleError, RecycleResult, TimeoutType,
};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{
    breaker::{Breaker, BreakerSettings, BreakerState},
    tunnel::{self, Tunnel, TunnelConfig, TunnelError, TunnelStatus, TunnelTimings},
    TenantRef,
};
use crate::{
    control::{
        entities::{tenant, tenant::BackendKind},
        tenants, ControlPlane,
    },
    error::AppError,
    sealing::SealError,
    store::{
        oracle::{self, OracleSession, OracleSettings},
        postgres::{self, PostgresSession, PostgresSettings},
        sqlite::SqliteSession,
        Connection, Refusal, Sql, StoreError,
    },
};

pub const DEFAULT_IDLE_TTL: Duration = Duration::from_secs(3600);
/// Longest a new session may take to open before it counts as a failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub idle_ttl: Duration,
    pub breaker: BreakerSettings,
    pub tunnel: TunnelTimings,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            idle_ttl: DEFAULT_IDLE_TTL,
            breaker: BreakerSettings::default(),
            tunnel: TunnelTimings::default(),
        }
    }
}

/// Where a tenant's sessions go.
pub enum StoreTarget {
    Sqlite { path: String },
    Oracle(OracleSettings),
    Postgres(PostgresSettings),
}

impl StoreTarget {
    /// The database's host and port as a bastion would reach them.
    fn endpoint(&self) -> Result<(String, u16), StoreError> {
        match self {
            StoreTarget::Sqlite { .. } => Err(StoreError::unavailable(
                "an embedded SQLite store cannot be reached through an SSH tunnel",
                "sqlite tenant with a tunnel",
            )),
            StoreTarget::Oracle(settings) => oracle::endpoint(&settings.connect_string),
            StoreTarget::Postgres(settings) => postgres::endpoint(&settings.connect_string),
        }
    }

    /// Opens one session, through `via` (a tunnel's local end) if given.
    async fn open(&self, via: Option<std::net::SocketAddr>) -> Result<Connection, StoreError> {
        match self {
            StoreTarget::Sqlite { path } => SqliteSession::open(path).await.map(Connection::Sqlite),
            StoreTarget::Oracle(settings) => match via {
                None => OracleSession::open(settings).await,
                Some(addr) => {
                    let through = OracleSettings {
                        connect_string: oracle::with_endpoint(&settings.connect_string, addr)?,
                        username: settings.username.clone(),
                        password: settings.password.clone(),
                    };
                    OracleSession::open(&through).await
                }
            }
            .map(Connection::Oracle),
            StoreTarget::Postgres(settings) => PostgresSession::open(settings, via)
                .await
                .map(Connection::Postgres),
        }
    }
}

fn tunnel_unavailable(error: TunnelError) -> StoreError {
    StoreError::unavailable(error.reason(), format!("SSH tunnel: {error}"))
}

/// A store failure outside any pool (so not the breaker's business) as the
/// client error.
pub fn store_failure(slug: &str, err: StoreError) -> AppError {
    match err {
        StoreError::Unavailable { reason, detail } => {
            tracing::warn!(tenant = %slug, %detail, "tenant database unavailable");
            AppError::TenantUnavailable {
                tenant: slug.to_string(),
                reason: reason.to_string(),
            }
        }
        other => client_error(slug, other),
    }
}

/// A failure that says nothing about reaching the database, as the client error.
fn client_error(slug: &str, err: StoreError) -> AppError {
    match err {
        StoreError::Contract { object, detail } => {
            tracing::warn!(tenant = %slug, %object, %detail, "tenant contract broken");
            AppError::TenantContractBroken(slug.to_string())
        }
        StoreError::Refused {
            refusal: Refusal::BadInput,
            message,
        } => AppError::BadInput {
            field: None,
            message,
        },
        StoreError::Refused {
            refusal: Refusal::Conflict,
            message,
        } => AppError::Conflict(message),
        StoreError::Duplicate(detail) => {
            tracing::info!(tenant = %slug, %detail, "duplicate key");
            AppError::Conflict(
                "another write took the same key at the same moment; try again".into(),
            )
        }
        other => AppError::internal(anyhow::anyhow!("tenant {slug}: {other}")),
    }
}

/// A session outside the pool (seeding, schema scripts), through its own
/// tunnel if the tenant is behind a bastion; the tunnel closes with it.
pub struct DetachedSession {
    pub conn: Connection,
    _tunnel: Option<Tunnel>,
}

pub struct StoreManager {
    target: StoreTarget,
    tunnel: Option<Tunnel>,
}

impl managed::Manager for StoreManager {
    type Type = Connection;
    type Error = StoreError;

    async fn create(&self) -> Result<Connection, StoreError> {
        let via = match &self.tunnel {
            Some(tunnel) => Some(tunnel.ready().await.map_err(tunnel_unavailable)?),
            None => None,
        };
        self.target.open(via).await
    }

    async fn recycle(&self, conn: &mut Connection, metrics: &Metrics) -> RecycleResult<StoreError> {
        if let Some(tunnel) = &self.tunnel {
            if !tunnel.carries(metrics.created) {
                return Err(RecycleError::message(
                    "session was opened over an SSH session that is gone",
                ));
            }
        }
        if conn.is_healthy().await {
            Ok(())
        } else {
            Err(RecycleError::message("session is no longer usable"))
        }
    }
}

type Pool = managed::Pool<StoreManager>;

/// A borrowed session; it goes back to its pool when dropped.
pub type PooledConnection = Object<StoreManager>;

/// One generation of a tenant's pool.
pub struct TenantPool {
    pub config_version: i64,
    pool: Pool,
    last_used: Mutex<Instant>,
    _warm_up: Option<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Counters kept per tenant across pool generations.
#[derive(Default)]
struct Counters {
    pools_created: AtomicU64,
    timeouts: AtomicU64,
    round_trips: AtomicU64,
    last_error: Mutex<Option<String>>,
    contract_fault: Mutex<Option<ContractFault>>,
}

/// The last time this instance found the tenant's contract broken: what the
/// database named, and when. Cleared by a passing contract check or a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractFault {
    pub object: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

struct Slot {
    slug: String,
    current: RwLock<Option<Arc<TenantPool>>>,
    /// Held while a pool is being built: the single flight.
    creating: tokio::sync::Mutex<()>,
    breaker: Breaker,
    counters: Counters,
}

/// The outcome of a connection test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub latency: Duration,
    /// Why it failed, in words safe to show (never the driver's text).
    pub reason: Option<String>,
    /// Each hop on the way, in order: `tunnel` (if the tenant has one), `database`.
    pub hops: Vec<Hop>,
}

/// One hop of a connection test. A hop after a failed one is not tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub name: &'static str,
    pub latency: Duration,
    pub reason: Option<String>,
}

/// What admins and metrics see of one tenant's pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    pub tenant_id: String,
    pub tenant_slug: String,
    pub open: bool,
    pub config_version: i64,
    pub max_size: usize,
    pub size: usize,
    pub idle: usize,
    pub in_use: usize,
    pub waiters: usize,
    pub pools_created: u64,
    pub timeouts: u64,
    pub round_trips: u64,
    pub breaker: BreakerState,
    pub last_error: Option<String>,
    pub contract_fault: Option<ContractFault>,
    /// The tunnel of the open pool, if the tenant is behind a bastion.
    pub tunnel: Option<TunnelStatus>,
}

pub struct PoolManager {
    control: ControlPlane,
    settings: PoolSettings,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    _reaper: Option<DropGuard>,
}

impl PoolManager {
    /// A manager whose idle reaper runs until the manager is dropped.
    pub fn start(control: ControlPlane, settings: PoolSettings) -> Arc<Self> {
        Arc::new_cyclic(|weak: &std::sync::Weak<PoolManager>| {
            let stop = CancellationToken::new();
            let token = stop.clone();
            let weak = weak.clone();
            let every =
                (settings.idle_ttl / 4).clamp(Duration::from_millis(10), Duration::from_secs(60));
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = token.cancelled() => break,
                        _ = tokio::time::sleep(every) => {}
                    }
                    match weak.upgrade() {
                        Some(manager) => {
                            manager.evict_idle();
                        }
                        None => break,
                    }
                }
            });
            PoolManager {
                control,
                settings,
                slots: Mutex::new(HashMap::new()),
                _reaper: Some(stop.drop_guard()),
            }
        })
    }

    fn slot(&self, tenant: &TenantRef) -> Arc<Slot> {
        let mut slots = self.slots.lock().expect("pool slots lock");
        slots
            .entry(tenant.id.clone())
            .or_insert_with(|| {
                Arc::new(Slot {
                    slug: tenant.slug.clone(),
                    current: RwLock::new(None),
                    creating: tokio::sync::Mutex::new(()),
                    breaker: Breaker::new(self.settings.breaker),
                    counters: Counters::default(),
                })
            })
            .clone()
    }

    /// The tenant's current pool, created (once, however many race) if missing or
    /// older than the tenant's configuration.
    pub async fn pool(&self, tenant: &TenantRef) -> Result<Arc<TenantPool>, AppError> {
        let slot = self.slot(tenant);
        if let Some(pool) = Self::current(&slot, tenant.config_version) {
            return Ok(pool);
        }
        let _flight = slot.creating.lock().await;
        if let Some(pool) = Self::current(&slot, tenant.config_version) {
            return Ok(pool);
        }
        let pool = Arc::new(self.build(tenant).await?);
        slot.counters.pools_created.fetch_add(1, Ordering::Relaxed);
        *slot.current.write().expect("pool slot lock") = Some(pool.clone());
        tracing::info!(tenant = %tenant.slug, config_version = tenant.config_version, "tenant pool created");
        Ok(pool)
    }

    fn current(slot: &Slot, config_version: i64) -> Option<Arc<TenantPool>> {
        slot.current
            .read()
            .expect("pool slot lock")
            .as_ref()
            .filter(|p| p.config_version >= config_version)
            .cloned()
    }

    /// Where the tenant's sessions go, with its password opened.
    fn target(&self, row: &tenant::Model) -> Result<StoreTarget, AppError> {
        let sealed = |what: &str, e: SealError| {
            AppError::internal(anyhow::anyhow!("opening {}'s {what}: {e}", row.slug))
        };
        let password = tenants::open_db_password(&self.control.sealer, row)
            .map_err(|e| sealed("database password", e))?;
        let username = row.db_username.clone().unwrap_or_default();
        let connect_string = row.connect_string.clone();
        Ok(match row.backend {
            BackendKind::Sqlite => StoreTarget::Sqlite {
                path: connect_string,
            },
            BackendKind::Oracle => StoreTarget::Oracle(OracleSettings {
                connect_string,
                username,
                password: password.unwrap_or_else(|| secrecy::SecretString::from(String::new())),
            }),
            BackendKind::Postgres => StoreTarget::Postgres(PostgresSettings {
                connect_string,
                username,
                password,
            }),
        })
    }

    /// The tenant's bastion, with its private key opened, if it has one.
    fn tunnel_settings(&self, row: &tenant::Model) -> Result<Option<TunnelConfig>, AppError> {
        tenants::open_tunnel(&self.control.sealer, row)
            .map_err(|e| AppError::internal(anyhow::anyhow!("opening {}'s SSH key: {e}", row.slug)))
    }

    /// Opens the tenant's tunnel (if it has a bastion): for a new pool
    /// generation with `slot` (whose breaker a reconnection closes), or for a
    /// session of its own.
    async fn open_tunnel(
        &self,
        row: &tenant::Model,
        target: &StoreTarget,
        slot: Option<&Arc<Slot>>,
    ) -> Result<Option<Tunnel>, StoreError> {
        let Some(settings) = self.tunnel_settings(row).map_err(|e| {
            StoreError::unavailable("the tenant's SSH key cannot be opened", e.detail())
        })?
        else {
            return Ok(None);
        };
        let on_reconnect = slot.map(|slot| {
            let slot = Arc::downgrade(slot);
            Box::new(move || {
                if let Some(slot) = slot.upgrade() {
                    slot.breaker.record_success();
                }
            }) as tunnel::OnReconnect
        });
        Tunnel::open(
            settings,
            target.endpoint()?,
            self.settings.tunnel,
            on_reconnect,
        )
        .await
        .map(Some)
        .map_err(tunnel_unavailable)
    }

    /// Opens one session outside the pool (through a fresh tunnel if the tenant
    /// has a bastion) and runs a trivial statement: what an operator's connection
    /// test reports, hop by hop. Leaves the live pool and the breaker alone, so
    /// testing a broken tenant cannot make it worse.
    pub async fn probe(&self, row: &tenant::Model) -> Result<Probe, AppError> {
        let target = self.target(row)?;
        let started = std::time::Instant::now();
        let mut hops = Vec::new();
        let mut via = None;
        let mut _tunnel = None;
        if let Some(settings) = self.tunnel_settings(row)? {
            let (latency, opened) = match target.endpoint() {
                Ok(endpoint) => {
                    let (latency, opened) =
                        tunnel::probe(settings, endpoint, self.settings.tunnel).await;
                    (latency, opened.map_err(|e| e.reason().to_string()))
                }
                Err(e) => (Duration::ZERO, Err(e.to_string())),
            };
            let reason = opened.as_ref().err().cloned();
            hops.push(Hop {
                name: "tunnel",
                latency,
                reason: reason.clone(),
            });
            match opened {
                Ok((tunnel, local)) => {
                    via = Some(local);
                    _tunnel = Some(tunnel);
                }
                Err(reason) => {
                    return Ok(Probe {
                        latency: started.elapsed(),
                        reason: Some(reason),
                        hops,
                    })
                }
            }
        }
        let database_started = std::time::Instant::now();
        let attempt = async {
            let mut conn = target.open(via).await?;
            let ping = Sql::raw(conn.dialect(), conn.dialect().ping_statement());
            conn.query(&ping, "connection-test").await.map(drop)
        };
        let outcome = tokio::time::timeout(CONNECT_TIMEOUT, attempt).await;
        let reason = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(StoreError::Unavailable { reason, detail })) => {
                tracing::info!(tenant = %row.slug, %detail, "connection test failed");
                Some(reason.to_string())
            }
            Ok(Err(other)) => {
                tracing::info!(tenant = %row.slug, error = %other, "connection test failed");
                Some("the database refused the test statement".to_string())
            }
            Err(_) => Some(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
        };
        hops.push(Hop {
            name: "database",
            latency: database_started.elapsed(),
            reason: reason.clone(),
        });
        Ok(Probe {
            latency: started.elapsed(),
            reason,
            hops,
        })
    }

    /// Opens one session outside the pool (see `DetachedSession`).
    pub async fn open_session(&self, row: &tenant::Model) -> Result<DetachedSession, AppError> {
        let target = self.target(row)?;
        let opened = async {
            let tunnel = self.open_tunnel(row, &target, None).await?;
            let via = match &tunnel {
                Some(tunnel) => Some(tunnel.ready().await.map_err(tunnel_unavailable)?),
                None => None,
            };
            let conn = target.open(via).await?;
            Ok(DetachedSession {
                conn,
                _tunnel: tunnel,
            })
        };
        opened.await.map_err(|e| store_failure(&row.slug, e))
    }

    /// Closes this instance's pool for the tenant and closes its breaker: the
    /// next request builds a fresh pool.
    pub fn reload(&self, tenant_id: &str) {
        if let Some(slot) = self.existing_slot(tenant_id) {
            *slot.current.write().expect("pool slot lock") = None;
            slot.breaker.record_success();
            *slot
                .counters
                .contract_fault
                .lock()
                .expect("contract fault lock") = None;
        }
    }

    async fn build(&self, tenant: &TenantRef) -> Result<TenantPool, AppError> {
        let row = tenants::find_by_id(&self.control.db, &tenant.id)
            .await?
            .ok_or(AppError::NotFound("tenant"))?;
        let target = self.target(&row)?;
        // Counted against the breaker by the caller, like any failed build.
        let tunnel = self
            .open_tunnel(&row, &target, Some(&self.slot(tenant)))
            .await
            .map_err(|e| store_failure(&row.slug, e))?;
        let acquire_timeout = Duration::from_millis(row.pool_acquire_timeout_ms.max(1) as u64);
        let pool = Pool::builder(StoreManager { target, tunnel })
            .max_size(row.pool_max_size.max(1) as usize)
            .wait_timeout(Some(acquire_timeout))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| {
                AppError::internal(anyhow::anyhow!("building {}'s pool: {e}", row.slug))
            })?;
        let warm_up = (row.pool_min_idle > 0).then(|| {
            let pool = pool.clone();
            let warm = row.pool_min_idle as usize;
            AbortOnDrop(tokio::spawn(async move {
                let mut held = Vec::with_capacity(warm);
                for _ in 0..warm {
                    match pool.get().await {
                        Ok(conn) => held.push(conn),
                        Err(_) => break,
                    }
                }
            }))
        });
        Ok(TenantPool {
            config_version: row.config_version.max(tenant.config_version),
            pool,
            last_used: Mutex::new(Instant::now()),
            _warm_up: warm_up,
        })
    }

    /// Borrows a session from the tenant's pool, minding the breaker.
    pub async fn acquire(&self, tenant: &TenantRef) -> Result<PooledConnection, AppError> {
        let slot = self.slot(tenant);
        if let Err(open) = slot.breaker.admit() {
            return Err(AppError::TenantUnavailable {
                tenant: tenant.slug.clone(),
                reason: format!(
                    "its database is failing; the next attempt is in {} ms",
                    open.retry_in.as_millis().max(1)
                ),
            });
        }
        let pool = match self.pool(tenant).await {
            Ok(pool) => pool,
            Err(err) => {
                slot.breaker.record_failure();
                return Err(err);
            }
        };
        *pool.last_used.lock().expect("last used lock") = Instant::now();
        match pool.pool.get().await {
            Ok(conn) => {
                slot.breaker.record_success();
                Ok(conn)
            }
            Err(PoolError::Timeout(TimeoutType::Wait)) => {
                slot.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                Err(AppError::PoolTimeout(tenant.slug.clone()))
            }
            Err(err) => {
                let store_error = match err {
                    PoolError::Backend(e) => e,
                    PoolError::Timeout(_) => StoreError::unavailable(
                        "the tenant's database did not open a session in time",
                        "create timeout",
                    ),
                    other => StoreError::Query(other.to_string()),
                };
                Err(self.failed(tenant, store_error))
            }
        }
    }

    /// Records a store failure against the tenant and turns it into the client error.
    pub fn failed(&self, tenant: &TenantRef, err: StoreError) -> AppError {
        let slot = self.slot(tenant);
        *slot.counters.last_error.lock().expect("last error lock") = Some(err.to_string());
        match err {
            StoreError::Unavailable { reason, detail } => {
                slot.breaker.record_failure();
                // A session whose SSH link just broke says only that the
                // database went away; the tunnel knows why.
                let reason = Self::tunnel_down(&slot).unwrap_or(reason);
                tracing::warn!(tenant = %tenant.slug, %detail, "tenant database unavailable");
                AppError::TenantUnavailable {
                    tenant: tenant.slug.clone(),
                    reason: reason.to_string(),
                }
            }
            other => {
                if let StoreError::Contract { object, .. } = &other {
                    *slot
                        .counters
                        .contract_fault
                        .lock()
                        .expect("contract fault lock") = Some(ContractFault {
                        object: object.clone(),
                        at: chrono::Utc::now(),
                    });
                }
                client_error(&tenant.slug, other)
            }
        }
    }

    /// Why the tenant's tunnel is down, when its open pool has one that is.
    fn tunnel_down(slot: &Slot) -> Option<&'static str> {
        let current = slot.current.read().expect("pool slot lock").clone()?;
        let status = current.pool.manager().tunnel.as_ref()?.status();
        (status.state == tunnel::TunnelState::Down).then(|| {
            status
                .last_error
                .unwrap_or("the SSH tunnel to the tenant's bastion is down")
        })
    }

    /// The tenant's contract checked out: forget the last fault.
    pub fn contract_passed(&self, tenant_id: &str) {
        if let Some(slot) = self.existing_slot(tenant_id) {
            *slot
                .counters
                .contract_fault
                .lock()
                .expect("contract fault lock") = None;
        }
    }

    pub fn count_round_trip(&self, tenant: &TenantRef) {
        self.slot(tenant)
            .counters
            .round_trips
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Drops pools unused for the idle TTL; work still holding one finishes on it.
    pub fn evict_idle(&self) -> usize {
        self.evict_idle_at(Instant::now())
    }

    /// The slots as they are now, so no lock is held while working on them.
    fn snapshot(&self) -> Vec<(String, Arc<Slot>)> {
        self.slots
            .lock()
            .expect("pool slots lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// `evict_idle` as if it were `now` (tests move the clock this way).
    pub fn evict_idle_at(&self, now: Instant) -> usize {
        let ttl = self.settings.idle_ttl;
        let slots = self.snapshot();
        let mut evicted = 0;
        for (tenant_id, slot) in slots {
            let mut current = slot.current.write().expect("pool slot lock");
            let idle = current.as_ref().is_some_and(|p| {
                now.saturating_duration_since(*p.last_used.lock().expect("last used lock")) >= ttl
            });
            if idle {
                *current = None;
                evicted += 1;
                tracing::info!(tenant_id = %tenant_id, "idle tenant pool closed");
            }
        }
        evicted
    }

    pub fn stats(&self, tenant_id: &str) -> Option<PoolStats> {
        let slot = self.existing_slot(tenant_id)?;
        Some(Self::stats_of(tenant_id, &slot))
    }

    /// The tenant's slot if this instance has served it (never creates one).
    fn existing_slot(&self, tenant_id: &str) -> Option<Arc<Slot>> {
        self.slots
            .lock()
            .expect("pool slots lock")
            .get(tenant_id)
            .cloned()
    }

    pub fn all_stats(&self) -> Vec<PoolStats> {
        let slots = self.snapshot();
        slots
            .iter()
            .map(|(id, slot)| Self::stats_of(id, slot))
            .collect()
    }

    fn stats_of(tenant_id: &str, slot: &Slot) -> PoolStats {
        let current = slot.current.read().expect("pool slot lock").clone();
        let status = current.as_ref().map(|p| p.pool.status());
        let (max_size, size, idle, waiters) = status
            .map(|s| (s.max_size, s.size, s.available, s.waiting))
            .unwrap_or_default();
        PoolStats {
            tenant_id: tenant_id.to_string(),
            tenant_slug: slot.slug.clone(),
            open: current.is_some(),
            config_version: current
                .as_ref()
                .map(|p| p.config_version)
                .unwrap_or_default(),
            max_size,
            size,
            idle,
            in_use: size.saturating_sub(idle),
            waiters,
            pools_created: slot.counters.pools_created.load(Ordering::Relaxed),
            timeouts: slot.counters.timeouts.load(Ordering::Relaxed),
            round_trips: slot.counters.round_trips.load(Ordering::Relaxed),
            breaker: slot.breaker.state(),
            tunnel: current
                .as_ref()
                .and_then(|p| p.pool.manager().tunnel.as_ref().map(Tunnel::status)),
            last_error: slot
                .counters
                .last_error
                .lock()
                .expect("last error lock")
                .clone(),
            contract_fault: slot
                .counters
                .contract_fault
                .lock()
                .expect("contract fault lock")
                .clone(),
        }
    }
}
