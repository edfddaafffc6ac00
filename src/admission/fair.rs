//! A tenant's places: how many of its operations may be under way at once
//! (computing, or waiting on its database, the network or its client), and how
//! many more may wait for a place. Past that backlog its own requests are told
//! to come back (`RATE_LIMITED` with a `retryAfter`); no other tenant's are.
//!
//! Places bound what one tenant holds (database sessions, memory, sockets);
//! how the CPU is shared between the operations that have a place is
//! `crate::share`'s business.
use std::{
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FairShareSettings {
    /// Operations computing at once, all tenants together (0: one per CPU).
    pub total: usize,
    /// Operations under way per tenant, by default (a tenant's row may set its own).
    pub per_tenant: usize,
    /// Operations per tenant waiting for a place, past which they are refused.
    pub backlog: usize,
}

#[derive(Default)]
struct TenantQueue {
    running: usize,
    waiters: VecDeque<oneshot::Sender<()>>,
    /// Mean time an operation held its place (µs, moving average).
    mean_us: u64,
}

#[derive(Default)]
struct State {
    tenants: HashMap<String, TenantQueue>,
}

pub struct Places {
    per_tenant: usize,
    backlog: usize,
    state: Arc<Mutex<State>>,
    /// Places asked for since start.
    requested: AtomicU64,
    /// Operations refused because their tenant's backlog was full.
    refused: AtomicU64,
}

/// A tenant's backlog is full: come back after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    pub retry_after: Duration,
}

/// An operation's place, given back (to the next waiter) when dropped.
pub struct Place {
    tenant: String,
    state: Arc<Mutex<State>>,
    since: Instant,
    /// Whether this place is counted as running (and must be given back).
    counted: bool,
}

impl Places {
    pub fn new(per_tenant: usize, backlog: usize) -> Self {
        Places {
            per_tenant: per_tenant.max(1),
            backlog,
            state: Arc::default(),
            requested: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Waits for a place for `tenant` (whose own limit is `limit`, or the
    /// default), in arrival order; `Full` at once when its backlog is.
    pub async fn acquire(&self, tenant: &str, limit: Option<usize>) -> Result<Place, Full> {
        let limit = limit.unwrap_or(self.per_tenant).max(1);
        self.requested.fetch_add(1, Ordering::Relaxed);
        let receiver = {
            let mut state = lock(&self.state);
            // Looked up first: the key is allocated only for a tenant new to the queue.
            let queue = match state.tenants.get_mut(tenant) {
                Some(queue) => queue,
                None => state.tenants.entry(tenant.to_string()).or_default(),
            };
            if queue.running < limit && queue.waiters.is_empty() {
                queue.running += 1;
                None
            } else if queue.waiters.len() >= self.backlog {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(Full {
                    retry_after: retry_after(queue, limit),
                });
            } else {
                let (sender, receiver) = oneshot::channel();
                queue.waiters.push_back(sender);
                Some(receiver)
            }
        };
        let place = |counted| Place {
            tenant: tenant.to_string(),
            state: self.state.clone(),
            since: Instant::now(),
            counted,
        };
        let Some(receiver) = receiver else {
            return Ok(place(true));
        };
        let mut turn = Turn {
            receiver: Some(receiver),
            place: place(false),
        };
        // Whoever wakes us has counted the place for us; the sender is only
        // dropped unsent together with the whole state.
        let _ = turn.receiver.as_mut().expect("set above").await;
        turn.receiver = None;
        Ok(place(true))
    }

    /// Places asked for since start.
    pub fn requested(&self) -> u64 {
        self.requested.load(Ordering::Relaxed)
    }

    /// Operations refused because their tenant's backlog was full.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// (under way, waiting) over all tenants.
    pub fn totals(&self) -> (usize, usize) {
        let state = lock(&self.state);
        state
            .tenants
            .values()
            .fold((0, 0), |(running, waiting), q| {
                (running + q.running, waiting + q.waiters.len())
            })
    }

    /// (under way, waiting) for `tenant`.
    pub fn load_of(&self, tenant: &str) -> (usize, usize) {
        let state = lock(&self.state);
        state
            .tenants
            .get(tenant)
            .map_or((0, 0), |q| (q.running, q.waiters.len()))
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// When the tenant's backlog would have drained enough to take one more: the
/// queue ahead over the places, times how long an operation holds one.
fn retry_after(queue: &TenantQueue, limit: usize) -> Duration {
    let ahead = queue.waiters.len() as u64 + 1;
    let micros = ahead * queue.mean_us.max(1_000) / limit as u64;
    Duration::from_micros(micros).clamp(Duration::from_millis(100), Duration::from_secs(30))
}

impl Drop for Place {
    fn drop(&mut self) {
        if self.counted {
            self.release(Some(self.since.elapsed()));
        }
    }
}

impl Place {
    fn release(&mut self, held: Option<Duration>) {
        self.counted = false;
        let mut state = lock(&self.state);
        let Some(queue) = state.tenants.get_mut(&self.tenant) else {
            return;
        };
        if let Some(held) = held {
            let held = held.as_micros().min(u64::MAX as u128) as u64;
            queue.mean_us = if queue.mean_us == 0 {
                held
            } else {
                (queue.mean_us * 7 + held) / 8
            };
        }
        queue.running -= 1;
        // The place goes to the first waiter still there (one whose client
        // left has dropped its receiver).
        while let Some(waiter) = queue.waiters.pop_front() {
            if waiter.send(()).is_ok() {
                queue.running += 1;
                break;
            }
        }
        if queue.running == 0 && queue.waiters.is_empty() {
            state.tenants.remove(&self.tenant);
        }
    }
}

/// A place in the queue. If the waiting operation is abandoned after it was
/// given a place but before it saw that, the place is given back here.
struct Turn {
    receiver: Option<oneshot::Receiver<()>>,
    /// Whose place to give back, if one was granted.
    place: Place,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let Some(mut receiver) = self.receiver.take() else {
            return;
        };
        receiver.close();
        if receiver.try_recv().is_ok() {
            self.place.release(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An operation of `tenant` waiting for a place (returned once it waits).
    async fn queued(
        places: &Arc<Places>,
        tenant: &'static str,
    ) -> tokio::task::JoinHandle<Result<(), Full>> {
        let before = places.load_of(tenant).1;
        let waiting = {
            let places = places.clone();
            tokio::spawn(async move { places.acquire(tenant, None).await.map(|_| ()) })
        };
        while places.load_of(tenant).1 == before {
            tokio::task::yield_now().await;
        }
        waiting
    }

    #[tokio::test]
    async fn a_tenant_past_its_limit_waits_and_past_its_backlog_is_refused() {
        let places = Arc::new(Places::new(2, 1));
        let a1 = places.acquire("a", None).await.unwrap();
        let _a2 = places.acquire("a", None).await.unwrap();
        let waiting = queued(&places, "a").await;
        let full = places.acquire("a", None).await.err().expect("backlog full");
        assert!(full.retry_after >= Duration::from_millis(100));
        // Another tenant is not held up by a's backlog.
        let _b = places.acquire("b", None).await.unwrap();
        drop(a1);
        waiting.await.unwrap().unwrap();
        assert_eq!(places.load_of("a"), (1, 0));
    }

    #[tokio::test]
    async fn an_abandoned_waiter_gives_its_place_back() {
        let places = Arc::new(Places::new(1, 8));
        let first = places.acquire("a", None).await.unwrap();
        let waiting = queued(&places, "a").await;
        waiting.abort();
        let _ = waiting.await;
        drop(first);
        assert_eq!(places.load_of("a"), (0, 0));
        let _again = places.acquire("a", None).await.unwrap();
    }

    #[tokio::test]
    async fn a_tenants_own_limit_wins() {
        let places = Places::new(1, 0);
        let _one = places.acquire("a", Some(3)).await.unwrap();
        let _two = places.acquire("a", Some(3)).await.unwrap();
        let _three = places.acquire("a", Some(3)).await.unwrap();
        assert!(places.acquire("a", Some(3)).await.is_err());
        assert_eq!(places.totals(), (3, 0));
    }
}
