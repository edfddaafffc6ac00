//! Live updates: invoice events and dashboards streamed to subscribers of the
//! same tenant.
//!
//! The API's own writes publish events here after they commit; subscriptions
//! (`resolvers::erp::subscriptions`) read them. Everything is keyed by tenant
//! id, taken from the subscriber's verified context, never from an argument.
//! With Redis, every event is also sent to the other instances (in order, by
//! one task, so a write never waits for Redis) and theirs are delivered here;
//! with Redis down, events reach this instance's subscribers only.
pub mod dashboard;
pub mod events;
mod watcher;

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

use serde_json::json;
use tokio::sync::mpsc;

use crate::{cache::AnswerCache, cluster::Cluster, config, error::AppError, tenancy::TenantDb};

/// The cluster channel invoice events travel on.
const EVENTS_CHANNEL: &str = "events";
/// Events waiting to be sent to the other instances; past it they stay local.
const OUTBOUND: usize = 10_000;

#[derive(Debug, Clone, Copy)]
pub struct LiveSettings {
    /// Events a subscriber may fall behind before it is dropped.
    pub event_buffer: usize,
    /// Shortest time between two recomputations of one dashboard feed.
    pub dashboard_interval: Duration,
    /// Subscriptions one tenant may hold open in this process.
    pub max_subscriptions_per_tenant: usize,
    /// How often the change watcher polls a watched tenant's change log.
    pub change_poll: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            event_buffer: config::DEFAULT_SUBSCRIPTION_EVENT_BUFFER,
            dashboard_interval: Duration::from_millis(config::DEFAULT_DASHBOARD_INTERVAL_MS),
            max_subscriptions_per_tenant: config::DEFAULT_MAX_SUBSCRIPTIONS_PER_TENANT,
            change_poll: Duration::from_millis(config::DEFAULT_CHANGE_POLL_MS),
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
    /// Events not sent to the other instances (queue full).
    pub events_not_shared: AtomicU64,
}

pub struct Live {
    pub events: EventBus,
    pub dashboards: DashboardFeeds,
    pub stats: Arc<LiveStats>,
    settings: LiveSettings,
    open_by_tenant: Arc<Mutex<HashMap<String, usize>>>,
    outbound: Option<mpsc::Sender<(String, Arc<InvoiceEvent>)>>,
    cache: Arc<AnswerCache>,
    cluster: Cluster,
    watchers: watcher::Watchers,
}

impl Live {
    /// Starts the live services; with a shared cluster, also the tasks that
    /// carry events to and from the other instances.
    pub fn new(settings: LiveSettings, cluster: &Cluster, cache: Arc<AnswerCache>) -> Arc<Self> {
        let stats = Arc::new(LiveStats::default());
        let outbound = cluster.is_shared().then(|| {
            let (sender, receiver) = mpsc::channel(OUTBOUND);
            tokio::spawn(share_events(cluster.clone(), receiver));
            sender
        });
        let live = Arc::new(Live {
            events: EventBus::new(settings.event_buffer),
            dashboards: DashboardFeeds::new(settings.dashboard_interval, stats.clone()),
            stats,
            settings,
            open_by_tenant: Arc::default(),
            outbound,
            cache,
            cluster: cluster.clone(),
            watchers: Default::default(),
        });
        if cluster.is_shared() {
            tokio::spawn(receive_events(
                cluster.listen(EVENTS_CHANNEL),
                Arc::downgrade(&live),
            ));
        }
        live
    }

    /// After a change of the tenant's data committed: its cached answers are
    /// stale, and its subscribers (on every instance) hear of the change.
    pub async fn committed(&self, tenant_id: &str, event: InvoiceEvent) {
        self.cache.invalidate(tenant_id).await;
        self.publish(tenant_id, event);
    }

    /// Starts the tenant's change watcher unless it runs already; it stops by
    /// itself once the tenant has no subscribers here.
    pub fn watch_changes(self: &Arc<Self>, db: TenantDb) {
        if self.watchers.claim(&db.tenant.id) {
            watcher::spawn(self, db, self.settings.change_poll);
        }
    }

    /// Change watchers running in this process.
    pub fn watchers_running(&self) -> usize {
        self.watchers.count()
    }

    /// Delivers `event` to the tenant's subscribers on every instance.
    fn publish(&self, tenant_id: &str, event: InvoiceEvent) {
        self.stats.events_published.fetch_add(1, Ordering::Relaxed);
        let event = Arc::new(event);
        self.events.publish(tenant_id, event.clone());
        if let Some(outbound) = &self.outbound {
            if outbound.try_send((tenant_id.to_string(), event)).is_err() {
                self.stats.events_not_shared.fetch_add(1, Ordering::Relaxed);
            }
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

/// Sends this instance's events to the others, one at a time, in order.
async fn share_events(cluster: Cluster, mut outbound: mpsc::Receiver<(String, Arc<InvoiceEvent>)>) {
    while let Some((tenant_id, event)) = outbound.recv().await {
        let body = json!({ "tenant": tenant_id, "event": &*event });
        cluster.broadcast(EVENTS_CHANNEL, body).await;
    }
}

/// Delivers the other instances' events to this instance's subscribers.
async fn receive_events(
    mut inbound: mpsc::Receiver<serde_json::Value>,
    live: std::sync::Weak<Live>,
) {
    while let Some(mut body) = inbound.recv().await {
        let Some(live) = live.upgrade() else {
            return;
        };
        let tenant = body["tenant"].as_str().map(str::to_string);
        let event = serde_json::from_value::<InvoiceEvent>(body["event"].take());
        match (tenant, event) {
            (Some(tenant), Ok(event)) => live.events.publish(&tenant, Arc::new(event)),
            _ => tracing::warn!("ignoring a malformed event from another instance"),
        }
    }
}
