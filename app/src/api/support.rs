//! What every server function shares (server side only): errors with an
//! HTTP status, the viewer as pages see them, times as text, and the
//! system-ledger records of dashboard changes.

use http::StatusCode;
use leptos::prelude::*;
use store::{Store, StoreError, User};

use crate::auth;

/// Sets the response status and returns an error with `message`. A plain
/// form post keeps the redirect that carries the error back to its page.
pub fn fail(status: StatusCode, message: impl Into<String>) -> ServerFnError {
    if !auth::plain_form() {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(status);
        }
    }
    ServerFnError::new(message.into())
}

/// Maps a store error to a status and message, as the /v1 API does
/// (`server/src/api/error.rs`), so the dashboard and the API tell a client
/// the same thing: client mistakes keep their message, passing trouble is
/// a 503 worth retrying, and the rest is logged and hidden.
pub fn store_error(error: StoreError) -> ServerFnError {
    // Busy means "nothing was done, come back in a second": say when.
    if matches!(error, StoreError::Busy(_)) {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
        }
    }
    let (status, message) = store_status(error);
    fail(status, message)
}

fn store_status(error: StoreError) -> (StatusCode, String) {
    use StoreError as E;
    match error {
        E::NotFound(what) => (StatusCode::NOT_FOUND, format!("{what} not found")),
        E::Invalid(message) => (StatusCode::BAD_REQUEST, message),
        E::Conflict(message) => (StatusCode::CONFLICT, message),
        E::KeysDestroyed => (StatusCode::GONE, error.to_string()),
        E::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "The server is busy; try again in a second.".to_owned()),
        E::WriterGone => {
            (StatusCode::SERVICE_UNAVAILABLE, "The service is shutting down; try again in a moment.".to_owned())
        }
        // The commit may still complete, so a blind retry could repeat a
        // change that was in fact made.
        E::CommitTimeout => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The change did not complete in time and may still be applied; reload the page to check, then try \
             again."
                .to_owned(),
        ),
        E::Keys(cause) => {
            tracing::error!(%cause, "key provider failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "The key provider could not be reached or refused the request (it has been logged); try again \
                 shortly."
                    .to_owned(),
            )
        }
        // Any other failure the store calls retryable.
        other if other.is_retryable() => {
            tracing::error!(error = %other, "dashboard request failed (retryable)");
            (StatusCode::SERVICE_UNAVAILABLE, "The service is busy; try again in a moment.".to_owned())
        }
        other => {
            tracing::error!(error = %other, "dashboard request failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on the server; it has been logged.".to_owned())
        }
    }
}

/// The viewer as pages see them.
pub async fn viewer(store: &Store, user: &User) -> Result<crate::model::Viewer, ServerFnError> {
    let account = store.account(&user.account_id).await.map_err(store_error)?;
    Ok(crate::model::Viewer {
        user_id: user.id.to_string(),
        email: user.email.clone(),
        role: user.role.as_str().to_owned(),
        account_name: account.name,
        system_ledger: account.system_ledger.as_str().to_owned(),
    })
}

/// Renders a Unix-ms time as RFC 3339 UTC.
pub fn time(ms: i64) -> String {
    audit_core::OccurredAt::from_unix_millis(ms).map(|t| t.as_str().to_owned()).unwrap_or_default()
}

/// Who did something, as a page names them: a dashboard user by email,
/// anyone else (an API key, the server's own jobs, the CLI) as the
/// `type:id` of their system event's actor.
pub fn who(users: &[User], (kind, id): &(String, String)) -> String {
    match users.iter().find(|u| kind == "user" && u.id.as_str() == id) {
        Some(user) => user.email.clone(),
        None => format!("{kind}:{id}"),
    }
}

/// Who makes a change through the dashboard, as its system event records
/// it: the signed-in user, from the request's client address. The store
/// records the event in the change's own transaction.
pub fn origin(user: &User) -> store::Origin {
    store::Origin::new(store::Actor::User(user.id.clone())).from_address(auth::client_ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use leptos_axum::ResponseOptions;

    /// The status and message a server function answers with for `error`,
    /// read back from the response options as leptos_axum would apply them.
    fn answer(error: StoreError) -> (Option<StatusCode>, String) {
        Owner::new().with(|| {
            let response = ResponseOptions::default();
            provide_context(response.clone());
            let message = match store_error(error) {
                ServerFnError::ServerError(message) => message,
                other => other.to_string(),
            };
            let status = response.0.read().map(|parts| parts.status).unwrap_or_default();
            (status, message)
        })
    }

    #[test]
    fn retryable_store_errors_are_service_unavailable() {
        for error in [StoreError::WriterGone, StoreError::CommitTimeout, StoreError::Keys("kms timed out".into())] {
            let (status, message) = answer(error);
            assert_eq!(status, Some(StatusCode::SERVICE_UNAVAILABLE), "{message}");
            assert!(message.to_lowercase().contains("try again"), "{message}");
            // The key provider's own words stay in the log.
            assert!(!message.contains("kms"), "{message}");
        }
    }

    #[test]
    fn busy_says_when_to_come_back() {
        Owner::new().with(|| {
            let response = ResponseOptions::default();
            provide_context(response.clone());
            let _ = store_error(StoreError::Busy("every password hashing slot is in use"));
            let parts = response.0.read().expect("response options");
            assert_eq!(parts.status, Some(StatusCode::SERVICE_UNAVAILABLE));
            assert_eq!(parts.headers.get(http::header::RETRY_AFTER).map(|v| v.as_bytes()), Some(&b"1"[..]));
        });
    }

    #[test]
    fn not_found_and_destroyed_keep_their_status() {
        let (status, message) = answer(StoreError::NotFound("ledger"));
        assert_eq!(status, Some(StatusCode::NOT_FOUND));
        assert_eq!(message, "ledger not found");
        assert_eq!(answer(StoreError::KeysDestroyed).0, Some(StatusCode::GONE));
    }

    #[test]
    fn other_store_errors_are_hidden() {
        let (status, message) = answer(StoreError::Corrupt("tree node missing"));
        assert_eq!(status, Some(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!message.contains("tree node"), "{message}");
    }
}
