//! The webhook receiver: every registry flavour's fixture parsed into the same internal event,
//! and bad input (malformed JSON, wrong token, oversize body, unconfigured registry, unknown
//! action, queue down) answered with the right status and a recorded reason while the service
//! keeps serving. The receiver runs in-process over real HTTP, on SQLite and the embedded queue.

mod support;

use std::sync::Arc;

use axum::http::HeaderMap;
use regscan::config::{Config, RegistryConfig, SecretString};
use regscan::http::webhooks::event::{Action, RegistryEvent};
use regscan::http::webhooks::Flavour;
use regscan::http::AppState;
use regscan::queue::embedded::EmbeddedQueue;
use regscan::queue::{Consumer, Job, Queue, QueueError};
use regscan::store::Store;
use regscan::telemetry::Metrics;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const DIGEST: &str = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/webhooks/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

/// The parts every flavour agrees on (ids and spelling of the action differ by product).
fn essence(e: &RegistryEvent) -> (Action, Vec<String>, String, Option<String>, Option<String>) {
    (
        e.action.clone(),
        e.hosts.clone(),
        e.repository.clone(),
        e.digest.clone(),
        e.tag.clone(),
    )
}

#[test]
fn every_flavour_parses_a_push_into_the_same_event() {
    let json_ct = headers(&[("content-type", "application/json")]);
    let dist = Flavour::Distribution
        .parse(
            &headers(&[("content-type", "application/vnd.docker.distribution.events.v1+json")]),
            &fixture("distribution-push.json"),
        )
        .unwrap();
    let harbor = Flavour::Harbor
        .parse(&json_ct, &fixture("harbor-default.json"))
        .unwrap();
    let harbor_ce = Flavour::Harbor
        .parse(
            &headers(&[("content-type", "application/cloudevents+json")]),
            &fixture("harbor-cloudevents.json"),
        )
        .unwrap();
    let acr = Flavour::Acr.parse(&json_ct, &fixture("acr-push.json")).unwrap();
    let expected = (
        Action::Push,
        vec!["registry.example.com".to_string()],
        "team/app".to_string(),
        Some(DIGEST.to_string()),
        Some("1.0".to_string()),
    );
    for (name, events) in [
        ("distribution", &dist),
        ("harbor", &harbor),
        ("harbor cloudevents", &harbor_ce),
        ("acr", &acr),
    ] {
        assert_eq!(events.len(), 1, "{name}");
        assert_eq!(essence(&events[0]), expected, "{name}");
        assert!(events[0].id.is_some(), "{name} events are deduplicated by id");
    }
    assert_eq!(dist[0].id.as_deref(), Some("320678d8-ca14-430f-8bb6-4ca139cd83f7"));
    assert_eq!(harbor_ce[0].id.as_deref(), Some("66e18103-09c1-41f6-982f-37df223f3eeb"));
    assert_eq!(acr[0].id.as_deref(), Some("cb8c3971-9adc-488b-bdd8-43cbb4974ff5"));

    // Quay names no digest (the tag is resolved when scanned) and no id.
    let quay = Flavour::Quay.parse(&json_ct, &fixture("quay-repo-push.json")).unwrap();
    assert_eq!(quay.len(), 1);
    assert_eq!(
        essence(&quay[0]),
        (
            Action::Push,
            expected.1.clone(),
            expected.2.clone(),
            None,
            expected.4.clone()
        )
    );
    assert_eq!(quay[0].id, None);

    // zot (binary-mode CloudEvent from its HTTP sink) names no host.
    let zot_headers = headers(&[
        ("content-type", "application/json"),
        ("ce-specversion", "1.0"),
        ("ce-id", "5d2b1a57-6f0e-4f3b-9a53-7fd0e3b8a8d4"),
        ("ce-type", "zotregistry.image.updated"),
        ("ce-source", "zotregistry.dev"),
    ]);
    let zot = Flavour::Zot
        .parse(&zot_headers, &fixture("zot-image-updated.json"))
        .unwrap();
    assert_eq!(zot.len(), 1);
    assert_eq!(
        essence(&zot[0]),
        (
            Action::Push,
            vec![],
            expected.2.clone(),
            expected.3.clone(),
            expected.4.clone()
        )
    );
    assert_eq!(zot[0].id.as_deref(), Some("5d2b1a57-6f0e-4f3b-9a53-7fd0e3b8a8d4"));

    // ACR chart pushes leave request.host empty.
    let chart = Flavour::Acr.parse(&json_ct, &fixture("acr-chart-push.json")).unwrap();
    assert_eq!(chart[0].action, Action::Push);
    assert!(chart[0].hosts.is_empty());
}

#[test]
fn deletes_and_other_actions_are_classified() {
    let json_ct = headers(&[("content-type", "application/json")]);
    let body = br#"{"type":"DELETE_ARTIFACT","occur_at":1,"event_data":{"resources":[{"digest":"sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4","tag":"1.0","resource_url":"h.example/team/app:1.0"}],"repository":{"repo_full_name":"team/app"}}}"#;
    assert_eq!(Flavour::Harbor.parse(&json_ct, body).unwrap()[0].action, Action::Delete);
    let body = br#"{"type":"PULL_ARTIFACT","occur_at":1,"event_data":{"resources":[{"digest":"sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4","tag":"1.0","resource_url":"h.example/team/app:1.0"}],"repository":{"repo_full_name":"team/app"}}}"#;
    assert!(matches!(
        Flavour::Harbor.parse(&json_ct, body).unwrap()[0].action,
        Action::Ignore(_)
    ));
    let zot = headers(&[
        ("ce-specversion", "1.0"),
        ("ce-id", "1"),
        ("ce-type", "zotregistry.repository.created"),
    ]);
    assert!(matches!(
        Flavour::Zot.parse(&zot, br#"{"name":"a"}"#).unwrap()[0].action,
        Action::Ignore(_)
    ));
    let quay_build = br#"{"repository":"team/app","docker_url":"quay.io/team/app","build_id":"x"}"#;
    assert!(matches!(
        Flavour::Quay.parse(&json_ct, quay_build).unwrap()[0].action,
        Action::Ignore(_)
    ));
    assert!(Flavour::Acr.parse(&json_ct, b"[]").is_err());
    assert!(
        Flavour::Zot.parse(&json_ct, br#"{"name":"a"}"#).is_err(),
        "zot payloads must be CloudEvents"
    );
}

/// A queue that is always down.
struct DownQueue;

#[async_trait::async_trait]
impl Queue for DownQueue {
    fn kind(&self) -> &'static str {
        "down"
    }
    async fn publish(&self, jobs: &[Job]) -> Result<(), QueueError> {
        Err(QueueError::NotConfirmed {
            id: jobs[0].id.clone(),
            reason: "broker down (test)".into(),
        })
    }
    async fn consumer(&self, _: &str, _: usize) -> Result<Box<dyn Consumer>, QueueError> {
        Err(QueueError::Closed)
    }
    async fn ping(&self) -> Result<(), QueueError> {
        Err(QueueError::Closed)
    }
    async fn close(&self) {}
}

struct Receiver {
    url: String,
    store: Store,
    events: regscan::http::webhooks::log::EventLog,
    queue: EmbeddedQueue,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
    _pg: Option<support::db::PgDb>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn receiver(token: Option<&str>, queue_down: bool) -> Receiver {
    receiver_on(token, queue_down, false).await
}

/// A receiver on SQLite, or on a fresh PostgreSQL database with `postgres`.
async fn receiver_on(token: Option<&str>, queue_down: bool, postgres: bool) -> Receiver {
    let (sqlite, dir) = support::db::sqlite_url();
    let pg = postgres.then(support::db::PgDb::create);
    let db = pg.as_ref().map(|p| p.url.clone()).unwrap_or(sqlite);
    let store = Store::open(&db).await.unwrap();
    let mut config = Config {
        registries: vec![RegistryConfig {
            host: "registry.example.com".into(),
            ..Default::default()
        }],
        webhook_token: token.map(SecretString::from),
        ..Default::default()
    };
    config.http.max_body_bytes = 64 * 1024;
    let embedded = EmbeddedQueue::new(store.clone(), 60);
    let queue: Arc<dyn Queue> = if queue_down {
        Arc::new(DownQueue)
    } else {
        Arc::new(embedded.clone())
    };
    let state = AppState::new(Arc::new(config), store.clone(), queue, Metrics::new());
    let events = state.events.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(regscan::http::serve(listener, state, stop.clone()));
    Receiver {
        url,
        store,
        events,
        queue: embedded,
        stop,
        _dir: dir,
        _pg: pg,
    }
}

impl Receiver {
    async fn post(&self, endpoint: &str, content_type: &str, auth: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(format!("{}/v1/webhooks/{endpoint}", self.url))
            .header("content-type", content_type)
            .body(body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// The newest recorded event: (outcome, status code, reason).
    async fn last_event(&self) -> (String, i64, String) {
        self.events.flush().await.unwrap();
        let e = self.store.recent_events(1).await.unwrap().remove(0);
        (
            e.record.outcome.as_str().to_owned(),
            i64::from(e.record.status_code),
            e.record.reason.unwrap_or_default(),
        )
    }
}

fn push_event(id: &str, host: &str, action: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"events": [{
        "id": id, "action": action,
        "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DIGEST, "repository": "team/app",
                   "url": format!("http://{host}/v2/team/app/manifests/{DIGEST}"), "tag": "1.0"},
        "request": {"host": host, "method": "PUT"}
    }]}))
    .unwrap()
}

const EVENTS_V1: &str = "application/vnd.docker.distribution.events.v1+json";

#[tokio::test]
async fn bad_input_gets_the_right_status_and_a_recorded_reason() {
    let r = receiver(Some("s3cret"), false).await;
    let ok = Some("Bearer s3cret");

    let (status, _) = r
        .post(
            "distribution",
            EVENTS_V1,
            None,
            push_event("e1", "registry.example.com", "push"),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        r.last_event().await,
        (
            "rejected".into(),
            401,
            "missing Authorization header (Bearer token required)".into()
        )
    );

    let (status, _) = r
        .post(
            "distribution",
            EVENTS_V1,
            Some("Bearer nope"),
            push_event("e1", "registry.example.com", "push"),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(r.last_event().await.2, "wrong webhook token");

    let (status, body) = r.post("distribution", EVENTS_V1, ok, b"{\"events\": [".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("malformed payload"), "{body}");
    assert!(r.last_event().await.2.contains("malformed payload"));

    let (status, _) = r.post("distribution", EVENTS_V1, ok, vec![b' '; 100 * 1024]).await;
    assert_eq!(status, 413);
    assert!(r.last_event().await.2.contains("max_body_bytes"));

    let (status, _) = r
        .post(
            "distribution",
            "text/plain",
            ok,
            push_event("e1", "registry.example.com", "push"),
        )
        .await;
    assert_eq!(status, 415);

    let (status, body) = r
        .post(
            "distribution",
            EVENTS_V1,
            ok,
            push_event("e2", "evil.example:5000", "push"),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (outcome, code, reason) = r.last_event().await;
    assert_eq!((outcome.as_str(), code), ("refused", 403));
    assert!(
        reason.contains("evil.example:5000") && reason.contains("not configured"),
        "{reason}"
    );

    let (status, body) = r
        .post(
            "distribution",
            EVENTS_V1,
            ok,
            push_event("e3", "registry.example.com", "teleport"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"][0]["outcome"], "ignored");
    assert!(r.last_event().await.2.contains("unknown action \"teleport\""));

    // Nothing of the above reached the queue; the service still serves and queues a good push.
    assert_eq!(r.queue.pending().await.unwrap(), 0);
    let (status, body) = r
        .post(
            "distribution",
            EVENTS_V1,
            ok,
            push_event("e4", "registry.example.com", "push"),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["queued"], 1);
    assert_eq!(r.queue.pending().await.unwrap(), 1);

    // The registry redelivers the same event: acknowledged, not queued twice.
    let (status, body) = r
        .post(
            "distribution",
            EVENTS_V1,
            ok,
            push_event("e4", "registry.example.com", "push"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"][0]["outcome"], "duplicate");
    assert_eq!(r.queue.pending().await.unwrap(), 1);

    // zot authenticates with Basic (the token as password) and names its registry in the URL.
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("zot:s3cret")
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/webhooks/zot?registry=registry.example.com", r.url))
        .header("authorization", basic)
        .header("content-type", "application/json")
        .header("ce-specversion", "1.0")
        .header("ce-id", "z1")
        .header("ce-type", "zotregistry.image.updated")
        .body(fixture("zot-image-updated.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    assert_eq!(r.queue.pending().await.unwrap(), 2);

    let metrics = reqwest::get(format!("{}/metrics", r.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"regscan_webhook_events_total{endpoint="distribution",outcome="rejected"} 5"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"regscan_webhook_events_total{endpoint="distribution",outcome="refused"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"regscan_webhook_events_total{endpoint="zot",outcome="queued"} 1"#),
        "{metrics}"
    );
    let ready = reqwest::get(format!("{}/readyz", r.url)).await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}

#[tokio::test]
async fn a_queue_that_is_down_gets_503_and_nothing_is_recorded_as_queued() {
    let r = receiver(None, true).await;
    let (status, body) = r
        .post(
            "distribution",
            EVENTS_V1,
            None,
            push_event("e1", "registry.example.com", "push"),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("broker down"), "{body}");
    let (outcome, code, reason) = r.last_event().await;
    assert_eq!((outcome.as_str(), code), ("failed", 503));
    assert!(reason.contains("retry later"), "{reason}");
    // The retry is not mistaken for a duplicate.
    r.events.flush().await.unwrap();
    let seen = r.store.seen_events("distribution", &["e1"]).await.unwrap();
    assert!(seen.is_empty());
    let ready = reqwest::get(format!("{}/readyz", r.url)).await.unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let health = reqwest::get(format!("{}/healthz", r.url)).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test]
async fn a_delete_event_marks_the_artifact_deleted_and_keeps_it() {
    let r = receiver(None, false).await;
    let at = support::artifact_ref("team/app", DIGEST);
    let a = support::image_artifact(&at);
    r.store.upsert_artifact(&a).await.unwrap();
    r.store.set_tag(a.artifact, "1.0").await.unwrap();
    let (status, body) = r
        .post(
            "distribution",
            EVENTS_V1,
            None,
            push_event("d1", "registry.example.com", "delete"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"][0]["outcome"], "deleted");
    let art = r
        .store
        .artifact(&regscan_scanner_api::ArtifactRef::parse("registry.example.com", "team/app", DIGEST).unwrap())
        .await
        .unwrap()
        .expect("history kept");
    assert!(art.deleted_at.is_some());
    assert_eq!(
        r.store
            .resolve_tag("registry.example.com", "team/app", "1.0")
            .await
            .unwrap(),
        None
    );
    assert_eq!(r.queue.pending().await.unwrap(), 0);
}

fn push_named(id: &str, repository: &str, tag: &str, digest: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"events": [{
        "id": id, "action": "push",
        "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "repository": repository,
                   "tag": tag},
        "request": {"host": "registry.example.com", "method": "PUT"}
    }]}))
    .unwrap()
}

#[tokio::test]
async fn bad_names_and_references_are_rejected_with_a_reason_and_never_queued() {
    let r = receiver(None, false).await;
    let long = "a".repeat(5000);
    let cases: Vec<(&str, &str, &str, &str)> = vec![
        (
            "../../../etc/passwd",
            "1.0",
            DIGEST,
            "repository \"../../../etc/passwd\"",
        ),
        ("<script>alert(1)</script>", "1.0", DIGEST, "repository \"<script>"),
        ("a\r\nX-Injected: 1", "1.0", DIGEST, "a\\u{d}\\u{a}X-Injected"),
        (&long, "1.0", DIGEST, "(5000 bytes)"),
        ("team/\u{202E}ppa", "1.0", DIGEST, "team/\\u{202e}ppa"),
        ("Team/App", "1.0", DIGEST, "repository \"Team/App\""),
        ("team/app", "1.0\r\nx", DIGEST, "tag \"1.0\\u{d}\\u{a}x\""),
        ("team/app", "1.0", "sha256:abc", "digest \"sha256:abc\""),
        (
            "team/app",
            "1.0",
            "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "digest",
        ),
    ];
    for (i, (repo, tag, digest, says)) in cases.iter().enumerate() {
        let (status, body) = r
            .post(
                "distribution",
                EVENTS_V1,
                None,
                push_named(&format!("bad{i}"), repo, tag, digest),
            )
            .await;
        assert_eq!(status, 400, "{repo:?}: {body}");
        assert_eq!(body["events"][0]["outcome"], "rejected", "{body}");
        let (outcome, code, reason) = r.last_event().await;
        assert_eq!((outcome.as_str(), code), ("rejected", 400), "{repo:?}");
        assert!(reason.contains(says), "{reason:?} should contain {says:?}");
        assert!(!reason.contains('\u{202E}') && !reason.contains('\r'), "{reason:?}");
        let stored = r.store.recent_events(1).await.unwrap().remove(0).record;
        assert_eq!(
            (stored.repository, stored.reference),
            (None, None),
            "bad values only quoted in the reason"
        );
    }
    // Harbor's payload takes the same checks.
    let harbor = br#"{"type":"PUSH_ARTIFACT","occur_at":1,"event_data":{"resources":[{"digest":"sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4","tag":"1.0","resource_url":"registry.example.com/x/<b>:1.0"}],"repository":{"repo_full_name":"x/<b>"}}}"#;
    let (status, body) = r.post("harbor", "application/json", None, harbor.to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(r.queue.pending().await.unwrap(), 0, "nothing was queued");
    let artifacts = r.store.list_artifacts(&Default::default()).await.unwrap();
    assert!(artifacts.is_empty(), "no artifact stored");
    // A good event in the same service still goes through.
    let (status, body) = r
        .post(
            "distribution",
            EVENTS_V1,
            None,
            push_named("good", "team/app", "1.0", DIGEST),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(r.queue.pending().await.unwrap(), 1);
}

#[tokio::test]
async fn an_event_id_over_256_bytes_is_rejected_and_not_remembered() {
    let r = receiver(None, false).await;
    let id = "x".repeat(300);
    for _ in 0..2 {
        let (status, body) = r
            .post(
                "distribution",
                EVENTS_V1,
                None,
                push_event(&id, "registry.example.com", "push"),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            body["events"][0]["outcome"], "rejected",
            "not a duplicate either: {body}"
        );
        assert_eq!(body["events"][0]["id"], Value::Null, "{body}");
        let (outcome, _, reason) = r.last_event().await;
        assert_eq!(outcome, "rejected");
        assert!(reason.contains("300 bytes") && reason.contains("256"), "{reason}");
    }
    assert_eq!(r.queue.pending().await.unwrap(), 0);
    let stored = r.store.recent_events(10).await.unwrap();
    assert!(
        stored.iter().all(|e| e.record.event_id.is_none()),
        "the id is not stored"
    );
    // 256 bytes is fine.
    let (status, _) = r
        .post(
            "distribution",
            EVENTS_V1,
            None,
            push_event(&"y".repeat(256), "registry.example.com", "push"),
        )
        .await;
    assert_eq!(status, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unauthenticated_requests_leaves_the_event_log_bounded() {
    flood(receiver_on(Some("s3cret"), false, false).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unauthenticated_requests_leaves_the_event_log_bounded_on_postgres() {
    let r = receiver_on(Some("s3cret"), false, true).await;
    let store = r.store.clone();
    flood(r).await;
    store.close().await;
}

async fn flood(r: Receiver) {
    const REQUESTS: usize = 10_000;
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let url = format!("{}/v1/webhooks/distribution", r.url);
    let body = push_event("flood", "registry.example.com", "push");
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..32 {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        tasks.spawn(async move {
            let mut statuses = Vec::new();
            for _ in (worker..REQUESTS).step_by(32) {
                let resp = client
                    .post(&url)
                    .header("content-type", EVENTS_V1)
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                statuses.push(resp.status().as_u16());
            }
            statuses
        });
    }
    let mut answered = 0;
    while let Some(statuses) = tasks.join_next().await {
        let statuses = statuses.unwrap();
        assert!(statuses.iter().all(|s| *s == 401));
        answered += statuses.len();
    }
    let elapsed = started.elapsed();
    assert_eq!(answered, REQUESTS);
    let health = client.get(format!("{}/healthz", r.url)).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200, "the service still answers");
    r.events.flush().await.unwrap();
    let rows = r.store.recent_events(100_000).await.unwrap();
    let summaries: Vec<_> = rows
        .iter()
        .filter(|e| e.record.reason.as_deref().is_some_and(|r| r.starts_with("rate limit:")))
        .collect();
    eprintln!(
        "flood: {REQUESTS} unauthenticated requests in {elapsed:?}; {} event-log rows ({} summary)",
        rows.len(),
        summaries.len()
    );
    assert!(rows.len() <= 25, "{} rows for {REQUESTS} rejected requests", rows.len());
    assert!(!summaries.is_empty());
    let held_back: u64 = summaries
        .iter()
        .map(|e| {
            let reason = e.record.reason.as_deref().unwrap();
            reason["rate limit: ".len()..]
                .split(' ')
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(
        held_back as usize + rows.len() - summaries.len(),
        REQUESTS,
        "every request accounted for"
    );
    let metrics = client
        .get(format!("{}/metrics", r.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            r#"regscan_webhook_events_total{{endpoint="distribution",outcome="rejected"}} {REQUESTS}"#
        )),
        "every rejection is counted: {metrics}"
    );
    // A good request from the same address still gets through.
    let (status, body) = r
        .post(
            "distribution",
            EVENTS_V1,
            Some("Bearer s3cret"),
            push_event("after", "registry.example.com", "push"),
        )
        .await;
    assert_eq!(status, 202, "{body}");
}
