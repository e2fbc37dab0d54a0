//! Server functions of a ledger's Retention page: its policy, archival now,
//! its archives, and its deletion (scheduled after the grace period,
//! cancelled within it). Auditors see everything; changes need an admin.
//! Archive files download from `/ledgers/{ledger}/archives/{id}/download`
//! (server/src/downloads.rs).

use leptos::prelude::*;

use crate::model::LifecycleView;

#[cfg(feature = "ssr")]
use {
    super::ledgers::own_ledger,
    super::support::{fail, origin, store_error, time, who},
    crate::auth,
    crate::model::{ArchiveRow, DeletionRow, PolicyView},
    http::StatusCode,
    store::Role,
};

/// The archives a page lists.
#[cfg(feature = "ssr")]
const ARCHIVES_LISTED: u32 = 100;

/// A ledger's retention policy, archives, scheduled deletion and the holds
/// that apply to it.
#[server(endpoint = "ledger_lifecycle")]
pub async fn ledger_lifecycle(ledger: String) -> Result<LifecycleView, ServerFnError> {
    use store::lifecycle::holds::HoldsOf;
    let (dashboard, user) = auth::require(Role::Auditor)?;
    let store = &dashboard.store;
    let ledger = own_ledger(store, &user, &ledger).await?;
    let users = store.list_users(&user.account_id).await.map_err(store_error)?;
    let policy = store.retention_policy(&ledger.id).await.map_err(store_error)?.map(|p| PolicyView {
        days: p.days.get(),
        locked: p.locked,
        set_by: who(&users, &p.set_by),
        set_at: time(p.set_ms),
        locked_at: p.locked_ms.map(time),
    });
    let archives = store
        .list_archivals(&ledger.id, ARCHIVES_LISTED)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|a| ArchiveRow {
            from_seq: a.start,
            to_seq: a.end.saturating_sub(1),
            events: a.events,
            bytes: a.bytes,
            archived_before: time(a.cutoff_ms),
            archived_by: who(&users, &a.by),
            archived_at: time(a.created_ms),
            sha256: a.sha256,
            location: a.location,
            id: a.id,
        })
        .collect();
    let deletion = store.open_deletion(&ledger.id).await.map_err(store_error)?.map(|d| DeletionRow {
        status: d.status.as_str().to_owned(),
        requested_by: who(&users, &d.requested_by),
        requested_at: time(d.requested_ms),
        delete_at: time(d.delete_at_ms),
        id: d.id,
    });
    let holds = store
        .legal_holds(&user.account_id, HoldsOf::Ledger(&ledger.id), true)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|h| (h.id, h.case))
        .collect();
    Ok(LifecycleView {
        kind: if ledger.kind == store::LedgerKind::System { "system".into() } else { "user".into() },
        ledger_id: ledger.id.as_str().to_owned(),
        ledger_name: ledger.name,
        events: ledger.tree_size,
        policy,
        archives,
        deletion,
        holds,
        grace_hours: dashboard.settings.deletion_grace.as_secs() / 3600,
    })
}

/// Sets the ledger's retention policy (admins): `days` from each event's
/// `occurred_at`; `lock` = `locked` makes it lengthen-only, for good.
#[server(endpoint = "set_retention")]
pub async fn set_retention(csrf: String, ledger: String, days: String, lock: String) -> Result<String, ServerFnError> {
    use store::lifecycle::retention::RetentionDays;
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    let store = &dashboard.store;
    let ledger = own_ledger(store, &user, &ledger).await?;
    let days = days
        .trim()
        .parse::<u64>()
        .map_err(|_| fail(StatusCode::BAD_REQUEST, "Days must be a whole number of days, from 1 to 36500."))?;
    let days = RetentionDays::new(days).map_err(store_error)?;
    let locked = match lock.as_str() {
        "locked" => true,
        "unlocked" => false,
        _ => return Err(fail(StatusCode::BAD_REQUEST, "Choose whether the policy is locked.")),
    };
    let policy = store.set_retention(&ledger, days, locked, &origin(&user)).await.map_err(store_error)?;
    Ok(format!(
        "Events are kept {} days from when they happened{}.",
        policy.days.get(),
        if policy.locked { "; the policy is locked: it can only be lengthened" } else { "" }
    ))
}

/// Removes the ledger's (unlocked) retention policy (admins): events are
/// kept forever again.
#[server(endpoint = "remove_retention")]
pub async fn remove_retention(csrf: String, ledger: String) -> Result<String, ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    let store = &dashboard.store;
    let ledger = own_ledger(store, &user, &ledger).await?;
    store.remove_retention(&ledger, &origin(&user)).await.map_err(store_error)?;
    Ok("The policy is removed: events are kept forever.".to_owned())
}

/// Archives now what is past the policy and not held (admins), in at most
/// 20 archive files, as `POST /v1/ledgers/{ledger}/retention/run` does.
#[server(endpoint = "run_retention_now")]
pub async fn run_retention_now(csrf: String, ledger: String) -> Result<String, ServerFnError> {
    const MAX_BATCHES: usize = 20;
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    let store = &dashboard.store;
    let ledger = own_ledger(store, &user, &ledger).await?;
    let run = store
        .run_retention(&ledger.id, &dashboard.archive, &origin(&user), Some(MAX_BATCHES))
        .await
        .map_err(store_error)?;
    if run.policy.is_none() {
        return Ok("The ledger has no retention policy: nothing expires.".to_owned());
    }
    let mut said = match run.archivals.len() {
        0 => "Nothing was past the policy to archive.".to_owned(),
        1 => format!("Archived {} events into 1 archive file.", run.archived),
        n => format!("Archived {} events into {n} archive files.", run.archived),
    };
    if run.held > 0 {
        let holds = run.held_by.iter().cloned().collect::<Vec<_>>().join(", ");
        said.push_str(&format!(" {} expired events are kept by legal holds ({holds}).", run.held));
    }
    if run.more {
        said.push_str(" More are past the policy: run it again, or let the hourly job go on.");
    }
    Ok(said)
}

/// Schedules the ledger's deletion after the grace period (admins),
/// confirmed by typing its name; refused, naming them, while legal holds
/// apply.
#[server(endpoint = "schedule_ledger_deletion")]
pub async fn schedule_ledger_deletion(csrf: String, ledger: String, confirm: String) -> Result<String, ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    let store = &dashboard.store;
    let ledger = own_ledger(store, &user, &ledger).await?;
    if confirm.trim() != ledger.name && confirm.trim() != ledger.id.as_str() {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            format!("Type the ledger's name, {}, to confirm its deletion.", ledger.name),
        ));
    }
    let grace_ms = i64::try_from(dashboard.settings.deletion_grace.as_millis()).unwrap_or(i64::MAX);
    let deletion = store.schedule_ledger_deletion(&ledger, grace_ms, &origin(&user)).await.map_err(store_error)?;
    Ok(format!(
        "{} will be deleted at {}, unless the deletion is cancelled before.",
        ledger.name,
        time(deletion.delete_at_ms)
    ))
}

/// Cancels the ledger's scheduled deletion within its grace period (admins).
#[server(endpoint = "cancel_ledger_deletion")]
pub async fn cancel_ledger_deletion(csrf: String, ledger: String) -> Result<String, ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Admin, &csrf)?;
    let store = &dashboard.store;
    let ledger = own_ledger(store, &user, &ledger).await?;
    store.cancel_ledger_deletion(&ledger, &origin(&user)).await.map_err(store_error)?;
    Ok(format!("The deletion of {} is cancelled; it accepts events again.", ledger.name))
}
