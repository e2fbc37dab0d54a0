//! The `exports` table: one row per requested export file, from request to
//! expiry. A request pins what the file will hold (format, seq range,
//! filter, and the tree size it is proven at), so a job that restarts
//! writes the same file again.

use audit_core::export::EventsFormat;
use audit_core::{LedgerId, OccurredAt};
use serde::{Deserialize, Serialize};

use crate::db::{from_i64, on_db, to_i64, write_tx};
use crate::system::{outbox, SystemEvent};
use crate::{now_ms, EventFilter, Ledger, Origin, Store, StoreError};

/// Exports of one account that may wait or run at once; a further request
/// is refused until one finishes, so nobody can queue unbounded work.
pub const MAX_UNFINISHED_PER_ACCOUNT: i64 = 8;
/// The most exports a listing returns.
pub const MAX_LISTED: u32 = 100;

/// Where an export is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportStatus {
    /// Requested; the job has not started it (or restarts it after a crash).
    Pending,
    /// Being written.
    Running,
    /// Written, its digest recorded: it can be downloaded until it expires.
    Done,
    /// Given up, with a reason.
    Failed,
    /// Past its expiry: the file is gone, the record stays.
    Expired,
}

impl ExportStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Pending => "pending",
            ExportStatus::Running => "running",
            ExportStatus::Done => "done",
            ExportStatus::Failed => "failed",
            ExportStatus::Expired => "expired",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "pending" => ExportStatus::Pending,
            "running" => ExportStatus::Running,
            "done" => ExportStatus::Done,
            "failed" => ExportStatus::Failed,
            "expired" => ExportStatus::Expired,
            _ => return Err(StoreError::Corrupt("an export has an unknown status")),
        })
    }
}

/// The explorer's filter as an export applies it and its manifest records
/// it (docs/FORMAT.md §13): exact actor, action and resource values and an
/// `occurred_at` range (`from` inclusive, `to` exclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Normalised RFC 3339 (`YYYY-MM-DDTHH:MM:SS.sssZ`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Normalised RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl ExportFilter {
    /// Whether nothing is filtered (a contiguous export).
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// The same filter as a listing takes it.
    pub fn event_filter(&self) -> Result<EventFilter, StoreError> {
        let time = |field: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| {
                    OccurredAt::parse(v)
                        .map(|t| t.unix_millis())
                        .map_err(|e| StoreError::Invalid(format!("{field}: {}", e.message())))
                })
                .transpose()
        };
        Ok(EventFilter {
            actor_type: self.actor_type.clone(),
            actor_id: self.actor_id.clone(),
            action: self.action.clone(),
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id.clone(),
            from_ms: time("from", &self.from)?,
            to_ms: time("to", &self.to)?,
        })
    }

    /// The filter as the manifest's `filter` object.
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        }
    }
}

/// What a caller asks to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub format: EventsFormat,
    /// The first seq (default 0).
    pub from_seq: Option<u64>,
    /// The last seq, included (default: the ledger's last event).
    pub to_seq: Option<u64>,
    pub filter: ExportFilter,
}

/// An export as recorded.
#[derive(Debug, Clone)]
pub struct ExportRecord {
    pub id: String,
    pub ledger: LedgerId,
    pub format: EventsFormat,
    /// `None` for a contiguous export.
    pub filter: Option<ExportFilter>,
    /// The seqs `[start, end)` read.
    pub start: u64,
    pub end: u64,
    /// The tree size the file's proofs lead to.
    pub tree_size: u64,
    pub status: ExportStatus,
    /// Why it failed.
    pub reason: Option<String>,
    pub events_scanned: u64,
    pub events_written: u64,
    /// A filtered export's inclusion proofs written so far (0 for a contiguous export).
    pub proofs_written: u64,
    pub bytes: u64,
    /// Chunks the file is stored in.
    pub chunks: u64,
    /// Hex SHA-256 of the whole file, once done.
    pub sha256: Option<String>,
    /// Who asked, as (`type`, `id`) of their system event's actor.
    pub requested_by: (String, String),
    pub attempts: u64,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub expires_ms: Option<i64>,
}

impl ExportRecord {
    /// The rows the export reads: its whole range.
    pub fn events_total(&self) -> u64 {
        self.end - self.start
    }
}

const COLUMNS: &str = "export_id, ledger_id, format, filter, start_seq, end_seq, tree_size, status, reason, \
                       events_scanned, events_written, bytes, chunks, sha256, requested_by_type, requested_by_id, \
                       attempts, created_ms, started_ms, finished_ms, expires_ms, proofs_written";

fn record_from_row<R>(row: &R) -> Result<ExportRecord, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let ledger: String = row.try_get(1)?;
    let format: String = row.try_get(2)?;
    let filter: Option<String> = row.try_get(3)?;
    let status: String = row.try_get(7)?;
    let (start, end) = (from_i64(row.try_get(4)?)?, from_i64(row.try_get(5)?)?);
    if start >= end {
        return Err(StoreError::Corrupt("an export's range is empty"));
    }
    Ok(ExportRecord {
        id: row.try_get(0)?,
        ledger: LedgerId::new(ledger).map_err(|_| StoreError::Corrupt("an export names a bad ledger id"))?,
        format: match format.as_str() {
            "jsonl" => EventsFormat::Jsonl,
            "csv" => EventsFormat::Csv,
            "parquet" => EventsFormat::Parquet,
            _ => return Err(StoreError::Corrupt("an export has an unknown format")),
        },
        filter: filter
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|_| StoreError::Corrupt("an export's filter does not parse"))?,
        start,
        end,
        tree_size: from_i64(row.try_get(6)?)?,
        status: ExportStatus::parse(&status)?,
        reason: row.try_get(8)?,
        events_scanned: from_i64(row.try_get(9)?)?,
        events_written: from_i64(row.try_get(10)?)?,
        bytes: from_i64(row.try_get(11)?)?,
        chunks: from_i64(row.try_get(12)?)?,
        sha256: row.try_get(13)?,
        requested_by: (row.try_get(14)?, row.try_get(15)?),
        attempts: from_i64(row.try_get(16)?)?,
        created_ms: row.try_get(17)?,
        started_ms: row.try_get(18)?,
        finished_ms: row.try_get(19)?,
        expires_ms: row.try_get(20)?,
        proofs_written: from_i64(row.try_get(21)?)?,
    })
}

impl Store {
    /// Records a request to export from `ledger` (the job writes the file),
    /// with its `export.started` system event in the same transaction. The
    /// range is checked and pinned now, at the ledger's current size.
    pub async fn request_export(
        &self,
        ledger: &Ledger,
        request: &ExportRequest,
        origin: &Origin,
    ) -> Result<ExportRecord, StoreError> {
        let size = ledger.tree_size;
        if size == 0 {
            return Err(StoreError::Conflict("the ledger has no events to export yet".into()));
        }
        let start = request.from_seq.unwrap_or(0);
        let last = request.to_seq.unwrap_or(size - 1);
        if last >= size {
            return Err(StoreError::Invalid(format!("to_seq: {last} is beyond the ledger's last seq {}", size - 1)));
        }
        if start > last {
            return Err(StoreError::Invalid(format!("from_seq: {start} is after to_seq {last}")));
        }
        // Parsed once here so a bad time is refused now, not by the job.
        request.filter.event_filter()?;
        let filter = (!request.filter.is_empty()).then(|| request.filter.clone());
        let filter_text = filter
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|_| StoreError::Corrupt("a filter does not serialise"))?;
        let id = format!("exp_{}", uuid::Uuid::now_v7().simple());
        let (by_type, by_id) = origin.actor().parts();
        let event = SystemEvent::ExportStarted {
            ledger: ledger.id.clone(),
            export: id.clone(),
            format: request.format.name(),
            start,
            end: last + 1,
            tree_size: size,
            filter: filter.as_ref().map(ExportFilter::to_map),
        };
        let staged = self.stage(&ledger.account_id, origin, event).await?;
        let created_ms = now_ms();
        write_tx!(&self.db, |tx| {
            let unfinished: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM exports WHERE account_id = $1 AND status IN ('pending', 'running')",
            )
            .bind(ledger.account_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            if unfinished >= MAX_UNFINISHED_PER_ACCOUNT {
                return Err(StoreError::Conflict(format!(
                    "{unfinished} exports of this account are pending or running; wait for one to finish"
                )));
            }
            sqlx::query(
                "INSERT INTO exports (export_id, account_id, ledger_id, format, filter, start_seq, end_seq, tree_size, \
                 status, requested_by_type, requested_by_id, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11)",
            )
            .bind(&id)
            .bind(ledger.account_id.as_str())
            .bind(ledger.id.as_str())
            .bind(request.format.name())
            .bind(filter_text.as_deref())
            .bind(to_i64(start)?)
            .bind(to_i64(last + 1)?)
            .bind(to_i64(size)?)
            .bind(by_type)
            .bind(by_id)
            .bind(created_ms)
            .execute(&mut *tx)
            .await?;
            outbox::insert((&mut *tx).into(), &staged).await?;
            tx.commit().await?;
        });
        self.drain_outbox(&ledger.account_id).await;
        self.export_record(&ledger.id, &id).await
    }

    /// The export `id` of `ledger`.
    pub async fn export_record(&self, ledger: &LedgerId, id: &str) -> Result<ExportRecord, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM exports WHERE ledger_id = $1 AND export_id = $2");
        let record = on_db!(&self.db.pool, |p| {
            sqlx::query(&sql)
                .bind(ledger.as_str())
                .bind(id)
                .fetch_optional(p)
                .await?
                .map(|row| record_from_row(&row))
                .transpose()?
        });
        record.ok_or(StoreError::NotFound("export"))
    }

    /// The exports of `ledger`, newest first (at most [`MAX_LISTED`]).
    pub async fn list_exports(&self, ledger: &LedgerId, limit: u32) -> Result<Vec<ExportRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM exports WHERE ledger_id = $1 ORDER BY created_ms DESC, export_id DESC LIMIT $2"
        );
        Ok(on_db!(&self.db.pool, |p| {
            sqlx::query(&sql)
                .bind(ledger.as_str())
                .bind(i64::from(limit.clamp(1, MAX_LISTED)))
                .fetch_all(p)
                .await?
                .iter()
                .map(record_from_row)
                .collect::<Result<Vec<_>, _>>()?
        }))
    }

    /// The oldest export waiting for the job.
    pub(crate) async fn next_pending_export(&self) -> Result<Option<ExportRecord>, StoreError> {
        Ok(self.exports_with_status(ExportStatus::Pending, 1).await?.into_iter().next())
    }

    /// Up to `limit` exports of every account in `status`, oldest first.
    pub(crate) async fn exports_with_status(
        &self,
        status: ExportStatus,
        limit: i64,
    ) -> Result<Vec<ExportRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM exports WHERE status = $1 ORDER BY created_ms, export_id LIMIT $2");
        Ok(on_db!(&self.db.pool, |p| {
            sqlx::query(&sql)
                .bind(status.as_str())
                .bind(limit)
                .fetch_all(p)
                .await?
                .iter()
                .map(record_from_row)
                .collect::<Result<Vec<_>, _>>()?
        }))
    }
}
