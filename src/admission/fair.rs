//! Fair share of the server between tenants.
//!
//! At most `total` operations execute at once. A tenant alone may use all of
//! them (up to its own `per_tenant` cap); when several tenants have work, each
//! may hold `total / tenants` (at least one). An operation over either bound
//! waits in its tenant's queue; when a slot frees, the tenants with waiters are
//! served in turn (round robin), each queue in arrival order. So a tenant
//! flooding the server gives up slots as soon as another tenant shows up, and
//! that tenant's operation waits for one slot to free, not for the flood to
//! drain. A waiter that gives up (its client went away) simply loses its turn.
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FairShareSettings {
    /// Operations executing at once, all tenants together.
    pub total: usize,
    /// The default per tenant (a tenant's row may set its own).
    pub per_tenant: usize,
}

#[derive(Default)]
struct TenantQueue {
    running: usize,
    limit: usize,
    waiters: VecDeque<oneshot::Sender<()>>,
}

#[derive(Default)]
struct State {
    running: usize,
    tenants: HashMap<String, TenantQueue>,
    /// Tenants with waiters, in the order they are served.
    turns: VecDeque<String>,
}

pub struct FairShare {
    settings: FairShareSettings,
    state: Arc<Mutex<State>>,
    /// Slots asked for since start (every operation admitted under fair share).
    requested: std::sync::atomic::AtomicU64,
}

/// A slot held while one operation executes; freed when dropped.
pub struct Slot {
    tenant: String,
    state: Arc<Mutex<State>>,
    total: usize,
    /// Whether this slot is counted as running (and must be given back).
    counted: bool,
}

impl FairShare {
    /// A `total` of 0 means one slot per CPU this process may run on.
    pub fn new(settings: FairShareSettings) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let total = if settings.total == 0 {
            cpus
        } else {
            settings.total
        };
        FairShare {
            settings: FairShareSettings {
                total: total.max(1),
                per_tenant: settings.per_tenant.max(1),
            },
            state: Arc::default(),
            requested: Default::default(),
        }
    }

    /// Waits for a slot for `tenant` (whose own limit is `limit`, or the default).
    pub async fn acquire(&self, tenant: &str, limit: Option<usize>) -> Slot {
        let limit = limit.unwrap_or(self.settings.per_tenant).max(1);
        let waiting = {
            let mut state = self.state.lock().expect("fair share lock");
            let total = self.settings.total;
            let free_total = state.running < total;
            // Looked up first: the key is allocated only for a tenant new to the queue.
            match state.tenants.get_mut(tenant) {
                Some(queue) => queue.limit = limit,
                None => {
                    let queue = TenantQueue {
                        limit,
                        ..TenantQueue::default()
                    };
                    state.tenants.insert(tenant.to_string(), queue);
                }
            }
            let share = share_of(&state, total);
            let queue = state.tenants.get_mut(tenant).expect("inserted above");
            if free_total && queue.running < limit.min(share) && queue.waiters.is_empty() {
                queue.running += 1;
                state.running += 1;
                None
            } else {
                let (sender, receiver) = oneshot::channel();
                queue.waiters.push_back(sender);
                if !state.turns.iter().any(|t| t == tenant) {
                    state.turns.push_back(tenant.to_string());
                }
                Some(receiver)
            }
        };
        let slot = |counted| Slot {
            tenant: tenant.to_string(),
            state: self.state.clone(),
            total: self.settings.total,
            counted,
        };
        self.requested
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(receiver) = waiting else {
            return slot(true);
        };
        let mut turn = Turn {
            receiver: Some(receiver),
            slot: slot(false),
        };
        // The slot is counted for us by whoever wakes us; the sender is only
        // dropped unsent together with the whole state.
        let _ = turn.receiver.as_mut().expect("set above").await;
        turn.receiver = None;
        slot(true)
    }

    /// Slots asked for since start (a waiter is counted before its turn comes).
    pub fn requested(&self) -> u64 {
        self.requested.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// (running, waiting) over all tenants.
    pub fn totals(&self) -> (usize, usize) {
        let state = self.state.lock().expect("fair share lock");
        let waiting = state.tenants.values().map(|q| q.waiters.len()).sum();
        (state.running, waiting)
    }

    /// (running, waiting) for `tenant`.
    pub fn load_of(&self, tenant: &str) -> (usize, usize) {
        let state = self.state.lock().expect("fair share lock");
        state
            .tenants
            .get(tenant)
            .map_or((0, 0), |q| (q.running, q.waiters.len()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.counted {
            self.release();
        }
    }
}

impl Slot {
    fn release(&mut self) {
        self.counted = false;
        let mut state = self.state.lock().expect("fair share lock");
        state.running -= 1;
        if let Some(queue) = state.tenants.get_mut(&self.tenant) {
            queue.running -= 1;
        }
        // The tenant just served goes behind every other waiting tenant.
        if let Some(at) = state.turns.iter().position(|t| *t == self.tenant) {
            if let Some(tenant) = state.turns.remove(at) {
                state.turns.push_back(tenant);
            }
        }
        dispatch(&mut state, self.total);
        if let Some(queue) = state.tenants.get(&self.tenant) {
            if queue.running == 0 && queue.waiters.is_empty() {
                state.tenants.remove(&self.tenant);
            }
        }
    }
}

/// A place in a queue. If the waiting operation is abandoned after it was
/// given a slot but before it saw that, the slot is given back here.
struct Turn {
    receiver: Option<oneshot::Receiver<()>>,
    /// Whose slot to give back, if one was granted.
    slot: Slot,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let Some(mut receiver) = self.receiver.take() else {
            return;
        };
        receiver.close();
        if receiver.try_recv().is_ok() {
            self.slot.release();
        }
    }
}

/// What each tenant with work may hold now: all slots for a tenant alone, an
/// equal part (at least one) when several have work.
fn share_of(state: &State, total: usize) -> usize {
    (total / state.tenants.len().max(1)).max(1)
}

/// Hands free slots to waiting tenants in turn.
fn dispatch(state: &mut State, total: usize) {
    let mut passes = state.turns.len();
    while state.running < total && passes > 0 {
        let Some(tenant) = state.turns.pop_front() else {
            return;
        };
        passes -= 1;
        let share = share_of(state, total);
        let Some(queue) = state.tenants.get_mut(&tenant) else {
            continue;
        };
        let mut woke = false;
        if queue.running < queue.limit.min(share) {
            while let Some(waiter) = queue.waiters.pop_front() {
                // A waiter whose client left has dropped its receiver: skip it.
                if waiter.send(()).is_ok() {
                    queue.running += 1;
                    woke = true;
                    break;
                }
            }
        }
        let more = !queue.waiters.is_empty();
        if queue.running == 0 && !more {
            state.tenants.remove(&tenant);
        }
        if woke {
            state.running += 1;
            // Everyone else may get a turn again now.
            passes = state.turns.len() + usize::from(more);
        }
        if more {
            state.turns.push_back(tenant);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn share(total: usize, per_tenant: usize) -> Arc<FairShare> {
        Arc::new(FairShare::new(FairShareSettings { total, per_tenant }))
    }

    #[tokio::test]
    async fn a_tenant_never_holds_more_than_its_share() {
        let fair = share(8, 2);
        let a1 = fair.acquire("a", None).await;
        let _a2 = fair.acquire("a", None).await;
        let waiting = {
            let fair = fair.clone();
            tokio::spawn(async move { fair.acquire("a", None).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(fair.load_of("a"), (2, 1));
        // Another tenant is not held up by the first one's queue.
        let _b = tokio::time::timeout(Duration::from_millis(50), fair.acquire("b", None))
            .await
            .expect("b runs at once");
        drop(a1);
        let _a3 = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the waiter runs when a slot frees")
            .unwrap();
        assert_eq!(fair.load_of("a"), (2, 0));
    }

    #[tokio::test]
    async fn a_tenant_alone_uses_every_slot_and_yields_them_when_another_comes() {
        let fair = share(4, 100);
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(fair.acquire("flood", None).await);
        }
        let queued = {
            let fair = fair.clone();
            tokio::spawn(async move { fair.acquire("flood", None).await })
        };
        let other = {
            let fair = fair.clone();
            tokio::spawn(async move { fair.acquire("small", None).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(fair.load_of("flood"), (4, 1));
        // One flood operation ends: the slot goes to the other tenant, and the
        // flood does not get it back until it is under its half.
        held.pop();
        let small = tokio::time::timeout(Duration::from_secs(1), other)
            .await
            .expect("the other tenant gets the freed slot")
            .unwrap();
        held.pop();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(fair.load_of("flood"), (2, 1), "the flood is held at half");
        held.pop();
        let _flood = tokio::time::timeout(Duration::from_secs(1), queued)
            .await
            .expect("under its half, the flood runs again")
            .unwrap();
        drop(small);
    }

    #[tokio::test]
    async fn freed_slots_go_round_robin_between_tenants() {
        let fair = share(1, 1);
        let first = fair.acquire("flood", None).await;
        let (order_tx, mut order_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        // Three flood operations queue before one of "small".
        for name in ["flood", "flood", "flood", "small"] {
            let fair = fair.clone();
            let order = order_tx.clone();
            tasks.push(tokio::spawn(async move {
                let slot = fair.acquire(name, None).await;
                order.send(name).unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(slot);
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(first);
        for task in tasks {
            task.await.unwrap();
        }
        drop(order_tx);
        let mut order = Vec::new();
        while let Some(name) = order_rx.recv().await {
            order.push(name);
        }
        // The flood just had the slot: the other tenant goes first, though it
        // queued last.
        assert_eq!(order, ["small", "flood", "flood", "flood"]);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_loses_its_turn_only() {
        let fair = share(1, 1);
        let held = fair.acquire("a", None).await;
        let gave_up =
            tokio::time::timeout(Duration::from_millis(20), fair.acquire("b", None)).await;
        assert!(gave_up.is_err());
        let next = {
            let fair = fair.clone();
            tokio::spawn(async move { fair.acquire("c", None).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(held);
        let _c = tokio::time::timeout(Duration::from_secs(1), next)
            .await
            .expect("c is served")
            .unwrap();
        assert_eq!(fair.load_of("b"), (0, 0));
    }
}
