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

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection};

use super::amqp::{self, Link};
use super::{Consumer, Delivery, Job, Queue, QueueError, Settle};
use crate::config::{redact_url, RabbitConfig, WorkerConfig};
use crate::time::Backoff;

/// Channels the publisher spreads messages over.
const PUBLISH_CHANNELS: usize = 4;
/// Longest wait for a publisher confirm before the publish counts as failed.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(15);
/// Pauses between reconnection attempts: half a second, doubling, at most 15 s.
const RECONNECT: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(15));

/// The RabbitMQ queue. Cheap to clone.
#[derive(Clone)]
pub struct RabbitQueue {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    queue: String,
    queue_type: crate::config::QueueType,
    retry: Backoff,
    max_attempts: u32,
    /// The publishing connection.
    publisher: Link,
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
                retry: super::retry_backoff(worker),
                max_attempts: worker.max_attempts,
                publisher: Link::new(url, "regscan-publisher", PUBLISH_CHANNELS),
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
        format!("{}.retry.{}ms", self.inner.queue, self.inner.retry.delay(n).as_millis())
    }

    /// Declare `Q`, `Q.retry.N` and `Q.dead` on `ch`.
    async fn declare(&self, ch: &Channel) -> Result<(), lapin::Error> {
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
            let ttl = i64::try_from(self.inner.retry.delay(n).as_millis()).unwrap_or(i64::MAX);
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

    /// A publishing channel, connecting (and declaring) if there is no live connection.
    async fn publisher(&self) -> Result<Channel, QueueError> {
        Ok(self
            .inner
            .publisher
            .channel(|ch| async move { self.declare(&ch).await })
            .await?)
    }

    /// Forget the publishing connection so the next publish reconnects.
    async fn drop_publisher(&self) {
        self.inner.publisher.reset().await;
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
        ch: &Channel,
        queue: &str,
        messages: &[(String, Vec<u8>, FieldTable)],
    ) -> Result<(), QueueError> {
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
            if let Err(refusal) = amqp::confirmed(confirm.await?) {
                let reason = match refusal {
                    amqp::Refusal::Returned(_) => format!("{refusal} (does queue {queue} exist?)"),
                    _ => refusal.to_string(),
                };
                return Err(QueueError::NotConfirmed { id: id.clone(), reason });
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
        let conn = amqp::connect(&self.queue.inner.url, &format!("regscan-worker-{}", self.worker)).await?;
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
                    let delay = RECONNECT.delay(self.failures);
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
