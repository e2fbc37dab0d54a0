//! Server functions of API keys: the list, creation, rotation and
//! revocation.

use leptos::prelude::*;

use crate::model::{KeyRow, NewKeySecret};

#[cfg(feature = "ssr")]
use {
    super::ledgers::own_ledger,
    super::support::{fail, origin, store_error, time},
    crate::auth,
    http::StatusCode,
    store::Role,
};

/// The account's API keys.
#[server(endpoint = "list_keys")]
pub async fn list_keys() -> Result<Vec<KeyRow>, ServerFnError> {
    let (dashboard, user) = auth::require(Role::Auditor)?;
    let store = &dashboard.store;
    let ledgers = store.list_ledgers(&user.account_id).await.map_err(store_error)?;
    let name_of = |id: &audit_core::LedgerId| {
        ledgers.iter().find(|l| l.id == *id).map_or_else(|| id.as_str().to_owned(), |l| l.name.clone())
    };
    let keys = store.list_api_keys(&user.account_id).await.map_err(store_error)?;
    Ok(keys
        .into_iter()
        .map(|key| KeyRow {
            id: key.id.as_str().to_owned(),
            prefix: key.display_prefix(),
            name: key.name.clone(),
            permission: key.permission.as_str().to_owned(),
            scope: match &key.scope {
                store::KeyScope::AccountWide => "All ledgers".to_owned(),
                store::KeyScope::Ledgers(ids) => ids.iter().map(name_of).collect::<Vec<_>>().join(", "),
            },
            created_by: key.created_by.clone(),
            created_at: time(key.created_ms),
            last_used_at: key.last_used_ms.map(time),
            revoked: key.revoked_ms.is_some(),
        })
        .collect())
}

/// Creates a read-only or write-only key for one ledger (`ledger`) or the
/// whole account (`ledger` empty). The secret is returned once.
#[server(endpoint = "create_key")]
pub async fn create_key(
    csrf: String,
    name: String,
    permission: String,
    ledger: String,
) -> Result<NewKeySecret, ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    auth::needs_script()?;
    let store = &dashboard.store;
    let permission = match permission.as_str() {
        "read" => store::Permission::Read,
        "write" => store::Permission::Write,
        _ => return Err(fail(StatusCode::BAD_REQUEST, "permission must be read or write")),
    };
    let scope = if ledger.trim().is_empty() {
        store::KeyScope::AccountWide
    } else {
        store::KeyScope::Ledgers(vec![own_ledger(store, &user, ledger.trim()).await?.id])
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(fail(StatusCode::BAD_REQUEST, "the key needs a name"));
    }
    let new = store::NewApiKey { name: name.to_owned(), permission, scope, created_by: Some(user.email.clone()) };
    let (key, secret) = store.create_api_key(&user.account_id, new, &origin(&user)).await.map_err(store_error)?;
    Ok(NewKeySecret { id: key.id.as_str().to_owned(), name: key.name, secret: secret.expose().to_owned() })
}

/// Replaces a key by a new one (same name, permission and scope) and
/// revokes the old one. The new secret is returned once.
#[server(endpoint = "rotate_key")]
pub async fn rotate_key(csrf: String, id: String) -> Result<NewKeySecret, ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    auth::needs_script()?;
    let store = &dashboard.store;
    let id = store::ApiKeyId::parse(&id).ok_or_else(|| fail(StatusCode::NOT_FOUND, "key not found"))?;
    // The dashboard makes no admin keys, so it hands out no new admin
    // secret either: the rule for creating holds for rotating.
    if store.api_key(&user.account_id, &id).await.map_err(store_error)?.permission == store::Permission::Admin {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "Admin keys are not created or rotated in the dashboard; rotate one with an admin key through the API.",
        ));
    }
    let (key, secret) = store
        .rotate_api_key(&user.account_id, &id, Some(user.email.clone()), &origin(&user))
        .await
        .map_err(store_error)?;
    Ok(NewKeySecret { id: key.id.as_str().to_owned(), name: key.name, secret: secret.expose().to_owned() })
}

/// Revokes a key at once.
#[server(endpoint = "revoke_key")]
pub async fn revoke_key(csrf: String, id: String) -> Result<(), ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    let store = &dashboard.store;
    let id = store::ApiKeyId::parse(&id).ok_or_else(|| fail(StatusCode::NOT_FOUND, "key not found"))?;
    store.revoke_api_key(&user.account_id, &id, &origin(&user)).await.map_err(store_error)?;
    Ok(())
}
