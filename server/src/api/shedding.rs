//! Load shedding of reads (DESIGN §5): under overload the write path wins.
//! A read (GET under /v1) is answered 503 with `Retry-After` when this
//! process already serves its maximum of concurrent reads, or while appends
//! are queued beyond a threshold; appends and administration are never shed.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::state::AppState;

/// When reads are shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SheddingConfig {
    /// Reads served at once by this process.
    pub max_concurrent_reads: NonZeroU32,
    /// Queued append requests (this process) from which on reads are shed;
    /// 0 sheds every read (an ingest-only mode).
    pub shed_reads_at_backlog: u32,
}

impl Default for SheddingConfig {
    fn default() -> Self {
        Self { max_concurrent_reads: NonZeroU32::new(256).unwrap_or(NonZeroU32::MIN), shed_reads_at_backlog: 512 }
    }
}

/// The read permits of this process.
#[derive(Debug, Clone)]
pub struct ReadGate {
    permits: Arc<Semaphore>,
    backlog: isize,
}

impl ReadGate {
    pub fn new(config: SheddingConfig) -> Self {
        let permits = usize::try_from(config.max_concurrent_reads.get()).unwrap_or(usize::MAX);
        Self {
            permits: Arc::new(Semaphore::new(permits)),
            backlog: isize::try_from(config.shed_reads_at_backlog).unwrap_or(isize::MAX),
        }
    }
}

fn shed(why: &str) -> Response {
    ApiError::Overloaded(format!("{why}; reads are shed so that ingestion keeps up: retry shortly")).into_response()
}

/// Middleware on the /v1 routes.
pub async fn shed_reads(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_read = request.method() == Method::GET || request.method() == Method::HEAD;
    if !is_read || request.uri().path() == "/v1/openapi.json" {
        return next.run(request).await;
    }
    if state.store.ingest_backlog() >= state.reads.backlog {
        return shed("appends are queued beyond this server's threshold");
    }
    match state.reads.permits.clone().try_acquire_owned() {
        Ok(permit) => {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        Err(_) => shed("this server is serving its maximum of concurrent reads"),
    }
}
