//! The `auditstore` server as a library: [`start`] binds the listeners and
//! returns a handle (tests call it with port 0), [`run`] is what the binary
//! does with the command line.

pub mod api;
mod archive_store;
pub mod client_address;
mod commands;
pub mod config;
pub mod downloads;
pub mod jobs;
pub mod key_provider;
mod lifecycle_commands;
pub mod listener;
pub mod plaintext;
pub mod signing;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod verify;
pub mod web;
pub mod webhooks;

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::Handle;
use hyper_util::rt::TokioTimer;
use leptos::config::LeptosOptions;
use store::{Actor, Origin, Store, SystemEvent};
use tokio::task::JoinHandle;

use crate::config::{AdminCommand, Cli, Command, Config};

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
    Keys(#[from] key_provider::KeyFileError),
    #[error("{0}")]
    Admin(String),
    #[error("{0}")]
    ArchiveStore(store::StoreError),
    #[error("{0}")]
    Webhooks(String),
    /// `auditstore verify` found something that does not verify (its
    /// findings are printed already); the exit status is the verdict's.
    #[error("{0}")]
    NotVerified(verify::Verdict),
}

/// Runs the command given on the command line until it finishes (for
/// `serve`: until SIGTERM or SIGINT).
pub async fn run(cli: Cli) -> Result<(), ServeError> {
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        Some(Command::Admin(AdminCommand::Bootstrap(args))) => return commands::bootstrap(args).await,
        Some(Command::Admin(AdminCommand::RotateKek(args))) => return commands::rotate_kek(args).await,
        Some(Command::Admin(AdminCommand::RotateLedgerKey(args))) => return commands::rotate_ledger_key(args).await,
        Some(Command::Admin(AdminCommand::Export(args))) => return commands::export(args).await,
        Some(Command::Admin(AdminCommand::Retention(args))) => return lifecycle_commands::retention(args).await,
        Some(Command::Admin(AdminCommand::RunRetention(args))) => return lifecycle_commands::run_retention(args).await,
        Some(Command::Admin(AdminCommand::DeleteAccount(args))) => {
            return lifecycle_commands::delete_account(args).await
        }
        Some(Command::Verify(args)) => {
            return match verify::run(&args) {
                verify::Verdict::Verified => Ok(()),
                verdict => Err(ServeError::NotVerified(verdict)),
            }
        }
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
    /// Rate-limit cleanup, the filter indexer and the background jobs.
    background: Vec<JoinHandle<()>>,
    /// Whether this node ran the tamper monitor (its stop is then recorded).
    monitor_ran: Arc<AtomicBool>,
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
        if self.monitor_ran.load(Ordering::Relaxed) {
            record_monitor(&self.store, SystemEvent::MonitorStopped).await;
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
    let key_rotation = config.key_rotation;
    let export_expiry = config.export_expiry;
    let reads = api::shedding::ReadGate::new(config.shedding);
    let appends = api::append_budget::AppendBudget::new(config.append_budget);

    let archive = archive_store::open(&config.archive).await?;
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
            deletion_grace: config.deletion_grace,
            monitor_interval: config.monitor.interval,
        }),
        throttle: std::sync::Arc::new(limits.clone()),
        archive: archive.clone(),
        webhook_urls: std::sync::Arc::new(config.webhooks.destinations),
    };
    let router = web::router(state::AppState {
        leptos,
        store: store.clone(),
        limits,
        reads,
        appends,
        dashboard,
        dashboard_config: config.dashboard,
        trusted_proxies: config.trusted_proxies.clone(),
        archive: archive.clone(),
        deletion_grace: config.deletion_grace,
        monitor_interval: config.monitor.interval,
        webhook_destinations: config.webhooks.destinations,
    });
    // A body that dribbles in is cut off (its read fails, answered 408).
    let router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(config.listener.request_body_timeout));
    let setup_link = first_run_link(&store, &public_url).await?;
    let mut background = vec![cleanup, indexer];
    let retention = jobs::Retention { every: config.retention_interval, archive: archive.clone() };
    let monitor_ran = Arc::new(AtomicBool::new(false));
    let monitor = if config.monitor.enabled {
        Some(jobs::Monitor {
            every: config.monitor.interval,
            full_sweep: config.monitor.full_sweep,
            ran: monitor_ran.clone(),
            archive: archive.clone(),
        })
    } else {
        record_monitor(&store, SystemEvent::MonitorDisabled).await;
        None
    };
    let sender = webhooks::Sender::new(config.webhooks.clone()).map_err(ServeError::Webhooks)?;
    let jobs = jobs::all(key_rotation, export_expiry, retention, monitor, config.monitor.interval, sender);
    background.extend(jobs::spawn(&store, jobs));
    let handle = Handle::new();
    let mut tasks = Vec::new();
    let limits = config.listener;
    let acceptor = RustlsAcceptor::new(RustlsConfig::from_config(tls.config))
        .handshake_timeout(limits.tls_handshake_timeout)
        .acceptor(listener::ConnectionLimit::new(limits.max_connections));
    let mut server = axum_server::from_tcp(https)?
        .acceptor(acceptor)
        .handle(handle.clone())
        .first_request_timeout(limits.header_read_timeout)
        .accept_error_handler(|peer, error| tracing::debug!(?peer, %error, "connection refused or failed"));
    // The head timeout also ends idle keep-alive connections (hyper starts
    // it whenever it waits for the next request head); HTTP/2 connections
    // whose peer stops answering pings are closed.
    server.http_builder().http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    server
        .http_builder()
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    // The client address feeds the throttles and the audit trail.
    let server = server.serve(router.into_make_service_with_connect_info::<SocketAddr>());
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
        background,
        monitor_ran,
    })
}

/// Records a change of the tamper monitor on this node in every account's
/// system ledger: it cannot be switched off or stopped unseen. A failure is
/// logged (the integrity answers going stale say it too).
async fn record_monitor(store: &Store, event: SystemEvent) {
    let origin = Origin::new(Actor::Job("monitor"));
    let accounts = match store.list_accounts().await {
        Ok(accounts) => accounts,
        Err(error) => {
            tracing::error!(%error, "could not record the monitor's change");
            return;
        }
    };
    for account in accounts {
        if let Err(error) = store.record_system_event(&account, &origin, event.clone()).await {
            tracing::error!(%account, %error, "could not record the monitor's change");
        }
    }
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

/// Prepares the data directory, sets up the key provider and opens the
/// database (shared by `serve` and the admin commands, so both sign and
/// seal alike).
pub(crate) async fn open_store(config: &Config) -> Result<Store, ServeError> {
    prepare_data_dir(&config.data_dir)?;
    let provider = key_provider::provider(&config.keys).await?;
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

pub(crate) fn prepare_data_dir(dir: &std::path::Path) -> Result<(), ServeError> {
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
