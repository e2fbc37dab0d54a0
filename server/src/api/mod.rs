//! The /v1 REST API: JSON over HTTPS, errors as RFC 9457 problem documents.

pub mod admin;
pub mod auth;
pub mod error;
pub mod events;
pub mod limits;

use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;

use crate::web::AppState;
use error::ApiError;

/// The largest request body: a full batch.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A JSON body whose rejection is an [`ApiError`], so bad input always gets
/// the same problem+json shape.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(rejection.into()),
        }
    }
}

/// The /v1 routes (nested under `/v1` by the web router).
pub fn router() -> Router<AppState> {
    let events = Router::new()
        .route(
            "/ledgers/{ledger}/events",
            post(events::append)
                .get(events::list)
                .put(events::immutable)
                .patch(events::immutable)
                .delete(events::immutable),
        )
        .route(
            "/ledgers/{ledger}/events/{id}",
            get(events::get)
                .put(events::immutable)
                .patch(events::immutable)
                .delete(events::immutable)
                .post(events::immutable),
        )
        .route("/ledgers/{ledger}/checkpoint", get(events::checkpoint))
        .route("/ledgers/{ledger}/proofs/inclusion", get(events::inclusion))
        .route("/ledgers/{ledger}/proofs/consistency", get(events::consistency))
        .route("/ledgers/{ledger}/proofs/range", get(events::range));
    Router::new()
        .merge(events)
        .route("/ledgers", post(admin::create_ledger).get(admin::list_ledgers))
        .route("/keys", post(admin::create_key).get(admin::list_keys))
        .route("/keys/{id}/rotate", post(admin::rotate_key))
        .route("/keys/{id}", delete(admin::revoke_key))
        .route("/checkpoint-key", get(checkpoint_key))
        .fallback(|| async { ApiError::NotFound("API route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// `GET /v1/checkpoint-key`: the verifier key of every checkpoint this
/// server signs (C2SP note format), public.
async fn checkpoint_key(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", state.store.verifier_key())).into_response()
}
