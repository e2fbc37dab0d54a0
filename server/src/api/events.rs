//! Ingest, read-back, checkpoints and proofs of one ledger.

use audit_core::{EventId, EventInput, OccurredAt};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use store::lifecycle::archive::TombstoneInfo;
use store::{EventFilter, NewEvent, Permission, StoredEvent};

use super::append_budget::AdmittedAppend;
use super::auth::Caller;
use super::error::ApiError;
use super::schema::{
    AppendBody, AppendResponse, Appended, ArchiveRef, ConsistencyProof, EventIn, EventOut, EventPage, InclusionProof,
    Problem, RangeProof,
};
use super::JsonBody;
use crate::state::AppState;

/// The most events one request may carry.
pub const MAX_BATCH: usize = 1000;

/// Append one event, or a batch `{"events": [...]}` (all or nothing).
///
/// A 2xx means the events are durably committed. Retrying an event with the
/// same client `id` and content returns the stored record; the same `id`
/// with other content is a 409.
#[utoipa::path(
    post, path = "/ledgers/{ledger}/events", tag = "events",
    params(("ledger" = String, Path, description = "ledger id")),
    request_body = AppendBody,
    responses(
        (status = 201, description = "committed", body = AppendResponse),
        (status = 400, description = "invalid event; `field` names it", body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "id reused with other content", body = Problem),
        (status = 413, description = "batch too large", body = Problem),
        (status = 429, description = "rate limited", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn append(
    State(state): State<AppState>,
    admitted: AdmittedAppend,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let ledger = &admitted.ledger;
    let (inputs, batch) = split_body(body)?;
    let mut events = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.into_iter().enumerate() {
        let at = |field: &str| if batch { format!("events[{i}].{field}") } else { field.to_owned() };
        let input: EventInput = serde_json::from_value(input).map_err(|e| ApiError::bad(at("event"), e.to_string()))?;
        let client_id = input.id.is_some();
        // audit-core enforces the per-event limits (64 KiB canonical size,
        // metadata depth 32, string bounds) and names the field.
        let event = input
            .into_event(|| EventId::new(uuid::Uuid::now_v7().to_string()).unwrap_or_else(|_| unreachable_uuid()))
            .map_err(|e| ApiError::bad(at(e.field()), e.message().to_owned()))?;
        events.push(NewEvent::new(event, client_id)?);
    }
    let appended = state.store.append(ledger, events).await?;
    let body = AppendResponse {
        tree_size: appended.tree_size,
        events: appended
            .events
            .into_iter()
            .map(|e| Appended {
                id: e.id.to_string(),
                seq: e.seq,
                leaf_hash: e.leaf_hash.to_hex(),
                chain_hash: e.chain_hash.to_hex(),
            })
            .collect(),
    };
    Ok((axum::http::StatusCode::CREATED, Json(body)).into_response())
}

/// A UUID's text is always a valid event id (hex digits and hyphens).
fn unreachable_uuid() -> EventId {
    unreachable!("a UUID is a valid event id")
}

/// A body is a batch when it is an object whose only member is `events`.
fn split_body(body: Value) -> Result<(Vec<Value>, bool), ApiError> {
    match body {
        Value::Object(mut map) if map.len() == 1 && map.contains_key("events") => match map.remove("events") {
            Some(Value::Array(events)) => {
                if events.is_empty() {
                    return Err(ApiError::bad("events", "a batch needs at least one event"));
                }
                if events.len() > MAX_BATCH {
                    return Err(ApiError::PayloadTooLarge(format!(
                        "a batch may hold at most {MAX_BATCH} events, got {}",
                        events.len()
                    )));
                }
                Ok((events, true))
            }
            _ => Err(ApiError::bad("events", "must be an array of events")),
        },
        Value::Object(map) => Ok((vec![Value::Object(map)], false)),
        _ => Err(ApiError::bad("body", "must be an event object or {\"events\": [...]}")),
    }
}

/// Filters and pagination of a listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    actor_type: Option<String>,
    actor_id: Option<String>,
    action: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

fn parse_time(field: &str, value: Option<String>) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            OccurredAt::parse(&v).map(|t| t.unix_millis()).map_err(|e| ApiError::bad(field, e.message().to_owned()))
        })
        .transpose()
}

/// List events, newest first, filtered by exact actor, action and resource
/// values and an `occurred_at` range (`from` inclusive, `to` exclusive).
#[utoipa::path(
    get, path = "/ledgers/{ledger}/events", tag = "events",
    params(("ledger" = String, Path, description = "ledger id"), ListQuery),
    responses((status = 200, body = EventPage), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(ledger): Path<String>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Read).await?;
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > store::MAX_PAGE {
        return Err(ApiError::bad("limit", format!("must be between 1 and {}", store::MAX_PAGE)));
    }
    let filter = EventFilter {
        actor_type: query.actor_type,
        actor_id: query.actor_id,
        action: query.action,
        resource_type: query.resource_type,
        resource_id: query.resource_id,
        from_ms: parse_time("from", query.from)?,
        to_ms: parse_time("to", query.to)?,
    };
    let page =
        state.store.list_events(&ledger.id, &filter, query.cursor.as_deref(), limit).await.map_err(|e| match e {
            store::StoreError::Invalid(detail) => ApiError::bad("cursor", detail),
            other => other.into(),
        })?;
    let tombstones: Vec<u64> = page.events.iter().filter(|e| e.event.is_none()).map(|e| e.seq).collect();
    let mut archives = state.store.tombstone_infos(&ledger.id, &tombstones).await?.into_iter();
    let events = page
        .events
        .into_iter()
        .map(|stored| {
            let archive = if stored.event.is_none() { archives.next().flatten() } else { None };
            event_out(stored, archive)
        })
        .collect::<Result<_, _>>()?;
    Ok(Json(EventPage { events, next_cursor: page.next_cursor }))
}

/// One event by id, as ingested (normalised), with `seq`, hashes and `received_at`.
#[utoipa::path(
    get, path = "/ledgers/{ledger}/events/{id}", tag = "events",
    params(("ledger" = String, Path, description = "ledger id"), ("id" = String, Path, description = "event id")),
    responses((status = 200, body = EventOut), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((ledger, id)): Path<(String, String)>,
) -> Result<Json<EventOut>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Read).await?;
    let stored = state.store.event(&ledger.id, &id).await?;
    let archive = match stored.event {
        None => state.store.tombstone_info(&ledger.id, stored.seq).await?,
        Some(_) => None,
    };
    Ok(Json(event_out(stored, archive)?))
}

/// The event as ingested (normalised) plus where it is in the ledger.
/// Content that is present but not an event is corruption, reported as an
/// internal error; only absent content (retention) is a tombstone.
fn event_out(stored: StoredEvent, archive: Option<TombstoneInfo>) -> Result<EventOut, ApiError> {
    let received_at = OccurredAt::from_unix_millis(stored.received_ms).map(|t| t.as_str().to_owned()).ok();
    let content = match stored.event {
        None => None,
        Some(event) => Some(serde_json::to_value(&event).and_then(serde_json::from_value::<EventIn>).map_err(|e| {
            ApiError::Internal(format!("stored content of event seq {} does not parse: {e}", stored.seq))
        })?),
    };
    let tombstoned = content.is_none();
    let (actor, action, resource, occurred_at, metadata) = match content {
        Some(c) => {
            (Some(c.actor), Some(c.action), Some(c.resource), Some(c.occurred_at), Some(c.metadata.unwrap_or_default()))
        }
        None => (None, None, None, None, None),
    };
    Ok(EventOut {
        id: stored.id.to_string(),
        actor,
        action,
        resource,
        occurred_at,
        metadata,
        tombstoned,
        archived_at: archive.as_ref().and_then(|a| OccurredAt::from_unix_millis(a.archived_ms).ok()).map(String::from),
        archive: archive.map(|a| ArchiveRef { id: a.archival, location: a.location, sha256: a.sha256 }),
        seq: stored.seq,
        leaf_hash: stored.leaf_hash.to_hex(),
        chain_hash: stored.chain_hash.to_hex(),
        received_at,
    })
}

/// Answers 405 to PUT, PATCH and DELETE on a ledger's events.
pub async fn immutable_collection() -> Response {
    immutable("GET, POST")
}

/// Answers 405 to everything but GET on one event.
pub async fn immutable_event() -> Response {
    immutable("GET")
}

fn immutable(allow: &'static str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": "Method not allowed",
        "status": 405,
        "detail": "events are immutable: they can be appended and read, never changed or deleted",
    });
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        [(header::CONTENT_TYPE, "application/problem+json"), (header::ALLOW, allow)],
        body.to_string(),
    )
        .into_response()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckpointQuery {
    tree_size: Option<u64>,
}

/// The latest signed checkpoint (a C2SP signed note), or the stored one of
/// exactly `tree_size`.
#[utoipa::path(
    get, path = "/ledgers/{ledger}/checkpoint", tag = "proofs",
    params(("ledger" = String, Path, description = "ledger id"), CheckpointQuery),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path(ledger): Path<String>,
    query: Result<Query<CheckpointQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Read).await?;
    let Query(query) = query?;
    let note = state.store.checkpoint(&ledger.id, query.tree_size).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    seq: u64,
    tree_size: Option<u64>,
}

/// Inclusion proof of event `seq` in the tree of `tree_size` (default: the
/// current size), RFC 9162 §2.1.3.
#[utoipa::path(
    get, path = "/ledgers/{ledger}/proofs/inclusion", tag = "proofs",
    params(("ledger" = String, Path, description = "ledger id"), InclusionQuery),
    responses((status = 200, body = InclusionProof), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn inclusion(
    State(state): State<AppState>,
    caller: Caller,
    Path(ledger): Path<String>,
    query: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InclusionProof>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Read).await?;
    let Query(query) = query?;
    let tree_size = query.tree_size.unwrap_or(ledger.tree_size);
    let proof = state.store.inclusion_proof(&ledger, query.seq, tree_size).await?;
    Ok(Json(InclusionProof { leaf_index: query.seq, tree_size, proof: hex_list(&proof) }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

/// Consistency proof between tree sizes `from` and `to` (default: the
/// current size), RFC 9162 §2.1.4.
#[utoipa::path(
    get, path = "/ledgers/{ledger}/proofs/consistency", tag = "proofs",
    params(("ledger" = String, Path, description = "ledger id"), ConsistencyQuery),
    responses((status = 200, body = ConsistencyProof), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn consistency(
    State(state): State<AppState>,
    caller: Caller,
    Path(ledger): Path<String>,
    query: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Read).await?;
    let Query(query) = query?;
    let to = query.to.unwrap_or(ledger.tree_size);
    let proof = state.store.consistency_proof(&ledger, query.from, to).await?;
    Ok(Json(ConsistencyProof { from: query.from, to, proof: hex_list(&proof) }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    start: u64,
    end: u64,
    tree_size: Option<u64>,
}

/// Range proof of events `[start, end)` in the tree of `tree_size`
/// (default: the current size), docs/FORMAT.md §9.
#[utoipa::path(
    get, path = "/ledgers/{ledger}/proofs/range", tag = "proofs",
    params(("ledger" = String, Path, description = "ledger id"), RangeQuery),
    responses((status = 200, body = RangeProof), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn range(
    State(state): State<AppState>,
    caller: Caller,
    Path(ledger): Path<String>,
    query: Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RangeProof>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Read).await?;
    let Query(query) = query?;
    let tree_size = query.tree_size.unwrap_or(ledger.tree_size);
    let proof = state.store.range_proof(&ledger, query.start, query.end, tree_size).await?;
    Ok(Json(RangeProof { start: query.start, end: query.end, tree_size, proof: hex_list(&proof) }))
}

fn hex_list(hashes: &[audit_core::Hash]) -> Vec<String> {
    hashes.iter().map(|h| h.to_hex()).collect()
}
