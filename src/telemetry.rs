//! Logs and metrics: `tracing` output (text or JSON lines, per `config.log`) and the Prometheus
//! metrics served on `/metrics` (via `prometheus-client`).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `regscan_webhook_events_total` | counter | `endpoint`, `outcome` (queued, deleted, ignored, refused, rejected, failed, duplicate) |
//! | `regscan_jobs_total` | counter | `outcome` (succeeded, skipped, retried, failed, dead, released) |
//! | `regscan_scan_duration_seconds` | histogram | `kind` |
//! | `regscan_queue_publish_seconds` | histogram | `queue` (embedded, rabbitmq) |

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter directive does not parse.
    #[error("log filter {filter:?} is not valid: {message}")]
    Filter {
        /// The directive.
        filter: String,
        /// The parser's message.
        message: String,
    },
}

/// Install the global `tracing` subscriber: `config.filter`, text or JSON lines on stderr.
/// A second call (tests) leaves the first subscriber in place.
pub fn init(config: &LogConfig) -> Result<(), TelemetryError> {
    let filter = EnvFilter::try_new(&config.filter).map_err(|e| TelemetryError::Filter {
        filter: config.filter.clone(),
        message: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // Err means a subscriber is already installed, which is fine.
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
    Ok(())
}

/// [`init`], falling back to the `info` filter (with a warning naming the bad one) when
/// `config.filter` does not parse, so a typo never leaves a service without logs.
pub fn init_logging(config: &LogConfig) {
    if let Err(e) = init(config) {
        let fallback = LogConfig {
            filter: "info".into(),
            format: config.format,
        };
        let _ = init(&fallback);
        tracing::warn!(error = %e, "using the log filter `info` instead");
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointOutcome {
    endpoint: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScannerCause {
    scanner: String,
    cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: String,
}

fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

/// The process's Prometheus metrics. Share it as `Arc<Metrics>`.
pub struct Metrics {
    registry: Registry,
    webhook_events: Family<EndpointOutcome, Counter>,
    jobs: Family<Outcome, Counter>,
    scan_duration: Family<KindLabel, Histogram, fn() -> Histogram>,
    publish_latency: Family<QueueLabel, Histogram, fn() -> Histogram>,
    notifications: Family<Outcome, Counter>,
    sandbox_kills: Family<ScannerCause, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("regscan");
        let webhook_events = Family::<EndpointOutcome, Counter>::default();
        let jobs = Family::<Outcome, Counter>::default();
        let scan_duration: Family<KindLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(seconds_histogram);
        let publish_latency: Family<QueueLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(seconds_histogram);
        registry.register(
            "webhook_events",
            "Webhook events received, by endpoint and outcome",
            webhook_events.clone(),
        );
        registry.register("jobs", "Jobs settled by workers, by outcome", jobs.clone());
        registry.register(
            "scan_duration_seconds",
            "Time to run one job, by artifact kind",
            scan_duration.clone(),
        );
        registry.register(
            "queue_publish_seconds",
            "Time until a publish is durable",
            publish_latency.clone(),
        );
        let notifications = Family::<Outcome, Counter>::default();
        registry.register(
            "notifications",
            "Scan-completed notifications, by outcome (queued, dropped, delivered, failed, published, publish_failed)",
            notifications.clone(),
        );
        let sandbox_kills = Family::<ScannerCause, Counter>::default();
        registry.register(
            "sandbox_kills",
            "Sandboxed scans killed or crashed, by scanner and cause (memory, cpu, wall, signal, exit, protocol)",
            sandbox_kills.clone(),
        );
        Metrics {
            registry,
            sandbox_kills,
            webhook_events,
            jobs,
            scan_duration,
            publish_latency,
            notifications,
        }
    }
}

impl Metrics {
    /// Fresh metrics.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Count a webhook event (or rejected request) on `endpoint` with `outcome`.
    pub fn webhook_event(&self, endpoint: &str, outcome: &str) {
        self.webhook_events
            .get_or_create(&EndpointOutcome {
                endpoint: endpoint.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Count a settled job.
    pub fn job(&self, outcome: &str) {
        self.jobs
            .get_or_create(&Outcome {
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Record how long a job of `kind` took.
    pub fn scan_duration(&self, kind: &str, d: Duration) {
        self.scan_duration
            .get_or_create(&KindLabel { kind: kind.into() })
            .observe(d.as_secs_f64());
    }

    /// Record how long a publish on `queue` took to become durable.
    pub fn publish_latency(&self, queue: &str, d: Duration) {
        self.publish_latency
            .get_or_create(&QueueLabel { queue: queue.into() })
            .observe(d.as_secs_f64());
    }

    /// Count a notification outcome.
    pub fn notification(&self, outcome: &str) {
        self.notifications
            .get_or_create(&Outcome {
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Count a sandboxed scan of `scanner` killed for `cause`.
    pub fn sandbox_kill(&self, scanner: &str, cause: &str) {
        self.sandbox_kills
            .get_or_create(&ScannerCause {
                scanner: scanner.into(),
                cause: cause.into(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_exported_with_labels() {
        let m = Metrics::new();
        m.webhook_event("distribution", "queued");
        m.webhook_event("distribution", "queued");
        m.job("succeeded");
        m.scan_duration("image", Duration::from_millis(30));
        m.publish_latency("embedded", Duration::from_millis(2));
        m.notification("dropped");
        let text = m.encode();
        assert!(
            text.contains(r#"regscan_notifications_total{outcome="dropped"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"regscan_webhook_events_total{endpoint="distribution",outcome="queued"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"regscan_jobs_total{outcome="succeeded"} 1"#), "{text}");
        assert!(
            text.contains(r#"regscan_scan_duration_seconds_count{kind="image"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"regscan_queue_publish_seconds_count{queue="embedded"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn a_bad_filter_is_named() {
        let err = init(&LogConfig {
            filter: "info,[[[".into(),
            format: LogFormat::Text,
        })
        .unwrap_err();
        assert!(err.to_string().contains("[[["), "{err}");
    }
}
