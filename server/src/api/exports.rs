//! Export jobs of one ledger: request one, follow it, list them, download
//! the file (docs/FORMAT.md §13), which `auditstore verify` checks offline.

use audit_core::export::EventsFormat;
use audit_core::OccurredAt;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use store::lifecycle::exports::{ExportFilter, ExportRecord, ExportRequest, ExportStatus, MAX_LISTED};
use store::{Permission, Store, SystemEvent};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::ApiError;
use super::schema::{time, Problem};
use super::JsonBody;
use crate::state::AppState;

/// A request for an export file: the format, optionally a seq range
/// (`to_seq` included), and optionally the explorer's filters (exact
/// values; `occurred_at` from `from` included to `to` excluded). Without
/// filters the export is contiguous (range proof, chain re-walked); with
/// any, it holds the matching events with an inclusion proof each.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    /// `jsonl`, `csv` or `parquet`.
    #[schema(example = "jsonl")]
    format: String,
    from_seq: Option<u64>,
    to_seq: Option<u64>,
    /// RFC 3339.
    from: Option<String>,
    /// RFC 3339.
    to: Option<String>,
    actor_type: Option<String>,
    actor_id: Option<String>,
    action: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
}

/// Who requested an export: the actor of its `export.started` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct Requester {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

impl Requester {
    /// The actor recorded as (`type`, `id`).
    pub fn new((kind, id): &(String, String)) -> Self {
        Self { kind: kind.clone(), id: id.clone() }
    }
}

/// An export and where it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportView {
    id: String,
    ledger: String,
    /// `pending`, `running`, `done`, `failed` or `expired`.
    status: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    format: String,
    /// The filter applied; absent for a contiguous export.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    filter: Option<serde_json::Map<String, serde_json::Value>>,
    from_seq: u64,
    /// Included.
    to_seq: u64,
    /// The signed tree size the file's proofs lead to.
    tree_size: u64,
    /// Rows the export reads (its whole seq range).
    events_total: u64,
    /// Rows read so far.
    events_scanned: u64,
    /// Rows in the file so far (fewer than read when filtered).
    events_written: u64,
    /// Inclusion proofs in the file so far: a filtered export writes its rows, then reads its
    /// range again for one proof per written row (`events_written` when done); always 0 for
    /// a contiguous export, which carries one range proof.
    proofs_written: u64,
    /// Bytes of the file so far.
    bytes: u64,
    /// Hex SHA-256 of the file, once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    requested_by: Requester,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<String>,
    /// When the file is deleted (done and failed exports).
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    /// Where to download the file, once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    download: Option<String>,
}

/// An export file: a ZIP archive (docs/FORMAT.md §13).
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct ExportFile(pub Vec<u8>);

/// A ledger's exports, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportList {
    exports: Vec<ExportView>,
}

impl From<&ExportRecord> for ExportView {
    fn from(r: &ExportRecord) -> Self {
        let done = r.status == ExportStatus::Done;
        Self {
            id: r.id.clone(),
            ledger: r.ledger.to_string(),
            status: r.status.as_str().to_owned(),
            reason: r.reason.clone(),
            format: r.format.name().to_owned(),
            filter: r.filter.as_ref().map(ExportFilter::to_map),
            from_seq: r.start,
            to_seq: r.end - 1,
            tree_size: r.tree_size,
            events_total: r.events_total(),
            events_scanned: r.events_scanned,
            events_written: r.events_written,
            proofs_written: r.proofs_written,
            bytes: r.bytes,
            sha256: r.sha256.clone(),
            requested_by: Requester::new(&r.requested_by),
            created_at: time(r.created_ms),
            started_at: r.started_ms.map(time),
            finished_at: r.finished_ms.map(time),
            expires_at: r.expires_ms.map(time),
            download: done.then(|| format!("/v1/ledgers/{}/exports/{}/download", r.ledger, r.id)),
        }
    }
}

/// Parses a request body into what the store records, naming the field
/// at fault.
pub fn parse_request(body: ExportBody) -> Result<ExportRequest, ApiError> {
    let format = match body.format.as_str() {
        "jsonl" => EventsFormat::Jsonl,
        "csv" => EventsFormat::Csv,
        "parquet" => EventsFormat::Parquet,
        other => return Err(ApiError::bad("format", format!("must be jsonl, csv or parquet, not {other:?}"))),
    };
    let time = |field: &str, value: Option<String>| {
        value
            .map(|v| OccurredAt::parse(&v).map(String::from).map_err(|e| ApiError::bad(field, e.message().to_owned())))
            .transpose()
    };
    let filter = ExportFilter {
        actor_type: body.actor_type,
        actor_id: body.actor_id,
        action: body.action,
        resource_type: body.resource_type,
        resource_id: body.resource_id,
        from: time("from", body.from)?,
        to: time("to", body.to)?,
    };
    if let (Some(from), Some(to)) = (&filter.from, &filter.to) {
        if from >= to {
            return Err(ApiError::bad("to", "must be after from"));
        }
    }
    Ok(ExportRequest { format, from_seq: body.from_seq, to_seq: body.to_seq, filter })
}

/// Request an export of the ledger (read key). It runs in the background:
/// follow it at the `Location` answered, download it once `done`.
#[utoipa::path(
    post, path = "/ledgers/{ledger}/exports", tag = "exports",
    params(("ledger" = String, Path, description = "ledger id")),
    request_body = ExportBody,
    responses(
        (status = 202, description = "accepted; the job writes it", body = ExportView),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "the ledger is empty, or too many exports are unfinished", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn create_export(
    State(state): State<AppState>,
    caller: Caller,
    Path(ledger): Path<String>,
    JsonBody(body): JsonBody<ExportBody>,
) -> Result<Response, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Read).await?;
    let request = parse_request(body)?;
    let record = state.store.request_export(&ledger, &request, &caller.origin()).await?;
    let location = format!("/v1/ledgers/{}/exports/{}", ledger.id, record.id);
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(ExportView::from(&record))).into_response())
}

/// The ledger's exports, newest first (the last 100).
#[utoipa::path(
    get, path = "/ledgers/{ledger}/exports", tag = "exports",
    params(("ledger" = String, Path, description = "ledger id")),
    responses((status = 200, body = ExportList), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn list_exports(
    State(state): State<AppState>,
    caller: Caller,
    Path(ledger): Path<String>,
) -> Result<Json<ExportList>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Read).await?;
    let records = state.store.list_exports(&ledger.id, MAX_LISTED).await?;
    Ok(Json(ExportList { exports: records.iter().map(ExportView::from).collect() }))
}

/// One export: its status and progress, and its SHA-256 once done.
#[utoipa::path(
    get, path = "/ledgers/{ledger}/exports/{id}", tag = "exports",
    params(("ledger" = String, Path, description = "ledger id"), ("id" = String, Path, description = "export id")),
    responses((status = 200, body = ExportView), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn get_export(
    State(state): State<AppState>,
    caller: Caller,
    Path((ledger, id)): Path<(String, String)>,
) -> Result<Json<ExportView>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Read).await?;
    Ok(Json(ExportView::from(&state.store.export_record(&ledger.id, &id).await?)))
}

/// Download a done export: the ZIP file, streamed; its SHA-256 is in
/// `Repr-Digest` (RFC 9530) and the export's status. Recorded as
/// `export.downloaded` in the account's system ledger.
#[utoipa::path(
    get, path = "/ledgers/{ledger}/exports/{id}/download", tag = "exports",
    params(("ledger" = String, Path, description = "ledger id"), ("id" = String, Path, description = "export id")),
    responses(
        (status = 200, content_type = "application/zip", body = ExportFile, description = "the export file"),
        (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "the export is not done", body = Problem),
        (status = 410, description = "the export expired", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn download_export(
    State(state): State<AppState>,
    caller: Caller,
    Path((ledger, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Read).await?;
    let record = state.store.export_record(&ledger.id, &id).await?;
    let response = file_response(&state.store, record.clone()).await?;
    let event = SystemEvent::ExportDownloaded {
        ledger: ledger.id.clone(),
        export: record.id.clone(),
        sha256: record.sha256.clone().unwrap_or_default(),
        bytes: record.bytes,
    };
    state.store.record_system_event(&ledger.account_id, &caller.origin(), event).await?;
    Ok(response)
}

/// The file of a done export as a streamed response, its first chunk
/// read before answering (so a broken file is an error status). The chunks
/// are hashed as they go out and the last one is held back unless the
/// whole file hashes to the recorded SHA-256: a download that completes is
/// the file that was written.
pub async fn file_response(store: &Store, record: ExportRecord) -> Result<Response, ApiError> {
    let sha256 = match (record.status, &record.sha256) {
        (ExportStatus::Done, Some(sha256)) => sha256.clone(),
        (ExportStatus::Expired, _) => {
            return Err(ApiError::Gone(format!("export {} expired; request a new one", record.id)));
        }
        (ExportStatus::Failed, _) => {
            let reason = record.reason.as_deref().unwrap_or("unknown");
            return Err(ApiError::Conflict(format!("export {} failed ({reason}); there is no file", record.id)));
        }
        (status, _) => {
            return Err(ApiError::Conflict(format!(
                "export {} is {}; download it once its status is done",
                record.id,
                status.as_str()
            )));
        }
    };
    let expected = hex::decode(&sha256).map_err(|_| ApiError::Internal("a stored export digest is not hex".into()))?;
    let first = store.export_chunk(&record, 0).await?;
    let name = format!("attachment; filename=\"{}-{}.zip\"", record.ledger, record.id);
    let digest = format!("sha-256=:{}:", base64::engine::general_purpose::STANDARD.encode(&expected));
    let (bytes, chunks) = (record.bytes, record.chunks);
    let state = (store.clone(), record, sha2::Sha256::new(), Some(first), 0u64);
    let stream = futures_util::stream::try_unfold(state, move |(store, record, mut hasher, first, n)| {
        let expected = expected.clone();
        async move {
            if n >= chunks {
                return Ok(None);
            }
            let chunk = match first {
                Some(chunk) => chunk,
                None => store.export_chunk(&record, n).await.map_err(std::io::Error::other)?,
            };
            hasher.update(&chunk);
            if n + 1 == chunks && hasher.clone().finalize().as_slice() != expected.as_slice() {
                tracing::error!(export = %record.id, "an export file does not hash to its recorded SHA-256; download cut off");
                return Err(std::io::Error::other("the export file does not match its recorded SHA-256"));
            }
            Ok(Some((Bytes::from(chunk), (store, record, hasher, None, n + 1))))
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_DISPOSITION, name),
            (header::CONTENT_LENGTH, bytes.to_string()),
            (header::ETAG, format!("\"{sha256}\"")),
            (header::HeaderName::from_static("repr-digest"), digest),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
