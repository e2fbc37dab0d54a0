//! Server functions of the account's users: the list, invites, role
//! changes and removal (all for owners only).

use leptos::prelude::*;

use crate::model::UserRow;

#[cfg(feature = "ssr")]
use {
    super::support::{fail, origin, store_error, time},
    crate::auth,
    http::StatusCode,
    store::Role,
};

/// The account's users.
#[server(endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserRow>, ServerFnError> {
    let (dashboard, user) = auth::require(Role::Owner)?;
    let users = dashboard.store.list_users(&user.account_id).await.map_err(store_error)?;
    Ok(users
        .into_iter()
        .map(|u| UserRow {
            id: u.id.to_string(),
            email: u.email,
            role: u.role.as_str().to_owned(),
            enrolled: u.totp_active,
            created_at: time(u.created_ms),
        })
        .collect())
}

/// Invites a user; returns the single-use invite link to hand over.
#[server(endpoint = "invite_user")]
pub async fn invite_user(csrf: String, email: String, role: String) -> Result<String, ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Owner, &csrf)?;
    auth::needs_script()?;
    let store = &dashboard.store;
    let role =
        Role::parse(&role).ok_or_else(|| fail(StatusCode::BAD_REQUEST, "role must be owner, admin or auditor"))?;
    let ttl = i64::try_from(dashboard.settings.invite_ttl.as_millis()).unwrap_or(i64::MAX);
    let link = store
        .create_invite(&user.account_id, &email, role, &user.id, ttl, &origin(&user))
        .await
        .map_err(store_error)?;
    Ok(format!("{}/invite?token={}", dashboard.settings.public_url, link.expose()))
}

/// Changes a user's role; their sessions end so it applies at once.
#[server(endpoint = "change_role")]
pub async fn change_role(csrf: String, user_id: String, role: String) -> Result<(), ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Owner, &csrf)?;
    let store = &dashboard.store;
    let role =
        Role::parse(&role).ok_or_else(|| fail(StatusCode::BAD_REQUEST, "role must be owner, admin or auditor"))?;
    let id = store::UserId::parse(&user_id).ok_or_else(|| fail(StatusCode::NOT_FOUND, "user not found"))?;
    store.set_user_role(&user.account_id, &id, role, &origin(&user)).await.map_err(store_error)?;
    Ok(())
}

/// Removes a user from the account.
#[server(endpoint = "remove_user")]
pub async fn remove_user(csrf: String, user_id: String) -> Result<(), ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Owner, &csrf)?;
    let store = &dashboard.store;
    let id = store::UserId::parse(&user_id).ok_or_else(|| fail(StatusCode::NOT_FOUND, "user not found"))?;
    store.remove_user(&user.account_id, &id, &origin(&user)).await.map_err(store_error)?;
    Ok(())
}
