//! The queue consumer: takes jobs from the [`Queue`], runs them through the scan [`Pipeline`],
//! and settles each one.
//!
//! - **Concurrency**: up to `concurrency` jobs at once per process (a job is only taken from the
//!   queue when a slot is free, and RabbitMQ's prefetch is the same number). Per-kind limits
//!   (`worker.kind_concurrency`) are enforced inside the pipeline.
//! - **Outcomes**: success → children of an index are queued (fan-out), then the job is acked;
//!   a retryable failure → retried after `retry_base_delay_secs · 2^(attempt-1)`; the last
//!   allowed attempt, or a failure that cannot pass on retry → stored as a `failed` scan with its
//!   reason (and, when attempts ran out, dead-lettered with the last error).
//! - **Leases**: while a job runs its lease is renewed (embedded queue), so only a dead worker's
//!   job comes back.
//! - **Shutdown**: when `stop` fires, no new job is taken; jobs in flight get `grace` to finish,
//!   then are handed back to the queue untouched.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::config::{Config, WorkerConfig};
use crate::queue::{retry_backoff, Delivery, Job, Queue};
use crate::scan::{Pipeline, PipelineError};
use crate::telemetry::Metrics;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Jobs run at once.
    pub concurrency: usize,
    /// Name recorded on claims and leases (`host-pid-random` by default).
    pub name: String,
    /// Time jobs in flight get to finish after `stop` before being handed back.
    pub grace: Duration,
}

impl WorkerOptions {
    /// Options from the configuration: `worker.concurrency`, a fresh name, 30 s grace.
    pub fn from_config(config: &Config) -> Self {
        WorkerOptions {
            concurrency: config.worker.concurrency,
            name: worker_name(),
            grace: Duration::from_secs(30),
        }
    }
}

/// A unique worker name: `hostname-pid-random`.
pub fn worker_name() -> String {
    use rand::Rng;
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    let suffix: u32 = rand::thread_rng().gen();
    format!(
        "{}-{}-{suffix:08x}",
        host.unwrap_or_else(|| "regscan".into()),
        std::process::id()
    )
}

/// One worker process's consumer loop.
#[derive(Clone)]
pub struct Worker {
    pipeline: Pipeline,
    queue: Arc<dyn Queue>,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    options: WorkerOptions,
}

impl Worker {
    /// A worker running `pipeline` on jobs from `queue`.
    pub fn new(
        pipeline: Pipeline,
        queue: Arc<dyn Queue>,
        config: Arc<Config>,
        metrics: Arc<Metrics>,
        options: WorkerOptions,
    ) -> Self {
        pipeline.set_metrics(metrics.clone());
        Worker {
            pipeline,
            queue,
            config,
            metrics,
            options,
        }
    }

    /// Consume until `stop` fires, then drain (see the module docs). Returns an error only if
    /// the queue cannot be consumed from at all.
    pub async fn run(self, stop: CancellationToken) -> Result<(), crate::queue::QueueError> {
        let slots = Arc::new(Semaphore::new(self.options.concurrency));
        let mut consumer = self
            .queue
            .consumer(&self.options.name, self.options.concurrency)
            .await?;
        let hard = CancellationToken::new();
        let mut tasks = JoinSet::new();
        info!(worker = %self.options.name, concurrency = self.options.concurrency, queue = self.queue.kind(), "worker started");
        loop {
            let permit = tokio::select! {
                _ = stop.cancelled() => break,
                p = slots.clone().acquire_owned() => p.expect("semaphore is never closed"),
            };
            // Reap finished tasks so the set does not grow.
            while tasks.try_join_next().is_some() {}
            let delivery = tokio::select! {
                _ = stop.cancelled() => break,
                d = consumer.next() => d,
            };
            match delivery {
                Ok(d) => {
                    let me = self.clone();
                    let hard = hard.clone();
                    tasks.spawn(async move {
                        me.handle(d, hard).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    warn!(error = %e, "could not take a job from the queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        // The consumer (and, on RabbitMQ, its channel) stays open until the jobs in flight are
        // settled: closing it now would hand them back to the broker while they still run.
        let in_flight = tasks.len();
        if in_flight > 0 {
            info!(
                in_flight,
                grace_secs = self.options.grace.as_secs(),
                "stopping: letting jobs in flight finish"
            );
        }
        let drained =
            tokio::time::timeout(self.options.grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            warn!(
                left = tasks.len(),
                "grace period over: handing jobs in flight back to the queue"
            );
            hard.cancel();
            while tasks.join_next().await.is_some() {}
        }
        drop(consumer);
        info!(worker = %self.options.name, "worker stopped");
        Ok(())
    }

    /// Run one delivery to its end and settle it.
    async fn handle(&self, delivery: Delivery, hard: CancellationToken) {
        let job = delivery.job.clone();
        if out_of_attempts(&self.config.worker, job.attempt) {
            // Only crashes count attempts without coming through here: give up on it.
            let reason = format!(
                "gave up after {} attempts: the worker running this job stopped answering each time",
                job.attempt
            );
            self.give_up(delivery, &job, &reason, true).await;
            return;
        }
        let started = Instant::now();
        let lease = Duration::from_secs(self.config.worker.lease_secs);
        let result = {
            // A panic below (a scanner bug) is a failure of this job, not of the worker: the
            // delivery must still be settled.
            let run = AssertUnwindSafe(self.pipeline.run_job(&job, &self.options.name)).catch_unwind();
            let keep_alive = async {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    if let Err(e) = delivery.keep_alive().await {
                        warn!(job = %job.id, error = %e, "could not renew the job's lease");
                    }
                }
            };
            tokio::select! {
                r = run => Some(r),
                _ = keep_alive => None,
                _ = hard.cancelled() => None,
            }
        };
        let Some(result) = result else {
            match delivery.release().await {
                Ok(()) => info!(job = %job.id, "job handed back to the queue"),
                Err(e) => {
                    warn!(job = %job.id, error = %e, "could not hand the job back; it returns when its lease expires")
                }
            }
            self.metrics.job("released");
            return;
        };
        let result =
            result.unwrap_or_else(|panic| Err(PipelineError::Panicked(crate::scan::panic_message(panic.as_ref()))));
        match result {
            Ok(outcome) => {
                self.metrics.scan_duration(outcome.kind.as_str(), started.elapsed());
                if !outcome.children.is_empty() {
                    let t = Instant::now();
                    if let Err(e) = self.queue.publish(&outcome.children).await {
                        let reason = format!(
                            "queueing the {} children of index {}: {e}",
                            outcome.children.len(),
                            outcome.digest
                        );
                        self.retry_or_fail(delivery, &job, &reason, true).await;
                        return;
                    }
                    self.metrics.publish_latency(self.queue.kind(), t.elapsed());
                }
                let label = if outcome.skipped { "skipped" } else { "succeeded" };
                info!(job = %job.id, digest = %outcome.digest, kind = %outcome.kind, status = %outcome.status,
                      children = outcome.children.len(), skipped = outcome.skipped, ms = started.elapsed().as_millis() as u64, "job done");
                if let Err(e) = delivery.ack().await {
                    warn!(job = %job.id, error = %e, "could not ack the job; it may run again (harmlessly: the result is stored)");
                }
                self.metrics.job(label);
            }
            Err(e) => {
                let reason = e.to_string();
                self.retry_or_fail(delivery, &job, &reason, e.is_retryable()).await;
            }
        }
    }

    /// Retry `job` if it may pass on retry and attempts remain, else store it as failed.
    async fn retry_or_fail(&self, delivery: Delivery, job: &Job, reason: &str, retryable: bool) {
        match after_failure(&self.config.worker, job.attempt, retryable) {
            AfterFailure::Retry { attempt, delay } => {
                let mut next = job.clone();
                next.attempt = attempt;
                let max = self.config.worker.max_attempts;
                warn!(job = %job.id, attempt, max, delay_secs = delay.as_secs(), error = %reason, "job failed; will retry");
                match delivery.retry(&next, delay, reason).await {
                    Ok(()) => self.metrics.job("retried"),
                    Err(e) => {
                        error!(job = %job.id, error = %e, "could not schedule the retry; the job returns when its lease expires")
                    }
                }
            }
            AfterFailure::DeadLetter => self.give_up(delivery, job, reason, true).await,
            AfterFailure::Fail => self.give_up(delivery, job, reason, false).await,
        }
    }

    /// Store the final failure; dead-letter the job if it ran out of attempts, else ack it.
    async fn give_up(&self, delivery: Delivery, job: &Job, reason: &str, exhausted: bool) {
        let mut last = job.clone();
        last.attempt += 1;
        if let Err(e) = self.pipeline.record_failure(job, reason).await {
            // Without the failure stored, do not drop the job: try again later.
            error!(job = %job.id, error = %e, "could not store the failure; retrying the job later");
            let delay = retry_backoff(&self.config.worker).delay(1);
            if let Err(e) = delivery.retry(job, delay, reason).await {
                error!(job = %job.id, error = %e, "could not reschedule the job; it returns when its lease expires");
            }
            return;
        }
        let settled = if exhausted {
            error!(job = %job.id, attempts = last.attempt, error = %reason, "job failed for good; dead-lettered");
            self.metrics.job("dead");
            delivery.dead_letter(&last, reason).await
        } else {
            warn!(job = %job.id, error = %reason, "job failed and cannot pass on retry; stored as failed");
            self.metrics.job("failed");
            delivery.ack().await
        };
        if let Err(e) = settled {
            warn!(job = %job.id, error = %e, "could not settle the failed job; it may run again");
        }
        debug!(job = %job.id, "settled");
    }
}

/// Whether a job delivered for attempt `attempt` (0-based) has no attempt left: only crashes
/// (a lease that ran out, a broker redelivery) count attempts without a recorded failure.
fn out_of_attempts(worker: &WorkerConfig, attempt: u32) -> bool {
    attempt >= worker.max_attempts
}

/// What happens to a job whose attempt `attempt` (0-based) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterFailure {
    /// Run it again as attempt `attempt` after `delay`.
    Retry {
        /// The next attempt.
        attempt: u32,
        /// The wait before it.
        delay: Duration,
    },
    /// Store the failure and dead-letter the job: it may pass on retry, but its attempts are
    /// spent.
    DeadLetter,
    /// Store the failure and drop the job: running it again cannot pass.
    Fail,
}

/// The rule: a failure that may pass on retry is retried after `retry_base_delay_secs`,
/// doubling, while attempts remain; the last attempt's failure is dead-lettered; a failure that
/// cannot pass on retry is stored at once.
fn after_failure(worker: &WorkerConfig, attempt: u32, retryable: bool) -> AfterFailure {
    if !retryable {
        return AfterFailure::Fail;
    }
    let next = attempt.saturating_add(1);
    if next < worker.max_attempts {
        AfterFailure::Retry {
            attempt: next,
            delay: retry_backoff(worker).delay(next),
        }
    } else {
        AfterFailure::DeadLetter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(max_attempts: u32) -> WorkerConfig {
        WorkerConfig {
            max_attempts,
            retry_base_delay_secs: 2,
            ..Default::default()
        }
    }

    #[test]
    fn retryable_failures_are_retried_with_doubling_delays_until_the_last_attempt() {
        let w = worker(5);
        let secs = Duration::from_secs;
        assert_eq!(
            after_failure(&w, 0, true),
            AfterFailure::Retry {
                attempt: 1,
                delay: secs(2)
            }
        );
        assert_eq!(
            after_failure(&w, 1, true),
            AfterFailure::Retry {
                attempt: 2,
                delay: secs(4)
            }
        );
        assert_eq!(
            after_failure(&w, 3, true),
            AfterFailure::Retry {
                attempt: 4,
                delay: secs(16)
            }
        );
        assert_eq!(
            after_failure(&w, 4, true),
            AfterFailure::DeadLetter,
            "the fifth attempt was the last"
        );
        assert_eq!(after_failure(&w, 9, true), AfterFailure::DeadLetter);
    }

    #[test]
    fn a_failure_that_cannot_pass_on_retry_is_stored_at_once() {
        for attempt in [0, 3, 4] {
            assert_eq!(after_failure(&worker(5), attempt, false), AfterFailure::Fail);
        }
    }

    #[test]
    fn one_attempt_means_no_retry() {
        assert_eq!(after_failure(&worker(1), 0, true), AfterFailure::DeadLetter);
    }

    #[test]
    fn a_job_that_kept_killing_its_worker_is_given_up_on_delivery() {
        let w = worker(3);
        assert!(!out_of_attempts(&w, 0));
        assert!(!out_of_attempts(&w, 2));
        assert!(
            out_of_attempts(&w, 3),
            "three deliveries whose worker stopped answering"
        );
    }

    #[test]
    fn defaults_are_taken_from_the_configuration() {
        let mut config = Config::default();
        config.worker.concurrency = 7;
        let o = WorkerOptions::from_config(&config);
        assert_eq!(o.concurrency, 7);
        assert_eq!(o.grace, Duration::from_secs(30));
        assert_ne!(
            o.name,
            WorkerOptions::from_config(&config).name,
            "each worker has its own name"
        );
    }
}
