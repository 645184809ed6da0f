//! The queue contract on both implementations: the embedded queue on SQLite and PostgreSQL
//! (leases that expire, `SKIP LOCKED`, retries, dead jobs) and RabbitMQ (persistent, confirmed,
//! acked; retries through the delay queues; the dead-letter queue with the last error).

mod support;

use std::collections::HashSet;
use std::time::Duration;

use regscan::config::{RabbitConfig, WorkerConfig};
use regscan::queue::embedded::EmbeddedQueue;
use regscan::queue::rabbitmq::RabbitQueue;
use regscan::queue::{Job, Queue};
use regscan::store::Store;

fn job(id: &str) -> Job {
    Job {
        id: id.into(),
        registry: "127.0.0.1:5000".into(),
        repository: "team/app".into(),
        reference: "sha256:00".into(),
        tag: Some("1.0".into()),
        source: "test".into(),
        force: false,
        attempt: 0,
    }
}

async fn next(c: &mut Box<dyn regscan::queue::Consumer>, within: Duration) -> Option<regscan::queue::Delivery> {
    tokio::time::timeout(within, c.next())
        .await
        .ok()
        .map(|d| d.expect("delivery"))
}

/// The embedded-queue contract, on any backend.
async fn embedded_contract(store: Store) {
    let q = EmbeddedQueue::new(store.clone(), 1);
    q.publish(&[job("a"), job("b")]).await.unwrap();
    // Same id again: not added twice.
    q.publish(&[job("a")]).await.unwrap();
    assert_eq!(q.pending().await.unwrap(), 2);

    // Two workers never get the same job.
    let d1 = q.claim("w1").await.unwrap().expect("a job");
    let d2 = q.claim("w2").await.unwrap().expect("another job");
    assert_ne!(d1.job.id, d2.job.id);
    assert!(q.claim("w3").await.unwrap().is_none(), "both jobs are leased");

    // Ack removes; the other worker "crashes": its lease (1 s) runs out and the job comes back,
    // counted as an attempt, with the reason.
    d1.ack().await.unwrap();
    std::mem::forget(d2);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let back = q.claim("w3").await.unwrap().expect("expired lease comes back");
    assert_eq!(back.job.attempt, 1);

    // Retry: not due before its delay; then comes back with the new attempt.
    let mut again = back.job.clone();
    again.attempt = 2;
    back.retry(&again, Duration::from_millis(600), "registry timed out")
        .await
        .unwrap();
    assert!(q.claim("w1").await.unwrap().is_none(), "not due yet");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let d = q.claim("w1").await.unwrap().expect("due now");
    assert_eq!(d.job.attempt, 2);

    // Keep-alive holds the lease past its first expiry.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        d.keep_alive().await.unwrap();
    }
    assert!(q.claim("w2").await.unwrap().is_none(), "lease renewed");

    // Release hands it back at once, untouched.
    d.release().await.unwrap();
    let d = q.claim("w2").await.unwrap().expect("released");
    assert_eq!(d.job.attempt, 2);

    // Dead jobs stay with their error and are not handed out.
    let mut last = d.job.clone();
    last.attempt = 3;
    d.dead_letter(&last, "manifest unknown").await.unwrap();
    assert!(q.claim("w2").await.unwrap().is_none());
    assert_eq!(
        q.dead().await.unwrap(),
        vec![("b".to_string(), "manifest unknown".to_string())]
    );

    // The consumer waits for new work and is woken by a publish.
    let mut c = q.consumer("w9", 1).await.unwrap();
    let q2 = q.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        q2.publish(&[job("c")]).await.unwrap();
    });
    let d = next(&mut c, Duration::from_secs(5)).await.expect("woken");
    assert_eq!(d.job.id, "c");
    d.ack().await.unwrap();
    assert_eq!(q.pending().await.unwrap(), 0);
}

#[tokio::test]
async fn embedded_queue_on_sqlite() {
    let (url, _dir) = support::db::sqlite_url();
    embedded_contract(Store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn embedded_queue_on_postgres() {
    let db = support::db::PgDb::create();
    embedded_contract(Store::open(&db.url).await.unwrap()).await;
}

#[tokio::test]
async fn embedded_queue_hands_each_job_to_one_of_many_concurrent_workers_on_postgres() {
    let db = support::db::PgDb::create();
    let store = Store::open(&db.url).await.unwrap();
    let q = EmbeddedQueue::new(store, 60);
    let jobs: Vec<Job> = (0..60).map(|i| job(&format!("j{i}"))).collect();
    q.publish(&jobs).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..6 {
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(d) = q.claim(&format!("w{w}")).await.unwrap() {
                got.push(d.job.id.clone());
                d.ack().await.unwrap();
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 60, "every job handed out once");
    assert_eq!(distinct.len(), 60);
}

async fn rabbit(queue: &support::db::RabbitQueue, retry_base_secs: u64, max_attempts: u32) -> RabbitQueue {
    let cfg = RabbitConfig {
        queue: queue.name.clone(),
        ..Default::default()
    };
    let worker = WorkerConfig {
        retry_base_delay_secs: retry_base_secs,
        max_attempts,
        ..Default::default()
    };
    RabbitQueue::connect(&support::db::amqp_url(), &cfg, &worker)
        .await
        .expect("RabbitMQ at 127.0.0.1:5672")
}

#[tokio::test]
async fn rabbitmq_publishes_confirmed_and_consumes_with_acks() {
    let name = support::db::RabbitQueue::new();
    let q = rabbit(&name, 1, 3).await;
    q.ping().await.unwrap();
    q.publish(&[job("r1"), job("r2")]).await.unwrap();
    let mut c = q.consumer("t1", 2).await.unwrap();
    let a = next(&mut c, Duration::from_secs(10)).await.expect("r1");
    let b = next(&mut c, Duration::from_secs(10)).await.expect("r2");
    let mut ids = vec![a.job.id.clone(), b.job.id.clone()];
    ids.sort();
    assert_eq!(ids, ["r1", "r2"]);
    a.ack().await.unwrap();
    // Handed back: delivered again (the quorum queue counts the delivery).
    b.release().await.unwrap();
    let b2 = next(&mut c, Duration::from_secs(10)).await.expect("redelivered");
    assert_eq!(b2.job.id, "r2");
    assert_eq!(b2.job.attempt, 1, "x-delivery-count counts the earlier delivery");
    b2.ack().await.unwrap();
    assert!(next(&mut c, Duration::from_millis(500)).await.is_none(), "nothing left");
    q.close().await;
}

#[tokio::test]
async fn rabbitmq_retries_after_the_delay_and_dead_letters_with_the_error() {
    let name = support::db::RabbitQueue::new();
    let q = rabbit(&name, 1, 3).await;
    q.publish(&[job("x")]).await.unwrap();
    let mut c = q.consumer("t2", 1).await.unwrap();
    let d = next(&mut c, Duration::from_secs(10)).await.expect("x");
    let mut again = d.job.clone();
    again.attempt = 1;
    let t = std::time::Instant::now();
    d.retry(&again, Duration::from_secs(1), "registry 503").await.unwrap();
    let d = next(&mut c, Duration::from_secs(10))
        .await
        .expect("comes back from the delay queue");
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "waited the retry delay: {:?}",
        t.elapsed()
    );
    assert_eq!(d.job.attempt, 1);
    let mut last = d.job.clone();
    last.attempt = 3;
    d.dead_letter(&last, "manifest unknown").await.unwrap();
    assert!(next(&mut c, Duration::from_millis(1500)).await.is_none());

    // The dead-letter queue holds it with the last error.
    let props = lapin::ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio);
    let conn = lapin::Connection::connect(&support::db::amqp_url(), props)
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let dead = q.dead_queue_name();
    let msg = support::wait_until(Duration::from_secs(10), "the dead-lettered job", || {
        let ch = ch.clone();
        let dead = dead.clone();
        async move {
            ch.basic_get(&dead, lapin::options::BasicGetOptions { no_ack: true })
                .await
                .unwrap()
        }
    })
    .await;
    let job: Job = serde_json::from_slice(&msg.delivery.data).unwrap();
    assert_eq!((job.id.as_str(), job.attempt), ("x", 3));
    let headers = msg.delivery.properties.headers().clone().expect("headers");
    let err = headers.inner().get("x-last-error").expect("x-last-error header");
    let lapin::types::AMQPValue::LongString(text) = err else {
        panic!("x-last-error is {err:?}")
    };
    assert_eq!(String::from_utf8_lossy(text.as_bytes()), "manifest unknown");
    q.close().await;
}
