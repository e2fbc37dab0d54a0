//! Account administration for automation: ledgers and API keys. The store
//! records every change in the account's system ledger, in the change's own
//! transaction.

use audit_core::LedgerId;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use store::{ApiKey, ApiKeyId, KeyScope, NewApiKey};

use super::auth::{AdminCaller, Caller};
use super::error::ApiError;
use super::schema::{
    CreateKey, CreateLedger, KeyList, KeyOut, LedgerKeyOut, LedgerKeys, LedgerList, LedgerOut, Problem,
    RotatedLedgerKey,
};
use super::JsonBody;
use crate::state::AppState;

/// Create a ledger (admin key). Names are unique per account.
#[utoipa::path(
    post, path = "/ledgers", tag = "admin",
    request_body = CreateLedger,
    responses((status = 201, body = LedgerOut), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = []))
)]
pub async fn create_ledger(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    JsonBody(body): JsonBody<CreateLedger>,
) -> Result<Response, ApiError> {
    let ledger =
        state.store.create_ledger(&caller.0.account_id, &body.name, &caller.origin()).await.map_err(|e| match e {
            store::StoreError::Invalid(detail) => ApiError::bad("name", detail),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(ledger_out(&ledger))).into_response())
}

/// List ledgers: every ledger of the account for account-wide keys, the
/// scoped ones otherwise.
#[utoipa::path(
    get, path = "/ledgers", tag = "admin",
    responses((status = 200, body = LedgerList), (status = 401, body = Problem)),
    security(("bearer" = []))
)]
pub async fn list_ledgers(State(state): State<AppState>, caller: Caller) -> Result<Json<LedgerList>, ApiError> {
    let ledgers = state.store.list_ledgers(&caller.0.account_id).await?;
    let visible = ledgers.iter().filter(|l| caller.0.scope.allows(&l.id)).map(ledger_out).collect();
    Ok(Json(LedgerList { ledgers: visible }))
}

/// A ledger's data key versions (admin key): version, state and the first
/// seq each sealed. Neither key material nor which KEK wraps a key (the
/// operator's KMS key ARN names their cloud account) is shown.
#[utoipa::path(
    get, path = "/ledgers/{ledger}/keys", tag = "admin",
    params(("ledger" = String, Path, description = "ledger id")),
    responses((status = 200, body = LedgerKeys), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn ledger_keys(
    State(state): State<AppState>,
    caller: Caller,
    Path(ledger): Path<String>,
) -> Result<Json<LedgerKeys>, ApiError> {
    let ledger = caller.ledger(&state, &ledger, store::Permission::Admin).await?;
    let versions = state.store.ledger_key_versions(&ledger.id).await?;
    let current = versions.iter().map(|v| v.version).max();
    Ok(Json(LedgerKeys {
        ledger: ledger.id.as_str().to_owned(),
        versions: versions
            .into_iter()
            .map(|v| LedgerKeyOut {
                version: v.version,
                state: if Some(v.version) == current { "current" } else { "previous" }.to_owned(),
                from_seq: v.from_seq,
                created_at: millis(v.created_ms),
            })
            .collect(),
    }))
}

/// Rotate a ledger's data key (admin key): new events are sealed with a new
/// key; older versions stay for reading. Recorded in the system ledger.
#[utoipa::path(
    post, path = "/ledgers/{ledger}/keys/rotate", tag = "admin",
    params(("ledger" = String, Path, description = "ledger id")),
    responses((status = 201, body = RotatedLedgerKey), (status = 403, body = Problem), (status = 404, body = Problem), (status = 410, body = Problem)),
    security(("bearer" = []))
)]
pub async fn rotate_ledger_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(ledger): Path<String>,
) -> Result<Response, ApiError> {
    let ledger = caller.ledger(&state, &ledger, store::Permission::Admin).await?;
    let version = state.store.rotate_ledger_key(&ledger.id, &caller.origin()).await?;
    let body = RotatedLedgerKey { ledger: ledger.id.as_str().to_owned(), key_version: version };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn ledger_out(ledger: &store::Ledger) -> LedgerOut {
    LedgerOut {
        id: ledger.id.as_str().to_owned(),
        name: ledger.name.clone(),
        kind: match ledger.kind {
            store::LedgerKind::User => "user",
            store::LedgerKind::System => "system",
        }
        .to_owned(),
        origin: ledger.origin.clone(),
        tree_size: ledger.tree_size,
        indexed_size: ledger.indexed_size,
        created_at: millis(ledger.created_ms),
        delete_at: ledger.delete_at_ms.and_then(millis),
    }
}

/// Create an API key (admin key). The secret is in this response only.
#[utoipa::path(
    post, path = "/keys", tag = "admin",
    request_body = CreateKey,
    responses((status = 201, body = KeyOut), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []))
)]
pub async fn create_key(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    JsonBody(body): JsonBody<CreateKey>,
) -> Result<Response, ApiError> {
    let scope = match body.ledgers {
        None => KeyScope::AccountWide,
        Some(ids) => KeyScope::Ledgers(
            ids.iter()
                .enumerate()
                .map(|(i, id)| {
                    LedgerId::new(id.as_str())
                        .map_err(|e| ApiError::bad(format!("ledgers[{i}]"), e.message().to_owned()))
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    let new = NewApiKey {
        name: body.name,
        permission: body.permission,
        scope,
        created_by: Some(caller.0.id.as_str().to_owned()),
    };
    let (key, secret) =
        state.store.create_api_key(&caller.0.account_id, new, &caller.origin()).await.map_err(|e| match e {
            store::StoreError::Invalid(detail) => ApiError::Unprocessable(detail),
            other => other.into(),
        })?;
    let mut body = key_out(&key);
    body.secret = Some(secret.expose().to_owned());
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// List the account's API keys (admin key); never their secrets.
#[utoipa::path(
    get, path = "/keys", tag = "admin",
    responses((status = 200, body = KeyList), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
pub async fn list_keys(State(state): State<AppState>, caller: Caller) -> Result<Json<KeyList>, ApiError> {
    caller.require_admin()?;
    let keys = state.store.list_api_keys(&caller.0.account_id).await?;
    Ok(Json(KeyList { keys: keys.iter().map(key_out).collect() }))
}

/// Rotate a key (admin key): a new secret with the same name, permission and
/// scope; the old secret stops working at once.
#[utoipa::path(
    post, path = "/keys/{id}/rotate", tag = "admin",
    params(("id" = String, Path, description = "key id")),
    responses((status = 201, body = KeyOut), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = []))
)]
pub async fn rotate_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let id = ApiKeyId::parse(&id).ok_or(ApiError::NotFound("API key"))?;
    let by = Some(caller.0.id.as_str().to_owned());
    let (key, secret) = state.store.rotate_api_key(&caller.0.account_id, &id, by, &caller.origin()).await?;
    let mut body = key_out(&key);
    body.secret = Some(secret.expose().to_owned());
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Revoke a key (admin key): it authenticates nothing from now on.
#[utoipa::path(
    delete, path = "/keys/{id}", tag = "admin",
    params(("id" = String, Path, description = "key id")),
    responses((status = 200, body = KeyOut), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = []))
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyOut>, ApiError> {
    caller.require_admin()?;
    let id = ApiKeyId::parse(&id).ok_or(ApiError::NotFound("API key"))?;
    let key = state.store.revoke_api_key(&caller.0.account_id, &id, &caller.origin()).await?;
    Ok(Json(key_out(&key)))
}

fn key_out(key: &ApiKey) -> KeyOut {
    KeyOut {
        id: key.id.as_str().to_owned(),
        name: key.name.clone(),
        prefix: key.display_prefix(),
        permission: key.permission,
        ledgers: match &key.scope {
            KeyScope::AccountWide => None,
            KeyScope::Ledgers(ids) => Some(ids.iter().map(|l| l.as_str().to_owned()).collect()),
        },
        created_at: millis(key.created_ms),
        created_by: key.created_by.clone(),
        last_used_at: key.last_used_ms.and_then(millis),
        revoked_at: key.revoked_ms.and_then(millis),
        replaces: key.replaces.as_ref().map(|id| id.as_str().to_owned()),
        status: if key.revoked_ms.is_some() { "revoked" } else { "active" }.to_owned(),
        secret: None,
    }
}

fn millis(ms: i64) -> Option<String> {
    audit_core::OccurredAt::from_unix_millis(ms).ok().map(|t| t.as_str().to_owned())
}
