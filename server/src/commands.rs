//! The admin command line: `auditstore admin bootstrap`, `rotate-kek`,
//! `rotate-ledger-key` and `export`. Each opens the store as `serve` does, calls the same
//! store methods as /v1 and the dashboard (which record the change in the
//! system ledger), and prints one JSON object.

use store::{Actor, Origin};

use crate::config::{self, BootstrapArgs, Config};
use crate::{key_provider, open_store, prepare_data_dir, telemetry, ServeError};

/// A store failure of a CLI command, with its cause: the operator at the
/// terminal may see what a remote client may not.
pub(crate) fn admin(error: store::StoreError) -> ServeError {
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

/// The `--ledger` argument as a ledger id.
pub(crate) fn ledger_arg(ledger: &str) -> Result<audit_core::LedgerId, ServeError> {
    audit_core::LedgerId::new(ledger).map_err(|e| ServeError::Admin(format!("invalid --ledger: {e}")))
}

/// Resolves the configuration, opens the store and reads the ledger named
/// by `--ledger` (in whichever account holds it): the start of every
/// command about one ledger.
pub(crate) async fn open_ledger(
    serve: config::ServeArgs,
    ledger: &str,
) -> Result<(store::Store, store::Ledger), ServeError> {
    let config = Config::resolve(serve)?;
    telemetry::init(config.log_format);
    let store = open_store(&config).await?;
    let id = ledger_arg(ledger)?;
    let account = store.ledger_account(&id).await.map_err(admin)?;
    let ledger = store.ledger(&account, &id).await.map_err(admin)?;
    Ok((store, ledger))
}

/// `auditstore admin rotate-ledger-key --ledger ID`: a new data key for the
/// ledger's new events. Prints one JSON object.
pub(crate) async fn rotate_ledger_key(args: config::RotateLedgerKeyArgs) -> Result<(), ServeError> {
    let config = Config::resolve(args.serve)?;
    telemetry::init(config.log_format);
    let store = open_store(&config).await?;
    let ledger = ledger_arg(&args.ledger)?;
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

/// `auditstore admin export --ledger ID --out FILE`: the ledger's events
/// (or a seq range) as an export file (docs/FORMAT.md §13). The file is
/// written beside its destination, synced, read back for its SHA-256 and
/// only then linked into place ([`publish`]), so a crash never leaves a
/// half-written file under its name. Recorded as `export.completed` in the account's system
/// ledger; prints one JSON object.
pub(crate) async fn export(args: config::ExportArgs) -> Result<(), ServeError> {
    let (store, ledger) = open_ledger(args.serve, &args.ledger).await?;
    if args.out.exists() {
        return Err(ServeError::Admin(format!(
            "{} exists already; exports never overwrite a file",
            args.out.display()
        )));
    }
    let end = match args.to_seq {
        Some(last) => Some(last.checked_add(1).ok_or_else(|| ServeError::Admin("--to-seq is too large".into()))?),
        None => None,
    };
    let spec = store::lifecycle::exports::ExportSpec {
        id: format!("exp_{}", uuid::Uuid::now_v7().simple()),
        start: args.from_seq.unwrap_or(0),
        end,
        format: match args.format {
            config::ExportFormat::Jsonl => audit_core::export::EventsFormat::Jsonl,
            config::ExportFormat::Csv => audit_core::export::EventsFormat::Csv,
            config::ExportFormat::Parquet => audit_core::export::EventsFormat::Parquet,
        },
    };
    let file_io = |e: std::io::Error| ServeError::Admin(format!("cannot write the export: {e}"));
    let partial = args.out.with_extension("partial");
    // Decrypted events: readable by this user only, as the KEK file is.
    let file = {
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .map_err(file_io)?
    };
    let written = store.write_export(&ledger, &spec, std::io::BufWriter::new(file)).await;
    let (manifest, writer) = match written {
        Ok(done) => done,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(admin(error));
        }
    };
    let file = writer.into_inner().map_err(|e| file_io(e.into_error()))?;
    let (sha256, bytes) = match publish(file, &partial, &args.out) {
        Ok(done) => done,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(file_io(error));
        }
    };
    let origin = Origin::new(Actor::Cli("export"));
    let event = store::SystemEvent::ExportCompleted {
        ledger: ledger.id.clone(),
        export: manifest.export_id.clone(),
        format: manifest.events_format.name(),
        start: manifest.range.start,
        end: manifest.range.end,
        events: manifest.counts.events,
        sha256: sha256.clone(),
    };
    store.record_system_event(&ledger.account_id, &origin, event).await.map_err(admin)?;
    let out = serde_json::json!({
        "export_id": manifest.export_id,
        "ledger": ledger.id.as_str(),
        "file": args.out.display().to_string(),
        "format": manifest.events_format.name(),
        "from_seq": manifest.range.start,
        "to_seq": manifest.range.end - 1,
        "tree_size": manifest.tree_size,
        "events": manifest.counts.events,
        "bytes": bytes,
        "sha256": sha256,
    });
    println!("{out}");
    store.close().await;
    Ok(())
}

/// Syncs the written `file`, reads it back for its SHA-256 and length, and
/// links it under `out` (failing if something took that name meanwhile:
/// an export never replaces a file), then removes the partial name and
/// syncs the directory so the new name survives a crash.
fn publish(
    mut file: std::fs::File,
    partial: &std::path::Path,
    out: &std::path::Path,
) -> std::io::Result<(String, u64)> {
    use sha2::Digest as _;
    use std::io::{Read as _, Write as _};

    file.flush()?;
    file.sync_all()?;
    drop(file);
    let mut hasher = sha2::Sha256::new();
    let mut reader = std::fs::File::open(partial)?;
    let (mut buf, mut bytes) = (vec![0u8; 1 << 16], 0u64);
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    std::fs::hard_link(partial, out)?;
    std::fs::remove_file(partial)?;
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    std::fs::File::open(dir)?.sync_all()?;
    Ok((hex::encode(hasher.finalize()), bytes))
}
