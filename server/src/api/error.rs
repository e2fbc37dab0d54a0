//! `ApiError`: every failure of the /v1 API as an RFC 9457 problem document.
//! 5xx errors are logged with their cause and answered with a generic text,
//! so internals never reach a client.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use store::StoreError;

/// A failed API request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Input that cannot be accepted; `field` names the offending member.
    #[error("{detail}")]
    BadRequest { field: Option<String>, detail: String },
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body could not be read in time.
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("rate limit of {limit} requests per second exceeded; retry in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64, limit: u32 },
    /// The caller's share of a budget is in use: retry after a second.
    #[error("{0}")]
    Busy(String),
    #[error("internal error")]
    Internal(String),
    #[error("the service is shutting down")]
    Unavailable,
    /// Shed load: the client should retry shortly.
    #[error("{0}")]
    Overloaded(String),
    /// The ledger's keys were destroyed: its content is gone for good.
    #[error("{0}")]
    Gone(String),
    /// A stored record failed authenticated decryption: tampering or
    /// misplaced data. Logged; the detail (which record) is safe to show.
    #[error("{0}")]
    Integrity(String),
    /// The key provider (KMS) failed; logged, hidden from the client.
    #[error("the key provider is unavailable")]
    KeyProvider(String),
}

impl ApiError {
    pub fn bad(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::BadRequest { field: Some(field.into()), detail: detail.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } | ApiError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable | ApiError::Overloaded(_) | ApiError::KeyProvider(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Integrity(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "Invalid request",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound(_) => "Not found",
            ApiError::Conflict(_) => "Conflict",
            ApiError::PayloadTooLarge(_) => "Payload too large",
            ApiError::RequestTimeout(_) => "Request timeout",
            ApiError::Unprocessable(_) => "Unprocessable request",
            ApiError::TooManyRequests { .. } | ApiError::Busy(_) => "Too many requests",
            ApiError::Internal(_) => "Internal error",
            ApiError::Unavailable => "Service unavailable",
            ApiError::Overloaded(_) => "Overloaded",
            ApiError::Gone(_) => "Gone",
            ApiError::Integrity(_) => "Integrity check failed",
            ApiError::KeyProvider(_) => "Key provider unavailable",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict(detail) => ApiError::Conflict(detail),
            StoreError::Invalid(detail) => ApiError::BadRequest { field: None, detail },
            StoreError::WriterGone => ApiError::Unavailable,
            StoreError::KeysDestroyed => ApiError::Gone(error.to_string()),
            StoreError::Integrity(detail) => ApiError::Integrity(detail),
            StoreError::Keys(detail) => ApiError::KeyProvider(detail),
            StoreError::Busy(_) => ApiError::Overloaded(error.to_string()),
            StoreError::CommitTimeout => ApiError::Overloaded(
                "the commit did not complete in time; retry with the same event ids (retries are idempotent)".into(),
            ),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::BytesRejection(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge("the request body is larger than the 4 MiB limit".into())
            }
            // The body stopped arriving (too slow, or the connection broke).
            JsonRejection::BytesRejection(_) => ApiError::RequestTimeout(
                "the request body did not arrive in time; send it without pauses, or retry".into(),
            ),
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::bad("content-type", "the body must be JSON (Content-Type: application/json)")
            }
            other => ApiError::BadRequest {
                field: None,
                detail: format!("the body is not valid JSON: {}", other.body_text()),
            },
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest { field: None, detail: format!("invalid query parameters: {}", rejection.body_text()) }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest { field: None, detail: format!("invalid path: {}", rejection.body_text()) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                "the server could not complete the request; it has been logged".to_owned()
            }
            ApiError::KeyProvider(cause) => {
                tracing::error!(%cause, "key provider failed");
                "the key provider could not be reached or refused the request; it has been logged".to_owned()
            }
            ApiError::Integrity(detail) => {
                tracing::error!(%detail, "integrity check failed on stored data");
                format!("{detail}; the record is not returned")
            }
            other => other.to_string(),
        };
        let mut body = serde_json::json!({
            "type": "about:blank",
            "title": self.title(),
            "status": status.as_u16(),
            "detail": detail,
        });
        if let ApiError::BadRequest { field: Some(field), .. } = &self {
            body["field"] = serde_json::Value::String(field.clone());
        }
        let mut response =
            (status, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string()).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        if let ApiError::Overloaded(_) | ApiError::Busy(_) = self {
            response.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        if let ApiError::TooManyRequests { retry_after_secs, limit } = self {
            let headers = response.headers_mut();
            // IETF draft-ietf-httpapi-ratelimit-headers: the policy and the
            // current state; Retry-After for every HTTP client.
            for (name, value) in [
                (header::RETRY_AFTER.as_str(), retry_after_secs.to_string()),
                ("ratelimit-policy", format!("{limit};w=1")),
                ("ratelimit", format!("limit={limit}, remaining=0, reset={retry_after_secs}")),
            ] {
                if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
                    headers.insert(axum::http::HeaderName::from_static(name), value);
                }
            }
        }
        response
    }
}
