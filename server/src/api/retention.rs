//! A ledger's retention policy (admin key): how many days its events are
//! kept after their `occurred_at` before archival may tombstone them. A
//! locked policy can only be lengthened; every change and every refused
//! change is recorded in the account's system ledger.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use store::lifecycle::archive::{ArchivalRecord, RetentionRun, MAX_LISTED};
use store::lifecycle::retention::{RetentionDays, RetentionPolicy};
use store::{Permission, SystemEvent};
use utoipa::ToSchema;

use super::auth::{AdminCaller, Caller};
use super::error::ApiError;
use super::exports::{ExportFile, Requester};
use super::schema::{time, Problem};
use super::JsonBody;
use crate::state::AppState;

/// A retention policy to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    /// Days events are kept after their `occurred_at`: 1 to 36500.
    #[schema(example = 2555)]
    days: u64,
    /// Lock the policy: from then on it can only be lengthened, never
    /// shortened, unlocked or removed, by anyone. Default false.
    #[serde(default)]
    locked: bool,
}

/// A ledger's retention policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionView {
    ledger: String,
    /// Days events are kept after their `occurred_at`.
    days: u32,
    locked: bool,
    /// Who set the policy last.
    set_by: Requester,
    set_at: String,
    /// When the policy was locked.
    #[serde(skip_serializing_if = "Option::is_none")]
    locked_at: Option<String>,
}

impl From<&RetentionPolicy> for RetentionView {
    fn from(p: &RetentionPolicy) -> Self {
        Self {
            ledger: p.ledger.to_string(),
            days: p.days.get(),
            locked: p.locked,
            set_by: Requester::new(&p.set_by),
            set_at: time(p.set_ms),
            locked_at: p.locked_ms.map(time),
        }
    }
}

/// The ledger's retention policy (admin key); 404 when it has none (its
/// events are kept forever).
#[utoipa::path(
    get, path = "/ledgers/{ledger}/retention", tag = "lifecycle",
    params(("ledger" = String, Path, description = "ledger id")),
    responses(
        (status = 200, body = RetentionView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, description = "no such ledger, or no policy: events are kept forever", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn get_retention(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(ledger): Path<String>,
) -> Result<Json<RetentionView>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Admin).await?;
    let policy = state.store.retention_policy(&ledger.id).await?.ok_or(ApiError::NotFound("retention policy"))?;
    Ok(Json(RetentionView::from(&policy)))
}

/// Set the ledger's retention policy (admin key). A locked policy only
/// lengthens: shortening or unlocking it is 409, and recorded.
#[utoipa::path(
    put, path = "/ledgers/{ledger}/retention", tag = "lifecycle",
    params(("ledger" = String, Path, description = "ledger id")),
    request_body = RetentionBody,
    responses(
        (status = 200, body = RetentionView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "the policy is locked: it can only be lengthened", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn put_retention(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(ledger): Path<String>,
    JsonBody(body): JsonBody<RetentionBody>,
) -> Result<Json<RetentionView>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Admin).await?;
    let days = RetentionDays::new(body.days).map_err(|e| ApiError::bad("days", e.to_string()))?;
    let policy = state.store.set_retention(&ledger, days, body.locked, &caller.origin()).await?;
    Ok(Json(RetentionView::from(&policy)))
}

/// Remove the ledger's unlocked retention policy (admin key): its events
/// are kept forever again. A locked policy is never removed (409).
#[utoipa::path(
    delete, path = "/ledgers/{ledger}/retention", tag = "lifecycle",
    params(("ledger" = String, Path, description = "ledger id")),
    responses(
        (status = 204, description = "removed"), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "the policy is locked: it is never removed", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn delete_retention(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(ledger): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Admin).await?;
    state.store.remove_retention(&ledger, &caller.origin()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The most archivals one `POST …/retention/run` makes; `more` says when
/// the caller should ask again (the background job has no such bound).
pub const MAX_BATCHES_PER_REQUEST: usize = 20;

/// An archival: one archive file and the tombstones it accounts for.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArchivalView {
    id: String,
    ledger: String,
    /// The seqs the file covers (`to_seq` included); the archived events
    /// are those of the range that were past retention and not held.
    from_seq: u64,
    to_seq: u64,
    events: u64,
    /// The signed tree size the file's proofs lead to.
    tree_size: u64,
    /// `file:<ledger>/<archival>.zip` below the server's archive directory.
    location: String,
    /// Hex SHA-256 of the file (`auditstore verify` checks it offline).
    sha256: String,
    bytes: u64,
    policy_days: u32,
    /// Events that happened before this were past the policy.
    archived_before: String,
    archived_by: Requester,
    archived_at: String,
}

impl From<&ArchivalRecord> for ArchivalView {
    fn from(r: &ArchivalRecord) -> Self {
        Self {
            id: r.id.clone(),
            ledger: r.ledger.to_string(),
            from_seq: r.start,
            to_seq: r.end - 1,
            events: r.events,
            tree_size: r.tree_size,
            location: r.location.clone(),
            sha256: r.sha256.clone(),
            bytes: r.bytes,
            policy_days: r.policy_days,
            archived_before: time(r.cutoff_ms),
            archived_by: Requester::new(&r.by),
            archived_at: time(r.created_ms),
        }
    }
}

/// What a retention run did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionRunView {
    ledger: String,
    /// The policy's days; absent when the ledger has no policy (nothing expires).
    #[serde(skip_serializing_if = "Option::is_none")]
    days: Option<u32>,
    /// Events that happened before this were past the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    archived_before: Option<String>,
    /// Events archived into tombstones by this run.
    archived: u64,
    /// Expired events that active legal holds kept, and those holds.
    held: u64,
    held_by: Vec<String>,
    archivals: Vec<ArchivalView>,
    /// The run stopped at its bound of archivals: run it again for the rest.
    more: bool,
}

/// A ledger's archivals, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArchivalList {
    archivals: Vec<ArchivalView>,
}

/// Archive now what is past the ledger's retention and not held (admin
/// key): each batch is written to the archive store as a verifiable export
/// file, read back, and only then are its events turned into tombstones.
/// At most 20 archivals (100,000 events) per request: `more` says to ask again.
#[utoipa::path(
    post, path = "/ledgers/{ledger}/retention/run", tag = "lifecycle",
    params(("ledger" = String, Path, description = "ledger id")),
    responses(
        (status = 200, body = RetentionRunView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "a legal hold was placed, or another run archived, meanwhile; nothing of that batch was archived", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn run_retention(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(ledger): Path<String>,
) -> Result<Json<RetentionRunView>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Admin).await?;
    let run =
        state.store.run_retention(&ledger.id, &state.archive, &caller.origin(), Some(MAX_BATCHES_PER_REQUEST)).await?;
    Ok(Json(run_view(&ledger.id, &run)))
}

fn run_view(ledger: &audit_core::LedgerId, run: &RetentionRun) -> RetentionRunView {
    RetentionRunView {
        ledger: ledger.to_string(),
        days: run.policy.as_ref().map(|p| p.days.get()),
        archived_before: run.cutoff_ms.map(time),
        archived: run.archived,
        held: run.held,
        held_by: run.held_by.iter().cloned().collect(),
        archivals: run.archivals.iter().map(ArchivalView::from).collect(),
        more: run.more,
    }
}

/// The ledger's archivals, newest first (read key, like exports).
#[utoipa::path(
    get, path = "/ledgers/{ledger}/archives", tag = "lifecycle",
    params(("ledger" = String, Path, description = "ledger id")),
    responses((status = 200, body = ArchivalList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn list_archives(
    State(state): State<AppState>,
    caller: Caller,
    Path(ledger): Path<String>,
) -> Result<Json<ArchivalList>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Read).await?;
    let records = state.store.list_archivals(&ledger.id, MAX_LISTED).await?;
    Ok(Json(ArchivalList { archivals: records.iter().map(ArchivalView::from).collect() }))
}

/// Download an archival's file (read key): the export file (docs/FORMAT.md
/// §13, §14) of the events it removed, which `auditstore verify` checks
/// offline. Read back and checked against its recorded SHA-256 (also sent
/// as `Repr-Digest`) before a byte is sent; recorded as `archive.downloaded`.
#[utoipa::path(
    get, path = "/ledgers/{ledger}/archives/{id}/download", tag = "lifecycle",
    params(("ledger" = String, Path, description = "ledger id"), ("id" = String, Path, description = "archival id")),
    responses(
        (status = 200, content_type = "application/zip", body = ExportFile, description = "the archive file"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn download_archive(
    State(state): State<AppState>,
    caller: Caller,
    Path((ledger, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Read).await?;
    archive_response(&state, &ledger, &id, &caller.origin()).await
}

/// The archive file `id` of `ledger`, read back from the archive store and
/// checked against its recorded SHA-256 before a byte is sent, its download
/// recorded as `archive.downloaded` by `origin`: for the API and the
/// dashboard alike.
pub(crate) async fn archive_response(
    state: &AppState,
    ledger: &store::Ledger,
    id: &str,
    origin: &store::Origin,
) -> Result<Response, ApiError> {
    let record = state.store.archival(&ledger.id, id).await?;
    let bytes =
        state.archive.read(&record.location).await.map_err(|e| {
            ApiError::Internal(format!("archive {} cannot be read from the archive store: {e}", record.id))
        })?;
    let digest = sha2::Sha256::digest(&bytes);
    if hex::encode(digest) != record.sha256 {
        return Err(ApiError::Integrity(format!(
            "archive {} does not hash to its recorded SHA-256: it was altered or replaced in the archive store",
            record.id
        )));
    }
    let event = SystemEvent::ArchiveDownloaded {
        ledger: ledger.id.clone(),
        archival: record.id.clone(),
        sha256: record.sha256.clone(),
        bytes: record.bytes,
    };
    state.store.record_system_event(&ledger.account_id, origin, event).await?;
    let name = format!("attachment; filename=\"{}-{}.zip\"", record.ledger, record.id);
    let repr = format!("sha-256=:{}:", base64::engine::general_purpose::STANDARD.encode(digest));
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_DISPOSITION, name),
            (header::ETAG, format!("\"{}\"", record.sha256)),
            (header::HeaderName::from_static("repr-digest"), repr),
        ],
        bytes,
    )
        .into_response())
}
