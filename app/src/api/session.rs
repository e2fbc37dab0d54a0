//! Server functions of sign-in and sessions: who is signed in, signing in
//! and out, first-run setup, invites and TOTP enrolment.

use leptos::prelude::*;

use crate::model::{Enrolment, SessionInfo};

#[cfg(feature = "ssr")]
use {
    super::support::{self, fail, store_error},
    crate::auth,
    http::StatusCode,
    store::Role,
};

/// Who is signed in, and the CSRF token of this session.
#[server(endpoint = "session_info")]
pub async fn get_session() -> Result<SessionInfo, ServerFnError> {
    let (dashboard, auth) = auth::request()?;
    let viewer = match &auth.user {
        Some(user) => Some(support::viewer(&dashboard.store, user).await?),
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
    if let Some(Err(wait_secs)) = ip.map(|ip| dashboard.throttle.attempt(ip)) {
        return Err(fail(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many sign-ins from this address; wait {wait_secs} seconds."),
        ));
    }
    let store = &dashboard.store;
    // The store records the outcome (success, resumed enrolment, or the
    // failure with the counter it raised) in the account's system ledger.
    match store.sign_in(&email, &password, &code, dashboard.settings.lockout, ip).await.map_err(store_error)? {
        Ok((user, _)) => {
            auth::sign_in(&user).await?;
            Ok(auth::navigate("/ledgers"))
        }
        Err(store::SignInRefused { user: Some(user), reason: store::SignInFailure::NotEnrolled }) => {
            // The password was right but enrolment was never finished (the
            // browser was closed after setup or an invite): finish it now.
            auth::start_enrolling(&user).await?;
            Ok(auth::navigate("/enrol"))
        }
        Err(refused) => {
            if refused.user.is_none() {
                tracing::info!(reason = refused.reason.as_str(), "dashboard sign-in refused");
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
    dashboard.store.sign_out_everywhere(&user.id, &support::origin(&user)).await.map_err(store_error)?;
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
    let user =
        store.complete_setup(&token, &account, &email, &password, auth::client_ip()).await.map_err(store_error)?;
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
    let user = store.accept_invite(&token, &password, auth::client_ip()).await.map_err(store_error)?;
    auth::start_enrolling(&user).await?;
    Ok(auth::navigate("/enrol"))
}

/// Starts TOTP enrolment for the user created in this session: a new
/// secret, shown once as a QR code and as text.
#[server(endpoint = "start_enrolment")]
pub async fn start_enrolment(csrf: String) -> Result<Enrolment, ServerFnError> {
    let (dashboard, id) = enrolment_in_progress(&csrf)?;
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
    let (dashboard, id) = enrolment_in_progress(&csrf)?;
    let store = &dashboard.store;
    // The enrolment and this sign-in are recorded with the confirmation.
    let codes = store.confirm_totp_enrolment(&id, &code, auth::client_ip()).await.map_err(store_error)?;
    let user = store.user(&id).await.map_err(store_error)?;
    auth::sign_in(&user).await?;
    Ok(codes)
}

/// The user whose enrolment this session started, for the enrolment steps:
/// they show a secret once, so they need JavaScript, and they change state,
/// so they need the session's CSRF token.
#[cfg(feature = "ssr")]
fn enrolment_in_progress(csrf: &str) -> Result<(crate::auth::Dashboard, store::UserId), ServerFnError> {
    auth::needs_script()?;
    let (dashboard, request) = auth::request()?;
    auth::check_csrf(&request, csrf)?;
    let id = request
        .enrolling
        .ok_or_else(|| fail(StatusCode::FORBIDDEN, "There is no enrolment in progress in this session."))?;
    Ok((dashboard, id))
}
