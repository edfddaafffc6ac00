//! A per-tenant circuit breaker: while a tenant's database is down, its requests
//! fail fast instead of each waiting for a connect timeout, and one probe at a time
//! tests whether it is back, with exponential backoff between probes.
use std::{sync::Mutex, time::Duration};

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    /// Consecutive connection failures that open the breaker.
    pub failure_threshold: u32,
    /// First wait before a probe; doubles after each failed probe.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failure_threshold: 3,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
        backoff: Duration,
    },
    /// A probe is in flight; everyone else still fails fast.
    HalfOpen {
        backoff: Duration,
    },
}

#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    state: Mutex<State>,
}

/// Refused by an open breaker: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenCircuit {
    pub retry_in: Duration,
}

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Self {
        Breaker {
            settings,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    pub fn state(&self) -> BreakerState {
        match *self.state.lock().expect("breaker lock") {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// May a request try the database now? The first caller after the backoff
    /// becomes the probe.
    pub fn admit(&self) -> Result<(), OpenCircuit> {
        let mut state = self.state.lock().expect("breaker lock");
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until, backoff } => {
                let now = Instant::now();
                if now >= until {
                    *state = State::HalfOpen { backoff };
                    Ok(())
                } else {
                    Err(OpenCircuit {
                        retry_in: until - now,
                    })
                }
            }
            State::HalfOpen { .. } => Err(OpenCircuit {
                retry_in: Duration::from_millis(100),
            }),
        }
    }

    pub fn record_success(&self) {
        *self.state.lock().expect("breaker lock") = State::Closed { failures: 0 };
    }

    /// A connection-level failure (not a failed statement).
    pub fn record_failure(&self) {
        let mut state = self.state.lock().expect("breaker lock");
        let settings = self.settings;
        let open = |backoff: Duration| State::Open {
            until: Instant::now() + backoff,
            backoff,
        };
        *state = match *state {
            State::Closed { failures } if failures + 1 >= settings.failure_threshold => {
                open(settings.base_backoff)
            }
            State::Closed { failures } => State::Closed {
                failures: failures + 1,
            },
            State::HalfOpen { backoff } => open((backoff * 2).min(settings.max_backoff)),
            // Failures of requests admitted before it opened change nothing.
            State::Open { until, backoff } => State::Open { until, backoff },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerSettings {
            failure_threshold: 2,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(4),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn opens_probes_and_closes() {
        let b = breaker();
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Closed);
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.admit().is_err());

        tokio::time::advance(Duration::from_millis(1001)).await;
        assert!(b.admit().is_ok(), "first caller after the backoff probes");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.admit().is_err(), "only one probe at a time");
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.admit().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probes_back_off_exponentially_up_to_the_cap() {
        let b = breaker();
        b.record_failure();
        b.record_failure();
        for expected in [2, 4, 4] {
            tokio::time::advance(Duration::from_secs(10)).await;
            b.admit().unwrap();
            b.record_failure();
            let wait = b.admit().unwrap_err().retry_in;
            assert_eq!(wait, Duration::from_secs(expected));
        }
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = breaker();
        b.record_failure();
        b.record_success();
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
