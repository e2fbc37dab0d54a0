//! When a failed delivery is tried again: a schedule of delays (by default
//! eight attempts over about 28 hours, as Standard Webhooks senders do),
//! each jittered so that retries of many messages do not arrive together,
//! and never sooner than the endpoint's `Retry-After` (RFC 9110 §10.2.3).

use std::time::{Duration, SystemTime};

use rand::Rng as _;

/// The default delays before the 2nd to 8th attempts, in seconds: 5 s,
/// 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (27.6 h in all).
pub const DEFAULT: &str = "5,300,1800,7200,18000,36000,36000";

/// The longest `Retry-After` honoured; a longer one is shortened to it (the
/// schedule still bounds how many attempts there are).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The delays before each retry.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl RetrySchedule {
    /// Parses comma-separated seconds (fractions allowed), e.g. `5,300,1800`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut delays = Vec::new();
        for part in text.split(',') {
            let seconds: f64 =
                part.trim().parse().map_err(|_| format!("{:?} is not a number of seconds", part.trim()))?;
            if !(seconds.is_finite() && seconds > 0.0 && seconds <= 7.0 * 86_400.0) {
                return Err(format!("{seconds} is not a delay above 0 and at most 7 days"));
            }
            delays.push(Duration::from_secs_f64(seconds));
        }
        if delays.is_empty() || delays.len() > 50 {
            return Err("name 1 to 50 delays".into());
        }
        Ok(Self { delays })
    }

    /// How many attempts a message gets in all.
    pub fn attempts(&self) -> usize {
        self.delays.len() + 1
    }

    /// The whole span from the first attempt to the last, unjittered.
    pub fn span(&self) -> Duration {
        self.delays.iter().sum()
    }

    /// The wait after attempt `attempt` (1 for the first) failed, or `None`
    /// when it was the last: the scheduled delay jittered by up to ±20%,
    /// and at least `retry_after`.
    pub fn after(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
        let base = *self.delays.get(index)?;
        let jittered = base.mul_f64(rand::rng().random_range(0.8..=1.2));
        Some(jittered.max(retry_after.map_or(Duration::ZERO, |r| r.min(MAX_RETRY_AFTER))))
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_retries_for_more_than_a_day() {
        let schedule = RetrySchedule::parse(DEFAULT).expect("default");
        assert_eq!(schedule.attempts(), 8);
        assert!(schedule.span() >= Duration::from_secs(24 * 3600), "{:?}", schedule.span());
        // Jittered within ±20%, and the last attempt has no successor.
        for _ in 0..100 {
            let wait = schedule.after(2, None).expect("a retry");
            assert!(wait >= Duration::from_secs(240) && wait <= Duration::from_secs(360), "{wait:?}");
        }
        assert!(schedule.after(8, None).is_none());
        assert!(schedule.after(0, None).is_none());
    }

    #[test]
    fn retry_after_is_a_floor_and_bounded() {
        let schedule = RetrySchedule::parse("1").expect("parses");
        assert!(schedule.after(1, Some(Duration::from_secs(30))).expect("retry") >= Duration::from_secs(30));
        let long = schedule.after(1, Some(Duration::from_secs(10 * 86_400))).expect("retry");
        assert_eq!(long, MAX_RETRY_AFTER);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").expect("date");
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("Wed, 21 Oct 2026 07:30:00 GMT", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }

    #[test]
    fn bad_schedules_are_refused() {
        for bad in ["", "0", "-1", "5,,6", "abc", "1e9", "nan"] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(RetrySchedule::parse("0.5, 2").expect("fractions").attempts(), 3);
    }
}
