//! Retention: pruning the webhook event log and old scan history in bounded batches, so that
//! a busy registry (or a flood) never grows the database without end. [`run`] is the background
//! task `regscan serve` starts; each batch is one short transaction and batches are spaced out,
//! so ingest (webhooks, workers) is never blocked for long.

use std::time::Duration;

use sqlx::Row;
use tokio_util::sync::CancellationToken;

use super::sql::SqlBuilder;
use super::{Store, StoreError};
use crate::config::RetentionConfig;
use crate::time::now_ms;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Pause between two batches, so other writers get the database in between.
const BATCH_PAUSE: Duration = Duration::from_millis(50);

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Webhook event log rows.
    pub webhook_events: u64,
    /// Scans (with their findings and packages).
    pub scans: u64,
}

impl Store {
    /// Delete up to `batch` webhook events received before `before` (Unix ms), oldest first.
    pub async fn prune_webhook_events(&self, before: i64, batch: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM webhook_events WHERE id IN
             (SELECT id FROM webhook_events WHERE received_at < $1 ORDER BY id LIMIT $2)",
        )
        .bind(before)
        .bind(batch)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Delete up to `batch` scans of the history, with their findings and packages: scans
    /// created before `before` (Unix ms) or not among their artifact's newest `keep` scans.
    /// Never deleted: an artifact's current scan (`latest_scan_id`), a scan that is queued or
    /// running, and a scan whose package inventory another scan uses.
    pub async fn prune_scans(&self, before: i64, keep: i64, batch: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT s.id FROM scans s JOIN artifacts a ON a.id = s.artifact_id
             WHERE s.status NOT IN ('queued', 'running')
               AND (a.latest_scan_id IS NULL OR a.latest_scan_id <> s.id)
               AND (s.created_at < $1
                    OR (SELECT COUNT(*) FROM scans n WHERE n.artifact_id = s.artifact_id AND n.id > s.id) >= $2)
               AND NOT EXISTS (SELECT 1 FROM scans u WHERE u.inventory_scan_id = s.id AND u.id <> s.id)
             ORDER BY s.id LIMIT $3",
        )
        .bind(before)
        .bind(keep)
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(0);
        }
        // Rows of findings and packages first, then the scans (the count returned); the id lists
        // go in slices, so any batch size stays within every backend's bound-value limit.
        let mut deleted = 0;
        for (table, column) in [("findings", "scan_id"), ("packages", "scan_id"), ("scans", "id")] {
            deleted = 0;
            for slice in ids.chunks(1000) {
                let mut b = SqlBuilder::new(self.backend, format!("DELETE FROM {table} WHERE {column} IN ("));
                let mut list = b.separated(", ");
                for id in slice {
                    list.push_bind(*id);
                }
                b.push(")");
                deleted += b.build()?.execute(&mut *tx).await?.rows_affected();
            }
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// One retention pass at time `now` (Unix ms): prune in batches of `config.batch_size`
    /// until nothing is left to prune, pausing between batches.
    pub async fn prune(&self, config: &RetentionConfig, now: i64) -> Result<Pruned, StoreError> {
        let batch = i64::from(config.batch_size);
        let mut pruned = Pruned::default();
        if config.webhook_events_days > 0 {
            let before = now - i64::from(config.webhook_events_days) * DAY_MS;
            loop {
                let n = self.prune_webhook_events(before, batch).await?;
                pruned.webhook_events += n;
                if n < batch as u64 {
                    break;
                }
                tokio::time::sleep(BATCH_PAUSE).await;
            }
        }
        if config.scan_history_days > 0 || config.keep_scans > 0 {
            let before = match config.scan_history_days {
                0 => i64::MIN,
                d => now - i64::from(d) * DAY_MS,
            };
            let keep = match config.keep_scans {
                0 => i64::MAX,
                k => i64::from(k),
            };
            loop {
                let n = self.prune_scans(before, keep, batch).await?;
                pruned.scans += n;
                if n < batch as u64 {
                    break;
                }
                tokio::time::sleep(BATCH_PAUSE).await;
            }
        }
        Ok(pruned)
    }
}

/// Prune every `config.interval_secs` until `stop` fires (the first pass a minute after start).
/// Errors are logged and retried at the next interval.
pub async fn run(store: Store, config: RetentionConfig, stop: CancellationToken) {
    if config.webhook_events_days == 0 && config.scan_history_days == 0 && config.keep_scans == 0 {
        return;
    }
    let mut wait = Duration::from_secs(60.min(config.interval_secs));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = Duration::from_secs(config.interval_secs);
        let pass = tokio::select! {
            _ = stop.cancelled() => return,
            r = store.prune(&config, now_ms()) => r,
        };
        match pass {
            Ok(p) if p != Pruned::default() => {
                tracing::info!(webhook_events = p.webhook_events, scans = p.scans, "retention: pruned")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention: pruning failed; trying again at the next interval"),
        }
    }
}
