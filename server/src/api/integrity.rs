//! A ledger's integrity as the tamper monitor last verified it (read key):
//! how far and how recently, and every anomaly it found, by kind and exact
//! seq range, with what to do next. Acknowledging one (admin key) records
//! who did; the finding stays.

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use store::monitor::{Anomaly, IntegrityReport};
use store::Permission;
use utoipa::ToSchema;

use super::auth::{AdminCaller, Caller};
use super::error::ApiError;
use super::schema::{time, Problem};
use crate::state::AppState;

/// One anomaly the monitor recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnomalyView {
    id: String,
    /// `altered_content`, `altered_hash`, `inserted_row`, `deleted_row`, `reordered_rows`,
    /// `truncated_tail`, `bad_node`, `bad_checkpoint`, `inconsistent_checkpoint`,
    /// `forged_tombstone`, `undecryptable_row` or `altered_head`.
    #[schema(example = "altered_content")]
    kind: &'static str,
    /// The first and last seq affected (both included).
    first_seq: u64,
    last_seq: u64,
    detail: String,
    /// What to do next.
    advice: &'static str,
    found_at: String,
    /// When a pass last found it again.
    last_seen_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    acknowledged_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acknowledged_by: Option<String>,
}

impl From<&Anomaly> for AnomalyView {
    fn from(a: &Anomaly) -> Self {
        Self {
            id: a.id.clone(),
            kind: a.kind.as_str(),
            first_seq: a.first_seq,
            last_seq: a.last_seq,
            detail: a.detail.clone(),
            advice: a.advice(),
            found_at: time(a.found_ms),
            last_seen_at: time(a.last_seen_ms),
            acknowledged_at: a.acknowledged_ms.map(time),
            acknowledged_by: a.acknowledged_by.clone(),
        }
    }
}

/// A ledger's integrity.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrityView {
    ledger: String,
    /// `anomaly` while an anomaly is not acknowledged, else `stale` when the
    /// last verification is older than twice the monitor's interval, else
    /// `pending` before the first verification, else `ok`.
    #[schema(example = "ok")]
    status: &'static str,
    /// The last verification is older than twice the interval (also while
    /// `status` is `anomaly`).
    stale: bool,
    tree_size: u64,
    /// Events verified so far (trails `tree_size` by what arrived since).
    verified_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_verified_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_full_sweep_at: Option<String>,
    /// Seconds since the last verification (since creation before the first).
    verification_age_seconds: u64,
    /// The monitor's interval on this server, in seconds.
    monitor_interval_seconds: u64,
    anomalies: Vec<AnomalyView>,
}

impl IntegrityView {
    fn new(ledger: &store::Ledger, report: &IntegrityReport, interval: std::time::Duration) -> Self {
        let since = report.last_verified_ms.unwrap_or(ledger.created_ms);
        let age = store::now_ms().saturating_sub(since) / 1000;
        Self {
            ledger: ledger.id.to_string(),
            status: report.status.as_str(),
            stale: report.stale,
            tree_size: report.tree_size,
            verified_size: report.verified_size,
            last_verified_at: report.last_verified_ms.map(time),
            last_full_sweep_at: report.last_full_sweep_ms.map(time),
            verification_age_seconds: u64::try_from(age).unwrap_or_default(),
            monitor_interval_seconds: interval.as_secs(),
            anomalies: report.anomalies.iter().map(AnomalyView::from).collect(),
        }
    }
}

/// The ledger's integrity as the tamper monitor last verified it (read key).
#[utoipa::path(
    get, path = "/ledgers/{ledger}/integrity", tag = "integrity",
    params(("ledger" = String, Path, description = "ledger id")),
    responses(
        (status = 200, body = IntegrityView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn integrity(
    State(state): State<AppState>,
    caller: Caller,
    Path(ledger): Path<String>,
) -> Result<Json<IntegrityView>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Read).await?;
    let report = state.store.integrity_report(&ledger, state.monitor_interval).await?;
    Ok(Json(IntegrityView::new(&ledger, &report, state.monitor_interval)))
}

/// Acknowledges an anomaly (admin key): the dashboard's banner for it ends;
/// the finding stays, with who acknowledged it and when, and the
/// acknowledgement is recorded in the system ledger. Acknowledging again
/// answers the first acknowledgement.
#[utoipa::path(
    post, path = "/ledgers/{ledger}/integrity/anomalies/{id}/acknowledge", tag = "integrity",
    params(("ledger" = String, Path, description = "ledger id"), ("id" = String, Path, description = "anomaly id")),
    responses(
        (status = 200, body = AnomalyView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn acknowledge(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path((ledger, id)): Path<(String, String)>,
) -> Result<Json<AnomalyView>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, Permission::Admin).await?;
    let anomaly = state.store.anomalies(&ledger.id).await?.into_iter().find(|a| a.id == id);
    let anomaly = anomaly.ok_or(ApiError::NotFound("anomaly"))?;
    let acknowledged = state.store.acknowledge_anomaly(&ledger.account_id, &anomaly.id, &caller.origin()).await?;
    Ok(Json(AnomalyView::from(&acknowledged)))
}
