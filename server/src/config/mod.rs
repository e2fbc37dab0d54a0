//! Configuration: one typed struct, from defaults, then an optional TOML
//! file, then environment variables, then command-line flags (later wins).
//!
//! The flag and variable names are a public contract (operators' scripts use
//! them): extend, never rename. Each setting is declared once, in
//! [`settings`]; this module turns the stacked layers into [`Config`].
//!
//! Variables and flags are one layer, [`ServeArgs`] as clap parses it: clap
//! takes a setting's variable only when its flag is absent, so flags beat
//! variables setting by setting, and both beat the file underneath.

mod database_url;
mod settings;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

pub use self::database_url::DatabaseUrl;
pub use self::settings::ServeArgs;
use self::settings::Settings;

/// The default HTTPS address: loopback only, so a fresh install exposes
/// nothing to the network until an operator says so.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

/// `auditstore`: the compliance-grade audit trail.
#[derive(Debug, Parser)]
#[command(name = "auditstore", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve`, the default subcommand.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// What the binary does.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and the dashboard over HTTPS (the default).
    Serve(ServeArgs),
    /// Administration from the command line.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Verify an evidence file, or two checkpoints and the consistency proof
    /// between them, offline: no network, no database. Exits 0 only when
    /// everything verified, 1 when something failed, 2 on unusable input.
    Verify(VerifyArgs),
}

/// Options of `auditstore verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The file to verify: an evidence file (`.tlog-proof`, from
    /// GET /v1/ledgers/{ledger}/events/{id}/evidence).
    #[arg(required_unless_present = "consistency", conflicts_with = "consistency")]
    pub file: Option<PathBuf>,
    /// The trusted checkpoint verifier key, `<name>+<key id>+<base64 key>`
    /// (GET /v1/checkpoint-key, or the dashboard).
    #[arg(long, value_name = "VKEY", conflicts_with = "key_file")]
    pub key: Option<String>,
    /// A file holding the trusted verifier key.
    #[arg(long, value_name = "F")]
    pub key_file: Option<PathBuf>,
    /// Verify that checkpoint file OLD is a prefix of checkpoint file NEW
    /// (RFC 9162 §2.1.4), with the proof given by --proof.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"])]
    pub consistency: Option<Vec<PathBuf>>,
    /// The consistency proof: the JSON answer of
    /// GET /v1/ledgers/{ledger}/proofs/consistency, or one hex hash a line.
    #[arg(long, value_name = "FILE", requires = "consistency")]
    pub proof: Option<PathBuf>,
}

/// `auditstore admin ...`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account (idempotent per name) and a new account-wide admin
    /// key; prints one JSON object with `account_id` and `admin_key`.
    Bootstrap(BootstrapArgs),
    /// Re-wrap every data key and instance secret under a new key encryption
    /// key (local: a new key in the key file, old ones destroyed after;
    /// aws-kms: the configured --kms-key-id). Prints one JSON object.
    RotateKek(ServeArgs),
    /// Give a ledger a new data key for its new events; prints one JSON object.
    RotateLedgerKey(RotateLedgerKeyArgs),
    /// Write a ledger's events (all, or --from-seq..--to-seq) as an export
    /// file that `auditstore verify` checks offline (docs/FORMAT.md §13);
    /// prints one JSON object with the file's SHA-256.
    Export(ExportArgs),
    /// Show a ledger's retention policy, or set it (--days, --lock) or remove
    /// an unlocked one (--remove); a locked policy only lengthens. Prints one
    /// JSON object.
    Retention(RetentionArgs),
    /// Archive now everything past a ledger's retention that no legal hold
    /// covers (as the retention job does); prints one JSON object.
    RunRetention(RotateLedgerKeyArgs),
    /// Delete an account: every ledger of it (keys shredded, final
    /// checkpoints kept in the deletion records), then the account, refused
    /// while any legal hold of it is active. Prints one JSON object.
    DeleteAccount(DeleteAccountArgs),
}

/// Options of `auditstore admin retention`.
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The ledger's id.
    #[arg(long)]
    pub ledger: String,
    /// Keep events this many days after their occurred_at (1 to 36500).
    #[arg(long, value_name = "DAYS", conflicts_with = "remove")]
    pub days: Option<u64>,
    /// Lock the policy: from then on it can only be lengthened.
    #[arg(long, requires = "days")]
    pub lock: bool,
    /// Remove the (unlocked) policy: events are kept forever again.
    #[arg(long)]
    pub remove: bool,
}

/// Options of `auditstore admin delete-account`.
#[derive(Debug, Clone, Args)]
pub struct DeleteAccountArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The account's name (as given to `admin bootstrap`).
    #[arg(long)]
    pub account: String,
}

/// Options of `auditstore admin export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The ledger's id.
    #[arg(long)]
    pub ledger: String,
    /// The file to write (it must not exist; it appears only when complete).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The first seq to export (default 0).
    #[arg(long, value_name = "SEQ")]
    pub from_seq: Option<u64>,
    /// The last seq to export, included (default: the ledger's last event).
    #[arg(long, value_name = "SEQ")]
    pub to_seq: Option<u64>,
    /// The rows' format: JSON Lines, or CSV for spreadsheets.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: ExportFormat,
}

/// The rows' format of an export (docs/FORMAT.md §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// JSON Lines: one row a line.
    Jsonl,
    /// CSV (RFC 4180), formula cells neutralised.
    Csv,
    /// Parquet, one typed column per field.
    Parquet,
}

/// Options of `auditstore admin rotate-ledger-key`.
#[derive(Debug, Clone, Args)]
pub struct RotateLedgerKeyArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The ledger's id.
    #[arg(long)]
    pub ledger: String,
}

/// Options of `auditstore admin bootstrap`.
#[derive(Debug, Clone, Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The account's name.
    #[arg(long, default_value = "default")]
    pub account: String,
}

/// Where the key encryption key (KEK) lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyProviderKind {
    /// A key file in the data directory (or AUDITSTORE_KEK).
    Local,
    /// AWS KMS (or a KMS-compatible endpoint).
    AwsKms,
}

/// The resolved key provider settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyConfig {
    /// KEKs in this file (unless AUDITSTORE_KEK is set).
    Local { file: PathBuf },
    /// A KMS key, optionally at another endpoint.
    AwsKms { key_id: String, endpoint: Option<String> },
}

/// How the tamper monitor runs on this node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonitorConfig {
    /// False with `--no-monitor`: this node does not run it.
    pub enabled: bool,
    /// Between passes; integrity answers go stale past twice it.
    pub interval: std::time::Duration,
    /// Between full sweeps from genesis.
    pub full_sweep: std::time::Duration,
}

/// Where retention archive files are written: the directory, or an S3
/// bucket (the directory then still serves files written there before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveConfig {
    pub directory: PathBuf,
    pub s3: Option<S3ArchiveConfig>,
}

/// An S3-compatible bucket for archive files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3ArchiveConfig {
    pub bucket: String,
    pub prefix: String,
    /// Another endpoint than AWS's (path-style addressing is used with it).
    pub endpoint: Option<String>,
}

/// When ledger data keys rotate by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRotation {
    pub after_events: u64,
    pub after_days: u32,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Text on a terminal, JSON lines otherwise.
    #[default]
    Auto,
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// How dashboard sessions and sign-ins behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DashboardConfig {
    pub session_idle: std::time::Duration,
    pub session_lifetime: std::time::Duration,
    pub lockout_failures: u32,
    pub lockout: std::time::Duration,
}

/// Where the TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// Operator-provided PEM files.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate kept in (and generated into) this directory.
    SelfSigned { dir: PathBuf },
}

/// The resolved configuration of `auditstore serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
    pub tls: TlsSource,
    pub plaintext_listen: Option<SocketAddr>,
    pub site_root: PathBuf,
    pub public_host: String,
    pub rate_limits: crate::api::limits::RateLimitConfig,
    /// Proxies whose forwarding headers name the client address.
    pub trusted_proxies: crate::client_address::TrustedProxies,
    /// Connection cap and timeouts of the HTTPS listener.
    pub listener: crate::listener::ListenerLimits,
    pub log_format: LogFormat,
    pub keys: KeyConfig,
    pub key_rotation: KeyRotation,
    /// How long an export's file is kept after it finished.
    pub export_expiry: std::time::Duration,
    /// Where retention archive files are written.
    pub archive: ArchiveConfig,
    /// How often the retention job runs.
    pub retention_interval: std::time::Duration,
    /// How long a scheduled ledger deletion waits.
    pub deletion_grace: std::time::Duration,
    pub monitor: MonitorConfig,
    pub webhooks: crate::webhooks::WebhookConfig,
    pub shedding: crate::api::shedding::SheddingConfig,
    /// Body bytes of appends in flight, per process and per account.
    pub append_budget: crate::api::append_budget::AppendBudgetConfig,
    pub dashboard: DashboardConfig,
}

/// Configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid configuration file {path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("tls_cert and tls_key must be given together")]
    TlsPair,
    #[error("the aws-kms key provider needs --kms-key-id")]
    KmsKeyId,
    #[error("--archive-s3-prefix and --archive-s3-endpoint need --archive-s3-bucket")]
    ArchiveS3Bucket,
    #[error("--monitor-full-sweep-hours must be a number of hours above 0 and at most 87600")]
    MonitorFullSweep,
    #[error("--webhook-retry-schedule: {0}")]
    WebhookRetrySchedule(String),
    #[error("--webhook-disable-after-hours must be a number of hours above 0 and at most 87600")]
    WebhookDisableAfter,
    #[error("the default listen address is invalid: {0}")]
    DefaultListen(#[from] std::net::AddrParseError),
}

impl Config {
    /// Resolves flags and environment (already merged by clap: a flag beats
    /// its variable) over the optional file over the defaults.
    pub fn resolve(args: ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => ServeArgs::default(),
        };
        // A certificate and its key come as a pair from one source; mixing a
        // flag's certificate with the file's key would be a silent surprise.
        // So half a pair above the file is refused before stacking, and half
        // a pair from the file shows after it.
        if args.tls_cert.is_some() != args.tls_key.is_some() {
            return Err(ConfigError::TlsPair);
        }
        let settings = Settings::with_defaults(args.or(file))?;
        let data_dir = settings.data_dir;
        let tls = match (settings.tls_cert, settings.tls_key) {
            (Some(cert), Some(key)) => TlsSource::Files { cert, key },
            (None, None) => TlsSource::SelfSigned { dir: data_dir.join("tls") },
            _ => return Err(ConfigError::TlsPair),
        };
        let kind = settings.key_provider.unwrap_or(if settings.kms_key_id.is_some() {
            KeyProviderKind::AwsKms
        } else {
            KeyProviderKind::Local
        });
        let keys = match kind {
            KeyProviderKind::Local => {
                KeyConfig::Local { file: settings.kek_file.unwrap_or_else(|| data_dir.join("keys").join("kek.key")) }
            }
            KeyProviderKind::AwsKms => KeyConfig::AwsKms {
                key_id: settings.kms_key_id.ok_or(ConfigError::KmsKeyId)?,
                endpoint: settings.kms_endpoint,
            },
        };
        let secs = |n: std::num::NonZeroU64| std::time::Duration::from_secs(n.get());
        // A setting in MiB as bytes (the settings' bounds keep it far below overflow).
        let mib_to_bytes = |n: std::num::NonZeroU64| n.saturating_mul(std::num::NonZeroU64::new(1 << 20).unwrap_or(n));
        Ok(Self {
            database_url: settings.database_url.map_or_else(|| DatabaseUrl::sqlite_in(&data_dir), DatabaseUrl),
            listen: settings.listen,
            tls,
            plaintext_listen: settings.plaintext_listen,
            site_root: settings.site_root,
            public_host: settings.public_host,
            rate_limits: crate::api::limits::RateLimitConfig {
                per_key: settings.rate_limit_per_key,
                per_ledger: settings.rate_limit_per_ledger,
                auth_failures_per_minute: settings.auth_failures_per_minute,
                sign_ins_per_minute: settings.sign_ins_per_minute,
                anonymous_requests_per_minute: settings.anonymous_requests_per_minute,
            },
            trusted_proxies: crate::client_address::TrustedProxies::new(settings.trusted_proxies),
            listener: crate::listener::ListenerLimits {
                max_connections: settings.max_connections,
                tls_handshake_timeout: secs(settings.tls_handshake_timeout_secs),
                header_read_timeout: secs(settings.header_read_timeout_secs),
                request_body_timeout: secs(settings.request_body_timeout_secs),
            },
            log_format: settings.log_format,
            keys,
            key_rotation: KeyRotation {
                after_events: settings.key_rotate_after_events.get(),
                after_days: settings.key_rotate_after_days.get(),
            },
            export_expiry: std::time::Duration::from_secs(u64::from(settings.export_expiry_hours.get()) * 3600),
            archive: ArchiveConfig {
                directory: settings.archive_dir.unwrap_or_else(|| data_dir.join("archive")),
                s3: match (settings.archive_s3_bucket, settings.archive_s3_prefix, settings.archive_s3_endpoint) {
                    (Some(bucket), prefix, endpoint) => {
                        Some(S3ArchiveConfig { bucket, prefix: prefix.unwrap_or_default(), endpoint })
                    }
                    (None, None, None) => None,
                    (None, _, _) => return Err(ConfigError::ArchiveS3Bucket),
                },
            },
            retention_interval: std::time::Duration::from_secs(
                u64::from(settings.retention_interval_minutes.get()) * 60,
            ),
            deletion_grace: std::time::Duration::from_secs(u64::from(settings.ledger_deletion_grace_hours) * 3600),
            monitor: MonitorConfig {
                enabled: !settings.no_monitor,
                interval: std::time::Duration::from_secs(settings.monitor_interval.get()),
                full_sweep: match settings.monitor_full_sweep_hours {
                    hours if hours.is_finite() && hours > 0.0 && hours <= 87_600.0 => {
                        std::time::Duration::from_secs_f64(hours * 3600.0)
                    }
                    _ => return Err(ConfigError::MonitorFullSweep),
                },
            },
            webhooks: crate::webhooks::WebhookConfig {
                destinations: crate::webhooks::Destinations { allow_private: settings.webhook_allow_private },
                schedule: crate::webhooks::RetrySchedule::parse(
                    settings.webhook_retry_schedule.as_deref().unwrap_or(crate::webhooks::schedule::DEFAULT),
                )
                .map_err(ConfigError::WebhookRetrySchedule)?,
                disable_after: match settings.webhook_disable_after_hours {
                    hours if hours.is_finite() && hours > 0.0 && hours <= 87_600.0 => {
                        std::time::Duration::from_secs_f64(hours * 3600.0)
                    }
                    _ => return Err(ConfigError::WebhookDisableAfter),
                },
            },
            shedding: crate::api::shedding::SheddingConfig {
                max_concurrent_reads: settings.max_concurrent_reads,
                shed_reads_at_backlog: settings.shed_reads_at_backlog,
            },
            append_budget: crate::api::append_budget::AppendBudgetConfig {
                process_bytes: mib_to_bytes(settings.append_budget_mib),
                account_bytes: mib_to_bytes(settings.account_append_budget_mib),
                ..Default::default()
            },
            dashboard: DashboardConfig {
                session_idle: secs(settings.session_idle_secs),
                session_lifetime: secs(settings.session_lifetime_secs),
                lockout_failures: settings.login_lockout_failures.get(),
                lockout: secs(settings.login_lockout_secs),
            },
            data_dir,
        })
    }
}

/// Reads the file layer: the same settings as the flags, under the same
/// names in snake_case; an unknown key (a typo) is an error, not a no-op.
fn read_file(path: &Path) -> Result<ServeArgs, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_owned(), source: Box::new(source) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from(argv).expect("arguments parse");
        match cli.command {
            Some(Command::Serve(args)) => args,
            Some(Command::Admin(_) | Command::Verify(_)) => panic!("not a serve command"),
            None => cli.serve,
        }
    }

    /// Writes `text` as the configuration file `name` in `dir` and returns its path.
    fn config_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write config");
        path
    }

    #[test]
    fn defaults_need_nothing() {
        let config = Config::resolve(ServeArgs::default()).expect("defaults resolve");
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.database_url.expose(), "sqlite:data/auditstore.db");
        assert_eq!(config.tls, TlsSource::SelfSigned { dir: PathBuf::from("data/tls") });
        assert_eq!(config.plaintext_listen, None);
        assert_eq!(config.keys, KeyConfig::Local { file: PathBuf::from("data/keys/kek.key") });
    }

    #[test]
    fn the_other_defaults_are_the_documented_ones() {
        let config = Config::resolve(ServeArgs::default()).expect("defaults resolve");
        assert_eq!(config.site_root, PathBuf::from("target/site"));
        assert_eq!(config.public_host, "localhost");
        assert_eq!(config.rate_limits, crate::api::limits::RateLimitConfig::default());
        assert_eq!(config.log_format, LogFormat::Auto);
        assert_eq!(config.key_rotation, KeyRotation { after_events: 100_000_000, after_days: 90 });
        assert_eq!(config.shedding, crate::api::shedding::SheddingConfig::default());
        assert_eq!(config.listener, crate::listener::ListenerLimits::default());
        let minutes = |n: u64| std::time::Duration::from_secs(n * 60);
        assert_eq!(
            config.dashboard,
            DashboardConfig {
                session_idle: minutes(30),
                session_lifetime: minutes(12 * 60),
                lockout_failures: 5,
                lockout: minutes(15)
            }
        );
    }

    #[test]
    fn an_archive_bucket_selects_object_storage_and_its_options_need_one() {
        let args = parse(&["auditstore", "--data-dir", "/srv/a", "--archive-s3-bucket", "audit-archive"]);
        let config = Config::resolve(args).expect("resolves");
        let s3 = S3ArchiveConfig { bucket: "audit-archive".into(), prefix: String::new(), endpoint: None };
        assert_eq!(config.archive, ArchiveConfig { directory: "/srv/a/archive".into(), s3: Some(s3) });
        let args = parse(&["auditstore", "--archive-s3-prefix", "prod/"]);
        assert!(matches!(Config::resolve(args), Err(ConfigError::ArchiveS3Bucket)));
        let config = Config::resolve(parse(&["auditstore", "--data-dir", "/srv/a"])).expect("resolves");
        assert_eq!(config.archive.s3, None, "the directory by default");
    }

    #[test]
    fn webhooks_refuse_private_destinations_and_retry_for_a_day_by_default() {
        let config = Config::resolve(parse(&["auditstore"])).expect("resolves");
        assert!(!config.webhooks.destinations.allow_private);
        assert_eq!(config.webhooks.schedule.attempts(), 8);
        assert_eq!(config.webhooks.disable_after, std::time::Duration::from_secs(120 * 3600));
        let config = Config::resolve(parse(&[
            "auditstore",
            "--webhook-allow-private",
            "--webhook-retry-schedule",
            "1,2",
            "--webhook-disable-after-hours",
            "0.5",
        ]))
        .expect("resolves");
        assert!(config.webhooks.destinations.allow_private);
        assert_eq!(config.webhooks.schedule.attempts(), 3);
        assert_eq!(config.webhooks.disable_after, std::time::Duration::from_secs(1800));
        for (flag, bad) in [("--webhook-retry-schedule", "0"), ("--webhook-disable-after-hours", "0")] {
            assert!(Config::resolve(parse(&["auditstore", flag, bad])).is_err(), "{flag} {bad}");
        }
    }

    #[test]
    fn the_monitor_runs_every_minute_sweeps_daily_and_takes_fractions_of_hours() {
        let config = Config::resolve(parse(&["auditstore"])).expect("resolves");
        let day = std::time::Duration::from_secs(86_400);
        let minute = std::time::Duration::from_secs(60);
        assert_eq!(config.monitor, MonitorConfig { enabled: true, interval: minute, full_sweep: day });
        let args =
            parse(&["auditstore", "--monitor-interval", "5", "--monitor-full-sweep-hours", "0.5", "--no-monitor"]);
        let config = Config::resolve(args).expect("resolves");
        let half_hour = std::time::Duration::from_secs(1800);
        let five = std::time::Duration::from_secs(5);
        assert_eq!(config.monitor, MonitorConfig { enabled: false, interval: five, full_sweep: half_hour });
        for bad in ["0", "NaN", "inf", "1e9"] {
            let args = parse(&["auditstore", "--monitor-full-sweep-hours", bad]);
            assert!(matches!(Config::resolve(args), Err(ConfigError::MonitorFullSweep)), "{bad}");
        }
        assert!(Cli::try_parse_from(["auditstore", "--monitor-interval", "0"]).is_err());
    }

    #[test]
    fn a_kms_key_id_selects_the_kms_provider() {
        let args =
            parse(&["auditstore", "--kms-key-id", "arn:aws:kms:us-east-1:1:key/k", "--kms-endpoint", "http://x"]);
        let config = Config::resolve(args).expect("resolves");
        assert_eq!(
            config.keys,
            KeyConfig::AwsKms { key_id: "arn:aws:kms:us-east-1:1:key/k".into(), endpoint: Some("http://x".into()) }
        );
        let args = parse(&["auditstore", "--key-provider", "aws-kms"]);
        assert!(matches!(Config::resolve(args), Err(ConfigError::KmsKeyId)));
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = config_file(
            &dir,
            "auditstore.toml",
            "data_dir = \"/srv/audit\"\nlisten = \"0.0.0.0:9443\"\nplaintext_listen = \"0.0.0.0:8080\"\n",
        );
        let args =
            parse(&["auditstore", "serve", "--config", path.to_str().expect("utf-8"), "--listen", "127.0.0.1:1"]);
        let config = Config::resolve(args).expect("resolves");
        assert_eq!(config.listen.to_string(), "127.0.0.1:1");
        assert_eq!(config.data_dir, PathBuf::from("/srv/audit"));
        assert_eq!(config.plaintext_listen.map(|a| a.to_string()).as_deref(), Some("0.0.0.0:8080"));
        assert_eq!(config.database_url.expose(), "sqlite:/srv/audit/auditstore.db");
    }

    #[test]
    fn trusted_proxies_come_as_a_list_from_flags_and_the_file() {
        let args = parse(&["auditstore", "--trusted-proxies", "10.0.0.0/8,192.0.2.1, 2001:db8::/32"]);
        let config = Config::resolve(args).expect("resolves");
        let want: Vec<crate::client_address::ProxyNet> =
            ["10.0.0.0/8", "192.0.2.1", "2001:db8::/32"].iter().map(|n| n.parse().expect("net")).collect();
        assert_eq!(config.trusted_proxies, crate::client_address::TrustedProxies::new(want.clone()));
        let dir = tempfile::tempdir().expect("tempdir");
        let path =
            config_file(&dir, "proxies.toml", "trusted_proxies = [\"10.0.0.0/8\", \"192.0.2.1\", \"2001:db8::/32\"]\n");
        let config = Config::resolve(parse(&["auditstore", "--config", path.to_str().expect("utf-8")])).expect("file");
        assert_eq!(config.trusted_proxies, crate::client_address::TrustedProxies::new(want));
        assert!(Cli::try_parse_from(["auditstore", "--trusted-proxies", "10.0.0.0/33"]).is_err());
        assert_eq!(Config::resolve(ServeArgs::default()).expect("defaults").trusted_proxies, Default::default());
    }

    #[test]
    fn serve_is_the_default_subcommand() {
        let args = parse(&["auditstore", "--data-dir", "/tmp/x"]);
        assert_eq!(args.data_dir, Some(PathBuf::from("/tmp/x")));
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = config_file(&dir, "bad.toml", "listn = \"127.0.0.1:1\"\n");
        let args = parse(&["auditstore", "--config", path.to_str().expect("utf-8")]);
        let error = Config::resolve(args).expect_err("typo rejected");
        assert!(error.to_string().contains("listn"), "{error}");
    }

    #[test]
    fn the_file_cannot_name_another_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = config_file(&dir, "nested.toml", "config = \"other.toml\"\n");
        let args = parse(&["auditstore", "--config", path.to_str().expect("utf-8")]);
        let error = Config::resolve(args).expect_err("config is not a file key");
        assert!(error.to_string().contains("config"), "{error}");
    }

    #[test]
    fn half_a_tls_pair_is_rejected() {
        assert!(Cli::try_parse_from(["auditstore", "--tls-cert", "c.pem"]).is_err());
    }

    #[test]
    fn a_tls_pair_comes_whole_from_one_layer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = config_file(&dir, "pair.toml", "tls_cert = \"file.pem\"\ntls_key = \"file.key\"\n");
        let with_file = |args: ServeArgs| ServeArgs { config: Some(path.clone()), ..args };
        let config = Config::resolve(with_file(ServeArgs::default())).expect("the file's pair");
        assert_eq!(config.tls, TlsSource::Files { cert: "file.pem".into(), key: "file.key".into() });
        let flags =
            ServeArgs { tls_cert: Some("flag.pem".into()), tls_key: Some("flag.key".into()), ..ServeArgs::default() };
        let config = Config::resolve(with_file(flags)).expect("the flags' pair");
        assert_eq!(config.tls, TlsSource::Files { cert: "flag.pem".into(), key: "flag.key".into() });
        let half = ServeArgs { tls_cert: Some("flag.pem".into()), ..ServeArgs::default() };
        assert!(matches!(Config::resolve(with_file(half)), Err(ConfigError::TlsPair)));
        let half_file = config_file(&dir, "half.toml", "tls_key = \"file.key\"\n");
        let args = ServeArgs { config: Some(half_file), ..ServeArgs::default() };
        assert!(matches!(Config::resolve(args), Err(ConfigError::TlsPair)));
    }

    #[test]
    fn a_later_layer_wins_setting_by_setting() {
        let lower =
            ServeArgs { public_host: Some("lower".into()), site_root: Some("lower".into()), ..ServeArgs::default() };
        let upper = ServeArgs { public_host: Some("upper".into()), ..ServeArgs::default() };
        let stacked = upper.or(lower);
        assert_eq!(stacked.public_host.as_deref(), Some("upper"));
        assert_eq!(stacked.site_root, Some(PathBuf::from("lower")));
    }
}
