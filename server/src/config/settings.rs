//! Every setting of `auditstore serve`, each declared once: the field's name
//! is the TOML key and (kebab-case) the flag, its `env` the variable, its doc
//! comment the help text and its `= ...` the default.
//!
//! One declaration gives three things: [`ServeArgs`], the layer that clap
//! fills from flags and variables and that serde fills from the file (same
//! type, so the file can only name settings that exist); [`ServeArgs::or`],
//! which stacks two layers; and `Settings`, the stacked layers with the
//! defaults filled in, from which [`super::Config`] is built.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

use super::{ConfigError, KeyProviderKind, LogFormat, DEFAULT_LISTEN};
use crate::api::append_budget::AppendBudgetConfig;
use crate::api::limits::RateLimitConfig;
use crate::api::shedding::SheddingConfig;
use crate::client_address::ProxyNet;
use crate::listener::ListenerLimits;

/// A default duration as a setting's whole seconds (never zero).
fn secs(duration: std::time::Duration) -> NonZeroU64 {
    NonZeroU64::new(duration.as_secs()).unwrap_or(NonZeroU64::MIN)
}

fn in_mib(bytes: NonZeroU64) -> NonZeroU64 {
    NonZeroU64::new(bytes.get() / (1024 * 1024)).unwrap_or(NonZeroU64::MIN)
}

/// Declares the settings. Each is `/// help`, `#[arg(...)]`, `name: Type`
/// and, where the default is a plain value, `= default`; a setting without
/// one stays optional in `Settings` (its default depends on other settings,
/// or there is none). A macro because the layer, the stacking and the
/// resolved struct must list the same fields, and one list cannot drift.
macro_rules! settings {
    (
        $(#[$struct_attr:meta])*
        pub struct ServeArgs {
            $(
                $(#[$attr:meta])*
                pub $field:ident: $ty:ty $(= $default:expr)?,
            )*
        }
    ) => {
        $(#[$struct_attr])*
        #[derive(Debug, Clone, Default, Args, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct ServeArgs {
            /// TOML file with any of the settings below (same names, snake_case).
            #[arg(long, env = "AUDITSTORE_CONFIG", value_name = "FILE")]
            #[serde(skip)]
            pub config: Option<PathBuf>,
            $(
                $(#[$attr])*
                pub $field: Option<$ty>,
            )*
        }

        impl ServeArgs {
            /// This layer over `lower`: each setting from here where it is
            /// given, else from `lower` (so a later layer wins).
            #[must_use]
            pub fn or(self, lower: Self) -> Self {
                Self { config: self.config.or(lower.config), $($field: self.$field.or(lower.$field),)* }
            }
        }

        /// The stacked layers with every plain default filled in.
        #[derive(Debug)]
        pub(super) struct Settings {
            $(pub(super) $field: settings!(@type $ty $(, $default)?),)*
        }

        impl Settings {
            /// Fills the defaults into the stacked layers; fails only when a
            /// default itself is invalid.
            pub(super) fn with_defaults(layers: ServeArgs) -> Result<Self, ConfigError> {
                Ok(Self { $($field: settings!(@value layers.$field $(, $default)?),)* })
            }
        }
    };
    (@type $ty:ty) => { Option<$ty> };
    (@type $ty:ty, $default:expr) => { $ty };
    (@value $value:expr) => { $value };
    (@value $value:expr, $default:expr) => {
        match $value {
            Some(value) => value,
            None => $default,
        }
    };
}

settings! {
    /// Options of `auditstore serve`. Every one is optional: a bare
    /// `auditstore serve` keeps everything in `./data`.
    pub struct ServeArgs {
        /// Directory for the SQLite database, keys and the generated certificate [default: ./data].
        #[arg(long, env = "AUDITSTORE_DATA_DIR", value_name = "DIR")]
        pub data_dir: PathBuf = PathBuf::from("data"),
        /// HTTPS listen address [default: 127.0.0.1:8443].
        #[arg(long, env = "AUDITSTORE_LISTEN", value_name = "ADDR")]
        pub listen: SocketAddr = DEFAULT_LISTEN.parse()?,
        /// Database URL: sqlite:PATH or postgres://USER:PASS@HOST/DB [default: SQLite in the data dir].
        #[arg(long, env = "AUDITSTORE_DATABASE_URL", value_name = "URL", hide_env_values = true)]
        pub database_url: String,
        /// PEM certificate chain; without it a self-signed certificate is generated in the data dir.
        #[arg(long, env = "AUDITSTORE_TLS_CERT", value_name = "FILE", requires = "tls_key")]
        pub tls_cert: PathBuf,
        /// PEM private key of --tls-cert.
        #[arg(long, env = "AUDITSTORE_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
        pub tls_key: PathBuf,
        /// Optional plaintext HTTP address that only tells clients to use HTTPS [default: off].
        #[arg(long, env = "AUDITSTORE_PLAINTEXT_LISTEN", value_name = "ADDR")]
        pub plaintext_listen: SocketAddr,
        /// Directory with the built dashboard assets (pkg/, favicon) [default: target/site].
        #[arg(long, env = "AUDITSTORE_SITE_ROOT", value_name = "DIR")]
        pub site_root: PathBuf = PathBuf::from("target/site"),
        /// Host name in checkpoint origins (`<host>/ledgers/<id>`) and the checkpoint key name [default: localhost].
        #[arg(long, env = "AUDITSTORE_PUBLIC_HOST", value_name = "HOST")]
        pub public_host: String = "localhost".to_owned(),
        /// Requests per second one API key may make (also its burst) [default: 1000].
        #[arg(long, env = "AUDITSTORE_RATE_LIMIT_PER_KEY", value_name = "N")]
        pub rate_limit_per_key: NonZeroU32 = RateLimitConfig::default().per_key,
        /// Requests per second on one ledger, all keys together (also its burst) [default: 2000].
        #[arg(long, env = "AUDITSTORE_RATE_LIMIT_PER_LEDGER", value_name = "N")]
        pub rate_limit_per_ledger: NonZeroU32 = RateLimitConfig::default().per_ledger,
        /// Log format [default: auto: text on a terminal, JSON otherwise].
        #[arg(long, env = "AUDITSTORE_LOG_FORMAT", value_enum)]
        pub log_format: LogFormat = LogFormat::default(),
        /// Failed authentications one client address may make per minute before it gets 429 for a while [default: 60].
        #[arg(long, env = "AUDITSTORE_AUTH_FAILURES_PER_MINUTE", value_name = "N")]
        pub auth_failures_per_minute: NonZeroU32 = RateLimitConfig::default().auth_failures_per_minute,
        /// Dashboard sign-in attempts one client address may make per minute, counted before any password is hashed [default: 30].
        #[arg(long, env = "AUDITSTORE_SIGN_INS_PER_MINUTE", value_name = "N")]
        pub sign_ins_per_minute: NonZeroU32 = RateLimitConfig::default().sign_ins_per_minute,
        /// Dashboard requests (pages, server functions) one client address may make per minute without a session [default: 600].
        #[arg(long, env = "AUDITSTORE_ANONYMOUS_REQUESTS_PER_MINUTE", value_name = "N")]
        pub anonymous_requests_per_minute: NonZeroU32 = RateLimitConfig::default().anonymous_requests_per_minute,
        /// Proxies (CIDRs or addresses, comma-separated) whose Forwarded / X-Forwarded-For headers name the client address; from any other peer they are ignored [default: none].
        #[arg(long, env = "AUDITSTORE_TRUSTED_PROXIES", value_name = "CIDRS", value_delimiter = ',')]
        pub trusted_proxies: Vec<ProxyNet> = Vec::new(),
        /// HTTPS connections open at once; more are closed on arrival [default: 4096].
        #[arg(long, env = "AUDITSTORE_MAX_CONNECTIONS", value_name = "N")]
        pub max_connections: NonZeroU32 = ListenerLimits::default().max_connections,
        /// Seconds a client has to finish the TLS handshake [default: 10].
        #[arg(long, env = "AUDITSTORE_TLS_HANDSHAKE_TIMEOUT_SECS", value_name = "SECONDS")]
        pub tls_handshake_timeout_secs: NonZeroU64 = secs(ListenerLimits::default().tls_handshake_timeout),
        /// Seconds a client has to send each request head; an idle keep-alive connection is closed after as long [default: 10].
        #[arg(long, env = "AUDITSTORE_HEADER_READ_TIMEOUT_SECS", value_name = "SECONDS")]
        pub header_read_timeout_secs: NonZeroU64 = secs(ListenerLimits::default().header_read_timeout),
        /// Seconds a client has to send a request body [default: 30].
        #[arg(long, env = "AUDITSTORE_REQUEST_BODY_TIMEOUT_SECS", value_name = "SECONDS")]
        pub request_body_timeout_secs: NonZeroU64 = secs(ListenerLimits::default().request_body_timeout),
        /// Reads (GET under /v1) served at once; more are answered 503 [default: 256].
        #[arg(long, env = "AUDITSTORE_MAX_CONCURRENT_READS", value_name = "N")]
        pub max_concurrent_reads: NonZeroU32 = SheddingConfig::default().max_concurrent_reads,
        /// Queued append requests from which on reads are answered 503; 0 sheds every read [default: 512].
        #[arg(long, env = "AUDITSTORE_SHED_READS_AT_BACKLOG", value_name = "N")]
        pub shed_reads_at_backlog: u32 = SheddingConfig::default().shed_reads_at_backlog,
        /// MiB of append request bodies in flight at once in this process; more get 503 with Retry-After [default: 256].
        #[arg(long, env = "AUDITSTORE_APPEND_BUDGET_MIB", value_name = "MIB")]
        pub append_budget_mib: NonZeroU64 = in_mib(AppendBudgetConfig::default().process_bytes),
        /// MiB of append request bodies one account may have in flight; more get 429 with Retry-After [default: 64].
        #[arg(long, env = "AUDITSTORE_ACCOUNT_APPEND_BUDGET_MIB", value_name = "MIB")]
        pub account_append_budget_mib: NonZeroU64 = in_mib(AppendBudgetConfig::default().account_bytes),
        /// Where the key encryption key lives [default: aws-kms when --kms-key-id is given, else local].
        #[arg(long, env = "AUDITSTORE_KEY_PROVIDER", value_enum)]
        pub key_provider: KeyProviderKind,
        /// The local provider's key file [default: keys/kek.key in the data dir]; AUDITSTORE_KEK overrides it.
        #[arg(long, env = "AUDITSTORE_KEK_FILE", value_name = "FILE")]
        pub kek_file: PathBuf,
        /// AWS KMS key id, ARN or alias that wraps data keys (selects the aws-kms provider).
        #[arg(long, env = "AUDITSTORE_KMS_KEY_ID", value_name = "KEY")]
        pub kms_key_id: String,
        /// AWS KMS endpoint URL [default: the SDK's, or AWS_ENDPOINT_URL_KMS].
        #[arg(long, env = "AUDITSTORE_KMS_ENDPOINT", value_name = "URL")]
        pub kms_endpoint: String,
        /// Rotate a ledger's data key after it sealed this many events [default: 100000000].
        #[arg(long, env = "AUDITSTORE_KEY_ROTATE_AFTER_EVENTS", value_name = "N")]
        pub key_rotate_after_events: NonZeroU64 = NonZeroU64::new(100_000_000).unwrap_or(NonZeroU64::MIN),
        /// Rotate a ledger's data key once it is this many days old [default: 90].
        #[arg(long, env = "AUDITSTORE_KEY_ROTATE_AFTER_DAYS", value_name = "DAYS")]
        pub key_rotate_after_days: NonZeroU32 = NonZeroU32::new(90).unwrap_or(NonZeroU32::MIN),
        /// Delete an export's file this many hours after it finished (its record stays, expired) [default: 168, 7 days].
        #[arg(long, env = "AUDITSTORE_EXPORT_EXPIRY_HOURS", value_name = "HOURS")]
        pub export_expiry_hours: NonZeroU32 = NonZeroU32::new(168).unwrap_or(NonZeroU32::MIN),
        /// Directory of retention archive files [default: archive/ in the data dir].
        #[arg(long, env = "AUDITSTORE_ARCHIVE_DIR", value_name = "DIR")]
        pub archive_dir: PathBuf,
        /// Write new archive files to this S3 bucket instead of the archive directory (files written there before stay readable); credentials and region from the standard AWS chain.
        #[arg(long, env = "AUDITSTORE_ARCHIVE_S3_BUCKET", value_name = "BUCKET")]
        pub archive_s3_bucket: String,
        /// Key prefix of archive files in the bucket, e.g. auditstore/prod/ [default: none].
        #[arg(long, env = "AUDITSTORE_ARCHIVE_S3_PREFIX", value_name = "PREFIX")]
        pub archive_s3_prefix: String,
        /// S3-compatible endpoint to use instead of AWS's (MinIO, Ceph, moto...), with path-style addressing [default: AWS].
        #[arg(long, env = "AUDITSTORE_ARCHIVE_S3_ENDPOINT", value_name = "URL")]
        pub archive_s3_endpoint: String,
        /// Minutes between retention runs, which archive every ledger's expired events no legal hold covers [default: 60].
        #[arg(long, env = "AUDITSTORE_RETENTION_INTERVAL_MINUTES", value_name = "MINUTES")]
        pub retention_interval_minutes: NonZeroU32 = NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN),
        /// Hours a scheduled ledger deletion waits, during which it can be cancelled; 0 deletes at the deletion job's next run [default: 168].
        #[arg(long, env = "AUDITSTORE_LEDGER_DELETION_GRACE_HOURS", value_name = "HOURS")]
        pub ledger_deletion_grace_hours: u32 = 168,
        /// Seconds between tamper-monitor passes, which re-verify every ledger from where the last one stopped [default: 60].
        #[arg(long, env = "AUDITSTORE_MONITOR_INTERVAL", value_name = "SECONDS")]
        pub monitor_interval: NonZeroU64 = NonZeroU64::new(60).unwrap_or(NonZeroU64::MIN),
        /// Hours between the monitor's full sweeps, which re-verify every ledger from genesis; fractions allowed [default: 24].
        #[arg(long, env = "AUDITSTORE_MONITOR_FULL_SWEEP_HOURS", value_name = "HOURS")]
        pub monitor_full_sweep_hours: f64 = 24.0,
        /// Do not run the tamper monitor on this node; recorded as monitor.disabled in every account's system ledger, and integrity answers go stale [default: run it].
        #[arg(long, env = "AUDITSTORE_NO_MONITOR", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
        pub no_monitor: bool = false,
        /// Deliver webhooks to private, loopback and link-local addresses too, and over plain http:// to such addresses (internal receivers); refused by default, also after DNS resolution (SSRF) [default: refuse].
        #[arg(long, env = "AUDITSTORE_WEBHOOK_ALLOW_PRIVATE", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
        pub webhook_allow_private: bool = false,
        /// Seconds before each retry of a failed webhook delivery, comma-separated; each jittered by up to 20% and never sooner than the endpoint's Retry-After [default: 5,300,1800,7200,18000,36000,36000: eight attempts over about 28 hours].
        #[arg(long, env = "AUDITSTORE_WEBHOOK_RETRY_SCHEDULE", value_name = "SECONDS,...")]
        pub webhook_retry_schedule: String,
        /// Disable a webhook endpoint whose every delivery attempt has failed for this many hours (reported as webhook.disabled); fractions allowed [default: 120].
        #[arg(long, env = "AUDITSTORE_WEBHOOK_DISABLE_AFTER_HOURS", value_name = "HOURS")]
        pub webhook_disable_after_hours: f64 = 120.0,
        /// End a dashboard session after this many seconds without use [default: 1800].
        #[arg(long, env = "AUDITSTORE_SESSION_IDLE_SECS", value_name = "SECONDS")]
        pub session_idle_secs: NonZeroU64 = NonZeroU64::new(1800).unwrap_or(NonZeroU64::MIN),
        /// End a dashboard session this many seconds after sign-in, used or not [default: 43200].
        #[arg(long, env = "AUDITSTORE_SESSION_LIFETIME_SECS", value_name = "SECONDS")]
        pub session_lifetime_secs: NonZeroU64 = NonZeroU64::new(43_200).unwrap_or(NonZeroU64::MIN),
        /// Lock a dashboard user after this many failed sign-ins in a row [default: 5].
        #[arg(long, env = "AUDITSTORE_LOGIN_LOCKOUT_FAILURES", value_name = "N")]
        pub login_lockout_failures: NonZeroU32 = NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN),
        /// How long such a lock lasts, in seconds [default: 900].
        #[arg(long, env = "AUDITSTORE_LOGIN_LOCKOUT_SECS", value_name = "SECONDS")]
        pub login_lockout_secs: NonZeroU64 = NonZeroU64::new(900).unwrap_or(NonZeroU64::MIN),
    }
}
