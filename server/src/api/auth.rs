//! Bearer-key authentication and the permission and scope rules.

use audit_core::LedgerId;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use store::{Actor, ApiKey, Ledger, LedgerKind, Origin, Permission};

use super::error::ApiError;
use crate::state::AppState;

/// The authenticated API key of a request, and the client address it came
/// from (when known).
#[derive(Debug, Clone)]
pub struct Caller(pub ApiKey, pub Option<IpAddr>);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        if let Some(ip) = ip {
            state.limits.check_address(ip)?;
        }
        match authenticate(parts, state).await? {
            Some(key) => {
                state.limits.check_key(key.id.as_str())?;
                Ok(Caller(key, ip))
            }
            None => {
                if let Some(ip) = ip {
                    state.limits.auth_failed(ip);
                }
                Err(ApiError::Unauthorized)
            }
        }
    }
}

/// The active key the request's bearer secret belongs to, if any.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<ApiKey>, ApiError> {
    let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else { return Ok(None) };
    let Some(secret) = header.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else { return Ok(None) };
    Ok(state.store.authenticate(secret.trim()).await?)
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
        // Only permitted requests count, and reads and writes have separate
        // budgets, so readers can never starve ingestion.
        state.limits.check_ledger(ledger.id.as_str(), permission)?;
        Ok(ledger)
    }
}
