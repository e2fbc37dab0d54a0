//! The sender: takes the deliveries that are due from the outbox, signs
//! and POSTs each (a few at a time, so one slow endpoint holds up only its
//! own), and records what the endpoint answered and when to try again. A
//! crash between sending and recording sends that delivery again, with
//! the same `webhook-id`: at least once, never lost.

use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt as _;
use store::webhooks::{Attempt, DueDelivery, Outcome};
use store::Store;

use super::destination::{resolver, Destinations};
use super::schedule::{retry_after, RetrySchedule};
use super::signature::sign;

/// How long one attempt may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Deliveries taken from the outbox at a time.
const BATCH: i64 = 64;

/// Deliveries in flight at once.
const IN_FLIGHT: usize = 8;

/// How the sender works.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub destinations: Destinations,
    pub schedule: RetrySchedule,
    /// An endpoint failing for this long without a success is disabled.
    pub disable_after: Duration,
}

/// Sends what is due.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    config: WebhookConfig,
}

impl Sender {
    pub fn new(config: WebhookConfig) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .dns_resolver(resolver(config.destinations))
            // A redirect could lead anywhere (an internal address): none is
            // followed, and a 3xx counts as a failure.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("AuditStore-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the webhook client cannot be built: {e}"))?;
        Ok(Self { client, config })
    }

    /// Delivers everything due now; returns how many attempts it made.
    pub async fn deliver_due(&self, store: &Store) -> Result<usize, String> {
        let mut attempts = 0;
        loop {
            let due = store.due_webhook_deliveries(store::now_ms(), BATCH).await.map_err(|e| e.to_string())?;
            let taken = due.len();
            let outcomes: Vec<Result<(), String>> = futures_util::stream::iter(due)
                .map(|delivery| async move {
                    let attempt = self.attempt(&delivery).await;
                    store
                        .record_webhook_attempt(&delivery, &attempt, self.config.disable_after)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
                .buffer_unordered(IN_FLIGHT)
                .collect()
                .await;
            attempts += taken;
            if let Some(Err(error)) = outcomes.into_iter().find(Result::is_err) {
                return Err(error);
            }
            if taken < usize::try_from(BATCH).unwrap_or(usize::MAX) {
                return Ok(attempts);
            }
        }
    }

    /// One attempt: checked, signed, sent, judged.
    async fn attempt(&self, delivery: &DueDelivery) -> Attempt {
        let at_ms = store::now_ms();
        let started = Instant::now();
        let (http_status, error, wait) = match self.send(delivery, at_ms).await {
            Ok(()) => (Some(200), None, None),
            Err(Failure { status, error, retry_after }) => (status, Some(error), retry_after),
        };
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let outcome = match error {
            None => Outcome::Delivered,
            Some(_) => match self.config.schedule.after(delivery.attempt, wait) {
                Some(delay) => {
                    let delay = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                    Outcome::RetryAt(store::now_ms().saturating_add(delay))
                }
                None => Outcome::GiveUp,
            },
        };
        if let Some(error) = &error {
            tracing::info!(
                webhook = delivery.endpoint_id,
                message = delivery.message_id,
                attempt = delivery.attempt,
                error,
                "a webhook delivery failed"
            );
        }
        Attempt { at_ms, duration_ms, http_status, error, outcome }
    }

    async fn send(&self, delivery: &DueDelivery, at_ms: i64) -> Result<(), Failure> {
        let refused = |error: String| Failure { status: None, error, retry_after: None };
        let url = self.config.destinations.parse(&delivery.url).map_err(|e| refused(format!("the URL {e}")))?;
        // An https name is checked by the resolver the connection goes
        // through; IP literals never reach it, and plain http:// must lead to
        // private addresses only: those are checked here.
        let literal = !matches!(url.host(), Some(url::Host::Domain(_)));
        if literal || url.scheme() == "http" {
            self.config.destinations.resolve(&url).await.map_err(|e| refused(format!("the URL {e}")))?;
        }
        let timestamp = at_ms / 1000;
        let signature =
            sign(delivery.signing_keys(), &delivery.message_id, timestamp, &delivery.body).map_err(refused)?;
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &delivery.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(|e| refused(describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, SystemTime::now()));
        Err(Failure {
            status: Some(status.as_u16()),
            error: format!("the endpoint answered HTTP {status}"),
            retry_after: wait,
        })
    }
}

struct Failure {
    status: Option<u16>,
    error: String,
    retry_after: Option<Duration>,
}

/// A transport error in words, without the URL (which may carry a token
/// of the customer's in its query).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        detail = inner.to_string();
        source = inner.source();
    }
    if detail.is_empty() {
        format!("the request {kind}")
    } else {
        format!("the request {kind}: {detail}")
    }
}
