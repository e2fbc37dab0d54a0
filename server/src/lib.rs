//! The `auditstore` server as a library: [`start`] binds the listeners and
//! returns a handle (tests call it with port 0), [`run`] is what the binary
//! does with the command line.

pub mod api;
pub mod config;
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
    #[error("{0}")]
    Admin(String),
}

/// Runs the command given on the command line until it finishes (for
/// `serve`: until SIGTERM or SIGINT).
pub async fn run(cli: Cli) -> Result<(), ServeError> {
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        Some(Command::Admin(AdminCommand::Bootstrap(args))) => return bootstrap(args).await,
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
    let router = web::router(web::AppState { leptos, store: store.clone(), limits });

    let https = bind(config.listen)?;
    let https_addr = https.local_addr()?;
    let handle = Handle::new();
    let mut tasks = Vec::new();
    let server = axum_server::from_tcp_rustls(https, RustlsConfig::from_config(tls.config))?
        .handle(handle.clone())
        .serve(router.into_make_service());
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
        handle,
        tasks,
        store,
        background: vec![cleanup, indexer],
    })
}

/// Prepares the data directory and opens the database with the checkpoint
/// signer (shared by `serve` and the admin commands, so both sign alike).
async fn open_store(config: &Config) -> Result<Store, ServeError> {
    prepare_data_dir(&config.data_dir)?;
    let key = signing::load_or_create(&config.data_dir)?;
    let signer = store::CheckpointSigner::new(&config.public_host, key)
        .map_err(|e| ServeError::Admin(format!("invalid --public-host: {e}")))?;
    Store::open(config.database_url.expose(), signer)
        .await
        .map_err(|source| ServeError::Store { url: config.database_url.redacted(), source })
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
