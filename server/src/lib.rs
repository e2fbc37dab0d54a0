//! The `auditstore` server as a library: [`start`] binds the listeners and
//! returns a handle (tests call it with port 0), [`run`] is what the binary
//! does with the command line.

pub mod api;
pub mod config;
pub mod keys;
pub mod plaintext;
pub mod signing;
pub mod telemetry;
pub mod tls;
pub mod web;

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use axum_server::Handle;
use leptos::config::LeptosOptions;
use store::Store;
use tokio::task::JoinHandle;

use crate::config::{AdminCommand, BootstrapArgs, Cli, Command, Config};

/// How long in-flight requests get to finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(10);

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot create data directory {path}: {source}")]
    DataDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot open the database {url}: {source}")]
    Store { url: String, source: store::StoreError },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("server task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error(transparent)]
    SigningKey(#[from] signing::SigningKeyError),
    #[error(transparent)]
    Keys(#[from] keys::KeyFileError),
    #[error("{0}")]
    Admin(String),
}

/// Runs the command given on the command line until it finishes (for
/// `serve`: until SIGTERM or SIGINT).
pub async fn run(cli: Cli) -> Result<(), ServeError> {
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        Some(Command::Admin(AdminCommand::Bootstrap(args))) => return bootstrap(args).await,
        Some(Command::Admin(AdminCommand::RotateKek(args))) => return rotate_kek(args).await,
        Some(Command::Admin(AdminCommand::RotateLedgerKey(args))) => return rotate_ledger_key(args).await,
        None => cli.serve,
    };
    let config = Config::resolve(args)?;
    telemetry::init(config.log_format);
    let server = start(config).await?;
    shutdown_signal().await;
    tracing::info!("shutdown requested; finishing in-flight requests");
    server.shutdown().await
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// The bound HTTPS address (the real port when the configuration said 0).
    pub https_addr: SocketAddr,
    /// The bound plaintext address, if one was configured.
    pub plaintext_addr: Option<SocketAddr>,
    /// SHA-256 fingerprint of the certificate presented.
    pub fingerprint: String,
    /// The first-run setup link, when the database had no dashboard user.
    pub setup_link: Option<String>,
    handle: Handle<SocketAddr>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
    store: Store,
    /// Rate-limit cleanup and the filter indexer.
    background: Vec<JoinHandle<()>>,
}

impl Server {
    /// The database handle this server uses (for benchmarks and tests that
    /// seed data without going through the API).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stops accepting connections, lets in-flight requests finish (bounded
    /// by a grace period) and closes the database.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        self.handle.graceful_shutdown(Some(GRACE));
        for task in self.tasks {
            task.await??;
        }
        for task in &self.background {
            task.abort();
        }
        self.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Prepares the data directory, opens the database, loads TLS, binds the
/// listeners and starts serving in background tasks.
pub async fn start(config: Config) -> Result<Server, ServeError> {
    let store = open_store(&config).await?;
    let tls = tls::load(&config.tls)?;

    let leptos = LeptosOptions::builder()
        .output_name(app::OUTPUT_NAME)
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.listen)
        .build();
    let limits = api::limits::RateLimits::new(config.rate_limits);
    let cleanup = limits.spawn_cleanup();
    let indexer = store.spawn_indexer();
    let rotation = spawn_key_rotation(store.clone(), config.key_rotation);
    let reads = api::shedding::ReadGate::new(config.shedding);

    let https = bind(config.listen)?;
    let https_addr = https.local_addr()?;
    let public_url = match https_addr.port() {
        443 => format!("https://{}", config.public_host),
        port => format!("https://{}:{port}", config.public_host),
    };
    let dashboard = app::auth::Dashboard {
        store: store.clone(),
        settings: std::sync::Arc::new(app::auth::DashboardSettings {
            idle_timeout: config.dashboard.session_idle,
            lifetime: config.dashboard.session_lifetime,
            lockout: store::Lockout {
                max_failures: config.dashboard.lockout_failures,
                duration_ms: i64::try_from(config.dashboard.lockout.as_millis()).unwrap_or(i64::MAX),
            },
            invite_ttl: Duration::from_secs(7 * 86_400),
            public_url: public_url.clone(),
        }),
        throttle: std::sync::Arc::new(limits.clone()),
    };
    let sessions = spawn_session_cleanup(store.clone());
    let router = web::router(web::AppState {
        leptos,
        store: store.clone(),
        limits,
        reads,
        dashboard,
        dashboard_config: config.dashboard,
    });
    let setup_link = first_run_link(&store, &public_url).await?;
    let handle = Handle::new();
    let mut tasks = Vec::new();
    let server = axum_server::from_tcp_rustls(https, RustlsConfig::from_config(tls.config))?
        .handle(handle.clone())
        // The client address feeds the throttling of failed authentication.
        .serve(router.into_make_service_with_connect_info::<SocketAddr>());
    tasks.push(tokio::spawn(server));

    let plaintext_addr = match config.plaintext_listen {
        Some(addr) => {
            let listener = bind(addr)?;
            let bound = listener.local_addr()?;
            let server = axum_server::from_tcp(listener)?
                .handle(handle.clone())
                .serve(plaintext::router(https_addr.port()).into_make_service());
            tasks.push(tokio::spawn(server));
            Some(bound)
        }
        None => None,
    };

    tracing::info!(
        https = %format!("https://{https_addr}"),
        plaintext = ?plaintext_addr,
        database = %config.database_url,
        data_dir = %config.data_dir.display(),
        "AuditStore is serving (TLS 1.3 only)"
    );
    if tls.generated {
        tracing::warn!(
            fingerprint = %tls.fingerprint,
            "generated a self-signed certificate for localhost; verify this SHA-256 fingerprint when your browser or client asks"
        );
    } else {
        tracing::info!(fingerprint = %tls.fingerprint, "TLS certificate loaded");
    }
    Ok(Server {
        https_addr,
        plaintext_addr,
        fingerprint: tls.fingerprint,
        setup_link,
        handle,
        tasks,
        store,
        background: vec![cleanup, indexer, rotation, sessions],
    })
}

/// On a database without dashboard users, a one-time setup link (valid for
/// an hour, replacing any earlier one) that creates the first owner. It is
/// printed on stderr for the operator, never logged: it is a credential.
async fn first_run_link(store: &Store, public_url: &str) -> Result<Option<String>, ServeError> {
    let link = store
        .create_setup_link(3_600_000)
        .await
        .map_err(|e| ServeError::Admin(format!("creating the first-run setup link: {e}")))?;
    let Some(token) = link else { return Ok(None) };
    let url = format!("{public_url}/setup?token={}", token.expose());
    eprintln!(
        "\n  No dashboard user exists yet. Open this one-time link within an hour to create the owner:\n\n    {url}\n"
    );
    tracing::warn!("no dashboard user exists yet; a one-time setup link was printed on stderr");
    Ok(Some(url))
}

/// Deletes expired dashboard sessions every five minutes.
fn spawn_session_cleanup(store: Store) -> JoinHandle<()> {
    use tower_sessions::ExpiredDeletion as _;
    tokio::spawn(async move {
        let sessions = store.sessions();
        let mut tick = tokio::time::interval(Duration::from_secs(300));
        loop {
            tick.tick().await;
            if let Err(error) = sessions.delete_expired().await {
                tracing::error!(%error, "expired sessions could not be deleted");
            }
        }
    })
}

/// Prepares the data directory, sets up the key provider and opens the
/// database (shared by `serve` and the admin commands, so both sign and
/// seal alike).
async fn open_store(config: &Config) -> Result<Store, ServeError> {
    prepare_data_dir(&config.data_dir)?;
    let provider = keys::provider(&config.keys).await?;
    tracing::info!(provider = provider.name(), kek = %provider.current_kek_id(), "key provider ready");
    let legacy = signing::legacy_key(&config.data_dir)?;
    let legacy_public = legacy.as_ref().map(|k| k.verifying_key());
    let options =
        store::StoreOptions { keys: provider, public_host: config.public_host.clone(), legacy_signing_key: legacy };
    let store = Store::open(config.database_url.expose(), options)
        .await
        .map_err(|source| ServeError::Store { url: config.database_url.redacted(), source })?;
    // The database now holds the legacy key wrapped: its plaintext file goes.
    if legacy_public.is_some_and(|public| *store.verifier_key().verifying_key() == public) {
        signing::remove_legacy(&config.data_dir)?;
    }
    Ok(store)
}

/// Rotates ledger data keys that reached the configured count or age, once
/// a minute, and records each rotation in the account's system ledger.
fn spawn_key_rotation(store: Store, policy: config::KeyRotation) -> JoinHandle<()> {
    tokio::spawn(async move {
        let max_age_ms = i64::from(policy.after_days) * 86_400_000;
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            match store.rotate_due_keys(policy.after_events, max_age_ms).await {
                Ok(rotated) => {
                    for (ledger, account, version, reason) in rotated {
                        tracing::info!(%ledger, version, reason = reason.as_str(), "rotated a ledger data key");
                        let metadata = serde_json::json!({"key_version": version, "reason": reason.as_str()});
                        if let Err(error) = api::admin::try_record(
                            &store,
                            &account,
                            ("system", "key-rotation"),
                            "ledger_key.rotated",
                            ("ledger", ledger.as_str()),
                            metadata,
                        )
                        .await
                        {
                            tracing::error!(%ledger, %error, "could not record a key rotation in the system ledger");
                        }
                    }
                }
                Err(error) => tracing::error!(%error, "automatic key rotation failed; retrying in a minute"),
            }
        }
    })
}

/// `auditstore admin rotate-kek`: every wrapped key is re-wrapped under a
/// new KEK (local: a new key appended to the key file, the old ones
/// destroyed afterwards; aws-kms: the configured --kms-key-id). Event rows
/// are not touched. Prints one JSON object.
async fn rotate_kek(args: config::ServeArgs) -> Result<(), ServeError> {
    let config = Config::resolve(args)?;
    telemetry::init(config.log_format);
    prepare_data_dir(&config.data_dir)?;
    keys::add_local_kek(&config.keys)?;
    let store = open_store(&config).await?;
    let provider = keys::provider(&config.keys).await?;
    let kek = provider.current_kek_id();
    let mut total = store::RewrapReport::default();
    // Until a pass finds nothing left under an old KEK: a server that read
    // the key file just before the new KEK was added may still wrap one key
    // with the old KEK meanwhile.
    for _ in 0..5 {
        let report = store.rewrap_keys().await.map_err(|e| ServeError::Admin(e.to_string()))?;
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
    let retired = store
        .retire_old_keks(|| keys::retire_old_local_keks(&config.keys).map_err(|e| e.to_string()))
        .await
        .map_err(|e| ServeError::Admin(e.to_string()))?;
    for account in store.list_accounts().await.map_err(|e| ServeError::Admin(e.to_string()))? {
        let rewrapped = total.ledger_keys.get(account.as_str()).copied().unwrap_or(0);
        api::admin::try_record(
            &store,
            &account,
            ("cli", "rotate-kek"),
            "kek.rotated",
            ("key_provider", provider.name()),
            serde_json::json!({"kek_id": kek, "ledger_keys_rewrapped": rewrapped}),
        )
        .await
        .map_err(cli_error)?;
    }
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
async fn rotate_ledger_key(args: config::RotateLedgerKeyArgs) -> Result<(), ServeError> {
    let config = Config::resolve(args.serve)?;
    telemetry::init(config.log_format);
    let store = open_store(&config).await?;
    let ledger = audit_core::LedgerId::new(args.ledger.clone())
        .map_err(|e| ServeError::Admin(format!("invalid --ledger: {e}")))?;
    let account = store.ledger_account(&ledger).await.map_err(|e| ServeError::Admin(e.to_string()))?;
    let version = store.rotate_ledger_key(&ledger).await.map_err(|e| ServeError::Admin(e.to_string()))?;
    api::admin::try_record(
        &store,
        &account,
        ("cli", "rotate-ledger-key"),
        "ledger_key.rotated",
        ("ledger", ledger.as_str()),
        serde_json::json!({"key_version": version, "reason": "requested"}),
    )
    .await
    .map_err(cli_error)?;
    println!("{}", serde_json::json!({"ledger": ledger.as_str(), "key_version": version}));
    store.close().await;
    Ok(())
}

/// `auditstore admin bootstrap`: an account (idempotent per name) and a new
/// account-wide admin key, printed as one JSON object on stdout.
async fn bootstrap(args: BootstrapArgs) -> Result<(), ServeError> {
    let config = Config::resolve(args.serve)?;
    telemetry::init(config.log_format);
    let store = open_store(&config).await?;
    let (account, created) = store.ensure_account(&args.account).await.map_err(|e| ServeError::Admin(e.to_string()))?;
    let new = store::NewApiKey {
        name: "bootstrap admin".into(),
        permission: store::Permission::Admin,
        scope: store::KeyScope::AccountWide,
        created_by: Some("cli:bootstrap".into()),
    };
    let (key, secret) = store.create_api_key(&account.id, new).await.map_err(|e| ServeError::Admin(e.to_string()))?;
    api::admin::try_record(
        &store,
        &account.id,
        ("cli", "bootstrap"),
        "api_key.created",
        ("api_key", key.id.as_str()),
        serde_json::json!({"name": key.name, "permission": "admin", "ledgers": null}),
    )
    .await
    .map_err(|e| ServeError::Admin(e.to_string()))?;
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

/// An API-layer failure of a CLI command, with its cause: the operator at
/// the terminal may see internals a remote client may not.
fn cli_error(error: api::error::ApiError) -> ServeError {
    match error {
        api::error::ApiError::Internal(cause) | api::error::ApiError::KeyProvider(cause) => ServeError::Admin(cause),
        other => ServeError::Admin(other.to_string()),
    }
}

fn prepare_data_dir(dir: &std::path::Path) -> Result<(), ServeError> {
    let created = !dir.exists();
    fs::create_dir_all(dir).map_err(|source| ServeError::DataDir { path: dir.to_owned(), source })?;
    // Only the service account may read the database and keys we create; an
    // existing directory's permissions are the operator's choice.
    if created {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|source| ServeError::DataDir { path: dir.to_owned(), source })?;
    }
    Ok(())
}

fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    let listener = TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    listener.set_nonblocking(true).map_err(|source| ServeError::Bind { addr, source })?;
    Ok(listener)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
