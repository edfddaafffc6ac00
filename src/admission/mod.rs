//! Whether an operation may run now: the tenant's and the user's rate limits,
//! then a fair share of the server (see `fair`). Applied to every operation of
//! a tenant caller, over HTTP and WebSocket, before it executes; platform and
//! anonymous callers are not limited here.
pub mod fair;
pub mod rate;

use std::time::Duration;

use sha2::Digest;

pub use fair::{FairShare, FairShareSettings, Slot};
pub use rate::{Pace, Rate, RateLimiter};

use crate::{cluster::Cluster, error::AppError, tenancy::TenantContext};

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
    pub fair: FairShare,
}

impl Admission {
    pub fn new(settings: AdmissionSettings, cluster: Cluster) -> Self {
        Admission {
            settings,
            rates: RateLimiter::new(cluster),
            fair: FairShare::new(settings.fair),
        }
    }

    /// Checks the rate limits and waits for a fair-share slot, held while the
    /// operation executes. `None` for callers without a tenant.
    pub async fn admit(&self, caller: &TenantContext) -> Result<Option<Slot>, AppError> {
        let Some(tenant) = &caller.tenant else {
            return Ok(None);
        };
        self.check_rate(caller).await?;
        let limit = tenant
            .limits
            .max_concurrent_operations
            .map(|n| n.max(1) as usize);
        Ok(Some(self.fair.acquire(&tenant.id, limit).await))
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
