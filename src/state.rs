//! The shared, tenant-independent services one process runs with. Built once at
//! start-up; handed to the HTTP layer and to the schema as schema-wide data.
//! Nothing tenant-scoped lives here: that is per request (`TenantContext`).
use std::{sync::Arc, time::Duration};

use crate::{
    auth::{keys::Keyring, sessions::Sessions, TokenService},
    config::{ControlPlaneConfig, TokenConfig},
    control::{ControlPlane, StartupError},
    metrics::Metrics,
    tenancy::{
        pools::{PoolManager, PoolSettings},
        sealing::KeySource,
        ContextResolver,
    },
};

#[derive(Clone)]
pub struct Services {
    pub control: ControlPlane,
    pub tokens: Arc<TokenService>,
    pub contexts: Arc<ContextResolver>,
    pub sessions: Arc<Sessions>,
    pub pools: Arc<PoolManager>,
    pub metrics: Arc<Metrics>,
}

impl Services {
    /// Opens (and migrates) the control plane and wires the auth services over it.
    /// `cache_ttl` bounds how stale a cached key or tenant context may be.
    pub async fn start(
        control_cfg: &ControlPlaneConfig,
        token_cfg: &TokenConfig,
        cache_ttl: Duration,
        pool_settings: PoolSettings,
        metrics_tenant_labels: usize,
    ) -> Result<(Self, KeySource), StartupError> {
        let (control, key_source) = ControlPlane::open(control_cfg).await?;
        let keyring = Arc::new(Keyring::new(control.clone(), cache_ttl));
        let tokens = Arc::new(TokenService::new(keyring, token_cfg.clone(), cache_ttl));
        let contexts = Arc::new(ContextResolver::new(control.clone(), cache_ttl));
        let sessions = Arc::new(Sessions::new(control.clone(), tokens.clone()));
        let pools = PoolManager::start(control.clone(), pool_settings);
        Ok((
            Services {
                control,
                tokens,
                contexts,
                sessions,
                pools,
                metrics: Arc::new(Metrics::new(metrics_tenant_labels)),
            },
            key_source,
        ))
    }
}
