//! The /v1 REST API: JSON over HTTPS, errors as RFC 9457 problem documents.

pub mod address_budget;
pub mod admin;
pub mod append_budget;
pub mod auth;
pub mod deletion;
pub mod document;
pub mod error;
pub mod events;
pub mod evidence;
pub mod exports;
pub mod holds;
pub mod integrity;
pub mod limits;
pub mod retention;
pub mod schema;
pub mod shedding;
pub mod webhooks;

use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;
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

/// The OpenAPI document's fixed parts; paths and schemas come from the
/// handlers' annotations as they are routed below.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "AuditStore API",
        description = "Tamper-evident audit trails: append events, read them back, and prove their integrity \
                       against signed checkpoints. Errors are RFC 9457 problem documents. Formats: docs/FORMAT.md."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "events", description = "Append and read events"),
        (name = "proofs", description = "Checkpoints and Merkle proofs"),
        (name = "exports", description = "Export files with their proofs, verified offline by `auditstore verify`"),
        (name = "lifecycle", description = "Retention policies, archival into tombstones and legal holds (admin keys)"),
        (name = "admin", description = "Ledgers and API keys (admin keys)"),
        (name = "webhooks", description = "Signed webhooks (Standard Webhooks) for integrity, lifecycle and key events (account-wide admin keys)"),
    )
)]
struct ApiDoc;

/// Declares the `Authorization: Bearer <key secret>` scheme.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The /v1 routes and the OpenAPI document generated from them, served at
/// `/v1/openapi.json`.
pub fn router() -> Router<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(events::append, events::list))
        .routes(routes!(events::get))
        .routes(routes!(evidence::evidence))
        .routes(routes!(exports::create_export, exports::list_exports))
        .routes(routes!(exports::get_export))
        .routes(routes!(exports::download_export))
        .routes(routes!(retention::get_retention, retention::put_retention, retention::delete_retention))
        .routes(routes!(deletion::delete_ledger))
        .routes(routes!(deletion::restore_ledger))
        .routes(routes!(retention::run_retention))
        .routes(routes!(retention::list_archives))
        .routes(routes!(retention::download_archive))
        .routes(routes!(holds::place_ledger_hold, holds::list_ledger_holds))
        .routes(routes!(holds::place_account_hold, holds::list_account_holds))
        .routes(routes!(holds::get_hold))
        .routes(routes!(holds::release_hold))
        .routes(routes!(integrity::integrity))
        .routes(routes!(integrity::acknowledge))
        .routes(routes!(events::checkpoint))
        .routes(routes!(events::inclusion))
        .routes(routes!(events::consistency))
        .routes(routes!(events::range))
        .routes(routes!(admin::create_ledger, admin::list_ledgers))
        .routes(routes!(admin::ledger_keys))
        .routes(routes!(admin::rotate_ledger_key))
        .routes(routes!(admin::create_key, admin::list_keys))
        .routes(routes!(admin::rotate_key))
        .routes(routes!(admin::revoke_key))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(webhooks::event_types))
        .routes(routes!(webhooks::get_webhook, webhooks::delete_webhook))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::enable_webhook))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(checkpoint_key));
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/v1", v1).split_for_parts();
    let document = Arc::new(openapi_json(&openapi));
    router
        // Events can be appended and read, never changed: every other
        // method answers 405 with a problem document.
        .route(
            "/v1/ledgers/{ledger}/events",
            axum::routing::put(events::immutable_collection)
                .patch(events::immutable_collection)
                .delete(events::immutable_collection),
        )
        .route(
            "/v1/ledgers/{ledger}/events/{id}",
            axum::routing::put(events::immutable_event)
                .patch(events::immutable_event)
                .delete(events::immutable_event)
                .post(events::immutable_event),
        )
        .route(
            "/v1/openapi.json",
            get(move || {
                let document = document.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], document.as_str().to_owned()) }
            }),
        )
        .route("/v1/{*rest}", axum::routing::any(|| async { ApiError::NotFound("API route") }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The served document: the generated one with the finishing pass of
/// [`document::finish`] (descriptions, problem+json errors, every status).
pub fn openapi_json(openapi: &utoipa::openapi::OpenApi) -> String {
    let generated = serde_json::to_value(openapi).unwrap_or_default();
    serde_json::to_string_pretty(&document::finish(generated)).unwrap_or_else(|_| "{}".to_owned())
}

/// The verifier key of every checkpoint this server signs, in the C2SP note
/// format `<name>+<key id>+<base64 key>`. Public: no key needed.
#[utoipa::path(
    get, path = "/checkpoint-key", tag = "proofs",
    responses((status = 200, content_type = "text/plain", body = String))
)]
async fn checkpoint_key(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", state.store.verifier_key())).into_response()
}
