//! Rate limits per API key and per ledger (GCRA through `governor`),
//! answered with 429, `Retry-After` and the IETF `RateLimit` headers.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::address_budget::AddressBudget;
use super::error::ApiError;

/// Requests per second a key, and a ledger, may make (each also its burst).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub per_key: NonZeroU32,
    pub per_ledger: NonZeroU32,
    /// Failed API authentications one client address may make per minute
    /// (also the burst) before its failing requests get 429 for a while.
    pub auth_failures_per_minute: NonZeroU32,
    /// Dashboard sign-in attempts (successful or not) one client address
    /// may make per minute, charged before any password is hashed.
    pub sign_ins_per_minute: NonZeroU32,
    /// Dashboard requests one client address may make per minute without
    /// a session (pages and server functions; static assets are free).
    pub anonymous_requests_per_minute: NonZeroU32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_key: NonZeroU32::new(1000).unwrap_or(NonZeroU32::MIN),
            per_ledger: NonZeroU32::new(2000).unwrap_or(NonZeroU32::MIN),
            auth_failures_per_minute: NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN),
            sign_ins_per_minute: NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
            anonymous_requests_per_minute: NonZeroU32::new(600).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// The limiters of this process.
#[derive(Clone)]
pub struct RateLimits {
    config: RateLimitConfig,
    keys: Arc<DefaultKeyedRateLimiter<String>>,
    ledgers: Arc<DefaultKeyedRateLimiter<String>>,
    auth_failures: Arc<AddressBudget>,
    sign_ins: Arc<AddressBudget>,
    anonymous: Arc<AddressBudget>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Dashboard sign-ins and anonymous dashboard traffic have budgets of
/// their own: failed API keys do not lock people out of the dashboard, nor
/// sign-ins out of the API.
impl app::auth::LoginThrottle for RateLimits {
    fn attempt(&self, ip: IpAddr) -> Result<(), u64> {
        self.sign_ins.charge(ip)
    }

    fn anonymous(&self, ip: IpAddr) -> Result<(), u64> {
        self.anonymous.charge(ip)
    }
}

impl RateLimits {
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            keys: Arc::new(RateLimiter::keyed(Quota::per_second(config.per_key))),
            ledgers: Arc::new(RateLimiter::keyed(Quota::per_second(config.per_ledger))),
            auth_failures: Arc::new(AddressBudget::new(config.auth_failures_per_minute)),
            sign_ins: Arc::new(AddressBudget::new(config.sign_ins_per_minute)),
            anonymous: Arc::new(AddressBudget::new(config.anonymous_requests_per_minute)),
        }
    }

    /// Counts credentials from `ip` that did not verify. Within the
    /// budget the caller answers 401; beyond it (and until it refills)
    /// 429. Only failing credentials are ever counted or refused: a key
    /// that verifies is served whatever its address did.
    pub fn auth_failed(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.auth_failures.charge(ip).map_err(|retry_after_secs| ApiError::TooManyRequests {
            retry_after_secs,
            limit: self.auth_failures.per_minute(),
        })
    }

    /// Counts one request of an API key.
    pub fn check_key(&self, key_id: &str) -> Result<(), ApiError> {
        check(&self.keys, key_id, self.config.per_key)
    }

    /// Counts one permitted request on a ledger; reads and writes are
    /// counted separately, each against the per-ledger quota.
    pub fn check_ledger(&self, ledger_id: &str, permission: store::Permission) -> Result<(), ApiError> {
        check(&self.ledgers, &format!("{ledger_id}:{}", permission.as_str()), self.config.per_ledger)
    }

    /// Forgets keys, ledgers and addresses idle long enough to be back at
    /// full quota, so memory stays bounded by recent activity.
    pub fn spawn_cleanup(&self) -> tokio::task::JoinHandle<()> {
        let limits = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limits.keys.retain_recent();
                limits.ledgers.retain_recent();
                limits.auth_failures.retain_recent();
                limits.sign_ins.retain_recent();
                limits.anonymous.retain_recent();
            }
        })
    }
}

fn check(limiter: &DefaultKeyedRateLimiter<String>, key: &str, limit: NonZeroU32) -> Result<(), ApiError> {
    match limiter.check_key(&key.to_owned()) {
        Ok(()) => Ok(()),
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Err(ApiError::TooManyRequests { retry_after_secs: wait.as_secs() + 1, limit: limit.get() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_quota_is_refused_with_a_wait() {
        let limits = RateLimits::new(RateLimitConfig {
            per_key: NonZeroU32::new(3).expect("nonzero"),
            per_ledger: NonZeroU32::new(100).expect("nonzero"),
            ..RateLimitConfig::default()
        });
        for _ in 0..3 {
            limits.check_key("k").expect("within quota");
        }
        match limits.check_key("k") {
            Err(ApiError::TooManyRequests { retry_after_secs, limit }) => {
                assert_eq!(limit, 3);
                assert!(retry_after_secs >= 1);
            }
            other => panic!("expected 429, got {other:?}"),
        }
        limits.check_key("other").expect("keys are limited separately");
    }

    #[test]
    fn failed_authentication_and_sign_ins_have_separate_budgets() {
        let limits = RateLimits::new(RateLimitConfig {
            auth_failures_per_minute: NonZeroU32::new(2).expect("nonzero"),
            sign_ins_per_minute: NonZeroU32::new(1).expect("nonzero"),
            ..RateLimitConfig::default()
        });
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        limits.auth_failed(ip).expect("first failure: 401");
        limits.auth_failed(ip).expect("second failure: 401");
        assert!(matches!(limits.auth_failed(ip), Err(ApiError::TooManyRequests { limit: 2, .. })));
        use app::auth::LoginThrottle as _;
        limits.attempt(ip).expect("the API's failures leave the dashboard's budget alone");
        assert!(limits.attempt(ip).is_err());
    }
}
