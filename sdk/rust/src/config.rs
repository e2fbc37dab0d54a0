//! The client's settings (docs/SDK.md §1), with the documented defaults.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::Error;

/// An API key: never shown in full by `Debug` or `Display`.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `auds_<key id>_…`: the key id helps find the key, the secret part
        // never leaves.
        let shown: String = match self.0.strip_prefix("auds_").and_then(|rest| rest.split_once('_')) {
            Some((id, _)) => format!("auds_{id}_…"),
            None => "…".to_owned(),
        };
        f.write_str(&shown)
    }
}

/// What `record` does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// `record_wait` waits at most this long for room, then `QueueFull`;
    /// `record` (which never waits) answers `QueueFull` at once.
    Block(Duration),
    /// Drop the event and report it to `on_drop`.
    Drop,
}

/// Called with the events the sender dropped or gave up on, and why.
pub type Report = Arc<dyn Fn(&Error, &[Value]) + Send + Sync>;

/// How the client works.
#[derive(Clone)]
pub struct Config {
    pub(crate) base_url: String,
    pub(crate) api_key: ApiKey,
    pub(crate) ledger: Option<String>,
    pub(crate) ca_certificate: Option<Vec<u8>>,
    pub(crate) timeout: Duration,
    pub(crate) queue_size: usize,
    pub(crate) when_full: WhenFull,
    pub(crate) batch_size: usize,
    pub(crate) batch_bytes: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) max_retries: u32,
    pub(crate) retry_base: Duration,
    pub(crate) retry_max: Duration,
    pub(crate) verifier_key: Option<audit_core::VerifierKey>,
    pub(crate) on_drop: Option<Report>,
    pub(crate) on_error: Option<Report>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("ledger", &self.ledger)
            .field("queue_size", &self.queue_size)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $($(#[$doc])* pub fn $name(mut self, value: $ty) -> Self { self.$name = value; self })*
    };
}

impl Config {
    /// The server's base URL (`https://host:port`) and an API key.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_key: ApiKey::new(api_key),
            ledger: None,
            ca_certificate: None,
            timeout: Duration::from_secs(10),
            queue_size: 10_000,
            when_full: WhenFull::Block(Duration::from_secs(1)),
            batch_size: 1_000,
            batch_bytes: 4 * 1024 * 1024,
            flush_interval: Duration::from_secs(1),
            max_retries: 8,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            verifier_key: None,
            on_drop: None,
            on_error: None,
        }
    }

    /// The ledger `record` sends to.
    pub fn ledger(mut self, ledger: impl Into<String>) -> Self {
        self.ledger = Some(ledger.into());
        self
    }

    /// A PEM certificate to trust besides the platform's roots.
    pub fn ca_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificate = Some(pem.into());
        self
    }

    /// The pinned checkpoint verifier key (`<name>+<key id>+<base64>`).
    pub fn verifier_key(mut self, key: &str) -> Result<Self, Error> {
        let key: audit_core::VerifierKey =
            key.trim().parse().map_err(|e| Error::Config(format!("verifier key: {e}")))?;
        self.verifier_key = Some(key);
        Ok(self)
    }

    /// Called with events dropped because the queue was full.
    pub fn on_drop(mut self, report: impl Fn(&Error, &[Value]) + Send + Sync + 'static) -> Self {
        self.on_drop = Some(Arc::new(report));
        self
    }

    /// Called with batches the sender gave up on (a 4xx, or retries spent).
    pub fn on_error(mut self, report: impl Fn(&Error, &[Value]) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(report));
        self
    }

    setters! {
        /// One HTTP request, connection included.
        timeout: Duration,
        /// The background queue's bound, in events.
        queue_size: usize,
        /// What `record` does when the queue is full.
        when_full: WhenFull,
        /// The most events a background request carries (at most 1,000).
        batch_size: usize,
        /// The most bytes of JSON a background request carries (at most 4 MiB).
        batch_bytes: usize,
        /// The longest an event waits before its batch is sent.
        flush_interval: Duration,
        /// Attempts after the first.
        max_retries: u32,
        /// The first backoff bound.
        retry_base: Duration,
        /// The largest backoff bound.
        retry_max: Duration,
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        if !(self.base_url.starts_with("https://") || self.base_url.starts_with("http://")) {
            return Err(Error::Config("base_url must be an http(s) URL".into()));
        }
        if self.queue_size == 0 || self.batch_size == 0 || self.batch_size > 1_000 {
            return Err(Error::Config("queue_size must be above 0 and batch_size 1 to 1000".into()));
        }
        if self.batch_bytes < 1024 || self.batch_bytes > 4 * 1024 * 1024 {
            return Err(Error::Config("batch_bytes must be 1 KiB to 4 MiB".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let config = Config::new("https://audit.example.com/", "auds_0123abcd_s3cr3tS3CR3Tchecksum");
        let shown = format!("{config:?} {}", config.api_key);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("auds_0123abcd_…"), "{shown}");
        assert_eq!(config.base_url, "https://audit.example.com");
        assert_eq!(format!("{}", ApiKey::new("garbage")), "…");
    }

    #[test]
    fn limits_beyond_the_servers_are_refused() {
        assert!(Config::new("https://a", "k").batch_size(1_001).check().is_err());
        assert!(Config::new("https://a", "k").batch_bytes(5 * 1024 * 1024).check().is_err());
        assert!(Config::new("ftp://a", "k").check().is_err());
        assert!(Config::new("https://a", "k").check().is_ok());
    }
}
