//! Webhook ingest benchmark: N distribution webhook events posted by C concurrent senders to an
//! in-process regscan receiver backed by RabbitMQ (and PostgreSQL for the event log), against
//! the raw rate at which the same RabbitMQ accepts persistent messages with publisher confirms
//! from lapin at the same concurrency — measured in the same run.
//!
//! `cargo bench -p regscan --bench ingest` (env: `BENCH_EVENTS`, default 10000;
//! `BENCH_SENDERS`, default 16; `REGSCAN_TEST_PG`, `REGSCAN_TEST_AMQP` as in the tests).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use regscan::config::{Config, RabbitConfig, RegistryConfig, WorkerConfig};
use regscan::http::AppState;
use regscan::queue::rabbitmq::RabbitQueue;
use regscan::queue::Queue;
use regscan::store::Store;
use regscan::telemetry::Metrics;
use tokio_util::sync::CancellationToken;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn pg_admin() -> String {
    std::env::var("REGSCAN_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1/postgres".into())
}

fn amqp() -> String {
    std::env::var("REGSCAN_TEST_AMQP").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn psql(sql: &str) {
    let ok = std::process::Command::new("psql")
        .args(["-q", &pg_admin(), "-c", sql])
        .status()
        .map(|s| s.success());
    assert_eq!(ok.ok(), Some(true), "psql {sql}");
}

struct Stats {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

fn stats(n: usize, elapsed: Duration, mut lat: Vec<Duration>) -> Stats {
    lat.sort();
    let at = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    Stats {
        rate: n as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

/// C tasks, each publishing its share one message at a time and awaiting the confirm.
async fn raw_broker(n: usize, senders: usize, queue: &str) -> Stats {
    let props = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio);
    let conn = Connection::connect(&amqp(), props).await.expect("RabbitMQ");
    let setup = conn.create_channel().await.unwrap();
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    setup
        .queue_declare(
            queue,
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await
        .unwrap();
    // The same number of confirm channels regscan's publisher uses.
    let mut channels = Vec::new();
    for _ in 0..4 {
        let ch = conn.create_channel().await.unwrap();
        ch.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
        channels.push(ch);
    }
    let body = br#"{"id":"evt-0000000000","registry":"bench.example:5000","repository":"bench/app","reference":"sha256:0000000000000000000000000000000000000000000000000000000000000000","tag":"1.0","source":"webhook:distribution","force":false,"attempt":0}"#;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..senders {
        let ch = channels[s % channels.len()].clone();
        let next = next.clone();
        let queue = queue.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let t = Instant::now();
                let props = BasicProperties::default().with_delivery_mode(2);
                let c = ch
                    .basic_publish(
                        "",
                        &queue,
                        BasicPublishOptions {
                            mandatory: true,
                            ..Default::default()
                        },
                        body,
                        props,
                    )
                    .await
                    .unwrap();
                assert!(c.await.unwrap().is_ack());
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    setup.queue_delete(queue, QueueDeleteOptions::default()).await.unwrap();
    let _ = conn.close(200, "done").await;
    stats(n, elapsed, lat)
}

/// C tasks publishing one job each through regscan's `RabbitQueue::publish` (no HTTP, no log).
async fn queue_publish(n: usize, senders: usize, queue: &str) -> Stats {
    let cfg = RabbitConfig {
        queue: queue.into(),
        ..Default::default()
    };
    let q = Arc::new(
        RabbitQueue::connect(&amqp(), &cfg, &WorkerConfig::default())
            .await
            .unwrap(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let q = q.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let job = regscan::queue::Job {
                    id: format!("pub-{i}"),
                    registry: "bench.example:5000".into(),
                    repository: "bench/app".into(),
                    reference: format!("sha256:{i:064x}"),
                    tag: Some("1.0".into()),
                    source: "webhook:distribution".into(),
                    force: false,
                    attempt: 0,
                };
                let t = Instant::now();
                q.publish(std::slice::from_ref(&job)).await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    q.close().await;
    stats(n, elapsed, lat)
}

/// C tasks posting one-event webhook envelopes to regscan (event log in `db_url`).
async fn regscan_ingest(n: usize, senders: usize, queue: &str, db_url: &str) -> Stats {
    post_events(n, senders, queue, db_url, false).await
}

/// The HTTP floor: the same senders and server, `GET /healthz` (no parsing, no database, no
/// queue).
async fn http_floor(n: usize, senders: usize, queue: &str, db_url: &str) -> Stats {
    post_events(n, senders, queue, db_url, true).await
}

async fn post_events(n: usize, senders: usize, queue: &str, db_url: &str, floor: bool) -> Stats {
    let store = Store::open(db_url).await.unwrap();
    let config = Config {
        registries: vec![RegistryConfig {
            host: "bench.example:5000".into(),
            ..Default::default()
        }],
        queue_url: amqp(),
        rabbitmq: RabbitConfig {
            queue: queue.into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let q = RabbitQueue::connect(&amqp(), &config.rabbitmq, &WorkerConfig::default())
        .await
        .unwrap();
    let q: Arc<dyn Queue> = Arc::new(q);
    let state = AppState::new(Arc::new(config), store.clone(), q.clone(), Metrics::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = if floor {
        format!("http://{addr}/healthz")
    } else {
        format!("http://{addr}/v1/webhooks/distribution")
    };
    let stop = CancellationToken::new();
    let server = tokio::spawn(regscan::http::serve(listener, state, stop.clone()));

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(senders)
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let http = http.clone();
        let url = url.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let digest = format!("sha256:{i:064x}");
                let body = format!(
                    r#"{{"events":[{{"id":"bench-{i}","action":"push","target":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","repository":"bench/app","url":"http://bench.example:5000/v2/bench/app/manifests/{digest}","tag":"1.0"}},"request":{{"host":"bench.example:5000","method":"PUT"}}}}]}}"#
                );
                let t = Instant::now();
                if floor {
                    let r = http.get(&url).send().await.unwrap();
                    assert_eq!(r.status().as_u16(), 200);
                    let _ = r.bytes().await;
                    lat.push(t.elapsed());
                    continue;
                }
                let r = http
                    .post(&url)
                    .header("content-type", "application/vnd.docker.distribution.events.v1+json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 202);
                let _ = r.bytes().await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    stop.cancel();
    let _ = server.await;
    q.close().await;
    store.close().await;
    stats(n, elapsed, lat)
}

fn main() {
    let n = env_usize("BENCH_EVENTS", 10_000);
    let senders = env_usize("BENCH_SENDERS", 16);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let suffix: u64 = rand::random();
    let db = format!("regscan_bench_{suffix:016x}");
    psql(&format!("CREATE DATABASE {db}"));
    let admin = pg_admin();
    let db_url = format!("{}/{db}", admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin));
    let queue = format!("regscan.bench.{suffix:016x}");
    rt.block_on(async {
        // Warm up both paths a little, then measure raw first and regscan second.
        let _ = raw_broker(500, senders, &format!("{queue}.warm")).await;
        let raw = raw_broker(n, senders, &format!("{queue}.raw")).await;
        let publish = queue_publish(n, senders, &format!("{queue}.pub")).await;
        let ingest = regscan_ingest(n, senders, &queue, &db_url).await;
        let sqlite_dir = tempfile::tempdir().unwrap();
        let sqlite_url = format!("sqlite://{}", sqlite_dir.path().join("bench.db").display());
        let ingest_sqlite = regscan_ingest(n, senders, &format!("{queue}.lite"), &sqlite_url).await;
        let floor = http_floor(n, senders, &format!("{queue}.lite"), &sqlite_url).await;
        println!(
            "webhook ingest benchmark: {n} events, {senders} concurrent senders, {} cores",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
        );
        println!(
            "raw RabbitMQ (lapin, persistent, confirms, quorum): {:>8.0} msg/s   p50 {:>7.2} ms   p99 {:>7.2} ms",
            raw.rate,
            raw.p50.as_secs_f64() * 1e3,
            raw.p99.as_secs_f64() * 1e3
        );
        println!(
            "regscan RabbitQueue::publish, no HTTP (breakdown): {:>8.0} msg/s   p50 {:>7.2} ms   p99 {:>7.2} ms",
            publish.rate,
            publish.p50.as_secs_f64() * 1e3,
            publish.p99.as_secs_f64() * 1e3
        );
        println!(
            "regscan webhooks (HTTP + event log on PostgreSQL): {:>8.0} ev/s    p50 {:>7.2} ms   p99 {:>7.2} ms",
            ingest.rate,
            ingest.p50.as_secs_f64() * 1e3,
            ingest.p99.as_secs_f64() * 1e3
        );
        println!(
            "regscan webhooks (HTTP + event log on SQLite):     {:>8.0} ev/s    p50 {:>7.2} ms   p99 {:>7.2} ms",
            ingest_sqlite.rate,
            ingest_sqlite.p50.as_secs_f64() * 1e3,
            ingest_sqlite.p99.as_secs_f64() * 1e3
        );
        println!(
            "HTTP floor (same senders, GET /healthz, breakdown): {:>8.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms",
            floor.rate,
            floor.p50.as_secs_f64() * 1e3,
            floor.p99.as_secs_f64() * 1e3
        );
        println!(
            "ingest / raw broker rate: {:.0}% with PostgreSQL, {:.0}% with SQLite (target >= 70%)",
            100.0 * ingest.rate / raw.rate,
            100.0 * ingest_sqlite.rate / raw.rate
        );
        // Clean up the queues regscan declared.
        for q in [
            queue.clone(),
            format!("{queue}.dead"),
            format!("{queue}.pub"),
            format!("{queue}.pub.dead"),
            format!("{queue}.lite"),
            format!("{queue}.lite.dead"),
        ]
        .into_iter()
        .chain((1..5).flat_map(|i| {
            [
                format!("{queue}.retry.{i}"),
                format!("{queue}.pub.retry.{i}"),
                format!("{queue}.lite.retry.{i}"),
            ]
        })) {
            let _ = std::process::Command::new("rabbitmqctl")
                .args(["delete_queue", &q])
                .output();
        }
    });
    psql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
}
