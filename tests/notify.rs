//! Scan-completed notifications end to end: a real registry notifies `regscan serve`, which
//! scans and sends a CloudEvent per finished scan to a test HTTP server (axum on 127.0.0.1:0)
//! — one endpoint with a bearer token, one that fails twice before accepting (retries) — and,
//! on RabbitMQ + PostgreSQL, publishes the same events on the topic exchange.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use futures_util::StreamExt;
use serde_json::Value;
use support::oci::{Artifact, OciImage};
use support::process::{RegscanProcess, TestConfig};
use support::registry::{Notify, Registry};

const HOOK_TOKEN_ENV: &str = "REGSCAN_TEST_NOTIFY_HOOK_TOKEN";
const HOOK_TOKEN: &str = "notify-hook-secret";
const ODD: &str = "application/vnd.acme.rocket.config.v1+json";

/// (path, content-type, authorization, body) of one request.
type Request = (String, String, String, Value);

#[derive(Clone, Default)]
struct Received {
    /// Every request.
    requests: Arc<Mutex<Vec<Request>>>,
    /// Requests to /flaky so far (the first two get 503).
    flaky_calls: Arc<Mutex<u32>>,
}

async fn hook(State(r): State<Received>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    record(&r, "/hook", &headers, &body);
    StatusCode::NO_CONTENT
}

async fn flaky(State(r): State<Received>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let mut n = r.flaky_calls.lock().unwrap();
    *n += 1;
    if *n <= 2 {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    drop(n);
    record(&r, "/flaky", &headers, &body);
    StatusCode::OK
}

fn record(r: &Received, path: &str, headers: &HeaderMap, body: &[u8]) {
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    r.requests
        .lock()
        .unwrap()
        .push((path.into(), h("content-type"), h("authorization"), v));
}

/// Start the receiver; returns its base URL and what it got.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route("/hook", post(hook))
        .route("/flaky", post(flaky))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), received)
}

fn events_for(received: &Received, path: &str) -> Vec<(String, String, Value)> {
    received
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.0 == path)
        .map(|r| (r.1.clone(), r.2.clone(), r.3.clone()))
        .collect()
}

fn check_event(e: &Value, host: &str, repo: &str, digest: &str, event_type: &str, kind: &str) {
    assert_eq!(e["specversion"], "1.0", "{e:#}");
    assert_eq!(e["type"], event_type, "{e:#}");
    assert_eq!(e["source"], "/regscan");
    assert!(e["id"].as_str().is_some_and(|s| s.len() >= 16), "{e:#}");
    assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{e:#}");
    let subject = e["subject"].as_str().unwrap();
    assert!(
        subject.starts_with(&format!("{host}/{repo}")) && subject.ends_with(digest),
        "{subject}"
    );
    let d = &e["data"];
    assert_eq!(
        (
            d["registry"].as_str(),
            d["repository"].as_str(),
            d["digest"].as_str(),
            d["kind"].as_str()
        ),
        (Some(host), Some(repo), Some(digest), Some(kind)),
        "{e:#}"
    );
    assert_eq!(d["reference"], e["subject"]);
    for sev in ["critical", "high", "medium", "low", "negligible", "unknown"] {
        assert!(d["summary"][sev].is_u64(), "summary lacks {sev}: {e:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_through_the_registry_ends_in_cloudevents_at_every_endpoint() {
    std::env::set_var(HOOK_TOKEN_ENV, HOOK_TOKEN);
    let (hooks, received) = receiver().await;
    let (db, _dir) = support::db::sqlite_url();
    let addr = format!("127.0.0.1:{}", support::free_port());
    let registry = Registry::start_with(Some(Notify::new(
        format!("http://{addr}/v1/webhooks/distribution"),
        None,
    )))
    .await;
    let mut config = TestConfig::new(&db, &[&registry.host]);
    config.extra = format!(
        "[notifications]\nretry_base_delay_ms = 100\n\n[[notifications.webhook]]\nurl = \"{hooks}/hook\"\ntoken_env = \"{HOOK_TOKEN_ENV}\"\ntimeout_secs = 5\n\n[[notifications.webhook]]\nurl = \"{hooks}/flaky\"\n"
    );
    let serve = RegscanProcess::start_on(&config, &["serve"], &addr).await;

    let image = registry.push_image("n/app", "1.0", &OciImage::debian_like()).await;
    let chart = registry
        .push_artifact("n/charts/web", "0.1.0", &Artifact::helm_chart("web", "0.1.0"))
        .await;
    let odd = registry.push_artifact("n/odd", "v1", &Artifact::unknown(ODD)).await;

    let got = tokio::time::timeout(Duration::from_secs(90), async {
        while events_for(&received, "/hook").len() < 3 || events_for(&received, "/flaky").len() < 3 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    if got.is_err() {
        panic!(
            "events: {:#?}\nregscan log:\n{}\nregistry log:\n{}",
            received.requests.lock().unwrap(),
            serve.log(),
            registry.log()
        );
    }
    // Give a duplicate, if any were sent, the chance to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let hook_events = events_for(&received, "/hook");
    assert_eq!(hook_events.len(), 3, "one event per finished scan: {hook_events:#?}");
    for (content_type, auth, _) in &hook_events {
        assert_eq!(content_type, "application/cloudevents+json");
        assert_eq!(auth, &format!("Bearer {HOOK_TOKEN}"));
    }
    let by_digest = |digest: &str| {
        hook_events
            .iter()
            .find(|e| e.2["data"]["digest"] == digest)
            .map(|e| e.2.clone())
            .unwrap_or_else(|| panic!("no event for {digest}: {hook_events:#?}"))
    };
    let e = by_digest(&image);
    check_event(&e, &registry.host, "n/app", &image, "regscan.scan.succeeded", "image");
    assert_eq!(e["data"]["status"], "succeeded");
    assert!(
        e["data"]["summary"]["medium"].as_u64().unwrap() >= 1,
        "the root-user finding is counted: {e:#}"
    );
    assert!(
        e["subject"].as_str().unwrap().contains(":1.0@"),
        "the subject names the tag: {e:#}"
    );
    let e = by_digest(&chart);
    check_event(
        &e,
        &registry.host,
        "n/charts/web",
        &chart,
        "regscan.scan.succeeded",
        "helm",
    );
    let e = by_digest(&odd);
    check_event(&e, &registry.host, "n/odd", &odd, "regscan.scan.unsupported", "unknown");
    assert_eq!(e["data"]["status"], "unsupported");
    assert_eq!(e["data"]["artifact_type"], ODD);
    assert!(e["data"]["reason"].as_str().unwrap().contains(ODD), "{e:#}");

    // The flaky endpoint refused twice and still got every event, without a token.
    let flaky_events = events_for(&received, "/flaky");
    assert_eq!(flaky_events.len(), 3, "{flaky_events:#?}");
    assert!(flaky_events.iter().all(|(_, auth, _)| auth.is_empty()));
    assert_eq!(
        *received.flaky_calls.lock().unwrap(),
        5,
        "two 503s, then three deliveries"
    );
    let ids: std::collections::BTreeSet<_> = hook_events
        .iter()
        .map(|e| e.2["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "ids are unique");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_published_on_the_rabbitmq_topic_exchange() {
    use lapin::options::{
        BasicAckOptions, BasicConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
        QueueDeclareOptions, QueueDeleteOptions,
    };
    use lapin::types::FieldTable;
    use lapin::{Connection, ConnectionProperties, ExchangeKind};

    let pg = support::db::PgDb::create();
    let queue = support::db::RabbitQueue::new();
    let exchange = format!("{}.events", queue.name);
    // The test's own queue, bound to every regscan.scan.* key, declared before regscan starts.
    let conn = Connection::connect(
        &support::db::amqp_url(),
        ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio),
    )
    .await
    .expect("RabbitMQ is reachable at REGSCAN_TEST_AMQP");
    let ch = conn.create_channel().await.unwrap();
    ch.exchange_declare(
        &exchange,
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    let listen = format!("{}.listen", queue.name);
    ch.queue_declare(
        &listen,
        QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_bind(
        &listen,
        &exchange,
        "regscan.scan.*",
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut consumer = ch
        .basic_consume(
            &listen,
            "notify-test",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    let addr = format!("127.0.0.1:{}", support::free_port());
    let registry = Registry::start_with(Some(Notify::new(
        format!("http://{addr}/v1/webhooks/distribution"),
        None,
    )))
    .await;
    let mut config = TestConfig::new(&pg.url, &[&registry.host]);
    config.queue_url = support::db::amqp_url();
    config.extra = format!(
        "[rabbitmq]\nqueue = \"{}\"\nevents_exchange = \"{exchange}\"\n",
        queue.name
    );
    let serve = RegscanProcess::start_on(&config, &["serve"], &addr).await;

    let chart = registry
        .push_artifact("r/charts/web", "0.1.0", &Artifact::helm_chart("web", "0.1.0"))
        .await;
    let odd = registry.push_artifact("r/odd", "v1", &Artifact::unknown(ODD)).await;

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let delivery = match tokio::time::timeout(Duration::from_secs(90), consumer.next()).await {
            Ok(Some(Ok(d))) => d,
            other => panic!(
                "no event on {exchange} ({:?}); got {seen:#?}\nregscan log:\n{}",
                other.map(|o| o.map(|r| r.map(|_| ()))),
                serve.log()
            ),
        };
        assert_eq!(
            delivery.properties.content_type().as_ref().map(|c| c.as_str()),
            Some("application/cloudevents+json")
        );
        let v: Value = serde_json::from_slice(&delivery.data).unwrap();
        assert_eq!(
            delivery.routing_key.as_str(),
            v["type"].as_str().unwrap(),
            "the routing key is the event type"
        );
        delivery.ack(BasicAckOptions::default()).await.unwrap();
        seen.push(v);
    }
    let find = |d: &str| {
        seen.iter()
            .find(|e| e["data"]["digest"] == d)
            .cloned()
            .unwrap_or_else(|| panic!("no event for {d}: {seen:#?}"))
    };
    check_event(
        &find(&chart),
        &registry.host,
        "r/charts/web",
        &chart,
        "regscan.scan.succeeded",
        "helm",
    );
    check_event(
        &find(&odd),
        &registry.host,
        "r/odd",
        &odd,
        "regscan.scan.unsupported",
        "unknown",
    );

    drop(serve);
    let _ = ch.queue_delete(&listen, QueueDeleteOptions::default()).await;
    let _ = ch.exchange_delete(&exchange, ExchangeDeleteOptions::default()).await;
    let _ = conn.close(200, "done").await;
}
