//! Live dashboards: one feed per tenant, company and year, shared by every
//! subscriber of it in this process.
//!
//! A feed computes the dashboard once when it starts, then again after its
//! tenant's events, but at most once per `interval` however many events arrive:
//! a burst of a hundred payments costs one recomputation, not a hundred, and a
//! thousand subscribers of one company cost one as well. Subscribers read the
//! latest snapshot from a `watch` channel, so a slow one simply skips to the
//! newest value and nothing queues up. The feed stops with its last subscriber.
use std::{
    collections::HashMap,
    sync::{atomic::Ordering, Arc, Mutex, Weak},
    time::Duration,
};

use tokio::{sync::watch, task::JoinHandle, time::Instant};

use super::{events::TenantEvents, EventBus, LiveStats};
use crate::{
    erp::dashboard::{self, Snapshot},
    error::AppError,
    tenancy::TenantDb,
};

/// A computed dashboard, or why it could not be computed this time.
pub type SnapshotResult = Result<Arc<Snapshot>, Arc<AppError>>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FeedKey {
    tenant_id: String,
    company_id: i64,
    year: i32,
}

type Feeds = Arc<Mutex<HashMap<FeedKey, Weak<Feed>>>>;

pub struct DashboardFeeds {
    feeds: Feeds,
    interval: Duration,
    stats: Arc<LiveStats>,
}

impl DashboardFeeds {
    pub fn new(interval: Duration, stats: Arc<LiveStats>) -> Self {
        DashboardFeeds {
            feeds: Arc::default(),
            interval,
            stats,
        }
    }

    /// The feed of `company_id`'s dashboard for `year` in `db`'s tenant, started
    /// if nobody watches it yet.
    pub fn watch(&self, db: TenantDb, events: &EventBus, company_id: i64, year: i32) -> Arc<Feed> {
        let key = FeedKey {
            tenant_id: db.tenant.id.clone(),
            company_id,
            year,
        };
        let mut feeds = self.feeds.lock().expect("dashboard feeds lock");
        if let Some(feed) = feeds.get(&key).and_then(Weak::upgrade) {
            return feed;
        }
        let (sender, latest) = watch::channel(None);
        let task = tokio::spawn(run_feed(
            db,
            events.subscribe(&key.tenant_id),
            company_id,
            year,
            self.interval,
            sender,
            self.stats.clone(),
        ));
        let feed = Arc::new(Feed {
            key: key.clone(),
            latest,
            task,
            feeds: Arc::downgrade(&self.feeds),
        });
        feeds.insert(key, Arc::downgrade(&feed));
        feed
    }

    /// Feeds running in this process.
    pub fn running(&self) -> usize {
        self.feeds.lock().expect("dashboard feeds lock").len()
    }
}

pub struct Feed {
    key: FeedKey,
    latest: watch::Receiver<Option<SnapshotResult>>,
    task: JoinHandle<()>,
    feeds: Weak<Mutex<HashMap<FeedKey, Weak<Feed>>>>,
}

impl Feed {
    /// The latest snapshot and every newer one (`None` until the first is computed).
    pub fn updates(&self) -> watch::Receiver<Option<SnapshotResult>> {
        self.latest.clone()
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(feeds) = self.feeds.upgrade() {
            let mut feeds = feeds.lock().expect("dashboard feeds lock");
            // A subscriber arriving meanwhile may already have started a new feed.
            if feeds
                .get(&self.key)
                .is_some_and(|feed| feed.upgrade().is_none())
            {
                feeds.remove(&self.key);
            }
        }
    }
}

async fn run_feed(
    db: TenantDb,
    mut events: TenantEvents,
    company_id: i64,
    year: i32,
    interval: Duration,
    sender: watch::Sender<Option<SnapshotResult>>,
    stats: Arc<LiveStats>,
) {
    loop {
        let started = Instant::now();
        stats.dashboard_recomputes.fetch_add(1, Ordering::Relaxed);
        let today = chrono::Utc::now().date_naive();
        let snapshot = dashboard::snapshot(&db, company_id, year, today)
            .await
            .map(Arc::new)
            .map_err(Arc::new);
        if sender.send(Some(snapshot)).is_err() {
            return;
        }
        // Wait for an event of this company (a lagged receiver missed some: recompute).
        loop {
            match events.recv().await {
                Ok(event) if event.invoice.company_id == company_id => break,
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
        // Let the rest of the burst arrive; the recomputation reads all of it.
        tokio::time::sleep_until(started + interval).await;
        events.skip_queued();
    }
}
