//! Configuration: one typed struct, from defaults, then an optional TOML
//! file, then environment variables, then command-line flags (later wins).
//!
//! The flag and variable names are a public contract (operators' scripts use
//! them): extend, never rename.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

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

/// Options of `auditstore serve`. Every one is optional: a bare
/// `auditstore serve` keeps everything in `./data`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (same names, snake_case).
    #[arg(long, env = "AUDITSTORE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite database, keys and the generated certificate [default: ./data].
    #[arg(long, env = "AUDITSTORE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTPS listen address [default: 127.0.0.1:8443].
    #[arg(long, env = "AUDITSTORE_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Database URL: sqlite:PATH or postgres://USER:PASS@HOST/DB [default: SQLite in the data dir].
    #[arg(long, env = "AUDITSTORE_DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// PEM certificate chain; without it a self-signed certificate is generated in the data dir.
    #[arg(long, env = "AUDITSTORE_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "AUDITSTORE_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Optional plaintext HTTP address that only tells clients to use HTTPS [default: off].
    #[arg(long, env = "AUDITSTORE_PLAINTEXT_LISTEN", value_name = "ADDR")]
    pub plaintext_listen: Option<SocketAddr>,
    /// Directory with the built dashboard assets (pkg/, favicon) [default: target/site].
    #[arg(long, env = "AUDITSTORE_SITE_ROOT", value_name = "DIR")]
    pub site_root: Option<PathBuf>,
    /// Host name in checkpoint origins (`<host>/ledgers/<id>`) and the checkpoint key name [default: localhost].
    #[arg(long, env = "AUDITSTORE_PUBLIC_HOST", value_name = "HOST")]
    pub public_host: Option<String>,
    /// Requests per second one API key may make (also its burst) [default: 1000].
    #[arg(long, env = "AUDITSTORE_RATE_LIMIT_PER_KEY", value_name = "N")]
    pub rate_limit_per_key: Option<std::num::NonZeroU32>,
    /// Requests per second on one ledger, all keys together (also its burst) [default: 2000].
    #[arg(long, env = "AUDITSTORE_RATE_LIMIT_PER_LEDGER", value_name = "N")]
    pub rate_limit_per_ledger: Option<std::num::NonZeroU32>,
    /// Log format [default: auto: text on a terminal, JSON otherwise].
    #[arg(long, env = "AUDITSTORE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Failed authentications one client address may make per minute before it gets 429 for a while [default: 60].
    #[arg(long, env = "AUDITSTORE_AUTH_FAILURES_PER_MINUTE", value_name = "N")]
    pub auth_failures_per_minute: Option<std::num::NonZeroU32>,
    /// Reads (GET under /v1) served at once; more are answered 503 [default: 256].
    #[arg(long, env = "AUDITSTORE_MAX_CONCURRENT_READS", value_name = "N")]
    pub max_concurrent_reads: Option<std::num::NonZeroU32>,
    /// Queued append requests from which on reads are answered 503; 0 sheds every read [default: 512].
    #[arg(long, env = "AUDITSTORE_SHED_READS_AT_BACKLOG", value_name = "N")]
    pub shed_reads_at_backlog: Option<u32>,
    /// Where the key encryption key lives [default: aws-kms when --kms-key-id is given, else local].
    #[arg(long, env = "AUDITSTORE_KEY_PROVIDER", value_enum)]
    pub key_provider: Option<KeyProviderKind>,
    /// The local provider's key file [default: keys/kek.key in the data dir]; AUDITSTORE_KEK overrides it.
    #[arg(long, env = "AUDITSTORE_KEK_FILE", value_name = "FILE")]
    pub kek_file: Option<PathBuf>,
    /// AWS KMS key id, ARN or alias that wraps data keys (selects the aws-kms provider).
    #[arg(long, env = "AUDITSTORE_KMS_KEY_ID", value_name = "KEY")]
    pub kms_key_id: Option<String>,
    /// AWS KMS endpoint URL [default: the SDK's, or AWS_ENDPOINT_URL_KMS].
    #[arg(long, env = "AUDITSTORE_KMS_ENDPOINT", value_name = "URL")]
    pub kms_endpoint: Option<String>,
    /// Rotate a ledger's data key after it sealed this many events [default: 100000000].
    #[arg(long, env = "AUDITSTORE_KEY_ROTATE_AFTER_EVENTS", value_name = "N")]
    pub key_rotate_after_events: Option<std::num::NonZeroU64>,
    /// Rotate a ledger's data key once it is this many days old [default: 90].
    #[arg(long, env = "AUDITSTORE_KEY_ROTATE_AFTER_DAYS", value_name = "DAYS")]
    pub key_rotate_after_days: Option<std::num::NonZeroU32>,
    /// End a dashboard session after this many seconds without use [default: 1800].
    #[arg(long, env = "AUDITSTORE_SESSION_IDLE_SECS", value_name = "SECONDS")]
    pub session_idle_secs: Option<std::num::NonZeroU64>,
    /// End a dashboard session this many seconds after sign-in, used or not [default: 43200].
    #[arg(long, env = "AUDITSTORE_SESSION_LIFETIME_SECS", value_name = "SECONDS")]
    pub session_lifetime_secs: Option<std::num::NonZeroU64>,
    /// Lock a dashboard user after this many failed sign-ins in a row [default: 5].
    #[arg(long, env = "AUDITSTORE_LOGIN_LOCKOUT_FAILURES", value_name = "N")]
    pub login_lockout_failures: Option<std::num::NonZeroU32>,
    /// How long such a lock lasts, in seconds [default: 900].
    #[arg(long, env = "AUDITSTORE_LOGIN_LOCKOUT_SECS", value_name = "SECONDS")]
    pub login_lockout_secs: Option<std::num::NonZeroU64>,
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

/// The optional TOML file; the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    plaintext_listen: Option<SocketAddr>,
    site_root: Option<PathBuf>,
    public_host: Option<String>,
    rate_limit_per_key: Option<std::num::NonZeroU32>,
    rate_limit_per_ledger: Option<std::num::NonZeroU32>,
    log_format: Option<LogFormat>,
    max_concurrent_reads: Option<std::num::NonZeroU32>,
    shed_reads_at_backlog: Option<u32>,
    auth_failures_per_minute: Option<std::num::NonZeroU32>,
    key_provider: Option<KeyProviderKind>,
    kek_file: Option<PathBuf>,
    kms_key_id: Option<String>,
    kms_endpoint: Option<String>,
    key_rotate_after_events: Option<std::num::NonZeroU64>,
    key_rotate_after_days: Option<std::num::NonZeroU32>,
    session_idle_secs: Option<std::num::NonZeroU64>,
    session_lifetime_secs: Option<std::num::NonZeroU64>,
    login_lockout_failures: Option<std::num::NonZeroU32>,
    login_lockout_secs: Option<std::num::NonZeroU64>,
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
    pub log_format: LogFormat,
    pub keys: KeyConfig,
    pub key_rotation: KeyRotation,
    pub shedding: crate::api::shedding::SheddingConfig,
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
    #[error("the default listen address is invalid: {0}")]
    DefaultListen(#[from] std::net::AddrParseError),
}

impl Config {
    /// Resolves flags and environment (already merged by clap: a flag beats
    /// its variable) over the optional file over the defaults.
    pub fn resolve(args: ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("data"));
        let listen = match args.listen.or(file.listen) {
            Some(addr) => addr,
            None => DEFAULT_LISTEN.parse()?,
        };
        let database_url = args
            .database_url
            .or(file.database_url)
            .map(DatabaseUrl)
            .unwrap_or_else(|| DatabaseUrl::sqlite_in(&data_dir));
        // A certificate and its key come as a pair from one source; mixing a
        // flag's certificate with the file's key would be a silent surprise.
        let tls = match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => TlsSource::Files { cert, key },
            (None, None) => match (file.tls_cert, file.tls_key) {
                (Some(cert), Some(key)) => TlsSource::Files { cert, key },
                (None, None) => TlsSource::SelfSigned { dir: data_dir.join("tls") },
                _ => return Err(ConfigError::TlsPair),
            },
            _ => return Err(ConfigError::TlsPair),
        };
        let kms_key_id = args.kms_key_id.or(file.kms_key_id);
        let kind = args.key_provider.or(file.key_provider).unwrap_or(if kms_key_id.is_some() {
            KeyProviderKind::AwsKms
        } else {
            KeyProviderKind::Local
        });
        let keys = match kind {
            KeyProviderKind::Local => KeyConfig::Local {
                file: args.kek_file.or(file.kek_file).unwrap_or_else(|| data_dir.join("keys").join("kek.key")),
            },
            KeyProviderKind::AwsKms => KeyConfig::AwsKms {
                key_id: kms_key_id.ok_or(ConfigError::KmsKeyId)?,
                endpoint: args.kms_endpoint.or(file.kms_endpoint),
            },
        };
        let key_rotation = KeyRotation {
            after_events: args
                .key_rotate_after_events
                .or(file.key_rotate_after_events)
                .map_or(100_000_000, |n| n.get()),
            after_days: args.key_rotate_after_days.or(file.key_rotate_after_days).map_or(90, |n| n.get()),
        };
        let shedding = {
            let defaults = crate::api::shedding::SheddingConfig::default();
            crate::api::shedding::SheddingConfig {
                max_concurrent_reads: args
                    .max_concurrent_reads
                    .or(file.max_concurrent_reads)
                    .unwrap_or(defaults.max_concurrent_reads),
                shed_reads_at_backlog: args
                    .shed_reads_at_backlog
                    .or(file.shed_reads_at_backlog)
                    .unwrap_or(defaults.shed_reads_at_backlog),
            }
        };
        let secs = |flag: Option<std::num::NonZeroU64>, file: Option<std::num::NonZeroU64>, default: u64| {
            std::time::Duration::from_secs(flag.or(file).map_or(default, |n| n.get()))
        };
        let dashboard = DashboardConfig {
            session_idle: secs(args.session_idle_secs, file.session_idle_secs, 1800),
            session_lifetime: secs(args.session_lifetime_secs, file.session_lifetime_secs, 43_200),
            lockout_failures: args.login_lockout_failures.or(file.login_lockout_failures).map_or(5, |n| n.get()),
            lockout: secs(args.login_lockout_secs, file.login_lockout_secs, 900),
        };
        Ok(Self {
            keys,
            key_rotation,
            shedding,
            dashboard,
            listen,
            database_url,
            tls,
            plaintext_listen: args.plaintext_listen.or(file.plaintext_listen),
            site_root: args.site_root.or(file.site_root).unwrap_or_else(|| PathBuf::from("target/site")),
            public_host: args.public_host.or(file.public_host).unwrap_or_else(|| "localhost".to_owned()),
            rate_limits: {
                let defaults = crate::api::limits::RateLimitConfig::default();
                crate::api::limits::RateLimitConfig {
                    per_key: args.rate_limit_per_key.or(file.rate_limit_per_key).unwrap_or(defaults.per_key),
                    per_ledger: args
                        .rate_limit_per_ledger
                        .or(file.rate_limit_per_ledger)
                        .unwrap_or(defaults.per_ledger),
                    auth_failures_per_minute: args
                        .auth_failures_per_minute
                        .or(file.auth_failures_per_minute)
                        .unwrap_or(defaults.auth_failures_per_minute),
                }
            },
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            data_dir,
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_owned(), source: Box::new(source) })
}

/// A database URL. It may carry a password, so `Debug` and `Display` show it
/// with the password replaced; only [`DatabaseUrl::expose`] gives it whole.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The default: a SQLite file in the data directory.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self(format!("sqlite:{}", data_dir.join("auditstore.db").display()))
    }

    /// The full URL, password included, for the one place that connects.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password (in the user info or a `password=` query
    /// parameter) replaced by `***`.
    pub fn redacted(&self) -> String {
        let redacted = self.redact_userinfo();
        match redacted.split_once('?') {
            Some((base, query)) => {
                let query: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((key, _))
                            if key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("sslpassword") =>
                        {
                            format!("{key}=***")
                        }
                        _ => pair.to_owned(),
                    })
                    .collect();
                format!("{base}?{}", query.join("&"))
            }
            None => redacted,
        }
    }

    fn redact_userinfo(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://") else { return url.clone() };
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let Some(at) = authority.rfind('@') else { return url.clone() };
        let userinfo = &authority[..at];
        match userinfo.find(':') {
            Some(colon) => format!("{}://{}:***{}", &url[..scheme_end], &userinfo[..colon], &rest[at..]),
            None => url.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.redacted()).finish()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from(argv).expect("arguments parse");
        match cli.command {
            Some(Command::Serve(args)) => args,
            Some(Command::Admin(_)) => panic!("not a serve command"),
            None => cli.serve,
        }
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
        let path = dir.path().join("auditstore.toml");
        std::fs::write(
            &path,
            "data_dir = \"/srv/audit\"\nlisten = \"0.0.0.0:9443\"\nplaintext_listen = \"0.0.0.0:8080\"\n",
        )
        .expect("write config");
        let args =
            parse(&["auditstore", "serve", "--config", path.to_str().expect("utf-8"), "--listen", "127.0.0.1:1"]);
        let config = Config::resolve(args).expect("resolves");
        assert_eq!(config.listen.to_string(), "127.0.0.1:1");
        assert_eq!(config.data_dir, PathBuf::from("/srv/audit"));
        assert_eq!(config.plaintext_listen.map(|a| a.to_string()).as_deref(), Some("0.0.0.0:8080"));
        assert_eq!(config.database_url.expose(), "sqlite:/srv/audit/auditstore.db");
    }

    #[test]
    fn serve_is_the_default_subcommand() {
        let args = parse(&["auditstore", "--data-dir", "/tmp/x"]);
        assert_eq!(args.data_dir, Some(PathBuf::from("/tmp/x")));
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "listn = \"127.0.0.1:1\"\n").expect("write config");
        let args = parse(&["auditstore", "--config", path.to_str().expect("utf-8")]);
        let error = Config::resolve(args).expect_err("typo rejected");
        assert!(error.to_string().contains("listn"), "{error}");
    }

    #[test]
    fn half_a_tls_pair_is_rejected() {
        assert!(Cli::try_parse_from(["auditstore", "--tls-cert", "c.pem"]).is_err());
    }

    #[test]
    fn database_passwords_never_show() {
        let url = DatabaseUrl("postgres://app:s3cret@db.internal:5432/audit?sslmode=require".into());
        assert_eq!(url.to_string(), "postgres://app:***@db.internal:5432/audit?sslmode=require");
        assert!(!format!("{url:?}").contains("s3cret"));
        let in_query = DatabaseUrl("postgres://app@db/audit?sslmode=require&password=s3cret".into());
        assert_eq!(in_query.to_string(), "postgres://app@db/audit?sslmode=require&password=***");
        let no_password = DatabaseUrl("postgres://app@db/audit".into());
        assert_eq!(no_password.to_string(), "postgres://app@db/audit");
    }
}
