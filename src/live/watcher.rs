//! The change watcher: rows changed directly in a tenant's database (not
//! through the API) reach that tenant's subscribers as CHANGED events.
//!
//! It polls the store's change log (`erp::changes`, filled by triggers) every
//! `interval`, and runs only while the tenant has subscribers on this
//! instance. With Redis, one instance per tenant polls: it holds a lease
//! (renewed every poll, lost after three missed ones), publishes to all
//! instances and keeps its position in the log in Redis; when it stops, another
//! instance with subscribers takes the lease over and continues from that
//! position, so nothing changed in between is lost. While Redis is down, every
//! instance polls for its own subscribers.
use std::{
    collections::BTreeSet,
    sync::{Arc, Weak},
    time::Duration,
};

use super::{InvoiceChange, InvoiceEvent, Live};
use crate::{
    cluster::PREFIX,
    contract::migrations,
    erp::{changes, invoices},
    error::AppError,
    tenancy::TenantDb,
};

/// How long a tenant whose store has no change log is left alone.
const NO_LOG_RETRY: Duration = Duration::from_secs(60);
/// Prune the change log every this many polls (by the lease holder).
const PRUNE_EVERY: u64 = 60;

const LEASE_LUA: &str = r#"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
elseif not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"#;

pub(super) async fn run(weak: Weak<Live>, db: TenantDb, interval: Duration) {
    let tenant_id = db.tenant.id.clone();
    let lease_key = format!("{PREFIX}watcher:{tenant_id}");
    let position_key = format!("{PREFIX}watcher-position:{tenant_id}");
    let lease = redis::Script::new(LEASE_LUA);
    let window = changes::window(db.dialect());
    let mut last: Option<i64> = None;
    let mut seen = BTreeSet::new();
    let mut polls = 0u64;
    loop {
        tokio::time::sleep(interval).await;
        let Some(live) = weak.upgrade() else { return };
        if !live.events.has_subscribers(&tenant_id) {
            live.watchers.release(&tenant_id);
            // A subscriber that came meanwhile found this watcher still running.
            if !(live.events.has_subscribers(&tenant_id) && live.watchers.claim(&tenant_id)) {
                return;
            }
        }
        if live.cluster.is_shared() {
            let args = [
                live.cluster.instance_id().to_string(),
                (interval.as_millis() as u64 * 3).max(1).to_string(),
            ];
            let held = live
                .cluster
                .script::<i64>(&lease, std::slice::from_ref(&lease_key), &args)
                .await;
            if held == Some(0) {
                // Another instance watches this tenant; start from its head
                // if the lease comes here later.
                last = None;
                continue;
            }
        }
        let Some(after) = last else {
            // Where the previous holder of the lease stopped, if any.
            let position: Option<Option<i64>> = live
                .cluster
                .command(redis::cmd("GET").arg(&position_key))
                .await;
            if let Some(Some(position)) = position {
                last = Some(position);
                continue;
            }
            let started = async {
                let version = changes::log_version(&db).await?;
                if version < i64::from(migrations::CHANGE_LOG_VERSION) {
                    return Err(AppError::internal(anyhow::anyhow!(
                        "its database is at version {version} of tenantql's objects; the change log needs {}",
                        migrations::CHANGE_LOG_VERSION
                    )));
                }
                changes::latest(&db).await
            };
            match started.await {
                Ok(head) => {
                    // Nothing at or below the head will be delivered: rows
                    // left from before anyone listened go.
                    if head > window {
                        if let Err(err) = changes::prune(&db, head - window).await {
                            tracing::warn!(tenant = %db.tenant.slug, error = %err.detail(), "pruning the change log failed");
                        }
                    }
                    last = Some(head);
                    save_position(&live, &position_key, head).await;
                }
                Err(err) => {
                    tracing::warn!(tenant = %db.tenant.slug, error = %err.detail(),
                        "live changes degraded: the change watcher cannot read the tenant's change log (run `tenantql tenant migrate`); rows changed outside tenantql will not be announced");
                    drop(live);
                    // Tried again in a minute at the earliest, not on every new subscription.
                    tokio::time::sleep(NO_LOG_RETRY).await;
                    if let Some(live) = weak.upgrade() {
                        live.watchers.release(&tenant_id);
                    }
                    return;
                }
            }
            continue;
        };
        let rows = match changes::since(&db, after - window).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(tenant = %db.tenant.slug, error = %err.detail(), "polling the change log failed; retrying");
                continue;
            }
        };
        let fresh: Vec<(i64, i64)> = rows
            .into_iter()
            .filter(|(id, _)| !seen.contains(id))
            .collect();
        if let Some(newest) = fresh.iter().map(|(id, _)| *id).max() {
            last = Some(newest.max(after));
        }
        seen.extend(fresh.iter().map(|(id, _)| *id));
        let floor = last.unwrap_or(after) - window;
        seen.retain(|id| *id > floor);
        if let (false, Some(position)) = (fresh.is_empty(), last) {
            save_position(&live, &position_key, position).await;
        }
        let mut invoice_ids: Vec<i64> = fresh.iter().map(|(_, invoice)| *invoice).collect();
        invoice_ids.sort_unstable();
        invoice_ids.dedup();
        if !invoice_ids.is_empty() {
            match invoices::by_ids(&db, &invoice_ids).await {
                Ok(changed) => {
                    for invoice in changed {
                        let event = InvoiceEvent {
                            change: InvoiceChange::Changed,
                            invoice,
                            payment: None,
                            cause: None,
                        };
                        live.committed(&tenant_id, event).await;
                    }
                }
                Err(err) => {
                    tracing::warn!(tenant = %db.tenant.slug, error = %err.detail(), "loading changed invoices failed; retrying");
                    last = Some(after);
                    continue;
                }
            }
        }
        polls += 1;
        if polls % PRUNE_EVERY == 0 {
            // Delivered rows go; the re-read window stays.
            if let Some(up_to) = last.map(|head| head - window).filter(|up_to| *up_to > 0) {
                if let Err(err) = changes::prune(&db, up_to).await {
                    tracing::warn!(tenant = %db.tenant.slug, error = %err.detail(), "pruning the change log failed");
                }
            }
        }
        drop(live);
    }
}

/// Where the lease holder is in the log, for whoever holds the lease next.
async fn save_position(live: &Live, key: &str, position: i64) {
    if live.cluster.is_shared() {
        let _: Option<()> = live
            .cluster
            .command(redis::cmd("SET").arg(key).arg(position).arg("EX").arg(3600))
            .await;
    }
}

/// The running watchers, by tenant id.
#[derive(Default)]
pub(super) struct Watchers(std::sync::Mutex<std::collections::HashSet<String>>);

impl Watchers {
    /// Whether a watcher for `tenant_id` must be started (it is now marked running).
    pub(super) fn claim(&self, tenant_id: &str) -> bool {
        self.0
            .lock()
            .expect("watchers lock")
            .insert(tenant_id.to_string())
    }

    pub(super) fn release(&self, tenant_id: &str) {
        self.0.lock().expect("watchers lock").remove(tenant_id);
    }

    pub(super) fn count(&self) -> usize {
        self.0.lock().expect("watchers lock").len()
    }
}

pub(super) fn spawn(live: &Arc<Live>, db: TenantDb, interval: Duration) {
    tokio::spawn(run(Arc::downgrade(live), db, interval));
}
