//! Bearer-key authentication and the permission and scope rules.

use audit_core::LedgerId;
use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use store::{Actor, ApiKey, Ledger, LedgerKind, Origin, Permission};

use super::error::ApiError;
use crate::client_address::ClientAddress;
use crate::state::AppState;

/// The authenticated API key of a request, and the client address it came
/// from (when known).
#[derive(Debug, Clone)]
pub struct Caller(pub ApiKey, pub Option<IpAddr>);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// A key that verifies is served whatever its address did: only
    /// presented credentials that fail are counted against the address,
    /// and only they are refused (429) once it is over its budget. A
    /// request without credentials is a plain 401, counted nowhere.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ip = parts.extensions.get::<ClientAddress>().map(|address| address.0);
        let Some(secret) = bearer(parts) else { return Err(ApiError::Unauthorized) };
        match state.store.authenticate(secret).await? {
            Some(key) => {
                state.limits.check_key(key.id.as_str())?;
                Ok(Caller(key, ip))
            }
            None => {
                if let Some(ip) = ip {
                    state.limits.auth_failed(ip)?;
                }
                Err(ApiError::Unauthorized)
            }
        }
    }
}

/// A caller with an admin key, checked from the request head: a handler
/// with a body takes this, so a key that may not administer is answered
/// before a byte of the body is read.
#[derive(Debug, Clone)]
pub struct AdminCaller(pub Caller);

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require_admin()?;
        Ok(Self(caller))
    }
}

/// The bearer secret of the request's `Authorization` header, if it has one.
fn bearer(parts: &Parts) -> Option<&str> {
    let header = parts.headers.get(axum::http::header::AUTHORIZATION)?;
    header.to_str().ok()?.strip_prefix("Bearer ").map(str::trim).filter(|secret| !secret.is_empty())
}

impl Caller {
    /// Who makes a change through this request, as its system event
    /// records it: the key (never its secret), from the client address.
    pub fn origin(&self) -> Origin {
        Origin::new(Actor::ApiKey(self.0.id.clone())).from_address(self.1)
    }

    /// Requires the admin permission (account management).
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.permission == Permission::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden("this operation needs an admin key".into()))
        }
    }

    /// The ledger a key may use for `permission`. A ledger outside the key's
    /// account or scope is "not found", never "forbidden", so a key cannot
    /// learn which ledgers exist elsewhere.
    pub async fn ledger(&self, state: &AppState, id: &str, permission: Permission) -> Result<Ledger, ApiError> {
        let id = LedgerId::new(id).map_err(|_| ApiError::NotFound("ledger"))?;
        if !self.0.scope.allows(&id) {
            return Err(ApiError::NotFound("ledger"));
        }
        let ledger = state.store.ledger(&self.0.account_id, &id).await?;
        if self.0.permission != permission {
            let what = match permission {
                Permission::Read => "reading events needs a read key",
                Permission::Write => "appending events needs a write key",
                Permission::Admin => "this operation needs an admin key",
            };
            return Err(ApiError::Forbidden(what.into()));
        }
        if permission == Permission::Write && ledger.kind == LedgerKind::System {
            return Err(ApiError::Forbidden("the system ledger is written only by AuditStore".into()));
        }
        if let (Permission::Write, Some(at)) = (permission, ledger.delete_at_ms) {
            let at = audit_core::OccurredAt::from_unix_millis(at).map(String::from).unwrap_or_default();
            return Err(ApiError::Conflict(format!(
                "the ledger is scheduled for deletion at {at}: appends are refused (POST /v1/ledgers/{}/restore cancels it)",
                ledger.id
            )));
        }
        // Only permitted requests count, and reads and writes have separate
        // budgets, so readers can never starve ingestion.
        state.limits.check_ledger(ledger.id.as_str(), permission)?;
        Ok(ledger)
    }
}
