//! The durable job queue: one small interface, two implementations.
//!
//! - [`embedded`]: a jobs table in the results database, with leases that expire (the default
//!   when `queue_url` is empty);
//! - [`rabbitmq`]: RabbitMQ via lapin (quorum queue, persistent messages, publisher confirms,
//!   manual acks, per-attempt delay queues, a dead-letter queue).
//!
//! [`Queue::publish`] returns only once the jobs are durable (committed row / publisher
//! confirm): webhooks answer 2xx only after it returns `Ok`.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Config, WorkerConfig};
use crate::store::Store;
use crate::time::Backoff;

pub(crate) mod amqp;
pub mod embedded;
pub mod rabbitmq;

/// One unit of work: scan one manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Deduplication key: the webhook event id, or a fresh id for on-demand scans.
    pub id: String,
    /// Registry host as configured (`127.0.0.1:5000`).
    pub registry: String,
    /// Repository (`team/app`).
    pub repository: String,
    /// Digest (`sha256:…`) or tag to scan.
    pub reference: String,
    /// Tag the push named, if any (recorded against the digest).
    #[serde(default)]
    pub tag: Option<String>,
    /// Where the job came from: `webhook:distribution`, `api`, `cli`, `index:sha256:…`.
    pub source: String,
    /// Scan again even if this digest was already scanned by the same scanner version.
    #[serde(default)]
    pub force: bool,
    /// Attempts made so far (0 on first delivery).
    #[serde(default)]
    pub attempt: u32,
}

/// Queue errors.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The embedded queue's database failed.
    #[error("queue database: {0}")]
    Db(#[from] sqlx::Error),
    /// RabbitMQ failed (connection, channel, protocol).
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] lapin::Error),
    /// RabbitMQ refused a message (negative publisher confirm or returned message).
    #[error("RabbitMQ did not accept job {id}: {reason}")]
    NotConfirmed {
        /// The job.
        id: String,
        /// What the broker said.
        reason: String,
    },
    /// A queued message is not a job.
    #[error("queued message {id} is not a valid job: {message}")]
    BadPayload {
        /// Message or row id.
        id: String,
        /// Why it does not parse.
        message: String,
    },
    /// The queue was shut down.
    #[error("the queue is closed")]
    Closed,
}

/// A durable job queue.
#[async_trait::async_trait]
pub trait Queue: Send + Sync + 'static {
    /// `embedded` or `rabbitmq`.
    fn kind(&self) -> &'static str;

    /// Enqueue `jobs`. Returns `Ok` only once every job is durable (all or nothing for the
    /// embedded queue; every message confirmed by RabbitMQ). A job whose id is already waiting
    /// on the embedded queue is not added twice.
    async fn publish(&self, jobs: &[Job]) -> Result<(), QueueError>;

    /// A consumer for `worker`, taking up to `prefetch` jobs at a time.
    async fn consumer(&self, worker: &str, prefetch: usize) -> Result<Box<dyn Consumer>, QueueError>;

    /// Whether the queue is reachable (readiness).
    async fn ping(&self) -> Result<(), QueueError>;

    /// Close connections.
    async fn close(&self);
}

/// Hands out jobs to one worker process.
#[async_trait::async_trait]
pub trait Consumer: Send {
    /// The next job; waits until there is one. Connection trouble is retried inside (with
    /// backoff) for RabbitMQ; an error here is for the worker to log and call again.
    async fn next(&mut self) -> Result<Delivery, QueueError>;
}

/// What settles one delivered job on its queue (implemented by each queue).
#[async_trait::async_trait]
pub trait Settle: Send + Sync {
    /// Done: remove the job.
    async fn ack(&self) -> Result<(), QueueError>;
    /// Run `job` (its `attempt` already counted) again after `delay`; `error` is the reason.
    async fn retry(&self, job: &Job, delay: Duration, error: &str) -> Result<(), QueueError>;
    /// Out of attempts: move to the dead-letter queue with the last error.
    async fn dead_letter(&self, job: &Job, error: &str) -> Result<(), QueueError>;
    /// Hand the job back untouched (graceful shutdown).
    async fn release(&self) -> Result<(), QueueError>;
    /// Extend the lease while the job runs (embedded queue; no-op on RabbitMQ).
    async fn keep_alive(&self) -> Result<(), QueueError>;
}

/// A job handed to a worker, to be settled exactly once.
pub struct Delivery {
    /// The job.
    pub job: Job,
    settle: Box<dyn Settle>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("job", &self.job)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// Pair a job with what settles it.
    pub fn new(job: Job, settle: Box<dyn Settle>) -> Self {
        Delivery { job, settle }
    }
    /// Done: remove the job.
    pub async fn ack(self) -> Result<(), QueueError> {
        self.settle.ack().await
    }
    /// Run `job` again after `delay`.
    pub async fn retry(self, job: &Job, delay: Duration, error: &str) -> Result<(), QueueError> {
        self.settle.retry(job, delay, error).await
    }
    /// Dead-letter with the last error.
    pub async fn dead_letter(self, job: &Job, error: &str) -> Result<(), QueueError> {
        self.settle.dead_letter(job, error).await
    }
    /// Hand back untouched.
    pub async fn release(self) -> Result<(), QueueError> {
        self.settle.release().await
    }
    /// Extend the lease.
    pub async fn keep_alive(&self) -> Result<(), QueueError> {
        self.settle.keep_alive().await
    }
}

/// Open the queue the configuration names: RabbitMQ when `queue_url` is set, else the embedded
/// queue in `store`'s database.
pub async fn open(config: &Config, store: &Store) -> Result<Arc<dyn Queue>, QueueError> {
    if config.queue_url.is_empty() {
        Ok(Arc::new(embedded::EmbeddedQueue::new(
            store.clone(),
            config.worker.lease_secs,
        )))
    } else {
        let q = rabbitmq::RabbitQueue::connect(&config.queue_url, &config.rabbitmq, &config.worker).await?;
        Ok(Arc::new(q))
    }
}

/// Longest delay before a job's retry.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// The delays before a job's retries: `worker.retry_base_delay_secs`, doubling per attempt, at
/// most [`MAX_RETRY_DELAY`]. The embedded queue waits them out in `run_at`; RabbitMQ in the
/// TTLs of its retry queues.
pub fn retry_backoff(worker: &WorkerConfig) -> Backoff {
    Backoff::new(Duration::from_secs(worker.retry_base_delay_secs), MAX_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_retries_wait_from_the_configured_base_up_to_an_hour() {
        let worker = WorkerConfig {
            retry_base_delay_secs: 2,
            ..Default::default()
        };
        let b = retry_backoff(&worker);
        assert_eq!(b.delay(1), Duration::from_secs(2));
        assert_eq!(b.delay(2), Duration::from_secs(4));
        assert_eq!(b.delay(4), Duration::from_secs(16));
        assert_eq!(b.delay(60), MAX_RETRY_DELAY);
    }

    #[test]
    fn old_job_json_without_new_fields_still_parses() {
        let j: Job = serde_json::from_str(
            r#"{"id":"e1","registry":"r:5000","repository":"a/b","reference":"sha256:00","source":"webhook:distribution"}"#,
        )
        .unwrap();
        assert_eq!(j.attempt, 0);
        assert!(!j.force && j.tag.is_none());
    }
}
