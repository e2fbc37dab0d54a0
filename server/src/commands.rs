//! The admin command line: `auditstore admin bootstrap`, `rotate-kek` and
//! `rotate-ledger-key`. Each opens the store as `serve` does, calls the same
//! store methods as /v1 and the dashboard (which record the change in the
//! system ledger), and prints one JSON object.

use store::{Actor, Origin};

use crate::config::{self, BootstrapArgs, Config};
use crate::{key_provider, open_store, prepare_data_dir, telemetry, ServeError};

/// A store failure of a CLI command, with its cause: the operator at the
/// terminal may see what a remote client may not.
fn admin(error: store::StoreError) -> ServeError {
    ServeError::Admin(error.to_string())
}

/// `auditstore admin rotate-kek`: every wrapped key is re-wrapped under a
/// new KEK (local: a new key appended to the key file, the old ones
/// destroyed afterwards; aws-kms: the configured --kms-key-id). Event rows
/// are not touched. Prints one JSON object.
pub(crate) async fn rotate_kek(args: config::ServeArgs) -> Result<(), ServeError> {
    let config = Config::resolve(args)?;
    telemetry::init(config.log_format);
    prepare_data_dir(&config.data_dir)?;
    key_provider::add_local_kek(&config.keys)?;
    let store = open_store(&config).await?;
    let provider = key_provider::provider(&config.keys).await?;
    let kek = provider.current_kek_id();
    let mut total = store::RewrapReport::default();
    // Until a pass finds nothing left under an old KEK: a server that read
    // the key file just before the new KEK was added may still wrap one key
    // with the old KEK meanwhile.
    for _ in 0..5 {
        let report = store.rewrap_keys().await.map_err(admin)?;
        let moved = report.ledger_keys.values().sum::<u64>() + report.instance_secrets;
        for (account, n) in report.ledger_keys {
            *total.ledger_keys.entry(account).or_default() += n;
        }
        total.instance_secrets += report.instance_secrets;
        if moved == 0 {
            break;
        }
    }
    // Old KEKs are destroyed only when nothing is wrapped by them any more
    // (checked under a lock that keeps new keys out): destroying one too
    // early would make those keys unreadable for good.
    // The rotation is recorded in every account's system ledger with that
    // check, in one transaction.
    let origin = Origin::new(Actor::Cli("rotate-kek"));
    let retired = store
        .retire_old_keks(
            || key_provider::retire_old_local_keks(&config.keys).map_err(|e| e.to_string()),
            &total,
            &origin,
        )
        .await
        .map_err(admin)?;
    let out = serde_json::json!({
        "provider": provider.name(),
        "kek_id": kek,
        "ledger_keys_rewrapped": total.ledger_keys.values().sum::<u64>(),
        "instance_secrets_rewrapped": total.instance_secrets,
        "old_local_keks_destroyed": retired,
    });
    println!("{out}");
    store.close().await;
    Ok(())
}

/// `auditstore admin rotate-ledger-key --ledger ID`: a new data key for the
/// ledger's new events. Prints one JSON object.
pub(crate) async fn rotate_ledger_key(args: config::RotateLedgerKeyArgs) -> Result<(), ServeError> {
    let config = Config::resolve(args.serve)?;
    telemetry::init(config.log_format);
    let store = open_store(&config).await?;
    let ledger = audit_core::LedgerId::new(args.ledger.clone())
        .map_err(|e| ServeError::Admin(format!("invalid --ledger: {e}")))?;
    let origin = Origin::new(Actor::Cli("rotate-ledger-key"));
    let version = store.rotate_ledger_key(&ledger, &origin).await.map_err(admin)?;
    println!("{}", serde_json::json!({"ledger": ledger.as_str(), "key_version": version}));
    store.close().await;
    Ok(())
}

/// `auditstore admin bootstrap`: an account (idempotent per name) and a new
/// account-wide admin key, printed as one JSON object on stdout.
pub(crate) async fn bootstrap(args: BootstrapArgs) -> Result<(), ServeError> {
    let config = Config::resolve(args.serve)?;
    telemetry::init(config.log_format);
    let store = open_store(&config).await?;
    let (account, created) = store.ensure_account(&args.account).await.map_err(admin)?;
    let new = store::NewApiKey {
        name: "bootstrap admin".into(),
        permission: store::Permission::Admin,
        scope: store::KeyScope::AccountWide,
        created_by: Some("cli:bootstrap".into()),
    };
    let origin = Origin::new(Actor::Cli("bootstrap"));
    let (key, secret) = store.create_api_key(&account.id, new, &origin).await.map_err(admin)?;
    let out = serde_json::json!({
        "account_id": account.id.as_str(),
        "account": account.name,
        "account_created": created,
        "system_ledger": account.system_ledger.as_str(),
        "admin_key_id": key.id.as_str(),
        "admin_key": secret.expose(),
    });
    println!("{out}");
    store.close().await;
    Ok(())
}
