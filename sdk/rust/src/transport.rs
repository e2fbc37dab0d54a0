//! HTTP with the retry rules of docs/SDK.md §3: connection errors,
//! timeouts, 408, 429 and 5xx are retried with full-jitter exponential
//! backoff, never sooner than the answer's `Retry-After`; other 4xx never.

use std::time::{Duration, SystemTime};

use rand::Rng as _;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

use crate::config::{ApiKey, Config};
use crate::error::{Error, Problem};

/// The HTTP side of a client.
#[derive(Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    base: String,
    key: ApiKey,
    timeout: Duration,
    max_retries: u32,
    retry_base: Duration,
    retry_max: Duration,
}

impl Transport {
    pub(crate) fn new(config: &Config) -> Result<Self, Error> {
        // The timeout bounds a request as a whole (set per request), except a
        // download, whose body may take longer: there each read is bounded.
        // No redirects: a POST must not turn into a GET whose 200 would count
        // a batch as delivered.
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.timeout)
            .read_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("auditstore-client-rust/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.ca_certificate {
            let cert =
                reqwest::Certificate::from_pem(pem).map_err(|e| Error::Config(format!("ca_certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: config.base_url.clone(),
            key: config.api_key.clone(),
            timeout: config.timeout,
            max_retries: config.max_retries,
            retry_base: config.retry_base,
            retry_max: config.retry_max,
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}/v1{path}", self.base)).bearer_auth(self.key.expose())
    }

    /// The wait before retry `n` (1 for the first): full jitter under the
    /// exponential bound, at least `retry_after`.
    pub(crate) fn backoff(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        let bound = self.retry_base.saturating_mul(2u32.saturating_pow(n.saturating_sub(1))).min(self.retry_max);
        let jittered = bound.mul_f64(rand::rng().random_range(0.0..=1.0));
        jittered.max(retry_after.unwrap_or(Duration::ZERO))
    }

    /// Sends a request (built anew for each attempt) and answers its JSON
    /// body, retrying what may be retried (a body cut short too: the
    /// request is idempotent, events by their ids).
    pub(crate) async fn json(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, Error> {
        let text = self.send(method, path, body).await?;
        serde_json::from_str(&text).map_err(|_| Error::Protocol(format!("{path} answered no JSON")))
    }

    /// Like [`Self::json`], for a text body (checkpoints).
    pub(crate) async fn text(&self, path: &str) -> Result<String, Error> {
        self.send(Method::GET, path, None).await
    }

    /// A GET whose body the caller reads itself (downloads): no timeout over
    /// the whole of it, only over each read.
    pub(crate) async fn response(&self, path: &str) -> Result<Response, Error> {
        let mut attempt = 0;
        loop {
            let error = match self.request(Method::GET, path).send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => problem(response).await,
                Err(e) => Error::Network(describe(&e)),
            };
            self.pause(error, &mut attempt, path).await?;
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<String, Error> {
        let mut attempt = 0;
        loop {
            let mut request = self.request(method.clone(), path).timeout(self.timeout);
            if let Some(body) = body {
                request = request.json(body);
            }
            let error = match request.send().await {
                Ok(response) if response.status().is_success() => match response.text().await {
                    Ok(text) => return Ok(text),
                    Err(e) => Error::Network(describe(&e)),
                },
                Ok(response) => problem(response).await,
                Err(e) => Error::Network(describe(&e)),
            };
            self.pause(error, &mut attempt, path).await?;
        }
    }

    /// After a failed attempt: the error again when it is final, else the
    /// backoff's wait.
    async fn pause(&self, error: Error, attempt: &mut u32, path: &str) -> Result<(), Error> {
        if !error.is_retryable() || *attempt >= self.max_retries {
            return Err(error);
        }
        *attempt += 1;
        let retry_after = match &error {
            Error::Problem(p) => p.retry_after,
            _ => None,
        };
        let wait = self.backoff(*attempt, retry_after);
        tracing::debug!(path, attempt = *attempt, ?wait, %error, "retrying an AuditStore request");
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

/// The problem document of a failed answer (or one made from its status).
async fn problem(response: Response) -> Error {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after(v, SystemTime::now()));
    let text = response.text().await.unwrap_or_default();
    let mut problem: Problem = serde_json::from_str(&text).unwrap_or_else(|_| Problem {
        status: status.as_u16(),
        title: status.canonical_reason().unwrap_or("error").to_owned(),
        detail: text.chars().take(500).collect(),
        field: None,
        kind: "about:blank".into(),
        retry_after: None,
    });
    // The HTTP status decides (retries included), whatever the body says.
    problem.status = status.as_u16();
    problem.retry_after = retry_after;
    Error::Problem(problem)
}

/// `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub(crate) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A transport error in words (reqwest's carry the URL, never the key).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_under_an_exponential_bound_and_honours_retry_after() {
        let transport = Transport::new(&Config::new("https://a", "k")).expect("transport");
        for _ in 0..200 {
            assert!(transport.backoff(1, None) <= Duration::from_millis(500));
            assert!(transport.backoff(3, None) <= Duration::from_secs(2));
            assert!(transport.backoff(20, None) <= Duration::from_secs(30));
            assert!(transport.backoff(1, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").expect("date");
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("Wed, 21 Oct 2026 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("later", now), None);
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let problem = |status| {
            Error::Problem(Problem {
                status,
                title: String::new(),
                detail: String::new(),
                field: None,
                kind: String::new(),
                retry_after: None,
            })
        };
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(problem(status).is_retryable(), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 413, 422] {
            assert!(!problem(status).is_retryable(), "{status}");
        }
        assert!(Error::Network("refused".into()).is_retryable());
        assert!(!Error::Verification("x".into()).is_retryable());
    }
}
