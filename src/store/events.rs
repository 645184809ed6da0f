//! The webhook event log (every event received and what became of it, for audit and
//! deduplication) and deletions (`delete` events mark artifacts and tags deleted and keep their
//! history).

use std::collections::HashSet;

use serde::Serialize;
use sqlx::Row;

use super::sql::SqlBuilder;
use super::{Store, StoreError};
use crate::time::now_ms;

/// What became of one webhook event (or of a whole request that was rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventOutcome {
    /// Jobs were durably queued.
    Queued,
    /// A `delete` event: the artifact or tag was marked deleted.
    Deleted,
    /// Nothing to do (a blob push, a pull, a mount, an action regscan does not act on).
    Ignored,
    /// The event names a registry that is not configured (SSRF guard), or lacks what is needed.
    Refused,
    /// The whole request was refused (bad token, malformed payload, body too large).
    Rejected,
    /// The queue was unavailable; the registry was answered 503 and will retry.
    Failed,
    /// The event id was seen and queued before; not queued again.
    Duplicate,
}

impl std::str::FromStr for EventOutcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use EventOutcome::*;
        [Queued, Deleted, Ignored, Refused, Rejected, Failed, Duplicate]
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown webhook event outcome {s:?}"))
    }
}

impl EventOutcome {
    /// The outcome as stored and exported in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Queued => "queued",
            EventOutcome::Deleted => "deleted",
            EventOutcome::Ignored => "ignored",
            EventOutcome::Refused => "refused",
            EventOutcome::Rejected => "rejected",
            EventOutcome::Failed => "failed",
            EventOutcome::Duplicate => "duplicate",
        }
    }
}

/// One row of the webhook event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    /// Which endpoint received it: `distribution`, `harbor`, `acr`, `quay`, `zot`.
    pub endpoint: String,
    /// The event id from the payload, if any.
    pub event_id: Option<String>,
    /// What became of it.
    pub outcome: EventOutcome,
    /// The HTTP status the request was answered with.
    pub status_code: u16,
    /// Why (for everything but `queued`).
    pub reason: Option<String>,
    /// The event's action (`push`, `delete`, `pull`, …).
    pub action: Option<String>,
    /// Registry host named by the event.
    pub registry: Option<String>,
    /// Repository.
    pub repository: Option<String>,
    /// Digest or tag.
    pub reference: Option<String>,
}

impl EventRecord {
    /// A record for a request refused as a whole.
    pub fn rejected(endpoint: &str, status_code: u16, reason: impl Into<String>) -> Self {
        EventRecord {
            endpoint: endpoint.into(),
            event_id: None,
            outcome: EventOutcome::Rejected,
            status_code,
            reason: Some(reason.into()),
            action: None,
            registry: None,
            repository: None,
            reference: None,
        }
    }
}

/// A stored row of the webhook event log, with its time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredEvent {
    /// The record.
    #[serde(flatten)]
    pub record: EventRecord,
    /// When it was received (Unix ms).
    pub received_at: i64,
}

impl Store {
    /// Append `records` to the webhook event log, in one transaction (multi-row inserts).
    pub async fn record_events(&self, records: &[EventRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        // 10 parameters a row; 100 rows stay far below every backend's parameter limit.
        for chunk in records.chunks(100) {
            let mut b = SqlBuilder::new(
                self.backend,
                "INSERT INTO webhook_events (endpoint, event_id, outcome, status_code, reason, action, registry, repository, reference, received_at) ",
            );
            b.push_values(chunk, |mut row, r| {
                row.push_bind(r.endpoint.as_str())
                    .push_bind(r.event_id.as_deref())
                    .push_bind(r.outcome.as_str())
                    .push_bind(i64::from(r.status_code))
                    .push_bind(r.reason.as_deref())
                    .push_bind(r.action.as_deref())
                    .push_bind(r.registry.as_deref())
                    .push_bind(r.repository.as_deref())
                    .push_bind(r.reference.as_deref())
                    .push_bind(now);
            });
            b.build()?.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Which of `event_ids` (received on `endpoint`) were already queued or applied: a
    /// registry's redelivery of those is acknowledged without queueing again.
    pub async fn seen_events(&self, endpoint: &str, event_ids: &[&str]) -> Result<HashSet<String>, StoreError> {
        let mut seen = HashSet::new();
        // Small batches keep the statement within every backend's parameter limit.
        for chunk in event_ids.chunks(200) {
            let mut b = SqlBuilder::new(
                self.backend,
                "SELECT DISTINCT event_id FROM webhook_events WHERE endpoint = ",
            );
            b.push_bind(endpoint)
                .push(" AND outcome IN ('queued', 'deleted') AND event_id IN (");
            let mut ids = b.separated(", ");
            for id in chunk {
                ids.push_bind(*id);
            }
            b.push(")");
            for row in b.build()?.fetch_all(&self.pool).await? {
                seen.insert(row.try_get::<String, _>("event_id")?);
            }
        }
        Ok(seen)
    }

    /// The most recent `limit` webhook events, newest first.
    pub async fn recent_events(&self, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT endpoint, event_id, outcome, status_code, reason, action, registry, repository, reference, received_at
             FROM webhook_events ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let outcome: String = r.try_get("outcome")?;
                let status_code: i64 = r.try_get("status_code")?;
                Ok(StoredEvent {
                    record: EventRecord {
                        endpoint: r.try_get("endpoint")?,
                        event_id: r.try_get("event_id")?,
                        outcome: outcome.parse().map_err(StoreError::Corrupt)?,
                        status_code: u16::try_from(status_code)
                            .map_err(|_| StoreError::Corrupt(format!("HTTP status {status_code} in the event log")))?,
                        reason: r.try_get("reason")?,
                        action: r.try_get("action")?,
                        registry: r.try_get("registry")?,
                        repository: r.try_get("repository")?,
                        reference: r.try_get("reference")?,
                    },
                    received_at: r.try_get("received_at")?,
                })
            })
            .collect()
    }

    /// Mark deleted what a `delete` event names, keeping its scans: with a digest, the artifact
    /// and every tag pointing at it; with only a tag, that tag. Returns the rows marked.
    pub async fn mark_deleted(
        &self,
        registry: &str,
        repository: &str,
        digest: Option<&str>,
        tag: Option<&str>,
    ) -> Result<u64, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let mut marked = 0;
        if let Some(digest) = digest {
            marked += sqlx::query(
                "UPDATE artifacts SET deleted_at = $1, updated_at = $1
                 WHERE registry = $2 AND repository = $3 AND digest = $4 AND deleted_at IS NULL",
            )
            .bind(now)
            .bind(registry)
            .bind(repository)
            .bind(digest)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            marked += sqlx::query(
                "UPDATE tags SET deleted_at = $1
                 WHERE registry = $2 AND repository = $3 AND digest = $4 AND deleted_at IS NULL",
            )
            .bind(now)
            .bind(registry)
            .bind(repository)
            .bind(digest)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        } else if let Some(tag) = tag {
            marked += sqlx::query(
                "UPDATE tags SET deleted_at = $1
                 WHERE registry = $2 AND repository = $3 AND tag = $4 AND deleted_at IS NULL",
            )
            .bind(now)
            .bind(registry)
            .bind(repository)
            .bind(tag)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(marked)
    }
}
