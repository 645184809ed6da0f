//! Scan-completed notifications: a CloudEvents 1.0 event per finished scan, POSTed to the
//! configured webhooks (`[[notifications.webhook]]`) and, when RabbitMQ is the queue, published
//! on the `rabbitmq.events_exchange` topic exchange.
//!
//! | event `type` | when |
//! |---|---|
//! | `regscan.scan.succeeded` | a scan (or an index fan-out) ended with `succeeded` |
//! | `regscan.scan.failed` | a scan ended with `failed` (out of attempts, or a scanner error) |
//! | `regscan.scan.unsupported` | the artifact's type is handled by no scanner |
//!
//! Events are structured-mode CloudEvents JSON (`Content-Type: application/cloudevents+json`)
//! with `source` `/regscan`, `subject` the reference, a unique `id`, `time`, and as `data` the
//! report summary: reference, registry, repository, digest, kind, artifact type, status,
//! reason and the findings per severity.
//!
//! A scan never waits for a notification: [`Notifier`] (a [`ScanListener`]) puts the finished
//! scan into a bounded in-memory buffer and returns; a background task loads the report from
//! the store and delivers it. When the buffer is full the event is dropped with a warning and
//! counted ([`NotifyStats::dropped`]). Webhook deliveries are retried on network errors, 408,
//! 429 and 5xx with doubling delays (bounded attempts); other 4xx answers are final. RabbitMQ
//! publishes are persistent, on a durable topic exchange, with publisher confirms; the routing
//! key is the event type. Events still buffered when the process exits are lost: notifications
//! are at-most-once, the results database is the record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, ExchangeKind};
use regscan_scanner_api::{Status, Summary};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Semaphore};
use tracing::{debug, info, warn};

use crate::config::{redact_url, Config, NotificationsConfig};
use crate::queue::amqp::{self, Link};
use crate::report::Report;
use crate::scan::ScanListener;
use crate::store::Store;
use crate::time::Backoff;

/// Media type of a structured-mode CloudEvent in JSON.
pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";
/// The `source` of every event.
pub const SOURCE: &str = "/regscan";
/// Deliveries in flight at once, across endpoints.
const MAX_IN_FLIGHT: usize = 16;
/// Longest pause between two delivery attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
/// Longest wait for a RabbitMQ publisher confirm.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(15);

/// Notifications could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A webhook's token variable is not set.
    #[error("notifications.webhook {url}: token_env {var} is not set")]
    TokenEnv {
        /// The endpoint.
        url: String,
        /// The variable.
        var: String,
    },
    /// The HTTP client could not be built.
    #[error("building the notification HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// A delivery could not be made.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error("rabbitmq: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("rabbitmq did not confirm the event: {0}")]
    NotConfirmed(#[from] amqp::Refusal),
}

/// The `data` of an event: the report summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanEventData {
    /// `registry/repository[:tag]@digest`.
    pub reference: String,
    /// Registry host.
    pub registry: String,
    /// Repository.
    pub repository: String,
    /// Manifest digest.
    pub digest: String,
    /// Kind (`image`, `helm`, `opa`, `index`, `unknown`, …).
    pub kind: regscan_scanner_api::Kind,
    /// Resolved artifact type (media type).
    pub artifact_type: Option<String>,
    /// `succeeded`, `failed` or `unsupported`.
    pub status: Status,
    /// Why it failed or is unsupported.
    pub reason: Option<String>,
    /// Findings per severity.
    pub summary: Summary,
}

/// A CloudEvents 1.0 event in structured JSON mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    /// Always `1.0`.
    pub specversion: String,
    /// `regscan.scan.succeeded`, `regscan.scan.failed` or `regscan.scan.unsupported`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Always `/regscan`.
    pub source: String,
    /// The reference the scan was about.
    pub subject: String,
    /// Unique per event.
    pub id: String,
    /// When the event was made (RFC 3339).
    pub time: String,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The report summary.
    pub data: ScanEventData,
}

/// The event type of a terminal status (`None` for `queued` and `running`).
pub fn event_type(status: Status) -> Option<&'static str> {
    match status {
        Status::Succeeded => Some("regscan.scan.succeeded"),
        Status::Failed => Some("regscan.scan.failed"),
        Status::Unsupported => Some("regscan.scan.unsupported"),
        Status::Queued | Status::Running => None,
    }
}

impl CloudEvent {
    /// The event for `report`, whose scan ended with `status` (`None` unless terminal).
    pub fn for_report(report: &Report, status: Status) -> Option<CloudEvent> {
        let event_type = event_type(status)?;
        Some(CloudEvent {
            specversion: "1.0".into(),
            event_type: event_type.into(),
            source: SOURCE.into(),
            subject: report.reference.clone(),
            id: format!("{:032x}", rand::random::<u128>()),
            time: crate::time::rfc3339(crate::time::now_ms()),
            datacontenttype: "application/json".into(),
            data: ScanEventData {
                reference: report.reference.clone(),
                registry: report.registry.clone(),
                repository: report.repository.clone(),
                digest: report.digest.clone(),
                kind: report.kind.clone(),
                artifact_type: report.artifact_type.clone(),
                status,
                reason: report.reason.clone(),
                summary: report.summary,
            },
        })
    }
}

/// Counters of what the notifier did (also logged).
#[derive(Debug, Default)]
pub struct NotifyStats {
    /// Events accepted into the buffer.
    pub queued: AtomicU64,
    /// Events dropped because the buffer was full.
    pub dropped: AtomicU64,
    /// Webhook deliveries answered 2xx.
    pub delivered: AtomicU64,
    /// Webhook deliveries given up after their attempts (or a final 4xx).
    pub failed: AtomicU64,
    /// Events confirmed by RabbitMQ.
    pub published: AtomicU64,
    /// Events RabbitMQ did not take.
    pub publish_failed: AtomicU64,
    /// Where the counts are also exported (`regscan_notifications_total{outcome}`).
    metrics: std::sync::OnceLock<Arc<crate::telemetry::Metrics>>,
}

impl NotifyStats {
    /// Count one `outcome` in `counter` (and in the exported metrics); returns the new count.
    fn count(&self, counter: &AtomicU64, outcome: &str) -> u64 {
        if let Some(m) = self.metrics.get() {
            m.notification(outcome);
        }
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

#[derive(Debug)]
struct Finished {
    artifact: regscan_scanner_api::ArtifactRef,
    status: Status,
}

struct Endpoint {
    url: String,
    token: Option<String>,
    timeout: Duration,
}

/// Sends scan-completed events. Register it with [`crate::scan::Pipeline::add_listener`].
pub struct Notifier {
    tx: mpsc::Sender<Finished>,
    stats: Arc<NotifyStats>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

struct Worker {
    store: Store,
    config: NotificationsConfig,
    endpoints: Vec<Arc<Endpoint>>,
    http: reqwest::Client,
    rabbit: Option<Arc<Rabbit>>,
    stats: Arc<NotifyStats>,
    in_flight: Arc<Semaphore>,
}

impl Notifier {
    /// Start the background delivery task (call inside the Tokio runtime). With no webhook
    /// configured and no RabbitMQ queue it still runs, doing nothing but counting.
    pub fn start(config: &Config, store: Store) -> Result<Arc<Notifier>, NotifyError> {
        let n = &config.notifications;
        let mut endpoints = Vec::new();
        for w in &n.webhook {
            let token =
                match &w.token_env {
                    Some(var) => Some(std::env::var(var).ok().filter(|t| !t.is_empty()).ok_or_else(|| {
                        NotifyError::TokenEnv {
                            url: redact_url(&w.url),
                            var: var.clone(),
                        }
                    })?),
                    None => None,
                };
            endpoints.push(Arc::new(Endpoint {
                url: w.url.clone(),
                token,
                timeout: Duration::from_secs(w.timeout_secs),
            }));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("regscan/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let amqp = config.queue_url.starts_with("amqp://") || config.queue_url.starts_with("amqps://");
        let rabbit =
            (amqp && n.rabbitmq).then(|| Arc::new(Rabbit::new(&config.queue_url, &config.rabbitmq.events_exchange)));
        let (tx, rx) = mpsc::channel(n.buffer);
        let stats = Arc::new(NotifyStats::default());
        if !endpoints.is_empty() || rabbit.is_some() {
            info!(
                webhooks = endpoints.len(),
                rabbitmq = rabbit.is_some(),
                "scan notifications enabled"
            );
        }
        let worker = Worker {
            store,
            config: n.clone(),
            endpoints,
            http,
            rabbit,
            stats: stats.clone(),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        };
        tokio::spawn(worker.run(rx));
        Ok(Arc::new(Notifier { tx, stats }))
    }

    /// Export the counts on `/metrics` as `regscan_notifications_total{outcome}` too.
    pub fn export_metrics(&self, metrics: Arc<crate::telemetry::Metrics>) {
        let _ = self.stats.metrics.set(metrics);
    }

    /// What has been sent, dropped and failed so far.
    pub fn stats(&self) -> &NotifyStats {
        &self.stats
    }
}

impl ScanListener for Notifier {
    fn scan_finished(&self, artifact: &regscan_scanner_api::ArtifactRef, status: Status) {
        if event_type(status).is_none() {
            return;
        }
        let f = Finished {
            artifact: artifact.clone(),
            status,
        };
        match self.tx.try_send(f) {
            Ok(()) => {
                self.stats.count(&self.stats.queued, "queued");
            }
            Err(mpsc::error::TrySendError::Full(f)) => {
                let dropped = self.stats.count(&self.stats.dropped, "dropped");
                warn!(
                    artifact = %f.artifact,
                    dropped,
                    "notification buffer full; scan-completed event dropped"
                );
            }
            Err(mpsc::error::TrySendError::Closed(f)) => {
                self.stats.count(&self.stats.dropped, "dropped");
                warn!(artifact = %f.artifact, "notifier stopped; scan-completed event dropped");
            }
        }
    }
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Finished>) {
        let this = Arc::new(self);
        while let Some(f) = rx.recv().await {
            if this.endpoints.is_empty() && this.rabbit.is_none() {
                continue;
            }
            let report = match Report::load(&this.store, &f.artifact, None).await {
                Ok(Some(r)) => r,
                Ok(None) => {
                    warn!(artifact = %f.artifact, "finished scan not found in the store; no notification");
                    continue;
                }
                Err(e) => {
                    warn!(artifact = %f.artifact, error = %e, "cannot load the finished scan's report; no notification");
                    continue;
                }
            };
            let Some(event) = CloudEvent::for_report(&report, f.status) else {
                continue;
            };
            let body = match serde_json::to_vec(&event) {
                Ok(b) => Arc::new(b),
                Err(e) => {
                    warn!(error = %e, "cannot encode a CloudEvent");
                    continue;
                }
            };
            let event = Arc::new(event);
            for ep in &this.endpoints {
                let Ok(permit) = this.in_flight.clone().acquire_owned().await else {
                    return;
                };
                let (this, ep, event, body) = (this.clone(), ep.clone(), event.clone(), body.clone());
                tokio::spawn(async move {
                    this.deliver_webhook(&ep, &event, &body).await;
                    drop(permit);
                });
            }
            if let Some(rabbit) = &this.rabbit {
                let Ok(permit) = this.in_flight.clone().acquire_owned().await else {
                    return;
                };
                let (this, rabbit, event, body) = (this.clone(), rabbit.clone(), event.clone(), body.clone());
                tokio::spawn(async move {
                    this.publish_rabbit(&rabbit, &event, &body).await;
                    drop(permit);
                });
            }
        }
    }

    fn retry_delay(&self, attempt: u32) -> Duration {
        delivery_backoff(&self.config).delay(attempt)
    }

    async fn deliver_webhook(&self, ep: &Endpoint, event: &CloudEvent, body: &[u8]) {
        let attempts = self.config.max_attempts;
        for attempt in 1..=attempts {
            let mut req = self
                .http
                .post(&ep.url)
                .timeout(ep.timeout)
                .header("content-type", CLOUDEVENTS_JSON)
                .body(body.to_vec());
            if let Some(t) = &ep.token {
                req = req.bearer_auth(t);
            }
            let result = match req.send().await {
                Ok(resp) if resp.status().is_success() => Ok(()),
                Ok(resp) => Err(DeliveryError::Status(resp.status())),
                Err(e) => Err(DeliveryError::Http(e)),
            };
            let retryable = match &result {
                Ok(()) => {
                    self.stats.count(&self.stats.delivered, "delivered");
                    debug!(
                        url = redact_url(&ep.url),
                        id = event.id,
                        event_type = event.event_type,
                        "notification delivered"
                    );
                    return;
                }
                Err(DeliveryError::Status(s)) => s.is_server_error() || s.as_u16() == 408 || s.as_u16() == 429,
                Err(_) => true,
            };
            let error = result.err().map(|e| e.to_string()).unwrap_or_default();
            if !retryable || attempt == attempts {
                self.stats.count(&self.stats.failed, "failed");
                warn!(url = redact_url(&ep.url), id = event.id, subject = event.subject, attempt, %error, "notification not delivered; giving up");
                return;
            }
            let delay = self.retry_delay(attempt);
            debug!(url = redact_url(&ep.url), attempt, %error, ?delay, "notification delivery failed; will retry");
            tokio::time::sleep(delay).await;
        }
    }

    async fn publish_rabbit(&self, rabbit: &Rabbit, event: &CloudEvent, body: &[u8]) {
        let attempts = self.config.max_attempts;
        for attempt in 1..=attempts {
            match tokio::time::timeout(CONFIRM_TIMEOUT, rabbit.publish(&event.event_type, body)).await {
                Ok(Ok(())) => {
                    self.stats.count(&self.stats.published, "published");
                    return;
                }
                Ok(Err(e)) => {
                    rabbit.reset().await;
                    if attempt == attempts {
                        self.stats.count(&self.stats.publish_failed, "publish_failed");
                        warn!(exchange = rabbit.exchange, id = event.id, error = %e, "event not published on RabbitMQ; giving up");
                        return;
                    }
                }
                Err(_) => {
                    rabbit.reset().await;
                    if attempt == attempts {
                        self.stats.count(&self.stats.publish_failed, "publish_failed");
                        warn!(
                            exchange = rabbit.exchange,
                            id = event.id,
                            "no RabbitMQ confirm for the event; giving up"
                        );
                        return;
                    }
                }
            }
            tokio::time::sleep(self.retry_delay(attempt)).await;
        }
    }
}

/// The pauses between delivery attempts: `retry_base_delay_ms`, doubling, at most 30 s.
fn delivery_backoff(config: &NotificationsConfig) -> Backoff {
    Backoff::new(Duration::from_millis(config.retry_base_delay_ms), MAX_RETRY_DELAY)
}

/// The events exchange, on a confirm-mode channel that is (re)connected when needed.
struct Rabbit {
    exchange: String,
    link: Link,
}

impl Rabbit {
    fn new(url: &str, exchange: &str) -> Self {
        Rabbit {
            exchange: exchange.to_owned(),
            link: Link::new(url, "regscan-events", 1),
        }
    }

    async fn reset(&self) {
        self.link.reset().await;
    }

    async fn publish(&self, routing_key: &str, body: &[u8]) -> Result<(), DeliveryError> {
        let ch = self
            .link
            .channel(|ch| async move {
                let durable = ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                };
                ch.exchange_declare(&self.exchange, ExchangeKind::Topic, durable, FieldTable::default())
                    .await
            })
            .await?;
        let props = BasicProperties::default()
            .with_content_type(CLOUDEVENTS_JSON.into())
            .with_delivery_mode(2);
        let confirm = ch
            .basic_publish(&self.exchange, routing_key, BasicPublishOptions::default(), body, props)
            .await?
            .await?;
        Ok(amqp::confirmed(confirm)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: Status) -> Report {
        Report {
            reference: "127.0.0.1:5000/team/app:1.0@sha256:abc".into(),
            registry: "127.0.0.1:5000".into(),
            repository: "team/app".into(),
            digest: "sha256:abc".into(),
            tag: Some("1.0".into()),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            artifact_type: Some("application/vnd.acme.rocket.config.v1+json".into()),
            kind: "unknown".into(),
            status,
            reason: Some("no scanner handles media type application/vnd.acme.rocket.config.v1+json".into()),
            scanner: None,
            summary: Summary {
                high: 2,
                ..Default::default()
            },
            findings: Vec::new(),
            children: Vec::new(),
            platform: None,
            details: None,
            scanned_at: None,
            advisory_snapshot: None,
            referrers: Vec::new(),
            subject: None,
            signatures: Vec::new(),
        }
    }

    #[test]
    fn events_follow_cloudevents_structured_mode() {
        let e = CloudEvent::for_report(&report(Status::Unsupported), Status::Unsupported).unwrap();
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["type"], "regscan.scan.unsupported");
        assert_eq!(v["source"], "/regscan");
        assert_eq!(v["subject"], "127.0.0.1:5000/team/app:1.0@sha256:abc");
        assert_eq!(v["datacontenttype"], "application/json");
        assert_eq!(v["data"]["status"], "unsupported");
        assert_eq!(v["data"]["summary"]["high"], 2);
        assert!(v["data"]["reason"].as_str().unwrap().contains("rocket"));
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        let other = CloudEvent::for_report(&report(Status::Unsupported), Status::Unsupported).unwrap();
        assert_ne!(e.id, other.id, "ids are unique");
        assert!(CloudEvent::for_report(&report(Status::Running), Status::Running).is_none());
        assert_eq!(event_type(Status::Succeeded), Some("regscan.scan.succeeded"));
        assert_eq!(event_type(Status::Failed), Some("regscan.scan.failed"));
    }

    #[tokio::test]
    async fn a_full_buffer_drops_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap();
        let mut config = Config::default();
        config.notifications.buffer = 2;
        // An endpoint that never answers: deliveries stay in flight, the buffer fills.
        config.notifications.webhook.push(crate::config::WebhookEndpointConfig {
            url: "http://127.0.0.1:9/".into(),
            token_env: None,
            timeout_secs: 1,
        });
        let n = Notifier::start(&config, store).unwrap();
        let started = std::time::Instant::now();
        let artifact = |i: usize| {
            let d = regscan_scanner_api::Digest::parse(&format!("sha256:{i:064x}")).unwrap();
            regscan_scanner_api::ArtifactRef::new("r", "repo", d)
        };
        for i in 0..50 {
            n.scan_finished(&artifact(i), Status::Succeeded);
        }
        n.scan_finished(&artifact(50), Status::Running);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "scan_finished must not block"
        );
        let s = n.stats();
        let (queued, dropped) = (s.queued.load(Ordering::Relaxed), s.dropped.load(Ordering::Relaxed));
        assert_eq!(queued + dropped, 50, "running is not an event");
        assert!(dropped >= 47, "queued {queued}, dropped {dropped}");
    }

    #[test]
    fn delivery_retries_start_at_the_configured_base_and_stop_at_30_s() {
        let config = NotificationsConfig {
            retry_base_delay_ms: 100,
            ..Default::default()
        };
        let b = delivery_backoff(&config);
        assert_eq!(b.delay(1), Duration::from_millis(100));
        assert_eq!(b.delay(2), Duration::from_millis(200));
        assert_eq!(b.delay(4), Duration::from_millis(800));
        assert_eq!(b.delay(40), MAX_RETRY_DELAY);
    }
}
