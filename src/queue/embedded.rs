//! The embedded queue: a `jobs` table in the results database (the default when no
//! `queue_url` is set).
//!
//! A worker takes a job by setting a lease (`lease_until`) on it; while the job runs the worker
//! renews the lease, and when the worker dies the lease runs out and the job is handed to the
//! next worker, counted as a failed attempt. On PostgreSQL the claim uses
//! `FOR UPDATE SKIP LOCKED`, so workers on many machines never take the same row; on SQLite
//! the single writer serialises claims. Finished jobs are deleted; jobs out of attempts stay
//! with `state = 'dead'` and their last error.
//!
//! Lease and retry times are read from the store's clock ([`Store::now_ms`]), so the rules
//! here are tested by moving a manual clock.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;
use tokio::sync::Notify;

use super::{Consumer, Delivery, Job, Queue, QueueError, Settle};
use crate::store::{Backend, Store};

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
    /// A queue in `store`'s database, with leases of `lease_secs` seconds (the configuration
    /// checks `worker.lease_secs` at load).
    pub fn new(store: Store, lease_secs: u64) -> Self {
        EmbeddedQueue {
            store,
            lease: Duration::from_secs(lease_secs),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Take one due job for `worker`, if any.
    pub async fn claim(&self, worker: &str) -> Result<Option<Delivery>, QueueError> {
        let now = self.store.now_ms();
        let lease_until = now.saturating_add(millis(self.lease));
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
        let now = self.store.now_ms();
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

/// `d` in whole milliseconds, saturating.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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
        let now = self.queue.store.now_ms();
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
        .bind(now.saturating_add(millis(delay)))
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
        .bind(self.queue.store.now_ms())
        .bind(&self.id)
        .bind(&self.worker)
        .execute(self.queue.store.pool())
        .await?;
        lost_lease(&self.id, r.rows_affected());
        Ok(())
    }

    async fn release(&self) -> Result<(), QueueError> {
        sqlx::query("UPDATE jobs SET lease_until = NULL, worker = NULL, updated_at = $1 WHERE id = $2 AND worker = $3")
            .bind(self.queue.store.now_ms())
            .bind(&self.id)
            .bind(&self.worker)
            .execute(self.queue.store.pool())
            .await?;
        self.queue.wake.notify_waiters();
        Ok(())
    }

    async fn keep_alive(&self) -> Result<(), QueueError> {
        let until = self.queue.store.now_ms().saturating_add(millis(self.queue.lease));
        sqlx::query("UPDATE jobs SET lease_until = $1 WHERE id = $2 AND worker = $3")
            .bind(until)
            .bind(&self.id)
            .bind(&self.worker)
            .execute(self.queue.store.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::store_at_manual_time;
    use crate::time::ManualClock;

    const LEASE: Duration = Duration::from_secs(30);

    fn job(id: &str) -> Job {
        Job {
            id: id.into(),
            registry: "r.example".into(),
            repository: "team/app".into(),
            reference: "sha256:aaaa".into(),
            tag: None,
            source: "test".into(),
            force: false,
            attempt: 0,
        }
    }

    async fn queue() -> (EmbeddedQueue, ManualClock, tempfile::TempDir) {
        let (store, clock, dir) = store_at_manual_time().await;
        (EmbeddedQueue::new(store, LEASE.as_secs()), clock, dir)
    }

    async fn rows(q: &EmbeddedQueue) -> i64 {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM jobs")
            .fetch_one(q.store.pool())
            .await
            .unwrap();
        row.try_get("n").unwrap()
    }

    #[tokio::test]
    async fn a_taken_job_comes_back_only_when_its_lease_runs_out_and_counts_an_attempt() {
        let (q, clock, _dir) = queue().await;
        q.publish(&[job("j1")]).await.unwrap();
        let d = q.claim("w1").await.unwrap().expect("a due job");
        assert_eq!(d.job.attempt, 0);
        assert!(q.claim("w2").await.unwrap().is_none(), "leased to w1");
        clock.advance(LEASE);
        assert!(
            q.claim("w2").await.unwrap().is_none(),
            "the lease ends after, not at, its last ms"
        );
        clock.advance(Duration::from_millis(1));
        let again = q.claim("w2").await.unwrap().expect("the lease ran out");
        assert_eq!(again.job.id, "j1");
        assert_eq!(again.job.attempt, 1, "a worker that stopped answering spent an attempt");
    }

    #[tokio::test]
    async fn keep_alive_holds_the_job_past_its_first_lease() {
        let (q, clock, _dir) = queue().await;
        q.publish(&[job("j1")]).await.unwrap();
        let d = q.claim("w1").await.unwrap().unwrap();
        for _ in 0..4 {
            clock.advance(LEASE / 3 * 2);
            d.keep_alive().await.unwrap();
            assert!(q.claim("w2").await.unwrap().is_none());
        }
        d.ack().await.unwrap();
        assert_eq!(rows(&q).await, 0, "an acked job is gone");
    }

    #[tokio::test]
    async fn a_retry_runs_after_its_delay_with_the_counted_attempt() {
        let (q, clock, _dir) = queue().await;
        q.publish(&[job("j1")]).await.unwrap();
        let d = q.claim("w1").await.unwrap().unwrap();
        let mut next = d.job.clone();
        next.attempt = 1;
        d.retry(&next, Duration::from_secs(10), "registry down").await.unwrap();
        assert_eq!(q.pending().await.unwrap(), 1);
        assert!(q.claim("w1").await.unwrap().is_none(), "not due yet");
        clock.advance(Duration::from_millis(9_999));
        assert!(q.claim("w2").await.unwrap().is_none(), "not due yet");
        clock.advance(Duration::from_millis(1));
        let d = q.claim("w2").await.unwrap().expect("due after its delay");
        assert_eq!(d.job.attempt, 1, "the retry's own attempt, no lease expiry added");
    }

    #[tokio::test]
    async fn a_dead_job_keeps_its_last_error_and_never_runs_again() {
        let (q, clock, _dir) = queue().await;
        q.publish(&[job("j1"), job("j2")]).await.unwrap();
        let d = q.claim("w1").await.unwrap().unwrap();
        let dead_id = d.job.id.clone();
        let mut last = d.job.clone();
        last.attempt = 5;
        d.dead_letter(&last, "gave up: HTTP 500").await.unwrap();
        assert_eq!(
            q.dead().await.unwrap(),
            vec![(dead_id.clone(), "gave up: HTTP 500".to_owned())]
        );
        assert_eq!(q.pending().await.unwrap(), 1, "the other job still waits");
        clock.advance(Duration::from_secs(365 * 86_400));
        let other = q.claim("w1").await.unwrap().unwrap();
        assert_ne!(other.job.id, dead_id);
        other.ack().await.unwrap();
        assert!(q.claim("w1").await.unwrap().is_none(), "the dead job is not handed out");
    }

    #[tokio::test]
    async fn a_worker_whose_lease_expired_cannot_settle_the_job_it_lost() {
        let (q, clock, _dir) = queue().await;
        q.publish(&[job("j1")]).await.unwrap();
        let late = q.claim("w1").await.unwrap().unwrap();
        clock.advance(LEASE + Duration::from_millis(1));
        let current = q.claim("w2").await.unwrap().unwrap();
        // w1 comes back from a long pause and tries every way of settling.
        late.keep_alive().await.unwrap();
        let job = late.job.clone();
        late.retry(&job, Duration::ZERO, "late").await.unwrap();
        assert!(
            q.claim("w3").await.unwrap().is_none(),
            "w2 still holds it; w1's retry changed nothing"
        );
        let late = {
            // A second handle of w1's, as if it had settled twice.
            let settle = EmbeddedSettle {
                queue: q.clone(),
                id: "j1".into(),
                worker: "w1".into(),
            };
            Delivery::new(job.clone(), Box::new(settle))
        };
        late.dead_letter(&job, "late").await.unwrap();
        assert!(q.dead().await.unwrap().is_empty(), "w1 cannot bury w2's job");
        assert_eq!(rows(&q).await, 1);
        let late = Delivery::new(
            job.clone(),
            Box::new(EmbeddedSettle {
                queue: q.clone(),
                id: "j1".into(),
                worker: "w1".into(),
            }),
        );
        late.ack().await.unwrap();
        assert_eq!(rows(&q).await, 1, "w1 cannot delete w2's job");
        current.ack().await.unwrap();
        assert_eq!(rows(&q).await, 0);
    }

    #[tokio::test]
    async fn a_row_that_is_not_a_job_is_parked_dead_with_the_reason() {
        let (q, _clock, _dir) = queue().await;
        sqlx::query(
            "INSERT INTO jobs (id, payload, attempt, run_at, created_at, updated_at) VALUES ('bad', '{not json', 0, 0, 0, 0)",
        )
        .execute(q.store.pool())
        .await
        .unwrap();
        let err = q.claim("w1").await.unwrap_err();
        assert!(
            matches!(&err, QueueError::BadPayload { id, .. } if id == "bad"),
            "{err}"
        );
        let dead = q.dead().await.unwrap();
        assert_eq!(dead.len(), 1);
        assert!(dead[0].1.starts_with("payload is not a job"), "{dead:?}");
        assert!(q.claim("w1").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_job_id_already_waiting_is_not_queued_twice() {
        let (q, _clock, _dir) = queue().await;
        q.publish(&[job("j1")]).await.unwrap();
        q.publish(&[job("j1"), job("j2")]).await.unwrap();
        assert_eq!(q.pending().await.unwrap(), 2);
    }
}
