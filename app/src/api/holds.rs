//! Server functions of the Holds pages: the legal holds of a ledger (its
//! own and the account-wide ones) or of the whole account, each with what
//! it covers now; placing one with a case, reason and scope; releasing one
//! with a reason. Auditors see them; placing and releasing need an admin.

// Placing a hold takes one argument per form field; the macro copies its
// signature into generated code.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::model::HoldRow;

#[cfg(feature = "ssr")]
use {
    super::ledgers::{own_ledger, parse_time},
    super::support::{origin, store_error, time, who},
    crate::auth,
    crate::model::ReleaseRow,
    store::Role,
};

/// The holds of `ledger` (its own and the account-wide ones), or with an
/// empty `ledger` every hold of the account; active first, newest first.
#[server(endpoint = "list_holds")]
pub async fn list_holds(ledger: String) -> Result<Vec<HoldRow>, ServerFnError> {
    use store::lifecycle::holds::HoldsOf;
    let (dashboard, user) = auth::require(Role::Auditor)?;
    let store = &dashboard.store;
    let of_ledger = match ledger.trim() {
        "" => None,
        id => Some(own_ledger(store, &user, id).await?),
    };
    let of = of_ledger.as_ref().map_or(HoldsOf::Account, |l| HoldsOf::Ledger(&l.id));
    let holds = store.legal_holds(&user.account_id, of, false).await.map_err(store_error)?;
    let users = store.list_users(&user.account_id).await.map_err(store_error)?;
    let ledgers = store.list_ledgers(&user.account_id).await.map_err(store_error)?;
    let mut rows = Vec::with_capacity(holds.len());
    for hold in holds {
        let coverage = store.hold_coverage(&hold).await.map_err(store_error)?;
        let ledger = hold.ledger.as_ref().map(|id| {
            let name = ledgers.iter().find(|l| &l.id == id).map_or_else(String::new, |l| l.name.clone());
            (id.as_str().to_owned(), name)
        });
        rows.push(HoldRow {
            ledger,
            scope: hold
                .scope
                .to_map()
                .into_iter()
                .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect(),
            placed_by: who(&users, &hold.placed_by),
            placed_at: time(hold.placed_ms),
            released: hold.released.as_ref().map(|r| ReleaseRow {
                by: who(&users, &r.by),
                at: time(r.ms),
                reason: r.reason.clone(),
            }),
            covers: coverage.events,
            uncounted: coverage.uncounted,
            id: hold.id,
            case: hold.case,
            reason: hold.reason,
        });
    }
    Ok(rows)
}

/// Places a legal hold (admins) on `ledger`, or with an empty `ledger` on
/// every ledger of the account. Empty scope fields are open; times are
/// `occurred_at` in UTC, `from` included, `to` excluded.
#[server(endpoint = "place_hold")]
pub async fn place_hold(
    csrf: String,
    ledger: String,
    case: String,
    reason: String,
    from: String,
    to: String,
    actor: String,
    resource: String,
) -> Result<String, ServerFnError> {
    use store::lifecycle::holds::HoldScope;
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    let store = &dashboard.store;
    let on = match ledger.trim() {
        "" => None,
        id => Some(own_ledger(store, &user, id).await?),
    };
    let some = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let from = parse_time("From", &from)?.map(time);
    let to = parse_time("To", &to)?.map(time);
    let scope = HoldScope::new(from.as_deref(), to.as_deref(), some(actor), some(resource)).map_err(store_error)?;
    let hold = store
        .place_hold(&user.account_id, on.as_ref(), case.trim(), reason.trim(), scope, &origin(&user))
        .await
        .map_err(store_error)?;
    Ok(hold.id)
}

/// Releases a legal hold (admins), once, with a reason; what it kept can
/// be archived by the next retention run.
#[server(endpoint = "release_hold")]
pub async fn release_hold(csrf: String, hold: String, reason: String) -> Result<String, ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    let released = dashboard
        .store
        .release_hold(&user.account_id, hold.trim(), reason.trim(), &origin(&user))
        .await
        .map_err(store_error)?;
    Ok(format!("Hold {} ({}) is released.", released.id, released.case))
}
