//! The origins this deployment answers a CORS preflight for: its own, and the
//! union of every active tenant's. A preflight carries no token, so it cannot
//! know the tenant; the tenant's own list is checked once the token is verified
//! (`server::cors`).
//!
//! The union is read on every preflight, so it lives in this process and is
//! rebuilt from the control plane: at once after a tenant change on this
//! instance, at once on the others through the cluster, and every `sync_every`
//! whatever happens (instances without Redis, a Redis outage).
use std::{
    sync::{Arc, RwLock, Weak},
    time::Duration,
};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::json;

use super::OriginList;
use crate::{
    cluster::Cluster,
    control::{
        entities::tenant::{self, TenantStatus},
        ControlPlane,
    },
};

const CHANNEL: &str = "origins";

pub struct OriginRegistry {
    deployment: OriginList,
    tenants: RwLock<Arc<OriginList>>,
    control: ControlPlane,
    cluster: Cluster,
}

impl OriginRegistry {
    /// Reads the tenants' origins and keeps them current.
    pub async fn start(
        deployment: OriginList,
        control: ControlPlane,
        cluster: Cluster,
        sync_every: Duration,
    ) -> Result<Arc<Self>, sea_orm::DbErr> {
        let registry = Arc::new(OriginRegistry {
            deployment,
            tenants: RwLock::new(Arc::default()),
            control,
            cluster,
        });
        registry.reload().await?;
        tokio::spawn(keep_current(
            Arc::downgrade(&registry),
            registry.cluster.listen(CHANNEL),
            sync_every.max(Duration::from_secs(1)),
        ));
        Ok(registry)
    }

    /// The deployment's own origins (every tenant's callers may use them).
    pub fn deployment(&self) -> &OriginList {
        &self.deployment
    }

    /// Whether a preflight from `origin` is answered: the deployment's origins
    /// or any active tenant's.
    pub fn allows_preflight(&self, origin: &str) -> bool {
        self.deployment.allows(origin) || self.tenant_union().allows(origin)
    }

    fn tenant_union(&self) -> Arc<OriginList> {
        self.tenants.read().expect("origins lock").clone()
    }

    /// After a tenant's origins or status changed here: rebuilt now, and the
    /// other instances told.
    pub async fn tenant_changed(&self) {
        if let Err(err) = self.reload().await {
            tracing::warn!(error = %err, "re-reading the tenants' origins failed; the next poll retries");
        }
        self.cluster.broadcast(CHANNEL, json!({})).await;
    }

    async fn reload(&self) -> Result<(), sea_orm::DbErr> {
        let stored: Vec<Option<String>> = tenant::Entity::find()
            .select_only()
            .column(tenant::Column::AllowedOrigins)
            .filter(tenant::Column::Status.eq(TenantStatus::Active))
            .filter(tenant::Column::AllowedOrigins.is_not_null())
            .into_tuple()
            .all(&self.control.db)
            .await?;
        let mut union = OriginList::default();
        for rules in &stored {
            union.extend(&OriginList::from_stored(rules.as_deref()));
        }
        *self.tenants.write().expect("origins lock") = Arc::new(union);
        Ok(())
    }
}

async fn keep_current(
    registry: Weak<OriginRegistry>,
    mut from_others: tokio::sync::mpsc::Receiver<serde_json::Value>,
    sync_every: Duration,
) {
    let mut tick = tokio::time::interval(sync_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut listening = true;
    loop {
        tokio::select! {
            message = from_others.recv(), if listening => {
                if message.is_none() {
                    listening = false;
                    continue;
                }
            }
            _ = tick.tick() => {}
        }
        let Some(registry) = registry.upgrade() else {
            return;
        };
        if let Err(err) = registry.reload().await {
            tracing::warn!(error = %err, "re-reading the tenants' origins failed; retrying");
        }
    }
}
