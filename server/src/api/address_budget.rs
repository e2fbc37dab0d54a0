//! A per-client-address budget of events a minute (failed API authentications, dashboard
//! sign-in attempts): beyond it the address is refused until the budget has refilled.
//! Addresses are counted as a client controls them: IPv4 per address, IPv6 per /64 (one
//! customer's whole network, RFC 6177), so rotating through a prefix buys nothing.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The budget of one kind of event per address.
pub struct AddressBudget {
    per_minute: NonZeroU32,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses over their budget, and until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl std::fmt::Debug for AddressBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddressBudget").field("per_minute", &self.per_minute).finish_non_exhaustive()
    }
}

impl AddressBudget {
    pub fn new(per_minute: NonZeroU32) -> Self {
        Self {
            per_minute,
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    /// The budget a minute (also the burst).
    pub fn per_minute(&self) -> u32 {
        self.per_minute.get()
    }

    /// Charges one event to `ip`'s budget. `Err` with the seconds to wait when the address is
    /// refused: it was over budget already (nothing is charged then), or this event spent it.
    pub fn charge(&self, ip: IpAddr) -> Result<(), u64> {
        let key = bucket(ip);
        let mut blocked = self.blocked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if let Some(until) = blocked.get(&key).filter(|until| **until > now) {
            return Err(until.saturating_duration_since(now).as_secs() + 1);
        }
        match self.limiter.check_key(&key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now()).max(Duration::from_secs(1));
                tracing::warn!(address = %key, wait_secs = wait.as_secs(), "an address spent its budget; refusing it for a while");
                blocked.insert(key, now + wait);
                Err(wait.as_secs() + 1)
            }
        }
    }

    /// Forgets addresses back at their full budget, so memory follows recent activity.
    pub fn retain_recent(&self) {
        self.limiter.retain_recent();
        let now = Instant::now();
        self.blocked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|_, until| *until > now);
    }
}

/// What one client controls: an IPv4 address, or an IPv6 /64 (IPv4-mapped IPv6 is IPv4).
pub fn bucket(ip: IpAddr) -> IpAddr {
    match crate::client_address::canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn an_address_over_its_budget_is_refused_and_others_are_not() {
        let budget = AddressBudget::new(NonZeroU32::new(2).expect("nonzero"));
        budget.charge(ip("192.0.2.1")).expect("first");
        budget.charge(ip("192.0.2.1")).expect("second");
        let wait = budget.charge(ip("192.0.2.1")).expect_err("the third spends the budget");
        assert!(wait >= 1);
        assert!(budget.charge(ip("192.0.2.1")).is_err(), "refused while blocked");
        budget.charge(ip("192.0.2.2")).expect("other addresses are unaffected");
    }

    #[test]
    fn ipv6_is_counted_per_64() {
        let budget = AddressBudget::new(NonZeroU32::new(2).expect("nonzero"));
        budget.charge(ip("2001:db8:1:2::1")).expect("first");
        budget.charge(ip("2001:db8:1:2:ffff::9")).expect("second, same /64");
        assert!(budget.charge(ip("2001:db8:1:2:dead:beef::1")).is_err(), "rotating within the /64 buys nothing");
        budget.charge(ip("2001:db8:1:3::1")).expect("the next /64 is another client");
        assert_eq!(bucket(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }
}
