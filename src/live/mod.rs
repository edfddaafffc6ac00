//! Live updates: invoice events and dashboards streamed to subscribers of the
//! same tenant.
//!
//! The API's own writes publish events here after they commit; subscriptions
//! (`resolvers::erp::subscriptions`) read them. Everything is keyed by tenant
//! id, taken from the subscriber's verified context, never from an argument.
//! Today the fan-out is within one process.
pub mod dashboard;
pub mod events;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

pub use dashboard::DashboardFeeds;
pub use events::{EventBus, InvoiceChange, InvoiceEvent};

use crate::{config, error::AppError};

#[derive(Debug, Clone, Copy)]
pub struct LiveSettings {
    /// Events a subscriber may fall behind before it is dropped.
    pub event_buffer: usize,
    /// Shortest time between two recomputations of one dashboard feed.
    pub dashboard_interval: Duration,
    /// Subscriptions one tenant may hold open in this process.
    pub max_subscriptions_per_tenant: usize,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            event_buffer: config::DEFAULT_SUBSCRIPTION_EVENT_BUFFER,
            dashboard_interval: Duration::from_millis(config::DEFAULT_DASHBOARD_INTERVAL_MS),
            max_subscriptions_per_tenant: config::DEFAULT_MAX_SUBSCRIPTIONS_PER_TENANT,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct LiveStats {
    pub events_published: AtomicU64,
    pub dashboard_recomputes: AtomicU64,
    /// Subscribers dropped for falling behind.
    pub slow_consumers: AtomicU64,
    pub subscriptions_open: AtomicU64,
}

pub struct Live {
    pub events: EventBus,
    pub dashboards: DashboardFeeds,
    pub stats: Arc<LiveStats>,
    settings: LiveSettings,
    open_by_tenant: Arc<Mutex<HashMap<String, usize>>>,
}

impl Live {
    pub fn new(settings: LiveSettings) -> Self {
        let stats = Arc::new(LiveStats::default());
        Live {
            events: EventBus::new(settings.event_buffer, stats.clone()),
            dashboards: DashboardFeeds::new(settings.dashboard_interval, stats.clone()),
            stats,
            settings,
            open_by_tenant: Arc::default(),
        }
    }

    pub fn settings(&self) -> &LiveSettings {
        &self.settings
    }

    /// Takes one of the tenant's subscription slots for as long as the returned
    /// guard lives, or refuses when the tenant holds its maximum.
    pub fn open_subscription(&self, tenant_id: &str) -> Result<SubscriptionSlot, AppError> {
        let mut open = self
            .open_by_tenant
            .lock()
            .expect("subscription counts lock");
        let count = open.entry(tenant_id.to_string()).or_default();
        if *count >= self.settings.max_subscriptions_per_tenant {
            return Err(AppError::LimitExceeded(format!(
                "this tenant already has {} open subscriptions, the most allowed \
                 (TENANTQL_MAX_SUBSCRIPTIONS_PER_TENANT)",
                self.settings.max_subscriptions_per_tenant
            )));
        }
        *count += 1;
        self.stats
            .subscriptions_open
            .fetch_add(1, Ordering::Relaxed);
        Ok(SubscriptionSlot {
            tenant_id: tenant_id.to_string(),
            open_by_tenant: self.open_by_tenant.clone(),
            stats: self.stats.clone(),
        })
    }
}

/// A tenant's subscription slot, given back when dropped.
pub struct SubscriptionSlot {
    tenant_id: String,
    open_by_tenant: Arc<Mutex<HashMap<String, usize>>>,
    stats: Arc<LiveStats>,
}

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        self.stats
            .subscriptions_open
            .fetch_sub(1, Ordering::Relaxed);
        let mut open = self
            .open_by_tenant
            .lock()
            .expect("subscription counts lock");
        if let Some(count) = open.get_mut(&self.tenant_id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.tenant_id);
            }
        }
    }
}
