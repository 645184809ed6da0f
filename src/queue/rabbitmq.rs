//! The RabbitMQ queue, via lapin (plain `amqp://`; TLS is not built in).
//!
//! Topology, declared (idempotently) on every connection, for a queue named `Q`:
//!
//! | queue | type | for |
//! |---|---|---|
//! | `Q` | quorum (default) or classic, durable | jobs waiting |
//! | `Q.retry.<T>ms`, T = base·2^(N-1) for N = 1 … max_attempts-1 | classic, durable, `x-message-ttl` = T | retry N waits here, then is dead-lettered back to `Q`; named by its delay, so changing the delay declares new queues |
//! | `Q.dead` | same type as `Q`, durable | jobs out of attempts, with `x-last-error` and `x-attempts` headers |
//!
//! Messages are persistent and published with `mandatory` on channels in confirm mode:
//! [`Queue::publish`] returns once the broker has confirmed every message. Consumers ack
//! manually after the job is settled, with a prefetch of the worker's concurrency. A lost
//! connection is re-established with backoff; unacked jobs go back to the queue, and the
//! pipeline's idempotence (skip digests already scanned by the same scanner version, one claim
//! per digest) keeps redeliveries from duplicating results. On a quorum queue the broker's
//! `x-delivery-count` counts crashed deliveries as attempts, so a job that kills its worker
//! every time ends up dead.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::Mutex;

use super::{backoff, Consumer, Delivery, Job, Queue, QueueError, Settle};
use crate::config::{redact_url, RabbitConfig, WorkerConfig};

/// Channels the publisher spreads messages over.
const PUBLISH_CHANNELS: usize = 4;
/// Longest wait for a publisher confirm before the publish counts as failed.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest pause between reconnection attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(15);

/// The RabbitMQ queue. Cheap to clone.
#[derive(Clone)]
pub struct RabbitQueue {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    queue: String,
    queue_type: crate::config::QueueType,
    retry_base: Duration,
    max_attempts: u32,
    /// The live publisher (read on every publish; written on reconnect).
    publisher: std::sync::RwLock<Option<Publisher>>,
    /// Serialises reconnections.
    reconnect: Mutex<()>,
}

#[derive(Clone)]
struct Publisher {
    conn: Arc<Connection>,
    channels: Vec<Channel>,
    next: Arc<AtomicUsize>,
}

impl std::fmt::Debug for RabbitQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitQueue")
            .field("url", &redact_url(&self.inner.url))
            .field("queue", &self.inner.queue)
            .finish_non_exhaustive()
    }
}

impl RabbitQueue {
    /// Connect to `url`, declare the topology and get ready to publish.
    pub async fn connect(url: &str, config: &RabbitConfig, worker: &WorkerConfig) -> Result<Self, QueueError> {
        let q = RabbitQueue {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                queue: config.queue.clone(),
                queue_type: config.queue_type,
                retry_base: Duration::from_secs(worker.retry_base_delay_secs.max(1)),
                max_attempts: worker.max_attempts.max(1),
                publisher: std::sync::RwLock::new(None),
                reconnect: Mutex::new(()),
            }),
        };
        q.publisher().await?;
        Ok(q)
    }

    /// The main queue's name.
    pub fn queue_name(&self) -> &str {
        &self.inner.queue
    }

    /// The dead-letter queue's name.
    pub fn dead_queue_name(&self) -> String {
        format!("{}.dead", self.inner.queue)
    }

    /// The delay queue for retry number `attempt`, named by its delay (`Q.retry.4000ms`): a
    /// queue's TTL cannot change once declared, so a new `retry_base_delay_secs` declares new
    /// queues instead of failing against the old ones.
    fn retry_queue_name(&self, attempt: u32) -> String {
        let n = attempt.clamp(1, self.inner.max_attempts.saturating_sub(1).max(1));
        format!(
            "{}.retry.{}ms",
            self.inner.queue,
            backoff(self.inner.retry_base, n).as_millis()
        )
    }

    async fn open_connection(&self, name: &str) -> Result<Connection, QueueError> {
        let props = ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio)
            .with_connection_name(name.into());
        Ok(Connection::connect(&self.inner.url, props).await?)
    }

    /// Declare `Q`, `Q.retry.N` and `Q.dead` on `ch`.
    async fn declare(&self, ch: &Channel) -> Result<(), QueueError> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let mut main_args = FieldTable::default();
        main_args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(self.inner.queue_type.as_str().into()),
        );
        ch.queue_declare(&self.inner.queue, durable, main_args.clone()).await?;
        ch.queue_declare(&self.dead_queue_name(), durable, main_args).await?;
        for n in 1..self.inner.max_attempts.max(2) {
            let mut args = FieldTable::default();
            args.insert("x-queue-type".into(), AMQPValue::LongString("classic".into()));
            let ttl = backoff(self.inner.retry_base, n).as_millis() as i64;
            args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
            args.insert("x-dead-letter-exchange".into(), AMQPValue::LongString("".into()));
            args.insert(
                "x-dead-letter-routing-key".into(),
                AMQPValue::LongString(self.inner.queue.clone().into()),
            );
            ch.queue_declare(&self.retry_queue_name(n), durable, args).await?;
        }
        Ok(())
    }

    /// The current publisher, if its connection and channels are up.
    fn current(&self) -> Option<Publisher> {
        let slot = self.inner.publisher.read().unwrap_or_else(|p| p.into_inner());
        slot.as_ref()
            .filter(|p| p.conn.status().connected() && p.channels.iter().all(|c| c.status().connected()))
            .cloned()
    }

    /// The live publisher, connecting (and declaring) if there is none.
    async fn publisher(&self) -> Result<Publisher, QueueError> {
        if let Some(p) = self.current() {
            return Ok(p);
        }
        let _one_at_a_time = self.inner.reconnect.lock().await;
        if let Some(p) = self.current() {
            return Ok(p);
        }
        self.drop_publisher().await;
        let conn = self.open_connection("regscan-publisher").await?;
        let mut channels = Vec::with_capacity(PUBLISH_CHANNELS);
        for i in 0..PUBLISH_CHANNELS {
            let ch = conn.create_channel().await?;
            if i == 0 {
                self.declare(&ch).await?;
            }
            ch.confirm_select(ConfirmSelectOptions::default()).await?;
            channels.push(ch);
        }
        let p = Publisher {
            conn: Arc::new(conn),
            channels,
            next: Arc::new(AtomicUsize::new(0)),
        };
        *self.inner.publisher.write().unwrap_or_else(|p| p.into_inner()) = Some(p.clone());
        Ok(p)
    }

    /// Forget the publisher so the next publish reconnects.
    async fn drop_publisher(&self) {
        let old = self.inner.publisher.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(p) = old {
            let _ = p.conn.close(200, "reconnecting").await;
        }
    }

    /// Publish raw bodies to `queue` through the default exchange and wait for every confirm.
    async fn publish_raw(&self, queue: &str, messages: &[(String, Vec<u8>, FieldTable)]) -> Result<(), QueueError> {
        let p = self.publisher().await?;
        let result = tokio::time::timeout(CONFIRM_TIMEOUT, Self::publish_on(&p, queue, messages)).await;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                if matches!(e, QueueError::Amqp(_)) {
                    self.drop_publisher().await;
                }
                Err(e)
            }
            Err(_) => {
                self.drop_publisher().await;
                Err(QueueError::NotConfirmed {
                    id: messages.first().map(|m| m.0.clone()).unwrap_or_default(),
                    reason: format!("no publisher confirm within {CONFIRM_TIMEOUT:?}"),
                })
            }
        }
    }

    async fn publish_on(
        p: &Publisher,
        queue: &str,
        messages: &[(String, Vec<u8>, FieldTable)],
    ) -> Result<(), QueueError> {
        let ch = &p.channels[p.next.fetch_add(1, Ordering::Relaxed) % p.channels.len()];
        let mut confirms = Vec::with_capacity(messages.len());
        for (id, body, headers) in messages {
            let props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_message_id(id.clone().into())
                .with_headers(headers.clone());
            let options = BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            };
            confirms.push((id, ch.basic_publish("", queue, options, body, props).await?));
        }
        for (id, confirm) in confirms {
            match confirm.await? {
                Confirmation::Ack(None) => {}
                Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
                    return Err(QueueError::NotConfirmed {
                        id: id.clone(),
                        reason: format!(
                            "returned by the broker: {} (does queue {queue} exist?)",
                            returned.reply_text
                        ),
                    })
                }
                Confirmation::Nack(None) => {
                    return Err(QueueError::NotConfirmed {
                        id: id.clone(),
                        reason: "negative acknowledgement".into(),
                    })
                }
                Confirmation::NotRequested => {
                    return Err(QueueError::NotConfirmed {
                        id: id.clone(),
                        reason: "confirms not enabled".into(),
                    })
                }
            }
        }
        Ok(())
    }
}

fn encode(job: &Job) -> Result<Vec<u8>, QueueError> {
    serde_json::to_vec(job).map_err(|e| QueueError::BadPayload {
        id: job.id.clone(),
        message: e.to_string(),
    })
}

#[async_trait::async_trait]
impl Queue for RabbitQueue {
    fn kind(&self) -> &'static str {
        "rabbitmq"
    }

    async fn publish(&self, jobs: &[Job]) -> Result<(), QueueError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let messages = jobs
            .iter()
            .map(|j| Ok((j.id.clone(), encode(j)?, FieldTable::default())))
            .collect::<Result<Vec<_>, QueueError>>()?;
        self.publish_raw(&self.inner.queue, &messages).await
    }

    async fn consumer(&self, worker: &str, prefetch: usize) -> Result<Box<dyn Consumer>, QueueError> {
        Ok(Box::new(RabbitConsumer {
            queue: self.clone(),
            worker: worker.to_owned(),
            prefetch: u16::try_from(prefetch.max(1)).unwrap_or(u16::MAX),
            live: None,
            failures: 0,
        }))
    }

    async fn ping(&self) -> Result<(), QueueError> {
        self.publisher().await.map(|_| ())
    }

    async fn close(&self) {
        self.drop_publisher().await;
    }
}

struct Live {
    conn: Connection,
    consumer: lapin::Consumer,
}

struct RabbitConsumer {
    queue: RabbitQueue,
    worker: String,
    prefetch: u16,
    live: Option<Live>,
    failures: u32,
}

impl RabbitConsumer {
    async fn connect(&mut self) -> Result<(), QueueError> {
        let conn = self
            .queue
            .open_connection(&format!("regscan-worker-{}", self.worker))
            .await?;
        let ch = conn.create_channel().await?;
        self.queue.declare(&ch).await?;
        ch.basic_qos(self.prefetch, BasicQosOptions::default()).await?;
        let consumer = ch
            .basic_consume(
                &self.queue.inner.queue,
                &self.worker,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.live = Some(Live { conn, consumer });
        Ok(())
    }
}

/// `x-delivery-count` (quorum queues): how many times the broker handed this message out before.
fn delivery_count(props: &BasicProperties) -> u32 {
    let Some(headers) = props.headers() else { return 0 };
    match headers.inner().get("x-delivery-count") {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(0),
        Some(AMQPValue::LongInt(n)) => u32::try_from(*n).unwrap_or(0),
        Some(AMQPValue::LongUInt(n)) => *n,
        Some(AMQPValue::ShortInt(n)) => u32::try_from(*n).unwrap_or(0),
        Some(AMQPValue::ShortUInt(n)) => u32::from(*n),
        _ => 0,
    }
}

#[async_trait::async_trait]
impl Consumer for RabbitConsumer {
    async fn next(&mut self) -> Result<Delivery, QueueError> {
        loop {
            if self.live.is_none() {
                if self.failures > 0 {
                    let delay = backoff(Duration::from_millis(500), self.failures).min(MAX_RECONNECT_DELAY);
                    tokio::time::sleep(delay).await;
                }
                match self.connect().await {
                    Ok(()) => {
                        if self.failures > 0 {
                            tracing::info!(queue = %self.queue.inner.queue, "reconnected to RabbitMQ");
                        }
                        self.failures = 0;
                    }
                    Err(e) => {
                        self.failures += 1;
                        tracing::warn!(error = %e, attempt = self.failures, "cannot consume from RabbitMQ; retrying");
                        continue;
                    }
                }
            }
            let live = self.live.as_mut().expect("connected above");
            let delivery = match live.consumer.next().await {
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "RabbitMQ consumer failed; reconnecting");
                    let _ = live.conn.close(200, "reconnecting").await;
                    self.live = None;
                    self.failures = 1;
                    continue;
                }
                None => {
                    tracing::warn!("RabbitMQ consumer stream ended; reconnecting");
                    self.live = None;
                    self.failures = 1;
                    continue;
                }
            };
            let id = delivery
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("delivery-{}", delivery.delivery_tag));
            match serde_json::from_slice::<Job>(&delivery.data) {
                Ok(mut job) => {
                    job.attempt = job.attempt.saturating_add(delivery_count(&delivery.properties));
                    let settle = RabbitSettle {
                        queue: self.queue.clone(),
                        delivery,
                    };
                    return Ok(Delivery::new(job, Box::new(settle)));
                }
                Err(e) => {
                    // Park the bad message on the dead-letter queue with the reason, then drop it.
                    let message = e.to_string();
                    let headers = dead_headers(&format!("payload is not a job: {message}"), 0);
                    let dead = self.queue.dead_queue_name();
                    self.queue
                        .publish_raw(&dead, &[(id.clone(), delivery.data.clone(), headers)])
                        .await?;
                    delivery.acker.ack(BasicAckOptions::default()).await?;
                    return Err(QueueError::BadPayload { id, message });
                }
            }
        }
    }
}

fn dead_headers(error: &str, attempts: u32) -> FieldTable {
    let mut h = FieldTable::default();
    h.insert(
        ShortString::from("x-last-error"),
        AMQPValue::LongString(LongString::from(error.to_owned())),
    );
    h.insert(
        ShortString::from("x-attempts"),
        AMQPValue::LongLongInt(i64::from(attempts)),
    );
    h
}

struct RabbitSettle {
    queue: RabbitQueue,
    delivery: lapin::message::Delivery,
}

#[async_trait::async_trait]
impl Settle for RabbitSettle {
    async fn ack(&self) -> Result<(), QueueError> {
        Ok(self.delivery.acker.ack(BasicAckOptions::default()).await?)
    }

    async fn retry(&self, job: &Job, _delay: Duration, error: &str) -> Result<(), QueueError> {
        // The delay is the retry queue's TTL (declared from the same base and doubling), so
        // publish there first and only then ack: a crash in between duplicates, never loses.
        let mut headers = FieldTable::default();
        headers.insert("x-last-error".into(), AMQPValue::LongString(error.to_owned().into()));
        let q = self.queue.retry_queue_name(job.attempt);
        self.queue
            .publish_raw(&q, &[(job.id.clone(), encode(job)?, headers)])
            .await?;
        self.ack().await
    }

    async fn dead_letter(&self, job: &Job, error: &str) -> Result<(), QueueError> {
        let q = self.queue.dead_queue_name();
        self.queue
            .publish_raw(&q, &[(job.id.clone(), encode(job)?, dead_headers(error, job.attempt))])
            .await?;
        self.ack().await
    }

    async fn release(&self) -> Result<(), QueueError> {
        Ok(self
            .delivery
            .acker
            .nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await?)
    }

    async fn keep_alive(&self) -> Result<(), QueueError> {
        Ok(())
    }
}
