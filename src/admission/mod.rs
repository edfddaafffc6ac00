//! Whether an operation may run now, and on what share of the CPU: the
//! tenant's and the user's rate limits, then a place among the tenant's
//! operations under way (see `fair`), then the CPU shared between tenants
//! (`crate::share`). Applied right after the caller is known — before the body
//! is read or the document parsed — to every operation over HTTP and
//! WebSocket. Platform and anonymous callers are not rate limited or given
//! places here, but share the CPU as a group each.
pub mod fair;
pub mod rate;

use std::{future::Future, sync::Arc, time::Duration};

use sha2::Digest;

pub use fair::{FairShareSettings, Place, Places};
pub use rate::{Pace, Rate, RateLimiter};

use crate::{
    cluster::Cluster,
    error::AppError,
    share::{CpuShare, Run},
    tenancy::TenantContext,
};

/// The CPU group of signed-in callers without a tenant (platform tokens).
const PLATFORM_GROUP: &str = "~platform";
/// The CPU group of anonymous callers.
const ANONYMOUS_GROUP: &str = "~anonymous";

#[derive(Debug, Clone, Copy)]
pub struct AdmissionSettings {
    pub fair: FairShareSettings,
    /// Defaults for tenants whose row sets none; `None`: unlimited.
    pub tenant_rate: Option<Rate>,
    pub user_rate: Option<Rate>,
    /// Sign-in attempts per account and per client address; `None`: unlimited.
    pub sign_in_account: Option<Pace>,
    pub sign_in_address: Option<Pace>,
}

pub struct Admission {
    settings: AdmissionSettings,
    pub rates: RateLimiter,
    pub places: Places,
    pub cpu: CpuShare,
}

/// An operation let in: its place (tenant callers) and its CPU group. Work run
/// through it computes on the group's share; the place is held until it drops.
pub struct Admitted {
    _place: Option<Place>,
    group: Arc<str>,
    cpu: CpuShare,
}

impl Admitted {
    pub fn run<F: Future>(&self, work: F) -> Run<F> {
        self.cpu.run(self.group.clone(), work)
    }
}

impl Admission {
    pub fn new(settings: AdmissionSettings, cluster: Cluster) -> Self {
        Admission {
            settings,
            rates: RateLimiter::new(cluster),
            places: Places::new(settings.fair.per_tenant, settings.fair.backlog),
            cpu: CpuShare::new(settings.fair.total),
        }
    }

    /// Checks the rate limits and waits for one of the tenant's places (held
    /// while the operation is under way); a tenant whose backlog is full is
    /// told to come back. `None`: an anonymous caller.
    pub async fn admit(&self, caller: Option<&TenantContext>) -> Result<Admitted, AppError> {
        let admitted = |place, group: &str| Admitted {
            _place: place,
            group: group.into(),
            cpu: self.cpu.clone(),
        };
        let Some(caller) = caller else {
            return Ok(admitted(None, ANONYMOUS_GROUP));
        };
        let Some(tenant) = &caller.tenant else {
            return Ok(admitted(None, PLATFORM_GROUP));
        };
        self.check_rate(caller).await?;
        let limit = tenant
            .limits
            .max_concurrent_operations
            .map(|n| n.max(1) as usize);
        match self.places.acquire(&tenant.id, limit).await {
            Ok(place) => Ok(admitted(Some(place), &tenant.id)),
            Err(full) => Err(AppError::RateLimited {
                retry_after: full.retry_after,
            }),
        }
    }

    /// The rate limits alone (a subscription is limited when it starts, and
    /// does not hold a slot for its lifetime).
    pub async fn check_rate(&self, caller: &TenantContext) -> Result<(), AppError> {
        let Some(tenant) = &caller.tenant else {
            return Ok(());
        };
        let limits = &tenant.limits;
        let mut keys = Vec::with_capacity(2);
        if let Some(rate) = effective(
            limits.rate_limit_per_sec,
            limits.rate_limit_burst,
            self.settings.tenant_rate,
        ) {
            keys.push((format!("t:{}", tenant.id), rate));
        }
        if let Some(rate) = effective(
            limits.user_rate_limit_per_sec,
            limits.user_rate_limit_burst,
            self.settings.user_rate,
        ) {
            keys.push((format!("u:{}:{}", tenant.id, caller.user_id), rate));
        }
        self.rates
            .check(&keys)
            .await
            .map_err(|wait| AppError::RateLimited {
                retry_after: wait.max(Duration::from_millis(1)),
            })
    }
}

impl Admission {
    /// Admits one sign-in attempt (a password to check or hash) for `account`
    /// (when known) from `address`: RATE_LIMITED past either limit, before any
    /// password work. Anonymous callers reach this, so it is the bound on what
    /// guessing costs: per account across addresses, per address across accounts.
    pub async fn admit_sign_in(
        &self,
        account: Option<&str>,
        address: Option<std::net::IpAddr>,
    ) -> Result<(), AppError> {
        let mut keys = Vec::with_capacity(2);
        if let (Some(pace), Some(account)) = (self.settings.sign_in_account, account) {
            let account = account.trim().to_lowercase();
            let digest = sha2::Sha256::digest(account.as_bytes());
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            keys.push((format!("s:a:{hex}"), pace));
        }
        if let (Some(pace), Some(address)) = (self.settings.sign_in_address, address) {
            keys.push((format!("s:i:{address}"), pace));
        }
        self.rates
            .check(&keys)
            .await
            .map_err(|wait| AppError::RateLimited {
                retry_after: wait.max(Duration::from_millis(1)),
            })
    }
}

/// The rate that applies: the tenant's own if its row sets one (0 turns the
/// limit off), else the server's default.
fn effective(per_second: Option<u32>, burst: Option<u32>, default: Option<Rate>) -> Option<Rate> {
    match per_second {
        Some(0) => None,
        Some(per_second) => Some(Rate {
            per_second,
            burst: burst.unwrap_or(per_second).max(1),
        }),
        None => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenants_own_rate_wins_and_zero_turns_it_off() {
        let default = Some(Rate {
            per_second: 100,
            burst: 200,
        });
        assert_eq!(effective(None, None, default), default);
        assert_eq!(effective(Some(0), Some(5), default), None);
        assert_eq!(
            effective(Some(10), None, default),
            Some(Rate {
                per_second: 10,
                burst: 10
            })
        );
        assert_eq!(
            effective(Some(10), Some(30), None),
            Some(Rate {
                per_second: 10,
                burst: 30
            })
        );
    }
}
