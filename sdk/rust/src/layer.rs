//! Middleware (docs/SDK.md §8): a tower [`AuditLayer`] for axum and any
//! tower HTTP service records one event per handled request through
//! [`Client::record_nowait`], so a slow or unreachable AuditStore never
//! fails or delays a request (events wait in the bounded queue; what
//! overflows it goes to `on_drop`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::request::Parts;
use http::{Request, Response};
use serde_json::{json, Map, Value};

use crate::Client;

/// Who a request acts for: `(type, id)`, or `None` for an anonymous one.
pub type ActorFn = Arc<dyn Fn(&Parts) -> Option<(String, String)> + Send + Sync>;

/// The client address of a request, as the application trusts it.
pub type ClientIpFn = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;

/// The route pattern a request matched (`/invoices/{id}`), when the
/// application's router tells (axum: `MatchedPath` under `route_layer`).
pub type RouteFn = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;

/// The longest resource id the server takes; longer concrete paths are cut.
const MAX_ID: usize = 256;

/// The per-request handle a handler sets the event's action and resource
/// with (an extension of the request: `Extension<AuditHandle>` in axum).
#[derive(Debug, Clone, Default)]
pub struct AuditHandle(Arc<Mutex<Option<(String, String, String)>>>);

impl AuditHandle {
    /// The action (`invoice.updated`) and resource (`invoice`, `inv_7`) of
    /// this request's event.
    pub fn set(&self, action: &str, resource_type: &str, resource_id: &str) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some((action.to_owned(), resource_type.to_owned(), resource_id.to_owned()));
        }
    }

    fn take(&self) -> Option<(String, String, String)> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Records one event per request.
#[derive(Clone)]
pub struct AuditLayer {
    client: Client,
    actor: ActorFn,
    client_ip: Option<ClientIpFn>,
    route: Option<RouteFn>,
    excluded: Arc<Vec<String>>,
}

impl std::fmt::Debug for AuditLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLayer").field("excluded", &self.excluded).finish_non_exhaustive()
    }
}

impl AuditLayer {
    /// Events go through `client` (to its configured ledger), with the
    /// actor `actor` finds (anonymous when it finds none).
    pub fn new(client: Client, actor: impl Fn(&Parts) -> Option<(String, String)> + Send + Sync + 'static) -> Self {
        Self { client, actor: Arc::new(actor), client_ip: None, route: None, excluded: Arc::new(Vec::new()) }
    }

    /// Paths starting with any of `prefixes` are not recorded (health
    /// checks, static files).
    pub fn exclude(mut self, prefixes: &[&str]) -> Self {
        self.excluded = Arc::new(prefixes.iter().map(|p| (*p).to_owned()).collect());
        self
    }

    /// How to find the client address (the peer, or a header of a proxy
    /// the application trusts); none is recorded without it.
    pub fn client_ip(mut self, find: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static) -> Self {
        self.client_ip = Some(Arc::new(find));
        self
    }

    /// How to find the route pattern the request matched, which names the
    /// route in `metadata.route` and the default resource; without it (or
    /// when it finds none) the concrete path does, cut to 256 characters.
    /// In axum, add the layer with `route_layer` and read `MatchedPath`.
    pub fn route(mut self, find: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static) -> Self {
        self.route = Some(Arc::new(find));
        self
    }
}

impl<S> tower::Layer<S> for AuditLayer {
    type Service = AuditService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuditService { inner, layer: self.clone() }
    }
}

/// The service [`AuditLayer`] wraps around another.
#[derive(Clone, Debug)]
pub struct AuditService<S> {
    inner: S,
    layer: AuditLayer,
}

/// What the event needs from the request, taken before the handler runs.
struct Seen {
    actor: Option<(String, String)>,
    metadata: Map<String, Value>,
    method: String,
    path: String,
    handle: AuditHandle,
}

fn header(parts: &Parts, name: &str) -> Option<String> {
    parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

impl AuditLayer {
    fn seen(&self, parts: &Parts, handle: AuditHandle) -> Seen {
        let mut metadata = Map::new();
        let method = parts.method.as_str().to_owned();
        let path = match self.route.as_ref().and_then(|find| find(parts)) {
            Some(route) => route,
            None => parts.uri.path().chars().take(MAX_ID).collect(),
        };
        if let Some(ip) = self.client_ip.as_ref().and_then(|find| find(parts)) {
            metadata.insert("client_ip".into(), Value::String(ip));
        }
        if let Some(agent) = header(parts, "user-agent") {
            metadata.insert("user_agent".into(), Value::String(agent.chars().take(512).collect()));
        }
        if let Some(id) = header(parts, "x-request-id") {
            metadata.insert("request_id".into(), Value::String(id.chars().take(512).collect()));
        }
        metadata.insert("method".into(), Value::String(method.clone()));
        metadata.insert("route".into(), Value::String(path.clone()));
        Seen { actor: (self.actor)(parts), metadata, method, path, handle }
    }

    fn record(&self, seen: Seen, status: u16) {
        let Seen { actor, mut metadata, method, path, handle } = seen;
        let (kind, id) = actor.unwrap_or_else(|| ("anonymous".to_owned(), "anonymous".to_owned()));
        let (action, resource_type, resource_id) =
            handle.take().unwrap_or_else(|| (format!("http.{}", method.to_lowercase()), "route".to_owned(), path));
        metadata.insert("status".into(), Value::from(status));
        let event = json!({
            "actor": {"type": kind, "id": id},
            "action": action,
            "resource": {"type": resource_type, "id": resource_id},
            "metadata": metadata,
        });
        // Never the request's failure: a full queue drops to `on_drop`, a
        // closed client is logged, the request goes on.
        if let Err(error) = self.client.record_nowait(event) {
            tracing::warn!(%error, "an audit event of a request was not queued");
        }
    }
}

impl<S, B, R> tower::Service<Request<B>> for AuditService<S>
where
    S: tower::Service<Request<B>, Response = Response<R>> + Send,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path();
        if self.layer.excluded.iter().any(|prefix| path.starts_with(prefix.as_str())) {
            return Box::pin(self.inner.call(request));
        }
        let handle = AuditHandle::default();
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(handle.clone());
        let seen = self.layer.seen(&parts, handle);
        let future = self.inner.call(Request::from_parts(parts, body));
        let layer = self.layer.clone();
        Box::pin(async move {
            let response = future.await?;
            layer.record(seen, response.status().as_u16());
            Ok(response)
        })
    }
}
