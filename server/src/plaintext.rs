//! The optional plaintext listener. It shares nothing with the HTTPS router:
//! every request, whatever its method or path, gets the same refusal, so a
//! plaintext request can never reach an API handler or leak a credential
//! into a response.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// A router that answers everything with 426 and a problem document naming
/// the HTTPS port.
pub fn router(https_port: u16) -> Router {
    Router::new().fallback(move || async move { refusal(https_port) })
}

fn refusal(https_port: u16) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": "HTTPS required",
        "status": 426,
        "detail": format!("AuditStore only serves HTTPS (TLS 1.3). Send this request to https://<host>:{https_port}/ instead; anything sent here in plaintext, including credentials, must be considered exposed."),
    });
    (
        StatusCode::UPGRADE_REQUIRED,
        [
            (header::CONTENT_TYPE, "application/problem+json"),
            (header::UPGRADE, "TLS/1.3"),
            (header::CONNECTION, "Upgrade, close"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}
