//! Rate limits: GCRA (the generic cell rate algorithm), per key.
//!
//! A limit is `per_second` operations with a `burst`: a key's state is one
//! number, its theoretical arrival time (TAT). An operation at `now` is allowed
//! when `TAT - now ≤ burst × interval`, and then moves TAT to
//! `max(TAT, now) + interval`; otherwise it may retry in `TAT - burst ×
//! interval - now`. The same arithmetic runs here (one instance, or Redis
//! unreachable) and in Redis as a Lua script (all instances share the keys),
//! so a limit means the same thing either way. A crate such as `governor`
//! would serve the in-process half only, with state that cannot move to Redis.
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

use crate::cluster::{Cluster, PREFIX};

/// One limit: `per_second` operations, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

/// A limit as GCRA uses it: one operation per `interval_us`, up to `burst` at
/// once. Operation limits are per second (`Rate`); sign-in limits are slower
/// (`Pace::per_minute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    interval_us: u64,
    burst: u32,
}

impl Pace {
    /// `count` operations a minute, all of them at once if they come together.
    pub fn per_minute(count: u32) -> Pace {
        Pace {
            interval_us: 60_000_000 / u64::from(count.max(1)),
            burst: count.max(1),
        }
    }

    fn interval_us(self) -> u64 {
        self.interval_us
    }

    fn tolerance_us(self) -> u64 {
        self.interval_us * u64::from(self.burst.max(1).saturating_sub(1))
    }
}

impl From<Rate> for Pace {
    fn from(rate: Rate) -> Pace {
        Pace {
            interval_us: 1_000_000 / u64::from(rate.per_second.max(1)),
            burst: rate.burst,
        }
    }
}

/// What GCRA decides for one operation at `now_us` given the key's TAT:
/// `Ok(new TAT)`, or `Err(wait)` before the operation would be allowed.
pub fn gcra(tat_us: u64, now_us: u64, rate: impl Into<Pace>) -> Result<u64, Duration> {
    let rate: Pace = rate.into();
    let tat = tat_us.max(now_us);
    let allow_at = tat.saturating_sub(rate.tolerance_us());
    if allow_at > now_us {
        return Err(Duration::from_micros(allow_at - now_us));
    }
    Ok(tat + rate.interval_us())
}

/// The same decision in Redis, atomically, on the server's clock. KEYS: the
/// limited keys; ARGV: interval and tolerance (µs) per key. Either every key
/// allows the operation and all advance, or none does. Returns 0 when allowed,
/// else the wait in µs.
const GCRA_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local allow_at = tat - tolerance
  if allow_at > now and allow_at - now > wait then wait = allow_at - now end
  tats[i] = tat + interval
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local ttl = math.ceil((tats[i] - now) / 1000) + 1000
  redis.call('SET', key, tats[i], 'PX', ttl)
end
return 0
"#;

/// Keys tracked in process at most; past it, idle keys are dropped (an idle
/// key's state is "full burst available", which dropping it restores anyway).
const MAX_LOCAL_KEYS: usize = 100_000;

#[derive(Debug, Default)]
pub struct RateStats {
    pub limited: AtomicU64,
    /// Checks let through because Redis could not be asked.
    pub failed_open: AtomicU64,
}

pub struct RateLimiter {
    cluster: Cluster,
    script: redis::Script,
    local: Mutex<HashMap<String, u64>>,
    pub stats: RateStats,
    started: std::time::Instant,
}

impl RateLimiter {
    pub fn new(cluster: Cluster) -> Self {
        RateLimiter {
            cluster,
            script: redis::Script::new(GCRA_LUA),
            local: Mutex::new(HashMap::new()),
            stats: RateStats::default(),
            started: std::time::Instant::now(),
        }
    }

    /// Checks one operation against every `(key, rate)`: `Err(wait)` when any
    /// limit is exhausted. Shared through Redis when configured; if Redis
    /// cannot answer, the operation is let through (fail open) and counted.
    pub async fn check<R: Into<Pace> + Copy>(
        &self,
        limits: &[(String, R)],
    ) -> Result<(), Duration> {
        if limits.is_empty() {
            return Ok(());
        }
        let result = if self.cluster.is_shared() {
            self.check_shared(limits).await
        } else {
            self.check_local(limits)
        };
        if result.is_err() {
            self.stats.limited.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    async fn check_shared<R: Into<Pace> + Copy>(
        &self,
        limits: &[(String, R)],
    ) -> Result<(), Duration> {
        let keys: Vec<String> = limits
            .iter()
            .map(|(key, _)| format!("{PREFIX}rate:{key}"))
            .collect();
        let args: Vec<String> = limits
            .iter()
            .map(|(_, rate)| -> Pace { (*rate).into() })
            .flat_map(|pace| [pace.interval_us(), pace.tolerance_us()])
            .map(|n| n.to_string())
            .collect();
        match self.cluster.script::<i64>(&self.script, &keys, &args).await {
            Some(0) => Ok(()),
            Some(wait_us) => Err(Duration::from_micros(wait_us.max(1) as u64)),
            None => {
                self.stats.failed_open.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    fn check_local<R: Into<Pace> + Copy>(&self, limits: &[(String, R)]) -> Result<(), Duration> {
        let now = self.started.elapsed().as_micros() as u64 + 1;
        let mut state = self.local.lock().expect("rate state lock");
        if state.len() >= MAX_LOCAL_KEYS {
            state.retain(|_, tat| *tat > now);
        }
        let mut next = Vec::with_capacity(limits.len());
        let mut wait = Duration::ZERO;
        for (key, rate) in limits {
            let tat = state.get(key).copied().unwrap_or(0);
            match gcra(tat, now, *rate) {
                Ok(new_tat) => next.push(new_tat),
                Err(w) => wait = wait.max(w),
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        for ((key, _), tat) in limits.iter().zip(next) {
            state.insert(key.clone(), tat);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN_A_SECOND: Rate = Rate {
        per_second: 10,
        burst: 3,
    };

    #[test]
    fn a_burst_then_the_steady_rate() {
        let mut tat = 0;
        let now = 1_000_000;
        for _ in 0..3 {
            tat = gcra(tat, now, TEN_A_SECOND).expect("within the burst");
        }
        let wait = gcra(tat, now, TEN_A_SECOND).expect_err("burst used up");
        assert_eq!(wait, Duration::from_millis(100));
        assert!(gcra(tat, now + 99_999, TEN_A_SECOND).is_err());
        assert!(gcra(tat, now + 100_000, TEN_A_SECOND).is_ok());
    }

    #[test]
    fn idle_time_refills_the_burst_but_no_more() {
        let mut tat = 0;
        for _ in 0..3 {
            tat = gcra(tat, 0, TEN_A_SECOND).unwrap();
        }
        let later = 10_000_000;
        for _ in 0..3 {
            tat = gcra(tat, later, TEN_A_SECOND).unwrap();
        }
        assert!(gcra(tat, later, TEN_A_SECOND).is_err());
    }

    #[tokio::test]
    async fn every_key_must_allow_and_a_refusal_advances_none() {
        let limiter = RateLimiter::new(Cluster::local());
        let tenant = (
            "t".to_string(),
            Rate {
                per_second: 1,
                burst: 5,
            },
        );
        let user = (
            "u".to_string(),
            Rate {
                per_second: 1,
                burst: 2,
            },
        );
        let both = [tenant.clone(), user.clone()];
        assert!(limiter.check(&both).await.is_ok());
        assert!(limiter.check(&both).await.is_ok());
        assert!(limiter.check(&both).await.is_err(), "the user's burst is 2");
        // The refused check did not spend the tenant's allowance.
        let other_user = (
            "v".to_string(),
            Rate {
                per_second: 1,
                burst: 5,
            },
        );
        for _ in 0..3 {
            assert!(limiter
                .check(&[tenant.clone(), other_user.clone()])
                .await
                .is_ok());
        }
        assert!(limiter.check(&[tenant, other_user]).await.is_err());
        assert_eq!(limiter.stats.limited.load(Ordering::Relaxed), 2);
    }
}
