//! Rate limits per API key and per ledger (GCRA through `governor`),
//! answered with 429, `Retry-After` and the IETF `RateLimit` headers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;

/// Requests per second a key, and a ledger, may make (each also its burst).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub per_key: NonZeroU32,
    pub per_ledger: NonZeroU32,
    /// Failed authentications one client address may make per minute
    /// (also the burst) before it is refused with 429 for a while.
    pub auth_failures_per_minute: NonZeroU32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_key: NonZeroU32::new(1000).unwrap_or(NonZeroU32::MIN),
            per_ledger: NonZeroU32::new(2000).unwrap_or(NonZeroU32::MIN),
            auth_failures_per_minute: NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// The limiters of this process.
#[derive(Clone)]
pub struct RateLimits {
    config: RateLimitConfig,
    keys: Arc<DefaultKeyedRateLimiter<String>>,
    ledgers: Arc<DefaultKeyedRateLimiter<String>>,
    auth_failures: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// Addresses over their failure budget, and until when.
    blocked: Arc<Mutex<HashMap<IpAddr, Instant>>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Failed dashboard sign-ins share the budget of failed API
/// authentication per client address.
impl app::auth::LoginThrottle for RateLimits {
    fn allowed(&self, ip: IpAddr) -> bool {
        self.check_address(ip).is_ok()
    }

    fn failed(&self, ip: IpAddr) {
        self.auth_failed(ip);
    }
}

impl RateLimits {
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            keys: Arc::new(RateLimiter::keyed(Quota::per_second(config.per_key))),
            ledgers: Arc::new(RateLimiter::keyed(Quota::per_second(config.per_ledger))),
            auth_failures: Arc::new(RateLimiter::keyed(Quota::per_minute(config.auth_failures_per_minute))),
            blocked: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Refuses a client address that failed authentication too often,
    /// before its credentials are even looked at (so guessing costs the
    /// database nothing).
    pub fn check_address(&self, ip: IpAddr) -> Result<(), ApiError> {
        let blocked = self.blocked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match blocked.get(&ip) {
            Some(until) if *until > Instant::now() => Err(ApiError::TooManyRequests {
                retry_after_secs: until.saturating_duration_since(Instant::now()).as_secs() + 1,
                limit: self.config.auth_failures_per_minute.get(),
            }),
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication from `ip`; beyond the budget the
    /// address is refused until the budget has refilled.
    pub fn auth_failed(&self, ip: IpAddr) {
        if let Err(not_until) = self.auth_failures.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            tracing::warn!(%ip, wait_secs = wait.as_secs(), "too many failed authentications; refusing this address for a while");
            let mut blocked = self.blocked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            blocked.insert(ip, Instant::now() + wait.max(Duration::from_secs(1)));
        }
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

    /// Forgets keys and ledgers idle long enough to be back at full quota,
    /// so memory stays bounded by recent activity.
    pub fn spawn_cleanup(&self) -> tokio::task::JoinHandle<()> {
        let limits = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limits.keys.retain_recent();
                limits.ledgers.retain_recent();
                limits.auth_failures.retain_recent();
                let now = Instant::now();
                limits
                    .blocked
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .retain(|_, until| *until > now);
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
            auth_failures_per_minute: NonZeroU32::new(2).expect("nonzero"),
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
    fn an_address_over_its_failure_budget_is_refused_and_others_are_not() {
        let limits = RateLimits::new(RateLimitConfig {
            auth_failures_per_minute: NonZeroU32::new(2).expect("nonzero"),
            ..RateLimitConfig::default()
        });
        let (bad, good): (IpAddr, IpAddr) = ("192.0.2.1".parse().expect("ip"), "192.0.2.2".parse().expect("ip"));
        limits.auth_failed(bad);
        limits.auth_failed(bad);
        limits.check_address(bad).expect("within the budget");
        limits.auth_failed(bad);
        assert!(matches!(limits.check_address(bad), Err(ApiError::TooManyRequests { .. })));
        limits.check_address(good).expect("other addresses are unaffected");
    }
}
