//! The embedded queue: a `jobs` table in the results database (the default when no
//! `queue_url` is set).
//!
//! A worker takes a job by setting a lease (`lease_until`) on it; while the job runs the worker
//! renews the lease, and when the worker dies the lease runs out and the job is handed to the
//! next worker, counted as a failed attempt. On PostgreSQL the claim uses
//! `FOR UPDATE SKIP LOCKED`, so workers on many machines never take the same row; on SQLite
//! the single writer serialises claims. Finished jobs are deleted; jobs out of attempts stay
//! with `state = 'dead'` and their last error.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;
use tokio::sync::Notify;

use super::{Consumer, Delivery, Job, Queue, QueueError, Settle};
use crate::store::{now_ms, Backend, Store};

/// How often an idle consumer looks for due jobs (retries fall due, leases run out).
const POLL: Duration = Duration::from_millis(250);

/// The embedded queue.
#[derive(Clone, Debug)]
pub struct EmbeddedQueue {
    store: Store,
    lease: Duration,
    /// Wakes consumers in this process when a job is published here.
    wake: Arc<Notify>,
}

impl EmbeddedQueue {
    /// A queue in `store`'s database, with leases of `lease_secs` seconds.
    pub fn new(store: Store, lease_secs: u64) -> Self {
        EmbeddedQueue {
            store,
            lease: Duration::from_secs(lease_secs.max(1)),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Take one due job for `worker`, if any.
    pub async fn claim(&self, worker: &str) -> Result<Option<Delivery>, QueueError> {
        let now = now_ms();
        let lease_until = now + self.lease.as_millis() as i64;
        let lock = match self.store.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        // An expired lease means the last worker died or hung holding the job: count it as an
        // attempt so a job that kills its worker every time ends up dead, not looping.
        let sql = format!(
            "UPDATE jobs SET lease_until = $1, worker = $2, deliveries = deliveries + 1, updated_at = $3,
                attempt = attempt + CASE WHEN lease_until IS NULL THEN 0 ELSE 1 END,
                last_error = CASE WHEN lease_until IS NULL THEN last_error ELSE 'the worker running it stopped answering (lease expired)' END
             WHERE id = (SELECT id FROM jobs WHERE state = 'ready' AND run_at <= $3
                           AND (lease_until IS NULL OR lease_until < $3)
                         ORDER BY run_at LIMIT 1 {lock})
             RETURNING id, payload, attempt, last_error"
        );
        let row = sqlx::query(&sql)
            .bind(lease_until)
            .bind(worker)
            .bind(now)
            .fetch_optional(self.store.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("id")?;
        let payload: String = row.try_get("payload")?;
        let attempt: i64 = row.try_get("attempt")?;
        let mut job: Job = match serde_json::from_str(&payload) {
            Ok(j) => j,
            Err(e) => {
                // Not a job: park it as dead so it does not come back, and say why.
                let message = e.to_string();
                sqlx::query("UPDATE jobs SET state = 'dead', lease_until = NULL, last_error = $1 WHERE id = $2")
                    .bind(format!("payload is not a job: {message}"))
                    .bind(&id)
                    .execute(self.store.pool())
                    .await?;
                return Err(QueueError::BadPayload { id, message });
            }
        };
        job.attempt = u32::try_from(attempt).unwrap_or(u32::MAX);
        let settle = EmbeddedSettle {
            queue: self.clone(),
            id,
            worker: worker.to_owned(),
        };
        Ok(Some(Delivery::new(job, Box::new(settle))))
    }

    /// Jobs waiting (state `ready`), for tests and metrics.
    pub async fn pending(&self) -> Result<i64, QueueError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE state = 'ready'")
            .fetch_one(self.store.pool())
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Dead jobs with their last error: `(id, last_error)`.
    pub async fn dead(&self) -> Result<Vec<(String, String)>, QueueError> {
        let rows = sqlx::query("SELECT id, last_error FROM jobs WHERE state = 'dead' ORDER BY updated_at")
            .fetch_all(self.store.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let err: Option<String> = r.try_get("last_error")?;
                Ok((r.try_get("id")?, err.unwrap_or_default()))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(QueueError::from)
    }
}

#[async_trait::async_trait]
impl Queue for EmbeddedQueue {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn publish(&self, jobs: &[Job]) -> Result<(), QueueError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut tx = self.store.pool().begin().await?;
        for job in jobs {
            let payload = serde_json::to_string(job).map_err(|e| QueueError::BadPayload {
                id: job.id.clone(),
                message: e.to_string(),
            })?;
            sqlx::query(
                "INSERT INTO jobs (id, payload, attempt, run_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $4, $4)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&job.id)
            .bind(payload)
            .bind(i64::from(job.attempt))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.wake.notify_waiters();
        Ok(())
    }

    async fn consumer(&self, worker: &str, _prefetch: usize) -> Result<Box<dyn Consumer>, QueueError> {
        Ok(Box::new(EmbeddedConsumer {
            queue: self.clone(),
            worker: worker.to_owned(),
        }))
    }

    async fn ping(&self) -> Result<(), QueueError> {
        sqlx::query("SELECT COUNT(*) FROM jobs WHERE 1 = 0")
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    async fn close(&self) {}
}

struct EmbeddedConsumer {
    queue: EmbeddedQueue,
    worker: String,
}

#[async_trait::async_trait]
impl Consumer for EmbeddedConsumer {
    async fn next(&mut self) -> Result<Delivery, QueueError> {
        loop {
            // Register interest before looking, so a publish in between is not missed.
            let woken = self.queue.wake.notified();
            if let Some(d) = self.queue.claim(&self.worker).await? {
                return Ok(d);
            }
            let _ = tokio::time::timeout(POLL, woken).await;
        }
    }
}

/// Log a settle that found the job no longer ours (its lease expired and another worker took it).
fn lost_lease(id: &str, rows: u64) {
    if rows == 0 {
        tracing::warn!(
            job = id,
            "the job's lease expired while it ran; another worker has it now, so this result is not applied"
        );
    }
}

struct EmbeddedSettle {
    queue: EmbeddedQueue,
    id: String,
    worker: String,
}

#[async_trait::async_trait]
impl Settle for EmbeddedSettle {
    async fn ack(&self) -> Result<(), QueueError> {
        // Only while this worker still holds the lease: a job whose lease expired belongs to
        // whoever took it over.
        let done = sqlx::query("DELETE FROM jobs WHERE id = $1 AND worker = $2")
            .bind(&self.id)
            .bind(&self.worker)
            .execute(self.queue.store.pool())
            .await?;
        lost_lease(&self.id, done.rows_affected());
        Ok(())
    }

    async fn retry(&self, job: &Job, delay: Duration, error: &str) -> Result<(), QueueError> {
        let now = now_ms();
        let payload = serde_json::to_string(job).map_err(|e| QueueError::BadPayload {
            id: job.id.clone(),
            message: e.to_string(),
        })?;
        let r = sqlx::query(
            "UPDATE jobs SET payload = $1, attempt = $2, run_at = $3, lease_until = NULL, worker = NULL,
                last_error = $4, updated_at = $5 WHERE id = $6 AND worker = $7",
        )
        .bind(payload)
        .bind(i64::from(job.attempt))
        .bind(now + delay.as_millis() as i64)
        .bind(error)
        .bind(now)
        .bind(&self.id)
        .bind(&self.worker)
        .execute(self.queue.store.pool())
        .await?;
        lost_lease(&self.id, r.rows_affected());
        Ok(())
    }

    async fn dead_letter(&self, job: &Job, error: &str) -> Result<(), QueueError> {
        let r = sqlx::query(
            "UPDATE jobs SET state = 'dead', attempt = $1, lease_until = NULL, worker = NULL, last_error = $2, updated_at = $3
             WHERE id = $4 AND worker = $5",
        )
        .bind(i64::from(job.attempt))
        .bind(error)
        .bind(now_ms())
        .bind(&self.id)
        .bind(&self.worker)
        .execute(self.queue.store.pool())
        .await?;
        lost_lease(&self.id, r.rows_affected());
        Ok(())
    }

    async fn release(&self) -> Result<(), QueueError> {
        sqlx::query("UPDATE jobs SET lease_until = NULL, worker = NULL, updated_at = $1 WHERE id = $2 AND worker = $3")
            .bind(now_ms())
            .bind(&self.id)
            .bind(&self.worker)
            .execute(self.queue.store.pool())
            .await?;
        self.queue.wake.notify_waiters();
        Ok(())
    }

    async fn keep_alive(&self) -> Result<(), QueueError> {
        let until = now_ms() + self.queue.lease.as_millis() as i64;
        sqlx::query("UPDATE jobs SET lease_until = $1 WHERE id = $2 AND worker = $3")
            .bind(until)
            .bind(&self.id)
            .bind(&self.worker)
            .execute(self.queue.store.pool())
            .await?;
        Ok(())
    }
}
