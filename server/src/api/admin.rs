//! Account administration for automation: ledgers and API keys. Every
//! change is recorded in the account's system ledger.

use audit_core::{EventId, EventInput, LedgerId};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use store::{AccountId, ApiKey, ApiKeyId, KeyScope, NewApiKey, NewEvent, Permission, Store};

use super::auth::Caller;
use super::error::ApiError;
use super::JsonBody;
use crate::web::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateLedger {
    name: String,
}

/// `POST /v1/ledgers` `{"name": ...}` (admin).
pub async fn create_ledger(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateLedger>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let ledger = state.store.create_ledger(&caller.0.account_id, &body.name).await.map_err(|e| match e {
        store::StoreError::Invalid(detail) => ApiError::bad("name", detail),
        other => other.into(),
    })?;
    record(
        &state.store,
        &caller.0.account_id,
        caller.actor(),
        "ledger.created",
        ("ledger", ledger.id.as_str()),
        json!({"name": ledger.name}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(ledger_json(&ledger))).into_response())
}

/// `GET /v1/ledgers` (admin: all of the account's; others: those in scope).
pub async fn list_ledgers(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let ledgers = state.store.list_ledgers(&caller.0.account_id).await?;
    let visible: Vec<Value> = ledgers.iter().filter(|l| caller.0.scope.allows(&l.id)).map(ledger_json).collect();
    Ok(Json(json!({ "ledgers": visible })))
}

fn ledger_json(ledger: &store::Ledger) -> Value {
    json!({
        "id": ledger.id.as_str(),
        "name": ledger.name,
        "kind": ledger.kind,
        "origin": ledger.origin,
        "tree_size": ledger.tree_size,
        "created_at": millis(ledger.created_ms),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    permission: Permission,
    ledgers: Option<Vec<String>>,
}

/// `POST /v1/keys` (admin): the secret is in this response only.
pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateKey>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
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
    let (key, secret) = state.store.create_api_key(&caller.0.account_id, new).await.map_err(|e| match e {
        store::StoreError::Invalid(detail) => ApiError::Unprocessable(detail),
        other => other.into(),
    })?;
    record(
        &state.store,
        &caller.0.account_id,
        caller.actor(),
        "api_key.created",
        ("api_key", key.id.as_str()),
        key_meta(&key),
    )
    .await?;
    let mut body = key_json(&key);
    body["secret"] = Value::String(secret.expose().to_owned());
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /v1/keys` (admin): never secrets.
pub async fn list_keys(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let keys = state.store.list_api_keys(&caller.0.account_id).await?;
    Ok(Json(json!({ "keys": keys.iter().map(key_json).collect::<Vec<_>>() })))
}

/// `POST /v1/keys/{id}/rotate` (admin): a new secret; the old one stops working.
pub async fn rotate_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let id = ApiKeyId::parse(&id).ok_or(ApiError::NotFound("API key"))?;
    let (key, secret) =
        state.store.rotate_api_key(&caller.0.account_id, &id, Some(caller.0.id.as_str().to_owned())).await?;
    let mut meta = key_meta(&key);
    meta["replaces"] = Value::String(id.as_str().to_owned());
    record(&state.store, &caller.0.account_id, caller.actor(), "api_key.rotated", ("api_key", key.id.as_str()), meta)
        .await?;
    let mut body = key_json(&key);
    body["secret"] = Value::String(secret.expose().to_owned());
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /v1/keys/{id}` (admin): revoke.
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let id = ApiKeyId::parse(&id).ok_or(ApiError::NotFound("API key"))?;
    let key = state.store.revoke_api_key(&caller.0.account_id, &id).await?;
    record(
        &state.store,
        &caller.0.account_id,
        caller.actor(),
        "api_key.revoked",
        ("api_key", key.id.as_str()),
        key_meta(&key),
    )
    .await?;
    Ok(Json(key_json(&key)))
}

fn key_meta(key: &ApiKey) -> Value {
    json!({"name": key.name, "permission": key.permission, "ledgers": scope_json(&key.scope)})
}

fn scope_json(scope: &KeyScope) -> Value {
    match scope {
        KeyScope::AccountWide => Value::Null,
        KeyScope::Ledgers(ids) => ids.iter().map(|l| Value::String(l.as_str().to_owned())).collect(),
    }
}

fn key_json(key: &ApiKey) -> Value {
    json!({
        "id": key.id.as_str(),
        "name": key.name,
        "prefix": key.display_prefix(),
        "permission": key.permission,
        "ledgers": scope_json(&key.scope),
        "created_at": millis(key.created_ms),
        "created_by": key.created_by,
        "last_used_at": key.last_used_ms.map(millis),
        "revoked_at": key.revoked_ms.map(millis),
        "replaces": key.replaces.as_ref().map(ApiKeyId::as_str),
        "status": if key.revoked_ms.is_some() { "revoked" } else { "active" },
    })
}

fn millis(ms: i64) -> Option<String> {
    audit_core::OccurredAt::from_unix_millis(ms).ok().map(|t| t.as_str().to_owned())
}

/// Appends an event to the account's system ledger.
pub async fn record(
    store: &Store,
    account: &AccountId,
    (actor_type, actor_id): (&str, &str),
    action: &str,
    (resource_type, resource_id): (&str, &str),
    metadata: Value,
) -> Result<(), ApiError> {
    let system = store.system_ledger(account).await?;
    let ledger = store.ledger(account, &system).await?;
    let now = millis(store_now()).unwrap_or_default();
    let input: EventInput = serde_json::from_value(json!({
        "actor": {"type": actor_type, "id": actor_id},
        "action": action,
        "resource": {"type": resource_type, "id": resource_id},
        "occurred_at": now,
        "metadata": metadata,
    }))
    .map_err(|e| ApiError::Internal(format!("system event: {e}")))?;
    let event = input
        .into_event(|| {
            EventId::new(uuid::Uuid::now_v7().to_string()).unwrap_or_else(|_| unreachable!("UUIDs are valid ids"))
        })
        .map_err(|e| ApiError::Internal(format!("system event: {e}")))?;
    store.append(&ledger, vec![NewEvent { event, client_id: false }]).await?;
    Ok(())
}

fn store_now() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}
