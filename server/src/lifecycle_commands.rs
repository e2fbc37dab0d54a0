//! The records lifecycle at the command line: `auditstore admin retention`,
//! `run-retention` and `delete-account`. Each calls the same store methods
//! as /v1 (which record the change in the system ledger) and prints one
//! JSON object.

use audit_core::OccurredAt;
use serde_json::{json, Value};
use store::lifecycle::retention::RetentionDays;
use store::{Actor, Origin};

use crate::commands::{admin, ledger_arg, open_ledger};
use crate::config::{self, Config};
use crate::{open_store, telemetry, ServeError};

fn time(ms: i64) -> Value {
    OccurredAt::from_unix_millis(ms).map(|t| Value::String(t.as_str().to_owned())).unwrap_or(Value::Null)
}

/// `auditstore admin retention --ledger ID [--days N [--lock] | --remove]`.
pub(crate) async fn retention(args: config::RetentionArgs) -> Result<(), ServeError> {
    let (store, ledger) = open_ledger(args.serve, &args.ledger).await?;
    let origin = Origin::new(Actor::Cli("retention"));
    if args.remove {
        store.remove_retention(&ledger, &origin).await.map_err(admin)?;
    } else if let Some(days) = args.days {
        let days = RetentionDays::new(days).map_err(|e| ServeError::Admin(format!("--days: {e}")))?;
        store.set_retention(&ledger, days, args.lock, &origin).await.map_err(admin)?;
    }
    let out = match store.retention_policy(&ledger.id).await.map_err(admin)? {
        None => json!({"ledger": ledger.id.as_str(), "policy": null}),
        Some(p) => json!({
            "ledger": ledger.id.as_str(), "days": p.days.get(), "locked": p.locked,
            "set_by": {"type": p.set_by.0, "id": p.set_by.1}, "set_at": time(p.set_ms),
            "locked_at": p.locked_ms.map(time),
        }),
    };
    println!("{out}");
    store.close().await;
    Ok(())
}

/// `auditstore admin run-retention --ledger ID`: every batch, to the end.
pub(crate) async fn run_retention(args: config::RotateLedgerKeyArgs) -> Result<(), ServeError> {
    let config = Config::resolve(args.serve)?;
    telemetry::init(config.log_format);
    let store = open_store(&config).await?;
    let id = ledger_arg(&args.ledger)?;
    let origin = Origin::new(Actor::Cli("run-retention"));
    let archive = crate::archive_store::open(&config.archive).await?;
    let run = store.run_retention(&id, &archive, &origin, None).await.map_err(admin)?;
    let archivals: Vec<Value> = run
        .archivals
        .iter()
        .map(|a| {
            json!({"id": a.id, "from_seq": a.start, "to_seq": a.end - 1, "events": a.events,
                   "location": a.location, "sha256": a.sha256})
        })
        .collect();
    let out = json!({
        "ledger": id.as_str(), "days": run.policy.map(|p| p.days.get()), "archived_before": run.cutoff_ms.map(time),
        "archived": run.archived, "held": run.held, "held_by": run.held_by, "archivals": archivals,
    });
    println!("{out}");
    store.close().await;
    Ok(())
}

/// `auditstore admin delete-account --account NAME`.
pub(crate) async fn delete_account(args: config::DeleteAccountArgs) -> Result<(), ServeError> {
    let config = Config::resolve(args.serve)?;
    telemetry::init(config.log_format);
    let store = open_store(&config).await?;
    let account = store
        .account_by_name(&args.account)
        .await
        .map_err(admin)?
        .ok_or_else(|| ServeError::Admin(format!("no account is named {:?}", args.account)))?;
    let origin = Origin::new(Actor::Cli("delete-account"));
    let archive = crate::archive_store::open(&config.archive).await?;
    let deletions = store.delete_account(&account.id, &archive, &origin).await.map_err(admin)?;
    let ledgers: Vec<Value> = deletions
        .iter()
        .map(|d| {
            json!({"ledger": d.ledger.as_str(), "name": d.name, "deletion": d.id,
                   "final_tree_size": d.final_tree_size, "final_root": d.final_root,
                   "final_checkpoint": d.final_checkpoint})
        })
        .collect();
    println!("{}", json!({"account": account.name, "account_id": account.id.as_str(), "deleted": ledgers}));
    store.close().await;
    Ok(())
}
