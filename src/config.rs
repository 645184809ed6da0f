//! Configuration: a TOML file (`--config`, default `regscan.toml` when present) and environment
//! variables that override it.
//!
//! | variable | overrides |
//! |---|---|
//! | `REGSCAN_DATABASE_URL` | `database_url` |
//! | `REGSCAN_QUEUE_URL` | `queue_url` |
//! | `REGSCAN_LISTEN` | `listen` |
//! | `REGSCAN_WEBHOOK_TOKEN` | `webhook_token` |
//! | `REGSCAN_API_TOKEN` | `api_token` |
//! | `REGSCAN_LOG` | `log.filter` |
//! | `REGSCAN_LOG_FORMAT` | `log.format` (`text` or `json`) |
//!
//! Secrets (tokens, passwords) are [`SecretString`]s from the `secrecy` crate: their `Debug`
//! prints `[REDACTED]`, they have no `Display` or `Serialize`, and reading one takes an explicit
//! [`ExposeSecret::expose_secret`], called only where it is sent. Their memory is zeroed on drop.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use regscan_scanner_api::TypeEntry;
pub use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

mod signatures;
mod validate;
pub use signatures::SignaturesConfig;

/// Errors reading the configuration; each names the file or variable at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (line, column, field).
        message: String,
    },
    /// An environment variable has a bad value.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A value is invalid.
    #[error("config: {0}")]
    Invalid(String),
    /// A number is outside the range regscan accepts for it.
    #[error("config: {key} = {value} is out of range (allowed {min} to {max})")]
    OutOfRange {
        /// The key (`worker.lease_secs`).
        key: String,
        /// The value given.
        value: u64,
        /// The smallest value allowed.
        min: u64,
        /// The largest value allowed.
        max: u64,
    },
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `tracing` filter directive, e.g. `info,regscan=debug`. Default `info`.
    pub filter: String,
    /// `text` (default) or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// A registry regscan may contact. regscan never fetches from a host that is not listed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Host and optional port as it appears in references and webhooks: `registry.example.com`,
    /// `127.0.0.1:5000`.
    pub host: String,
    /// Base URL to reach it, when it differs from `https://{host}` (or `http://{host}` when
    /// `insecure`). Webhooks must still name `host`.
    #[serde(default)]
    pub url: Option<String>,
    /// Plain HTTP instead of HTTPS. Default false.
    #[serde(default)]
    pub insecure: bool,
    /// User name for basic auth or the token flow.
    #[serde(default)]
    pub username: Option<String>,
    /// Name of the environment variable holding the password or token.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password or token (first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Other host names webhooks may use for this registry (e.g. an internal name).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The bearer-token endpoint, when it is not on the registry's own origin (scheme, host and
    /// port of `url`), e.g. `https://auth.docker.io/token`. A `WWW-Authenticate` realm must be on
    /// the registry's origin or on this URL's origin; any other realm fails the request and is
    /// sent nothing. Default none.
    #[serde(default)]
    pub token_realm: Option<String>,
}

impl RegistryConfig {
    /// The base URL requests go to.
    pub fn base_url(&self) -> String {
        match &self.url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None if self.insecure => format!("http://{}", self.host),
            None => format!("https://{}", self.host),
        }
    }

    /// Whether `host` names this registry.
    pub fn matches(&self, host: &str) -> bool {
        self.host.eq_ignore_ascii_case(host) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(host))
    }

    /// The credentials, read from the environment or the file. Never logged.
    pub fn credentials(&self) -> Result<Option<(String, SecretString)>, ConfigError> {
        let Some(user) = &self.username else { return Ok(None) };
        let password = if let Some(var) = &self.password_env {
            std::env::var(var)
                .map_err(|_| ConfigError::Invalid(format!("registry {}: password_env {var} is not set", self.host)))?
        } else if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            text.lines().next().unwrap_or("").to_owned()
        } else {
            return Err(ConfigError::Invalid(format!(
                "registry {}: username is set but neither password_env nor password_file",
                self.host
            )));
        };
        Ok(Some((user.clone(), SecretString::from(password))))
    }
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiRole {
    /// Query results.
    Read,
    /// Query results and request scans.
    Scan,
}

/// A named API token (`[[api_tokens]]`). The token itself comes from the environment or a file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenConfig {
    /// A name for people and logs.
    pub name: String,
    /// `read` or `scan`.
    pub role: ApiRole,
    /// Environment variable holding the token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding the token (first line).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

impl ApiTokenConfig {
    /// The token, if its variable or file is set and non-empty.
    pub fn secret(&self) -> Option<SecretString> {
        let v = if let Some(var) = &self.token_env {
            std::env::var(var).ok()
        } else if let Some(path) = &self.token_file {
            std::fs::read_to_string(path)
                .ok()
                .and_then(|t| t.lines().next().map(str::to_owned))
        } else {
            None
        };
        v.filter(|t| !t.trim().is_empty()).map(|t| SecretString::from(t.trim()))
    }
}

/// Worker settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Jobs run at once by one process. Default 4, range 1–1024.
    pub concurrency: usize,
    /// Upper bound of jobs of one kind run at once (e.g. `{ image = 2 }`), so a flood of one
    /// type cannot starve the others. Kinds not listed may use all of `concurrency`. Each 1–1024.
    pub kind_concurrency: BTreeMap<String, usize>,
    /// Attempts before a job is stored as `failed` and dead-lettered. Default 5, range 1–50.
    pub max_attempts: u32,
    /// Delay before the first retry, in seconds; doubles per attempt, at most an hour. Default
    /// 2, range 1–3600.
    pub retry_base_delay_secs: u64,
    /// Lease of an embedded-queue job and of a scan claim, in seconds. The worker renews both
    /// every third of it while it works; past it, a killed worker's job and claim are taken over
    /// (so its artifact is scanned again within about this long). Default 30, range 3–3600.
    pub lease_secs: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 4,
            kind_concurrency: BTreeMap::new(),
            max_attempts: 5,
            retry_base_delay_secs: 2,
            lease_secs: 30,
        }
    }
}

/// RabbitMQ settings (used when `queue_url` is `amqp://…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RabbitConfig {
    /// Queue name. Default `regscan.scans`.
    pub queue: String,
    /// `quorum` (default) or `classic`; any other value is refused when the config is loaded.
    pub queue_type: QueueType,
    /// Exchange for scan-completed events. Default `regscan.events`.
    pub events_exchange: String,
}

/// The RabbitMQ queue type regscan declares its queues with (`x-queue-type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// A replicated quorum queue (the default).
    #[default]
    Quorum,
    /// A classic queue.
    Classic,
}

impl QueueType {
    /// The `x-queue-type` argument value.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Quorum => "quorum",
            QueueType::Classic => "classic",
        }
    }
}

impl std::fmt::Display for QueueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for RabbitConfig {
    fn default() -> Self {
        RabbitConfig {
            queue: "regscan.scans".into(),
            queue_type: QueueType::Quorum,
            events_exchange: "regscan.events".into(),
        }
    }
}

/// HTTP limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest webhook body accepted, in bytes (413 beyond). Default 1 MiB.
    pub max_body_bytes: usize,
    /// Also look webhook event ids up in the database's event log before queueing. Default
    /// false: each receiver remembers the last 100,000 event ids it queued (warmed from the
    /// database at start), which catches a registry's redeliveries without a query per request;
    /// a duplicate that gets past it (another receiver, or a redelivery after 100,000 others) is
    /// still scanned once, because the pipeline skips digests already scanned. Turn on to
    /// deduplicate across receivers at the cost of one query per webhook.
    pub dedup_in_database: bool,
    /// Rows a single source address (an IPv4 address or an IPv6 /64) may add to the webhook
    /// event log at once for requests rejected as a whole (no or wrong token, oversize or
    /// malformed body). Past it, rejections are still answered and counted in metrics, and one
    /// summary row per source and minute records how many were not logged. Default 20.
    pub rejected_log_burst: u32,
    /// Rate at which that allowance refills, in rows per minute. Default 10.
    pub rejected_log_per_minute: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 1 << 20,
            dedup_in_database: false,
            rejected_log_burst: 20,
            rejected_log_per_minute: 10,
        }
    }
}

/// Retention (`[retention]`): what a background task of `regscan serve` prunes, in batches.
/// A value of 0 turns that rule off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Webhook event log rows older than this many days are deleted. Default 30.
    pub webhook_events_days: u32,
    /// Scans older than this many days are deleted, except each artifact's current scan (the
    /// one reports show). Default 90.
    pub scan_history_days: u32,
    /// Per artifact, scans beyond its newest `keep_scans` are deleted (whatever their age);
    /// the current scan is always kept. Default 10.
    pub keep_scans: u32,
    /// Seconds between two pruning passes. Default 3600, range 1–604800.
    pub interval_secs: u64,
    /// Rows deleted per statement; batches are spaced out so ingest is never blocked for long.
    /// Default 1000, range 1–100000.
    pub batch_size: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            webhook_events_days: 30,
            scan_history_days: 90,
            keep_scans: 10,
            interval_secs: 3600,
            batch_size: 1000,
        }
    }
}

/// Scan-completed notifications (`[notifications]`): CloudEvents webhooks, and the RabbitMQ
/// events exchange when RabbitMQ is the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// Endpoints every scan-completed CloudEvent is POSTed to (`[[notifications.webhook]]`).
    /// Default none.
    pub webhook: Vec<WebhookEndpointConfig>,
    /// Events waiting for delivery kept in memory; beyond it new events are dropped with a
    /// warning (a scan never waits for a notification). Default 1000, range 1–1000000.
    pub buffer: usize,
    /// Delivery attempts per event and endpoint before it is given up. Default 5, range 1–50.
    pub max_attempts: u32,
    /// Delay before the first retry, in milliseconds; doubles per attempt, at most 30 s.
    /// Default 500, range 1–60000.
    pub retry_base_delay_ms: u64,
    /// Publish the events on `rabbitmq.events_exchange` when `queue_url` is `amqp://…`.
    /// Default true.
    pub rabbitmq: bool,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        NotificationsConfig {
            webhook: Vec::new(),
            buffer: 1000,
            max_attempts: 5,
            retry_base_delay_ms: 500,
            rabbitmq: true,
        }
    }
}

/// One CloudEvents webhook endpoint (`[[notifications.webhook]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointConfig {
    /// `http://` or `https://` URL the events are POSTed to.
    pub url: String,
    /// Environment variable holding a token sent as `Authorization: Bearer TOKEN`. Default none.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Per-request timeout in seconds. Default 10, range 1–300.
    #[serde(default = "default_webhook_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_webhook_timeout_secs() -> u64 {
    10
}

/// Scanner settings, one table per scanner. Serialised whole into each sandboxed scan, which
/// builds its scanners from it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScannersConfig {
    /// `[scanners.image]`.
    pub image: regscan_scanner_image::ImageConfig,
    /// `[scanners.helm]`.
    pub helm: regscan_scanner_helm::HelmConfig,
    /// `[scanners.opa]`.
    pub opa: regscan_scanner_opa::OpaConfig,
    /// `[scanners.sbom]`.
    pub sbom: regscan_scanner_sbom::SbomConfig,
    /// `[[scanners.external]]`: programs of the user's own that artifact types are routed to
    /// (name, version, command, accepts, kind; optional title, timeout_secs, max_output_bytes,
    /// max_blob_bytes, max_artifact_bytes, env). Default none. See README.md, "External scanner
    /// plugins".
    pub external: Vec<regscan_scanner_external::ExternalConfig>,
    /// `[scanners.cosign]`: only `max_payload_bytes` may be set here; the keys come from
    /// `[[signatures.keys]]`, copied in by [`Config::load`].
    pub cosign: regscan_scanner_cosign::CosignConfig,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Database URL: `sqlite://regscan.db` (default) or `postgres://…`.
    pub database_url: String,
    /// Queue URL: empty for the embedded queue table (default), or `amqp://…` for RabbitMQ.
    pub queue_url: String,
    /// HTTP listen address. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Bearer token webhooks must present. Unset: webhooks are not authenticated.
    pub webhook_token: Option<SecretString>,
    /// Bearer token the query API requires. Unset: the API is open.
    pub api_token: Option<SecretString>,
    /// Named API tokens with roles (`[[api_tokens]]`).
    pub api_tokens: Vec<ApiTokenConfig>,
    /// Logging.
    pub log: LogConfig,
    /// Registries regscan may contact (`[[registry]]`).
    #[serde(rename = "registry")]
    pub registries: Vec<RegistryConfig>,
    /// Extra rows for the type table (`[[types]]`: media_type, kind, title, scanner).
    pub types: Vec<TypeEntry>,
    /// Worker settings.
    pub worker: WorkerConfig,
    /// RabbitMQ settings.
    pub rabbitmq: RabbitConfig,
    /// HTTP settings.
    pub http: HttpConfig,
    /// Scanner settings.
    pub scanners: ScannersConfig,
    /// Signature verification keys and policy (`[signatures]`).
    pub signatures: SignaturesConfig,
    /// Limits of the sandboxed process each scan runs in (`[sandbox]`).
    pub sandbox: crate::sandbox::SandboxConfig,
    /// Scan-completed notifications.
    pub notifications: NotificationsConfig,
    /// Retention of the webhook event log and of scan history.
    pub retention: RetentionConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://regscan.db".into(),
            queue_url: String::new(),
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            webhook_token: None,
            api_token: None,
            api_tokens: Vec::new(),
            log: LogConfig::default(),
            registries: Vec::new(),
            types: Vec::new(),
            worker: WorkerConfig::default(),
            rabbitmq: RabbitConfig::default(),
            http: HttpConfig::default(),
            scanners: ScannersConfig::default(),
            signatures: SignaturesConfig::default(),
            sandbox: crate::sandbox::SandboxConfig::default(),
            notifications: NotificationsConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

impl Config {
    /// Load `path` (or `regscan.toml` when present and `path` is None), then apply the
    /// environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(path, |k| std::env::var(k).ok())
    }

    /// [`Config::load`] with an injectable environment, for tests.
    pub fn load_with_env(path: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let default_path = Path::new("regscan.toml");
        let file = match path {
            Some(p) => Some(p),
            None if default_path.exists() => Some(default_path),
            None => None,
        };
        let mut cfg = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                toml::from_str::<Config>(&text).map_err(|e| ConfigError::Parse {
                    path: p.to_owned(),
                    message: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        cfg.apply_env(env)?;
        cfg.apply_signatures()?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let nonempty = |k: &str| env(k).filter(|v| !v.is_empty());
        if let Some(v) = nonempty("REGSCAN_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = env("REGSCAN_QUEUE_URL") {
            self.queue_url = v;
        }
        if let Some(v) = nonempty("REGSCAN_LISTEN") {
            self.listen = v.parse().map_err(|e| ConfigError::Env {
                var: "REGSCAN_LISTEN",
                message: format!("{v:?} is not an address like 127.0.0.1:8080 ({e})"),
            })?;
        }
        if let Some(v) = nonempty("REGSCAN_WEBHOOK_TOKEN") {
            self.webhook_token = Some(SecretString::from(v));
        }
        if let Some(v) = nonempty("REGSCAN_API_TOKEN") {
            self.api_token = Some(SecretString::from(v));
        }
        if let Some(v) = nonempty("REGSCAN_LOG") {
            self.log.filter = v;
        }
        if let Some(v) = nonempty("REGSCAN_LOG_FORMAT") {
            self.log.format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(ConfigError::Env {
                        var: "REGSCAN_LOG_FORMAT",
                        message: format!("{other:?} is not a log format (expected text or json)"),
                    })
                }
            };
        }
        Ok(())
    }

    /// The registry configured for `host`, if any.
    pub fn registry(&self, host: &str) -> Option<&RegistryConfig> {
        self.registries.iter().find(|r| r.matches(host))
    }
}

/// Load `text` as a config file, with no environment (tests).
#[cfg(test)]
pub(crate) fn load_text(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let p = dir.path().join("c.toml");
    std::fs::write(&p, text).expect("writing the config file");
    Config::load_with_env(Some(&p), |_| None)
}

/// `url` with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(a, _)| *a == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let c = Config::load_with_env(Some(Path::new("/dev/null")), env(&[])).unwrap();
        assert_eq!(c.database_url, "sqlite://regscan.db");
        assert!(c.queue_url.is_empty());
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn env_overrides_file_and_errors_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "listen = \"0.0.0.0:9000\"\n[[registry]]\nhost = \"127.0.0.1:5000\"\ninsecure = true\n",
        )
        .unwrap();
        let c = Config::load_with_env(
            Some(&p),
            env(&[
                ("REGSCAN_LISTEN", "127.0.0.1:9999"),
                ("REGSCAN_WEBHOOK_TOKEN", "s3cret"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(
            c.registry("127.0.0.1:5000").unwrap().base_url(),
            "http://127.0.0.1:5000"
        );
        assert!(c.registry("evil.example").is_none());
        let shown = format!("{c:?}");
        assert!(shown.contains("REDACTED") && !shown.contains("s3cret"), "{shown}");
        assert_eq!(c.webhook_token.as_ref().map(|t| t.expose_secret()), Some("s3cret"));
        let err = Config::load_with_env(Some(&p), env(&[("REGSCAN_LOG_FORMAT", "xml")])).unwrap_err();
        assert!(err.to_string().contains("REGSCAN_LOG_FORMAT"), "{err}");
    }

    #[test]
    fn closed_sets_are_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[rabbitmq]\nqueue_type = \"classic\"\n").unwrap();
        let c = Config::load_with_env(Some(&p), env(&[])).unwrap();
        assert_eq!(c.rabbitmq.queue_type, QueueType::Classic);
        std::fs::write(&p, "[rabbitmq]\nqueue_type = \"stream\"\n").unwrap();
        let err = Config::load_with_env(Some(&p), env(&[])).unwrap_err().to_string();
        assert!(
            err.contains("queue_type") && err.contains("stream") && err.contains("quorum"),
            "{err}"
        );
    }

    #[test]
    fn the_documented_example_config_loads() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/regscan.toml");
        let c = Config::load_with_env(Some(&p), env(&[])).unwrap();
        assert_eq!(c.registries.len(), 1);
        assert_eq!(c.rabbitmq.queue_type, QueueType::Quorum);
        assert_eq!(
            c.retention.webhook_events_days,
            RetentionConfig::default().webhook_events_days
        );
        assert_eq!(c.http.rejected_log_burst, HttpConfig::default().rejected_log_burst);
        assert_eq!(
            c.sandbox,
            crate::sandbox::SandboxConfig::default(),
            "documented defaults"
        );
        assert_eq!(c.worker.lease_secs, WorkerConfig::default().lease_secs);
    }

    #[test]
    fn sandbox_limits_are_checked_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[sandbox]\nmemory_bytes = 1000\n").unwrap();
        let err = Config::load_with_env(Some(&p), env(&[])).unwrap_err().to_string();
        assert!(err.contains("memory_bytes"), "{err}");
        std::fs::write(&p, "[sandbox]\nwall_secs = 0\n").unwrap();
        assert!(Config::load_with_env(Some(&p), env(&[])).is_err());
        std::fs::write(&p, "[sandbox]\ncpu_secs = 5\n").unwrap();
        let c = Config::load_with_env(Some(&p), env(&[])).unwrap();
        assert_eq!((c.sandbox.cpu_secs, c.sandbox.wall_secs), (5, 300));
    }

    #[test]
    fn token_realm_must_be_a_url() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[[registry]]\nhost = \"r.example\"\ntoken_realm = \"https://auth.example/token\"\n",
        )
        .unwrap();
        let c = Config::load_with_env(Some(&p), env(&[])).unwrap();
        assert_eq!(
            c.registries[0].token_realm.as_deref(),
            Some("https://auth.example/token")
        );
        std::fs::write(
            &p,
            "[[registry]]\nhost = \"r.example\"\ntoken_realm = \"auth.example\"\n",
        )
        .unwrap();
        let err = Config::load_with_env(Some(&p), env(&[])).unwrap_err().to_string();
        assert!(err.contains("token_realm") && err.contains("r.example"), "{err}");
    }

    #[test]
    fn the_documented_external_scanner_entry_loads_when_uncommented() {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/regscan.toml")).unwrap();
        let start = text.find("# [[scanners.external]]").expect("documented entry");
        let entry: String = text[start..]
            .lines()
            .take_while(|l| l.starts_with("# "))
            .map(|l| format!("{}\n", &l[2..]))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, &entry).unwrap();
        let c = Config::load_with_env(Some(&p), env(&[])).unwrap();
        let e = &c.scanners.external[0];
        let defaults = regscan_scanner_external::ExternalConfig::default();
        assert_eq!(e.name, "wasm-audit");
        assert_eq!(
            (
                e.timeout_secs,
                e.max_output_bytes,
                e.max_blob_bytes,
                e.max_artifact_bytes
            ),
            (
                defaults.timeout_secs,
                defaults.max_output_bytes,
                defaults.max_blob_bytes,
                defaults.max_artifact_bytes
            ),
            "the commented values are the defaults"
        );
    }

    #[test]
    fn unknown_fields_are_refused_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "databse_url = \"x\"\n").unwrap();
        let err = Config::load_with_env(Some(&p), env(&[])).unwrap_err().to_string();
        assert!(err.contains("c.toml") && err.contains("databse_url"), "{err}");
    }

    #[test]
    fn notification_endpoints_are_checked_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[notifications]\nbuffer = 10\n[[notifications.webhook]]\nurl = \"http://127.0.0.1:9/hook\"\ntoken_env = \"HOOK_TOKEN\"\n").unwrap();
        let c = Config::load_with_env(Some(&p), env(&[])).unwrap();
        assert_eq!(c.notifications.buffer, 10);
        assert_eq!(c.notifications.webhook[0].timeout_secs, 10);
        assert_eq!(c.notifications.max_attempts, 5);
        std::fs::write(&p, "[[notifications.webhook]]\nurl = \"ftp://x\"\n").unwrap();
        let err = Config::load_with_env(Some(&p), env(&[])).unwrap_err().to_string();
        assert!(
            err.contains("notifications.webhook #1") && err.contains("ftp://x"),
            "{err}"
        );
        std::fs::write(&p, "[[notifications.webhook]]\nurl = \"http://h/\"\nretries = 3\n").unwrap();
        let err = Config::load_with_env(Some(&p), env(&[])).unwrap_err().to_string();
        assert!(err.contains("retries"), "{err}");
    }

    #[test]
    fn external_scanners_load_with_defaults_and_bad_entries_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        let entry = |name: &str, extra: &str| {
            format!("[[scanners.external]]\nname = {name:?}\nversion = \"1.0\"\ncommand = [\"/opt/p\", \"--strict\"]\naccepts = [\"application/vnd.wasm.config.v0+json\"]\nkind = \"wasm\"\n{extra}")
        };
        std::fs::write(&p, entry("wasm-audit", "timeout_secs = 30\n")).unwrap();
        let c = Config::load_with_env(Some(&p), env(&[])).unwrap();
        let e = &c.scanners.external[0];
        assert_eq!(
            (e.name.as_str(), e.timeout_secs, e.command.len()),
            ("wasm-audit", 30, 2)
        );
        assert_eq!(e.max_output_bytes, 16 << 20);
        for (text, expect) in [
            (
                entry("wasm-audit", "").replace("command = [\"/opt/p\", \"--strict\"]", "command = []"),
                "command",
            ),
            (
                entry("wasm-audit", "").replace("[\"application/vnd.wasm.config.v0+json\"]", "[]"),
                "accepts",
            ),
            (entry("helm", ""), "built-in"),
            (entry("image", ""), "\"image\""),
            (format!("{}{}", entry("a", ""), entry("a", "")), "scanners.external #2"),
            (entry("x", "comand = []\n"), "comand"),
            (entry("x", "timeout_secs = 300\n"), "sandbox.wall_secs (300)"),
        ] {
            std::fs::write(&p, &text).unwrap();
            let err = Config::load_with_env(Some(&p), env(&[])).unwrap_err().to_string();
            assert!(err.contains(expect), "{expect}: {err}");
        }
    }

    #[test]
    fn bad_urls_are_refused_without_leaking_passwords() {
        let err = Config::load_with_env(None, env(&[("REGSCAN_DATABASE_URL", "mysql://u:hunter2@h/db")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mysql") && !err.contains("hunter2"), "{err}");
    }
}
