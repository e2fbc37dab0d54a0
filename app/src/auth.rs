//! Sessions, CSRF and roles of the dashboard (server side only).
//!
//! A middleware resolves every dashboard request's session before any page
//! or server function runs: it finds or mints the CSRF token (in the
//! session, or for visitors without one sealed in a cookie), ends sessions past
//! their idle timeout or absolute lifetime or opened before the user's
//! latest "sign out everywhere" (or role change), and puts the result in
//! the request's extensions. Server functions then only read it, and check
//! the role and CSRF token they need themselves.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use http::{header, Method, StatusCode};
use leptos::prelude::*;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use store::{Lockout, Role, Store, User, UserId};
use subtle::ConstantTimeEq as _;
use tower_sessions::Session;

use crate::api::support::fail;

/// How the dashboard's sessions and sign-ins behave.
#[derive(Debug, Clone)]
pub struct DashboardSettings {
    /// A session unused for this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, used or not.
    pub lifetime: Duration,
    pub lockout: Lockout,
    /// How long an invite link stays valid.
    pub invite_ttl: Duration,
    /// The dashboard's public base URL (`https://host:port`), for links.
    pub public_url: String,
    /// How long after it is asked for a ledger's deletion happens
    /// (`--ledger-deletion-grace-hours`).
    pub deletion_grace: Duration,
    /// The tamper monitor's interval: a ledger's verification goes stale
    /// past twice it (`--monitor-interval`).
    pub monitor_interval: Duration,
}

/// Per-address throttling of sign-ins and of anonymous dashboard traffic
/// (budgets of their own, apart from the API's failed authentication).
pub trait LoginThrottle: std::fmt::Debug + Send + Sync {
    /// Charges one sign-in attempt from the address, before any password is
    /// hashed (so a flood costs no hashing beyond the budget); `Err` with
    /// the seconds to wait when its budget is spent.
    fn attempt(&self, ip: IpAddr) -> Result<(), u64>;
    /// Charges one dashboard request of a visitor without a session, the
    /// same way.
    fn anonymous(&self, ip: IpAddr) -> Result<(), u64>;
}

/// The client address of a request (the TCP peer, or the address a
/// trusted proxy forwarded for), put into the request's extensions by the
/// server before anything else runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// What the dashboard's server side needs, provided as context to every
/// page and server function.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub store: Store,
    pub settings: Arc<DashboardSettings>,
    pub throttle: Arc<dyn LoginThrottle>,
    /// Where retention archive files are written (the server's `--archive-dir`).
    pub archive: store::lifecycle::archive::ArchiveStore,
    /// Where webhook endpoints may point (the server's rules, DNS included).
    pub webhook_urls: Arc<dyn WebhookUrls>,
}

/// The server's check of a webhook URL: the normalised URL, or why it is
/// refused (in words that follow "The URL …").
pub trait WebhookUrls: std::fmt::Debug + Send + Sync {
    fn check<'a>(
        &'a self,
        url: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + 'a>>;
}

/// The session's key in tower-sessions' record.
const KEY: &str = "dashboard";
/// How often a signed-in session's last use is written back.
const TOUCH_EVERY_MS: i64 = 60_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SessionState {
    csrf: String,
    user: Option<SignedIn>,
    /// A user created in this session (setup or invite) whose TOTP
    /// enrolment is not confirmed yet.
    enrolling: Option<UserId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignedIn {
    user: UserId,
    generation: i64,
    signed_in_ms: i64,
    last_seen_ms: i64,
}

/// The session of one request, as the middleware resolved it.
#[derive(Debug, Clone)]
pub struct RequestAuth {
    pub csrf: String,
    pub user: Option<User>,
    pub enrolling: Option<UserId>,
}

fn token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Pages only signed-in users may see; the rest (overview, sign-in,
/// setup, invite, enrolment) are public.
fn protected(path: &str) -> bool {
    ["/ledgers", "/keys", "/users", "/system", "/account"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// The role a page needs beyond being signed in.
fn page_role(path: &str) -> Option<Role> {
    (path == "/users" || path.starts_with("/users/")).then_some(Role::Owner)
}

/// The cookie that carries an anonymous visitor's sealed CSRF token.
const CSRF_COOKIE: &str = "__Host-auditstore-csrf";

/// The middleware in front of every dashboard page and server function.
///
/// Only a session with state (someone signed in, or enrolling) has a row
/// in the database. An anonymous visitor's CSRF token travels sealed in a
/// cookie of its own, so page views cost no write, and anonymous traffic
/// is throttled per address.
pub async fn session_middleware(
    State(dashboard): State<Dashboard>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    if let Some(refused) = cross_origin(&request) {
        return refused;
    }
    let loaded: Option<SessionState> = match session.get(KEY).await {
        Ok(state) => state,
        Err(error) => {
            tracing::error!(%error, "the session could not be loaded");
            return (StatusCode::SERVICE_UNAVAILABLE, "The session store is unavailable; try again.").into_response();
        }
    };
    let had_record = loaded.is_some();
    let mut state = loaded.unwrap_or_default();
    let mut changed = false;
    let now = store::now_ms();
    let mut user = None;
    if let Some(signed_in) = state.user.as_mut() {
        let settings = &dashboard.settings;
        let live = now - signed_in.last_seen_ms <= millis(settings.idle_timeout)
            && now - signed_in.signed_in_ms <= millis(settings.lifetime);
        // A removed user is "not found"; any other failure is the
        // database's, and must not sign anyone out.
        let current = match live {
            false => None,
            true => match dashboard.store.user(&signed_in.user).await {
                Ok(user) => Some(user),
                Err(store::StoreError::NotFound(_)) => None,
                Err(error) => {
                    tracing::error!(%error, "the signed-in user could not be loaded");
                    return (StatusCode::SERVICE_UNAVAILABLE, "The database is unavailable; try again.")
                        .into_response();
                }
            },
        };
        match current {
            Some(current) if current.session_generation == signed_in.generation && current.totp_active => {
                if now - signed_in.last_seen_ms >= TOUCH_EVERY_MS {
                    signed_in.last_seen_ms = now;
                    changed = true;
                }
                user = Some(current);
            }
            _ => state.user = None,
        }
    }
    let mut csrf_cookie = None;
    if state.user.is_some() || state.enrolling.is_some() {
        if state.csrf.is_empty() {
            state.csrf = token();
            changed = true;
        }
        if changed {
            if let Err(error) = session.insert(KEY, &state).await {
                tracing::error!(%error, "the session could not be saved");
                return (StatusCode::SERVICE_UNAVAILABLE, "The session store is unavailable; try again.")
                    .into_response();
            }
        }
    } else {
        // An ended session (or one left from before anonymous visitors
        // went without rows) is deleted, and its id never reused.
        if had_record {
            if let Err(error) = session.flush().await {
                tracing::error!(%error, "could not delete an ended session");
            }
        }
        let ip = request.extensions().get::<ClientAddress>().map(|address| address.0);
        if let Some(Err(wait_secs)) = ip.map(|ip| dashboard.throttle.anonymous(ip)) {
            let mut refused = (
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many requests from this address; wait {wait_secs} seconds."),
            )
                .into_response();
            if let Ok(value) = http::HeaderValue::from_str(&wait_secs.to_string()) {
                refused.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return refused;
        }
        match anonymous_csrf(&dashboard.store, csrf_cookie_of(&request)).await {
            Ok((token, cookie)) => {
                state.csrf = token;
                csrf_cookie = cookie;
            }
            Err(error) => {
                tracing::error!(%error, "could not seal or open an anonymous CSRF token");
                return (StatusCode::SERVICE_UNAVAILABLE, "The service is unavailable; try again.").into_response();
            }
        }
    }
    let path = request.uri().path().to_owned();
    if user.is_none() && protected(&path) && request.method() == Method::GET {
        return Redirect::to("/login").into_response();
    }
    // Pages a role may not open are refused before anything renders (their
    // server functions refuse such callers as well).
    if let (Some(user), Some(needed)) = (&user, page_role(&path)) {
        if !user.role.includes(needed) {
            return (
                StatusCode::FORBIDDEN,
                axum::response::Html(format!(
                    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not allowed · AuditStore</title>\
                     <link rel=\"stylesheet\" href=\"/pkg/auditstore.css\"></head><body><main id=\"main\" class=\"panel narrow\">\
                     <h1>Not allowed</h1><p class=\"error\" role=\"alert\">This page needs the {} role.</p>\
                     <p><a href=\"/ledgers\">Back to the ledgers</a></p></main></body></html>",
                    needed.as_str()
                )),
            )
                .into_response();
        }
    }
    let mut request = match require_token(request, &path, &state.csrf).await {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    request.extensions_mut().insert(RequestAuth { csrf: state.csrf, user, enrolling: state.enrolling });
    let mut response = next.run(request).await;
    // Audit data and secrets never stay in a browser or proxy cache.
    response.headers_mut().insert(header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    if let Some(cookie) = csrf_cookie {
        let value = format!("{CSRF_COOKIE}={cookie}; Path=/; Secure; HttpOnly; SameSite=Strict");
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The sealed CSRF token the request's cookies carry, if any.
fn csrf_cookie_of(request: &Request) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(CSRF_COOKIE).and_then(|rest| rest.strip_prefix('=')))
        .map(str::to_owned)
}

/// An anonymous visitor's CSRF token: the one its cookie vouches for, or
/// a new one with the cookie to set (when it has none, or a forged one).
async fn anonymous_csrf(
    store: &Store,
    presented: Option<String>,
) -> Result<(String, Option<String>), store::StoreError> {
    if let Some(cookie) = presented {
        if let Some(token) = store.anonymous_csrf_token(&cookie).await? {
            return Ok((token, None));
        }
    }
    let (token, cookie) = store.anonymous_csrf().await?;
    Ok((token, Some(cookie)))
}

/// Server functions that change nothing; every other one is a mutation.
const READ_ONLY: &[&str] = &[
    "/api/session_info",
    "/api/setup_link_valid",
    "/api/invite_info",
    "/api/list_ledgers",
    "/api/list_events",
    "/api/get_event",
    "/api/event_proof",
    "/api/event_evidence",
    "/api/list_exports",
    "/api/list_holds",
    "/api/ledger_lifecycle",
    "/api/open_anomalies",
    "/api/list_webhooks",
    "/api/checkpoint_key",
    "/api/list_keys",
    "/api/list_users",
];

/// The largest server-function request body read here.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Every mutating server function must carry this session's CSRF token as
/// its `csrf` argument. Checked here, centrally, before the function runs
/// (each function checks it again), so no mutation can forget it.
async fn require_token(request: Request, path: &str, expected: &str) -> Result<Request, Response> {
    if request.method() != Method::POST || !path.starts_with("/api/") || READ_ONLY.contains(&path) {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "The request is too large.").into_response())?;
    let presented = form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
    let valid = presented.is_some_and(|p| !expected.is_empty() && bool::from(p.as_bytes().ct_eq(expected.as_bytes())));
    if !valid {
        return Err((
            StatusCode::FORBIDDEN,
            "The form expired or did not come from this site (missing or wrong CSRF token); reload the page and try again.",
        )
            .into_response());
    }
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// Refuses a state-changing request that a browser marks as coming from
/// another site (defence in depth: cookies are SameSite=Strict and every
/// mutation needs the CSRF token as well).
fn cross_origin(request: &Request) -> Option<Response> {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let headers = request.headers();
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host =
        headers.get(header::HOST).and_then(|v| v.to_str().ok()).or(request.uri().authority().map(|a| a.as_str()));
    let foreign_origin = match (origin, host) {
        (Some(origin), Some(host)) => origin != format!("https://{host}"),
        (Some(_), None) => true,
        _ => false,
    };
    if site == Some("cross-site") || foreign_origin {
        return Some((StatusCode::FORBIDDEN, "Cross-site requests are refused.").into_response());
    }
    None
}

/// The dashboard context and this request's session.
pub fn request() -> Result<(Dashboard, RequestAuth), ServerFnError> {
    let dashboard = use_context::<Dashboard>().ok_or_else(|| ServerFnError::new("the dashboard is not configured"))?;
    let auth = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<RequestAuth>().cloned())
        .ok_or_else(|| ServerFnError::new("the session is not available"))?;
    Ok((dashboard, auth))
}

/// Whether the request is a plain HTML form post (JavaScript off): its
/// answer is a redirect back to the form, with any error in the URL.
/// (Page loads also accept HTML, but they are GETs.)
pub fn plain_form() -> bool {
    use_context::<http::request::Parts>().is_some_and(|p| {
        p.method == Method::POST
            && p.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
    })
}

/// Refuses a plain form post for functions whose result is a secret shown
/// once (a TOTP secret, recovery codes, an API key, an invite link): a
/// form post is answered by a redirect, which would lose it.
pub fn needs_script() -> Result<(), ServerFnError> {
    if plain_form() {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "This step shows a secret once and needs JavaScript; enable it and try again.",
        ));
    }
    Ok(())
}

/// The signed-in user, who must hold at least `role`.
pub fn require(role: Role) -> Result<(Dashboard, User), ServerFnError> {
    let (dashboard, auth) = request()?;
    let user = auth.user.ok_or_else(|| fail(StatusCode::UNAUTHORIZED, "Sign in first."))?;
    if !user.role.includes(role) {
        return Err(fail(StatusCode::FORBIDDEN, format!("This needs the {} role.", role.as_str())));
    }
    Ok((dashboard, user))
}

/// Checks the CSRF token of a state-changing request (constant time).
pub fn check_csrf(auth: &RequestAuth, presented: &str) -> Result<(), ServerFnError> {
    if !auth.csrf.is_empty() && bool::from(auth.csrf.as_bytes().ct_eq(presented.as_bytes())) {
        Ok(())
    } else {
        Err(fail(
            StatusCode::FORBIDDEN,
            "The form expired or did not come from this site; reload the page and try again.",
        ))
    }
}

/// [`require`] plus the CSRF check: every mutation starts with this.
pub fn require_mutation(role: Role, csrf: &str) -> Result<(Dashboard, User), ServerFnError> {
    let (_, auth) = request()?;
    check_csrf(&auth, csrf)?;
    require(role)
}

/// The client's address, for throttling and the audit trail.
pub fn client_ip() -> Option<IpAddr> {
    use_context::<http::request::Parts>().and_then(|parts| parts.extensions.get::<ClientAddress>().map(|c| c.0))
}

/// The request's session.
pub async fn session() -> Result<Session, ServerFnError> {
    leptos_axum::extract::<Session>().await.map_err(|e| {
        tracing::error!(error = %e, "no session layer");
        ServerFnError::new("the session is not available")
    })
}

async fn save(session: &Session, state: &SessionState) -> Result<(), ServerFnError> {
    session.insert(KEY, state).await.map_err(|error| {
        tracing::error!(%error, "the session could not be saved");
        fail(StatusCode::SERVICE_UNAVAILABLE, "The session store is unavailable; try again.")
    })
}

/// Signs `user` in on this session: a new session id (no fixation) and a
/// new CSRF token.
pub async fn sign_in(user: &User) -> Result<(), ServerFnError> {
    let session = session().await?;
    session.cycle_id().await.map_err(|error| {
        tracing::error!(%error, "could not rotate the session id");
        fail(StatusCode::SERVICE_UNAVAILABLE, "The session store is unavailable; try again.")
    })?;
    let now = store::now_ms();
    let state = SessionState {
        csrf: token(),
        user: Some(SignedIn {
            user: user.id.clone(),
            generation: user.session_generation,
            signed_in_ms: now,
            last_seen_ms: now,
        }),
        enrolling: None,
    };
    save(&session, &state).await
}

/// Remembers a newly created user whose enrolment comes next, on a fresh
/// session id.
pub async fn start_enrolling(user: &User) -> Result<(), ServerFnError> {
    let session = session().await?;
    session.cycle_id().await.map_err(|_| ServerFnError::new("could not rotate the session id"))?;
    let state = SessionState { csrf: token(), user: None, enrolling: Some(user.id.clone()) };
    save(&session, &state).await
}

/// Ends this session (its record is deleted).
pub async fn sign_out() -> Result<(), ServerFnError> {
    let session = session().await?;
    session.flush().await.map_err(|_| fail(StatusCode::SERVICE_UNAVAILABLE, "The session store is unavailable."))
}

/// Redirects a plain form post (JavaScript off) to `to`; with JavaScript
/// the page navigates itself, so the path is returned instead.
pub fn navigate(to: &str) -> String {
    if plain_form() {
        leptos_axum::redirect(to);
    }
    to.to_owned()
}
