//! The HTTPS router: health endpoints, the dashboard (server-rendered Leptos
//! with hydration), its static assets, and the layers every response passes
//! through (request ids, tracing, security headers).

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{generate_route_list, LeptosRoutes};
use rand::RngCore as _;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

pub use crate::state::AppState;

/// The per-request CSP nonce, put into the request's extensions by
/// [`security_headers`] and read by the page renderer.
#[derive(Debug, Clone)]
struct CspNonce(String);

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the HTTPS application.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let site_root = std::path::PathBuf::from(state.leptos.site_root.as_ref());
    let pkg_dir = site_root.join(state.leptos.site_pkg_dir.as_ref());
    let options = state.leptos.clone();
    let fallback_options = state.leptos.clone();
    let dashboard = state.dashboard.clone();
    let context = move || provide_request_context(dashboard.clone());
    let fallback_context = context.clone();

    // Pages and server functions: sessions (in the database) and the
    // middleware that resolves them apply here only, not to the API.
    let sessions = SessionManagerLayer::new(state.store.sessions())
        .with_name("__Host-auditstore-session")
        .with_secure(true)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(session_expiry(state.dashboard_config.session_idle)));
    let dashboard_routes = Router::new()
        .route("/ledgers/{ledger}/exports/{id}/download", get(crate::downloads::export_download))
        .route("/ledgers/{ledger}/archives/{id}/download", get(crate::downloads::archive_download))
        .leptos_routes_with_context(&state, routes, context, move || app::shell(options.clone()))
        .fallback(leptos_axum::render_app_async_with_context(fallback_context, move || {
            app::shell(fallback_options.clone())
        }))
        .layer(middleware::from_fn_with_state(state.dashboard.clone(), app::auth::session_middleware))
        .layer(sessions)
        .with_state(state.clone());

    let proxies = state.trusted_proxies.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(crate::api::router().layer(middleware::from_fn_with_state(state.clone(), crate::api::shedding::shed_reads)))
        .nest_service("/pkg", ServeDir::new(pkg_dir))
        .route_service("/favicon.svg", ServeFile::new(site_root.join("favicon.svg")))
        .fallback_service(dashboard_routes)
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(X_REQUEST_ID.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
                    let id = request.headers().get(&X_REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
                }))
                .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone()))
                .layer(middleware::from_fn(security_headers))
                // Before anything reads it: the throttles and the audit trail.
                .layer(middleware::from_fn_with_state(proxies, crate::client_address::resolve)),
        )
}

/// `GET /healthz`: the process is up and serving.
async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers and is migrated, so requests can be
/// served. Load balancers route only to ready processes.
async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => Json(serde_json::json!({"status": "ready"})).into_response(),
        Ok(Err(error)) => {
            tracing::error!(%error, "readiness check failed");
            not_ready()
        }
        Err(_) => {
            tracing::error!("readiness check timed out");
            not_ready()
        }
    }
}

fn not_ready() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "unavailable"}))).into_response()
}

/// The session record outlives the idle timeout a little: the middleware
/// refreshes it at most once a minute and ends idle sessions itself.
fn session_expiry(idle: Duration) -> tower_sessions::cookie::time::Duration {
    let secs = i64::try_from(idle.as_secs()).unwrap_or(i64::MAX / 2).saturating_add(120);
    tower_sessions::cookie::time::Duration::seconds(secs)
}

/// What pages and server functions find in their context: the dashboard
/// (store, settings) and this request's CSP nonce.
fn provide_request_context(dashboard: app::auth::Dashboard) {
    provide_context(dashboard);
    provide_request_nonce();
}

/// Makes the renderer use this request's CSP nonce for the hydration
/// scripts (Leptos would otherwise mint its own, which the header would not
/// name).
fn provide_request_nonce() {
    let nonce =
        use_context::<axum::http::request::Parts>().and_then(|parts| parts.extensions.get::<CspNonce>().cloned());
    if let Some(CspNonce(nonce)) = nonce {
        provide_context(leptos::nonce::Nonce::from_value(nonce));
    }
}

/// Adds the security headers to every response. The Content-Security-Policy
/// allows scripts only from this origin or carrying this response's nonce,
/// and `wasm-unsafe-eval` so the dashboard's WebAssembly can be compiled;
/// nothing may frame the dashboard.
async fn security_headers(mut request: Request, next: Next) -> Response {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let nonce = base64::engine::general_purpose::STANDARD.encode(bytes);
    request.extensions_mut().insert(CspNonce(nonce.clone()));

    let mut response = next.run(request).await;
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    let headers = response.headers_mut();
    // The nonce is base64, so the header value is always valid; fall back to
    // a policy without it rather than panicking if that ever changed.
    let csp =
        HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"));
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Same-origin only: a form posted without JavaScript is sent back to
    // the page it came from, and nothing leaks to other sites.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    headers.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    response
}
