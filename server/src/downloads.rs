//! Files the dashboard hands to signed-in users: export and archive downloads. A plain
//! GET route behind the dashboard's session middleware rather than a
//! server function, so the browser streams the file straight to disk. The
//! same rules as the Exports page: auditors and up, own account only
//! (another account's ledger is "not found").

use audit_core::LedgerId;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use store::{Actor, Origin, Role, SystemEvent};

use crate::api::error::ApiError;
use crate::client_address::ClientAddress;
use crate::state::AppState;

/// `GET /ledgers/{ledger}/exports/{id}/download` on the dashboard.
pub async fn export_download(
    State(state): State<AppState>,
    Path((ledger, id)): Path<(String, String)>,
    request: Request,
) -> Response {
    // The head only: it is Send across the awaits below, the body is not.
    let (parts, _) = request.into_parts();
    match serve(&state, &ledger, &id, &parts).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn serve(state: &AppState, ledger: &str, id: &str, request: &Parts) -> Result<Response, ApiError> {
    let auth = request.extensions.get::<app::auth::RequestAuth>();
    let user = auth.and_then(|a| a.user.clone()).ok_or(ApiError::Unauthorized)?;
    if !user.role.includes(Role::Auditor) {
        return Err(ApiError::Forbidden("downloading exports needs the auditor role".into()));
    }
    let ledger = LedgerId::new(ledger).map_err(|_| ApiError::NotFound("ledger"))?;
    let ledger = state.store.ledger(&user.account_id, &ledger).await?;
    let record = state.store.export_record(&ledger.id, id).await?;
    let response = crate::api::exports::file_response(&state.store, record.clone()).await?;
    let ip = request.extensions.get::<ClientAddress>().map(|address| address.0);
    let origin = Origin::new(Actor::User(user.id.clone())).from_address(ip);
    let event = SystemEvent::ExportDownloaded {
        ledger: ledger.id.clone(),
        export: record.id.clone(),
        sha256: record.sha256.clone().unwrap_or_default(),
        bytes: record.bytes,
    };
    state.store.record_system_event(&ledger.account_id, &origin, event).await?;
    Ok(response)
}

/// `GET /ledgers/{ledger}/archives/{id}/download` on the dashboard: a
/// retention archive file, checked against its recorded SHA-256 before it
/// is sent (as `GET /v1/ledgers/{ledger}/archives/{id}/download`).
pub async fn archive_download(
    State(state): State<AppState>,
    Path((ledger, id)): Path<(String, String)>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    match serve_archive(&state, &ledger, &id, &parts).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn serve_archive(state: &AppState, ledger: &str, id: &str, request: &Parts) -> Result<Response, ApiError> {
    let auth = request.extensions.get::<app::auth::RequestAuth>();
    let user = auth.and_then(|a| a.user.clone()).ok_or(ApiError::Unauthorized)?;
    if !user.role.includes(Role::Auditor) {
        return Err(ApiError::Forbidden("downloading archives needs the auditor role".into()));
    }
    let ledger = LedgerId::new(ledger).map_err(|_| ApiError::NotFound("ledger"))?;
    let ledger = state.store.ledger(&user.account_id, &ledger).await?;
    let ip = request.extensions.get::<ClientAddress>().map(|address| address.0);
    let origin = Origin::new(Actor::User(user.id.clone())).from_address(ip);
    crate::api::retention::archive_response(state, &ledger, id, &origin).await
}
