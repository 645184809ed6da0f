//! The webhook event log's access path, batched: concurrent requests hand their deduplication
//! lookups and their records to two background tasks, which serve everything that queued up
//! meanwhile with one query (group commit); under load the database sees a few large statements
//! instead of many small transactions.
//!
//! Deduplication is by event id, in memory first: the last 100,000 ids this process queued
//! (warmed from the database at start). Only with `http.dedup_in_database` does a request also
//! wait for a database lookup of the ids memory does not know.
//!
//! A request waits for its lookup. Records of accepted requests are written right after the
//! answer ([`EventLog::record_later`]): the answer promises that the jobs are queued, which the
//! queue alone decides, and a record lost in a crash costs at most one duplicate job, which the
//! pipeline skips. [`EventLog::flush`] waits for everything handed over.
//!
//! Requests rejected as a whole go through [`EventLog::record_rejected`], which writes them
//! rate-limited per source address ([`super::flood`]); the summary rows of what was held back are
//! written every [`super::flood::SUMMARY_INTERVAL`] and on [`EventLog::flush`].

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::flood::RejectLimiter;
use crate::store::events::{EventOutcome, EventRecord};
use crate::store::Store;

/// Most requests served by one batch.
const MAX_BATCH: usize = 1024;
/// How long the writer waits for more records before writing a batch.
const APPEND_LINGER: std::time::Duration = std::time::Duration::from_millis(25);
/// Event ids remembered in memory (so a redelivery arriving before its record is committed is
/// still recognised).
const RECENT_IDS: usize = 100_000;

/// The most recent queued event ids of this process, oldest evicted first.
#[derive(Debug, Default)]
struct Recent {
    order: VecDeque<(String, String)>,
    set: HashSet<(String, String)>,
}

impl Recent {
    fn insert(&mut self, endpoint: &str, id: &str) {
        let key = (endpoint.to_owned(), id.to_owned());
        if self.set.insert(key.clone()) {
            self.order.push_back(key);
            if self.order.len() > RECENT_IDS {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

/// The event log could not be read or written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EventLogError {
    /// The database failed (one failure answers every request of a batch, hence shared).
    #[error("webhook event log: {0}")]
    Store(#[source] std::sync::Arc<crate::store::StoreError>),
    /// The task serving the log has stopped.
    #[error("webhook event log: the event log task stopped")]
    Stopped,
}

impl From<crate::store::StoreError> for EventLogError {
    fn from(e: crate::store::StoreError) -> Self {
        EventLogError::Store(std::sync::Arc::new(e))
    }
}

type Reply<T> = oneshot::Sender<Result<T, EventLogError>>;

struct Lookup {
    endpoint: String,
    ids: Vec<String>,
    reply: Reply<HashSet<String>>,
}

struct Append {
    records: Vec<EventRecord>,
    /// `None`: nobody waits (the writer logs a failure itself).
    reply: Option<Reply<()>>,
}

/// A handle on the batched event log. Cheap to clone; the background tasks end when the last
/// handle is dropped. Must be created inside a tokio runtime.
#[derive(Clone, Debug)]
pub struct EventLog {
    lookups: mpsc::Sender<Lookup>,
    appends: mpsc::Sender<Append>,
    recent: Arc<Mutex<Recent>>,
    in_database: bool,
    rejections: Arc<RejectLimiter>,
}

impl EventLog {
    /// Start the two batching tasks on `store`, and warm the in-memory ids from it.
    /// `in_database`: also look unknown ids up in the database (see the module docs).
    /// Rejected requests are logged with the default limits (see [`EventLog::with_limiter`]).
    pub fn new(store: Store, in_database: bool) -> Self {
        let http = crate::config::HttpConfig::default();
        Self::with_limiter(
            store,
            in_database,
            RejectLimiter::new(http.rejected_log_burst, http.rejected_log_per_minute),
        )
    }

    /// [`EventLog::new`] with the limiter for rejected requests.
    pub fn with_limiter(store: Store, in_database: bool, rejections: RejectLimiter) -> Self {
        let rejections = Arc::new(rejections);
        let recent: Arc<Mutex<Recent>> = Arc::default();
        {
            let (store, recent) = (store.clone(), recent.clone());
            tokio::spawn(async move {
                match store.recent_events(RECENT_IDS as i64).await {
                    Ok(events) => {
                        let mut r = recent.lock().unwrap_or_else(|p| p.into_inner());
                        for e in events.iter().rev() {
                            let f = &e.record;
                            if let (Some(id), EventOutcome::Queued | EventOutcome::Deleted) = (&f.event_id, f.outcome) {
                                r.insert(&f.endpoint, id);
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not warm the webhook deduplication ids"),
                }
            });
        }
        let (lookups, mut lookup_rx) = mpsc::channel::<Lookup>(4 * MAX_BATCH);
        let (appends, mut append_rx) = mpsc::channel::<Append>(4 * MAX_BATCH);
        let s = store.clone();
        tokio::spawn(async move {
            while let Some(first) = lookup_rx.recv().await {
                let batch = drain(first, &mut lookup_rx);
                serve_lookups(&s, batch).await;
            }
        });
        tokio::spawn(async move {
            while let Some(first) = append_rx.recv().await {
                // Nobody waits on these writes but `flush`: linger briefly so that under load one
                // statement carries many requests' records.
                if !first.records.is_empty() {
                    tokio::time::sleep(APPEND_LINGER).await;
                }
                let batch = drain(first, &mut append_rx);
                let mut records = Vec::new();
                let mut replies = Vec::with_capacity(batch.len());
                for a in batch {
                    records.extend(a.records);
                    replies.push(a.reply);
                }
                let result = store.record_events(&records).await.map_err(EventLogError::from);
                if let Err(e) = &result {
                    if replies.iter().any(Option::is_none) {
                        tracing::warn!(error = %e, records = records.len(), "could not record webhook events");
                    }
                }
                for reply in replies.into_iter().flatten() {
                    let _ = reply.send(result.clone());
                }
            }
        });
        let log = EventLog {
            lookups,
            appends,
            recent,
            in_database,
            rejections,
        };
        {
            // Summary rows of held-back rejections; ends with the last handle.
            let weak = log.appends.downgrade();
            let rejections = log.rejections.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(super::flood::SUMMARY_INTERVAL);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let Some(appends) = weak.upgrade() else { break };
                    let records = rejections.take_summaries();
                    if !records.is_empty() && appends.send(Append { records, reply: None }).await.is_err() {
                        break;
                    }
                }
            });
        }
        log
    }

    /// Log a request rejected as a whole from `peer`, within the per-source rate limit
    /// (see [`super::flood`]); never waits for the database.
    pub async fn record_rejected(&self, peer: Option<std::net::IpAddr>, record: EventRecord) {
        if self.rejections.admit(peer, &record) {
            self.record_later(vec![record]).await;
        }
    }

    /// Which of `ids` were already queued or applied on `endpoint`.
    pub async fn seen(&self, endpoint: &str, ids: &[&str]) -> Result<HashSet<String>, EventLogError> {
        let mut seen = HashSet::new();
        let mut ask = Vec::new();
        {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            for id in ids {
                if recent.set.contains(&(endpoint.to_owned(), id.to_string())) {
                    seen.insert(id.to_string());
                } else {
                    ask.push(id.to_string());
                }
            }
        }
        if ask.is_empty() || !self.in_database {
            return Ok(seen);
        }
        let (reply, rx) = oneshot::channel();
        self.lookups
            .send(Lookup {
                endpoint: endpoint.to_owned(),
                ids: ask,
                reply,
            })
            .await
            .map_err(|_| closed())?;
        seen.extend(rx.await.map_err(|_| closed())??);
        Ok(seen)
    }

    /// Append `records`; returns once they are committed.
    pub async fn record(&self, records: Vec<EventRecord>) -> Result<(), EventLogError> {
        let (reply, rx) = oneshot::channel();
        self.appends
            .send(Append {
                records,
                reply: Some(reply),
            })
            .await
            .map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }

    /// Append `records` without waiting for the commit (waits only when the log is far
    /// behind). Errors are logged.
    pub async fn record_later(&self, records: Vec<EventRecord>) {
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            for r in &records {
                if let (Some(id), EventOutcome::Queued | EventOutcome::Deleted) = (&r.event_id, r.outcome) {
                    recent.insert(&r.endpoint, id);
                }
            }
        }
        if self.appends.send(Append { records, reply: None }).await.is_err() {
            tracing::warn!("webhook event log stopped; records dropped");
        }
    }

    /// Write the summary rows of held-back rejections, and wait until everything handed over
    /// so far is committed (on shutdown, in tests).
    pub async fn flush(&self) -> Result<(), EventLogError> {
        self.record(self.rejections.take_summaries()).await
    }
}

fn closed() -> EventLogError {
    EventLogError::Stopped
}

/// `first` and whatever else is already waiting, up to [`MAX_BATCH`].
fn drain<T>(first: T, rx: &mut mpsc::Receiver<T>) -> Vec<T> {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(more) => batch.push(more),
            Err(_) => break,
        }
    }
    batch
}

async fn serve_lookups(store: &Store, batch: Vec<Lookup>) {
    let mut by_endpoint: BTreeMap<String, Vec<Lookup>> = BTreeMap::new();
    for l in batch {
        by_endpoint.entry(l.endpoint.clone()).or_default().push(l);
    }
    for (endpoint, lookups) in by_endpoint {
        let ids: Vec<&str> = lookups.iter().flat_map(|l| l.ids.iter().map(String::as_str)).collect();
        let result = store.seen_events(&endpoint, &ids).await.map_err(EventLogError::from);
        for l in lookups {
            let answer = result
                .clone()
                .map(|seen| l.ids.iter().filter(|id| seen.contains(*id)).cloned().collect());
            let _ = l.reply.send(answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::events::EventOutcome;

    fn rec(id: usize) -> EventRecord {
        EventRecord {
            endpoint: "distribution".into(),
            event_id: Some(format!("e{id}")),
            outcome: EventOutcome::Queued,
            status_code: 202,
            reason: None,
            action: Some("push".into()),
            registry: Some("r:5000".into()),
            repository: Some("a".into()),
            reference: Some("sha256:00".into()),
        }
    }

    #[tokio::test]
    async fn concurrent_records_and_lookups_are_answered_each() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap();
        let log = EventLog::new(store.clone(), true);
        let mut tasks = Vec::new();
        for i in 0..50 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move { log.record(vec![rec(i)]).await }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(store.recent_events(100).await.unwrap().len(), 50);
        let mut tasks = Vec::new();
        for i in 45..55 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                (i, log.seen("distribution", &[&format!("e{i}")]).await.unwrap())
            }));
        }
        for t in tasks {
            let (i, seen) = t.await.unwrap();
            assert_eq!(seen.contains(&format!("e{i}")), i < 50, "e{i}");
        }
        assert!(log.seen("harbor", &["e1"]).await.unwrap().is_empty(), "per endpoint");
    }
}
