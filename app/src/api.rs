//! The dashboard's server functions. Every one checks the caller's role
//! on the server, and every state change checks the CSRF token first
//! (`auth::require_mutation`); hiding a button in the UI is never the
//! protection. Endpoints are named, so they are a stable contract.

// The explorer's server function takes one argument per URL query field;
// the macro copies its signature into generated code.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::model::{
    CheckpointKey, Enrolment, EventList, EventRow, KeyRow, LedgerRow, NewKeySecret, ProofBundle, SessionInfo, UserRow,
};

#[cfg(feature = "ssr")]
use {
    crate::auth::{self, fail, store_error},
    http::StatusCode,
    store::Role,
};

/// Who is signed in, and the CSRF token of this session.
#[server(endpoint = "session_info")]
pub async fn get_session() -> Result<SessionInfo, ServerFnError> {
    let (dashboard, auth) = auth::request()?;
    let viewer = match &auth.user {
        Some(user) => Some(auth::viewer(&dashboard.store, user).await?),
        None => None,
    };
    let enrolling = match &auth.enrolling {
        Some(id) => dashboard.store.user(id).await.ok().filter(|u| !u.totp_active).map(|u| u.email),
        None => None,
    };
    Ok(SessionInfo { viewer, csrf: auth.csrf, enrolling })
}

/// Signs in with email, password and a TOTP or recovery code. Every
/// refusal reads the same, whatever its reason; the reason goes to the
/// account's system ledger.
#[server(endpoint = "login")]
pub async fn login(csrf: String, email: String, password: String, code: String) -> Result<String, ServerFnError> {
    let (dashboard, request) = auth::request()?;
    auth::check_csrf(&request, &csrf)?;
    let ip = auth::client_ip();
    if ip.is_some_and(|ip| !dashboard.throttle.allowed(ip)) {
        return Err(fail(StatusCode::TOO_MANY_REQUESTS, "Too many failed sign-ins from this address; wait a minute."));
    }
    let store = &dashboard.store;
    match store.sign_in(&email, &password, &code, dashboard.settings.lockout).await.map_err(store_error)? {
        Ok((user, factor)) => {
            auth::sign_in(&user).await?;
            let factor = match factor {
                store::SecondFactor::Totp => "totp",
                store::SecondFactor::RecoveryCode => "recovery_code",
            };
            let metadata = serde_json::json!({"email": user.email, "second_factor": factor});
            auth::record(store, &user.account_id, &user, "user.signed_in", ("user", user.id.as_str()), metadata).await;
            Ok(auth::navigate("/ledgers"))
        }
        Err(store::SignInRefused { user: Some(user), reason: store::SignInFailure::NotEnrolled }) => {
            // The password was right but enrolment was never finished (the
            // browser was closed after setup or an invite): finish it now.
            auth::start_enrolling(&user).await?;
            let metadata = serde_json::json!({"email": user.email});
            auth::record(
                store,
                &user.account_id,
                &user,
                "user.enrolment_resumed",
                ("user", user.id.as_str()),
                metadata,
            )
            .await;
            Ok(auth::navigate("/enrol"))
        }
        Err(refused) => {
            if let Some(ip) = ip {
                dashboard.throttle.failed(ip);
            }
            match refused.user {
                Some(user) => {
                    // Recorded off the response path: waiting for the system
                    // ledger's commit would make known emails answer slower.
                    let metadata = auth::with_client_ip(
                        serde_json::json!({"email": user.email, "reason": refused.reason.as_str()}),
                    );
                    let store = store.clone();
                    tokio::spawn(async move {
                        let actor = ("anonymous", "sign-in-form");
                        let resource = ("user", user.id.as_str());
                        let action = "user.sign_in_failed";
                        if let Err(error) =
                            store.record_system_event(&user.account_id, actor, action, resource, metadata).await
                        {
                            tracing::error!(%error, "a failed sign-in could not be recorded in the system ledger");
                        }
                    });
                }
                None => tracing::info!(reason = refused.reason.as_str(), "dashboard sign-in refused"),
            }
            Err(fail(
                StatusCode::UNAUTHORIZED,
                "Sign-in failed: check the email, the password and the code. After repeated failures sign-in \
                 pauses for a while.",
            ))
        }
    }
}

/// Ends this session.
#[server(endpoint = "logout")]
pub async fn logout(csrf: String) -> Result<String, ServerFnError> {
    let (_, request) = auth::request()?;
    auth::check_csrf(&request, &csrf)?;
    auth::sign_out().await?;
    Ok(auth::navigate("/login"))
}

/// Ends every session of the signed-in user, on every server.
#[server(endpoint = "logout_everywhere")]
pub async fn logout_everywhere(csrf: String) -> Result<String, ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Auditor, &csrf)?;
    dashboard.store.sign_out_everywhere(&user.id).await.map_err(store_error)?;
    auth::record(
        &dashboard.store,
        &user.account_id,
        &user,
        "user.signed_out_everywhere",
        ("user", user.id.as_str()),
        serde_json::json!({}),
    )
    .await;
    auth::sign_out().await?;
    Ok(auth::navigate("/login"))
}

/// Whether a first-run setup link can still be used.
#[server(endpoint = "setup_link_valid")]
pub async fn setup_link_valid(token: String) -> Result<bool, ServerFnError> {
    let (dashboard, _) = auth::request()?;
    dashboard.store.setup_link_valid(&token).await.map_err(store_error)
}

/// Uses the first-run setup link: creates the account and its owner, whose
/// TOTP enrolment comes next.
#[server(endpoint = "setup")]
pub async fn setup(
    csrf: String,
    token: String,
    account: String,
    email: String,
    password: String,
) -> Result<String, ServerFnError> {
    let (dashboard, request) = auth::request()?;
    auth::check_csrf(&request, &csrf)?;
    let store = &dashboard.store;
    let user = store.complete_setup(&token, &account, &email, &password).await.map_err(store_error)?;
    let metadata = serde_json::json!({"email": user.email, "role": "owner", "via": "setup_link"});
    auth::record_as(
        store,
        &user.account_id,
        ("system", "first-run-setup"),
        "user.created",
        ("user", user.id.as_str()),
        metadata,
    )
    .await;
    auth::start_enrolling(&user).await?;
    Ok(auth::navigate("/enrol"))
}

/// What an invite link grants: (email, role), if it is still valid.
#[server(endpoint = "invite_info")]
pub async fn invite_info(token: String) -> Result<Option<(String, String)>, ServerFnError> {
    let (dashboard, _) = auth::request()?;
    let invite = dashboard.store.invite(&token).await.map_err(store_error)?;
    Ok(invite.map(|i| (i.email, i.role.as_str().to_owned())))
}

/// Accepts an invite: creates the user, whose TOTP enrolment comes next.
#[server(endpoint = "accept_invite")]
pub async fn accept_invite(csrf: String, token: String, password: String) -> Result<String, ServerFnError> {
    let (dashboard, request) = auth::request()?;
    auth::check_csrf(&request, &csrf)?;
    let store = &dashboard.store;
    let user = store.accept_invite(&token, &password).await.map_err(store_error)?;
    let metadata = serde_json::json!({"email": user.email, "role": user.role.as_str(), "via": "invite"});
    auth::record(store, &user.account_id, &user, "invite.accepted", ("user", user.id.as_str()), metadata).await;
    auth::start_enrolling(&user).await?;
    Ok(auth::navigate("/enrol"))
}

/// Starts TOTP enrolment for the user created in this session: a new
/// secret, shown once as a QR code and as text.
#[server(endpoint = "start_enrolment")]
pub async fn start_enrolment(csrf: String) -> Result<Enrolment, ServerFnError> {
    auth::needs_script()?;
    let (dashboard, request) = auth::request()?;
    auth::check_csrf(&request, &csrf)?;
    let id = request
        .enrolling
        .ok_or_else(|| fail(StatusCode::FORBIDDEN, "There is no enrolment in progress in this session."))?;
    let user = dashboard.store.user(&id).await.map_err(store_error)?;
    let enrolment = dashboard.store.begin_totp_enrolment(&id).await.map_err(store_error)?;
    Ok(Enrolment {
        email: user.email,
        secret_base32: enrolment.secret_base32,
        otpauth_url: enrolment.otpauth_url,
        qr_png_base64: enrolment.qr_png_base64,
    })
}

/// Confirms TOTP enrolment with a code and signs the user in (they proved
/// the password when the account was made, and the code now; the code's
/// step is spent, so a separate sign-in would have to wait for the next).
/// Returns the recovery codes, shown once.
#[server(endpoint = "confirm_enrolment")]
pub async fn confirm_enrolment(csrf: String, code: String) -> Result<Vec<String>, ServerFnError> {
    auth::needs_script()?;
    let (dashboard, request) = auth::request()?;
    auth::check_csrf(&request, &csrf)?;
    let id = request
        .enrolling
        .ok_or_else(|| fail(StatusCode::FORBIDDEN, "There is no enrolment in progress in this session."))?;
    let store = &dashboard.store;
    let codes = store.confirm_totp_enrolment(&id, &code).await.map_err(store_error)?;
    let user = store.user(&id).await.map_err(store_error)?;
    auth::record(
        store,
        &user.account_id,
        &user,
        "user.mfa_enrolled",
        ("user", user.id.as_str()),
        serde_json::json!({"method": "totp", "recovery_codes": codes.len()}),
    )
    .await;
    auth::sign_in(&user).await?;
    let metadata = serde_json::json!({"email": user.email, "second_factor": "totp_enrolment"});
    auth::record(store, &user.account_id, &user, "user.signed_in", ("user", user.id.as_str()), metadata).await;
    Ok(codes)
}

/// The account's ledgers with their size, last event and integrity.
#[server(endpoint = "list_ledgers")]
pub async fn list_ledgers() -> Result<Vec<LedgerRow>, ServerFnError> {
    let (dashboard, user) = auth::require(Role::Auditor)?;
    let store = &dashboard.store;
    let key = store.verifier_key();
    let mut rows = Vec::new();
    for ledger in store.list_ledgers(&user.account_id).await.map_err(store_error)? {
        let last = store.last_event_ms(&ledger.id).await.map_err(store_error)?;
        let integrity = integrity(store, &ledger, &key).await;
        rows.push(LedgerRow {
            id: ledger.id.as_str().to_owned(),
            name: ledger.name,
            kind: if ledger.kind == store::LedgerKind::System { "system".into() } else { "user".into() },
            events: ledger.tree_size,
            last_event_at: last.map(auth::time),
            created_at: auth::time(ledger.created_ms),
            integrity,
        });
    }
    Ok(rows)
}

/// Opens the ledger's latest checkpoint with the instance key: a valid
/// signature over a tree that covers every event.
#[cfg(feature = "ssr")]
async fn integrity(
    store: &store::Store,
    ledger: &store::Ledger,
    key: &audit_core::VerifierKey,
) -> crate::model::Integrity {
    use crate::model::Integrity;
    if ledger.tree_size == 0 {
        return Integrity::Empty;
    }
    let note = match store.checkpoint(&ledger.id, None).await {
        Ok(note) => note,
        Err(error) => return Integrity::Failed { reason: format!("no checkpoint: {error}") },
    };
    match audit_core::Checkpoint::open_for_origin(&note, std::slice::from_ref(key), &ledger.origin) {
        Ok(checkpoint) if checkpoint.size().0 == ledger.tree_size => Integrity::Verified { size: ledger.tree_size },
        Ok(checkpoint) => Integrity::Behind { size: checkpoint.size().0, tree_size: ledger.tree_size },
        Err(error) => Integrity::Failed { reason: error.to_string() },
    }
}

/// Creates a ledger.
#[server(endpoint = "create_ledger")]
pub async fn create_ledger(csrf: String, name: String) -> Result<String, ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    let store = &dashboard.store;
    let ledger = store.create_ledger(&user.account_id, name.trim()).await.map_err(store_error)?;
    auth::record(
        store,
        &user.account_id,
        &user,
        "ledger.created",
        ("ledger", ledger.id.as_str()),
        serde_json::json!({"name": ledger.name}),
    )
    .await;
    Ok(ledger.id.as_str().to_owned())
}

/// A page of a ledger's events, newest first. Empty filters are ignored;
/// `from` wins over `range` (`1h`, `24h`, `7d`, `30d`: occurred within the
/// last hour, day...); times are RFC 3339 or `YYYY-MM-DDTHH:MM` in UTC.
#[server(endpoint = "list_events")]
pub async fn list_events(
    ledger: String,
    actor: String,
    action: String,
    resource: String,
    from: String,
    to: String,
    range: String,
    cursor: String,
) -> Result<EventList, ServerFnError> {
    let (dashboard, user) = auth::require(Role::Auditor)?;
    let store = &dashboard.store;
    let ledger = own_ledger(store, &user, &ledger).await?;
    let some = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let range_ms = match range.as_str() {
        "1h" => Some(3_600_000),
        "24h" => Some(86_400_000),
        "7d" => Some(7 * 86_400_000),
        "30d" => Some(30 * 86_400_000),
        "" => None,
        _ => return Err(fail(StatusCode::BAD_REQUEST, "range must be 1h, 24h, 7d or 30d")),
    };
    let from_ms = match parse_time("from", &from)? {
        Some(from) => Some(from),
        None => range_ms.map(|ms: i64| store::now_ms() - ms),
    };
    let filter = store::EventFilter {
        actor_id: some(actor),
        action: some(action),
        resource_id: some(resource),
        from_ms,
        to_ms: parse_time("to", &to)?,
        ..store::EventFilter::default()
    };
    let cursor = some(cursor);
    let page = store.list_events(&ledger.id, &filter, cursor.as_deref(), 50).await.map_err(store_error)?;
    let events = page.events.into_iter().map(event_row).collect::<Result<Vec<_>, _>>()?;
    Ok(EventList {
        ledger_id: ledger.id.as_str().to_owned(),
        ledger_name: ledger.name,
        events,
        next_cursor: page.next_cursor,
    })
}

#[cfg(feature = "ssr")]
fn parse_time(field: &str, value: &str) -> Result<Option<i64>, ServerFnError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    // `datetime-local` inputs send minutes without a zone: taken as UTC.
    let full = if value.len() == 16 { format!("{value}:00Z") } else { value.to_owned() };
    audit_core::OccurredAt::parse(&full).map(|t| Some(t.unix_millis())).map_err(|_| {
        fail(StatusCode::BAD_REQUEST, format!("{field} must be a date and time like 2026-11-26T10:00 (UTC)"))
    })
}

#[cfg(feature = "ssr")]
async fn own_ledger(store: &store::Store, user: &store::User, id: &str) -> Result<store::Ledger, ServerFnError> {
    // Another account's ledger is "not found", never "forbidden".
    let id = audit_core::LedgerId::new(id).map_err(|_| fail(StatusCode::NOT_FOUND, "ledger not found"))?;
    store.ledger(&user.account_id, &id).await.map_err(store_error)
}

#[cfg(feature = "ssr")]
fn event_row(stored: store::StoredEvent) -> Result<EventRow, ServerFnError> {
    let row = EventRow::new(
        stored.id.to_string(),
        stored.seq,
        auth::time(stored.received_ms),
        stored.leaf_hash.to_hex(),
        stored.chain_hash.to_hex(),
    );
    let Some(content) = stored.event else { return Ok(row) };
    let event: audit_core::Event = serde_json::from_value(content.clone()).map_err(|e| {
        tracing::error!(seq = stored.seq, error = %e, "stored event content does not parse");
        fail(StatusCode::INTERNAL_SERVER_ERROR, "Stored event content is inconsistent; it has been logged.")
    })?;
    Ok(row.with_content(&event, content.to_string()))
}

/// One event with its hashes.
#[server(endpoint = "get_event")]
pub async fn get_event(ledger: String, event: String) -> Result<EventRow, ServerFnError> {
    let (dashboard, user) = auth::require(Role::Auditor)?;
    let ledger = own_ledger(&dashboard.store, &user, &ledger).await?;
    let stored = dashboard.store.event(&ledger.id, &event).await.map_err(store_error)?;
    event_row(stored)
}

/// The latest signed checkpoint and the inclusion proof of the event at
/// `seq` at its size: raw material for the browser's own verification.
#[server(endpoint = "event_proof")]
pub async fn event_proof(ledger: String, seq: u64) -> Result<ProofBundle, ServerFnError> {
    let (dashboard, user) = auth::require(Role::Auditor)?;
    let store = &dashboard.store;
    let ledger = own_ledger(store, &user, &ledger).await?;
    let checkpoint = store.checkpoint(&ledger.id, None).await.map_err(store_error)?;
    // The size is read from the checkpoint as signed; the browser checks
    // the signature itself.
    let body = audit_core::Checkpoint::open(&checkpoint, &[store.verifier_key()])
        .map_err(|_| fail(StatusCode::INTERNAL_SERVER_ERROR, "The stored checkpoint does not verify."))?;
    let tree_size = body.size().0;
    let proof = store.inclusion_proof(&ledger, seq, tree_size).await.map_err(store_error)?;
    Ok(ProofBundle { seq, checkpoint, tree_size, proof: proof.iter().map(audit_core::Hash::to_hex).collect() })
}

/// This instance's checkpoint verifier key and its fingerprint.
#[server(endpoint = "checkpoint_key")]
pub async fn get_checkpoint_key() -> Result<CheckpointKey, ServerFnError> {
    let (dashboard, _) = auth::require(Role::Auditor)?;
    let key = dashboard.store.verifier_key();
    Ok(CheckpointKey { fingerprint: crate::verify::fingerprint(&key), verifier_key: key.to_string() })
}

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
            created_at: auth::time(key.created_ms),
            last_used_at: key.last_used_ms.map(auth::time),
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
    let ledgers = match &scope {
        store::KeyScope::AccountWide => serde_json::Value::Null,
        store::KeyScope::Ledgers(ids) => ids.iter().map(|id| id.as_str()).collect(),
    };
    let new = store::NewApiKey { name: name.to_owned(), permission, scope, created_by: Some(user.email.clone()) };
    let (key, secret) = store.create_api_key(&user.account_id, new).await.map_err(store_error)?;
    let metadata = serde_json::json!({"name": key.name, "permission": permission.as_str(), "ledgers": ledgers});
    auth::record(store, &user.account_id, &user, "api_key.created", ("api_key", key.id.as_str()), metadata).await;
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
    let (key, secret) =
        store.rotate_api_key(&user.account_id, &id, Some(user.email.clone())).await.map_err(store_error)?;
    let metadata = serde_json::json!({"replaces": id.as_str()});
    auth::record(store, &user.account_id, &user, "api_key.rotated", ("api_key", key.id.as_str()), metadata).await;
    Ok(NewKeySecret { id: key.id.as_str().to_owned(), name: key.name, secret: secret.expose().to_owned() })
}

/// Revokes a key at once.
#[server(endpoint = "revoke_key")]
pub async fn revoke_key(csrf: String, id: String) -> Result<(), ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    let store = &dashboard.store;
    let id = store::ApiKeyId::parse(&id).ok_or_else(|| fail(StatusCode::NOT_FOUND, "key not found"))?;
    let key = store.revoke_api_key(&user.account_id, &id).await.map_err(store_error)?;
    auth::record(
        store,
        &user.account_id,
        &user,
        "api_key.revoked",
        ("api_key", key.id.as_str()),
        serde_json::json!({"name": key.name}),
    )
    .await;
    Ok(())
}

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
            created_at: auth::time(u.created_ms),
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
    let link = store.create_invite(&user.account_id, &email, role, &user.id, ttl).await.map_err(store_error)?;
    let email = store::normalize_email(&email).map_err(store_error)?;
    let metadata = serde_json::json!({"email": email, "role": role.as_str()});
    auth::record(store, &user.account_id, &user, "user.invited", ("user_invite", "pending"), metadata).await;
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
    let before = store.user(&id).await.map_err(store_error)?;
    let changed = store.set_user_role(&user.account_id, &id, role).await.map_err(store_error)?;
    let metadata = serde_json::json!({"email": changed.email, "from": before.role.as_str(), "to": role.as_str()});
    auth::record(store, &user.account_id, &user, "user.role_changed", ("user", id.as_str()), metadata).await;
    Ok(())
}

/// Removes a user from the account.
#[server(endpoint = "remove_user")]
pub async fn remove_user(csrf: String, user_id: String) -> Result<(), ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Owner, &csrf)?;
    let store = &dashboard.store;
    let id = store::UserId::parse(&user_id).ok_or_else(|| fail(StatusCode::NOT_FOUND, "user not found"))?;
    let removed = store.remove_user(&user.account_id, &id).await.map_err(store_error)?;
    let metadata = serde_json::json!({"email": removed.email, "role": removed.role.as_str()});
    auth::record(store, &user.account_id, &user, "user.removed", ("user", id.as_str()), metadata).await;
    Ok(())
}
