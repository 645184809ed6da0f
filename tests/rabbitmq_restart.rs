//! RabbitMQ restarted while webhooks arrive (its own test binary, because it stops the broker):
//! every event answered 2xx is scanned in the end, none is accepted and lost, and the worker in
//! `regscan serve` reconnects by itself. Events answered 503 during the outage are resent, as a
//! registry does.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use regscan::store::Store;
use regscan_scanner_api::Status;
use serde_json::json;
use support::oci::Artifact;
use support::process::{RegscanProcess, TestConfig};
use support::registry::Registry;

/// Starts the broker again even if the test fails half-way.
struct BrokerGuard;

impl Drop for BrokerGuard {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").arg("start_app").output();
    }
}

fn rabbitmqctl(arg: &str) {
    let out = Command::new("rabbitmqctl").arg(arg).output().expect("rabbitmqctl");
    assert!(
        out.status.success(),
        "rabbitmqctl {arg}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_loses_no_accepted_event() {
    let db = support::db::PgDb::create();
    let queue = support::db::RabbitQueue::new();
    let registry = Registry::start().await;
    let mut digests = BTreeMap::new();
    for i in 0..16 {
        let repo = format!("restart/a{i}");
        let d = registry
            .push_artifact(
                &repo,
                "v1",
                &Artifact::unknown(&format!("application/vnd.example.r{i}+json")),
            )
            .await;
        digests.insert(i, (repo, d));
    }
    let mut config = TestConfig::new(&db.url, &[&registry.host]);
    config.queue_url = support::db::amqp_url();
    config.rabbit_queue = Some(queue.name.clone());
    let serve = RegscanProcess::start(&config, &["serve", "--workers", "2"]).await;
    let store = Store::open(&db.url).await.unwrap();

    let _guard = BrokerGuard;
    let http = reqwest::Client::new();
    let mut refused = 0;
    let mut restarted = None;
    for (i, (repo, digest)) in &digests {
        if *i == 5 {
            // Stop the broker in the background while events keep coming.
            restarted = Some(std::thread::spawn(|| {
                rabbitmqctl("stop_app");
                std::thread::sleep(Duration::from_secs(3));
                rabbitmqctl("start_app");
            }));
        }
        let body = json!({"events": [{
            "id": format!("restart-{i}"), "action": "push",
            "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "repository": repo,
                       "url": format!("http://{}/v2/{repo}/manifests/{digest}", registry.host), "tag": "v1"},
            "request": {"host": registry.host, "method": "PUT"}}]});
        let start = Instant::now();
        loop {
            let r = http
                .post(format!("{}/v1/webhooks/distribution", serve.url()))
                .header("content-type", "application/vnd.docker.distribution.events.v1+json")
                .json_body(&body)
                .send()
                .await;
            match r.map(|r| r.status().as_u16()) {
                Ok(s) if (200..300).contains(&s) => break,
                Ok(503) => refused += 1,
                other => panic!("unexpected answer {other:?}\n{}", serve.log()),
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "broker never came back\n{}",
                serve.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    restarted.expect("restart started").join().expect("restart thread");
    assert!(
        refused > 0,
        "the outage overlapped the webhooks (some were answered 503)"
    );

    for (repo, digest) in digests.values() {
        let got = tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                if let Ok(Some(a)) = store
                    .artifact(&regscan_scanner_api::ArtifactRef::parse(&registry.host, repo, digest).unwrap())
                    .await
                {
                    if let Some(id) = a.latest_scan_id {
                        if let Ok(Some(s)) = store.scan(id).await {
                            if s.status.is_terminal() {
                                return s.status;
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{repo}@{digest} accepted but never scanned\n{}", serve.log()));
        assert_eq!(got, Status::Unsupported, "{repo}");
        let a = store
            .artifact(&regscan_scanner_api::ArtifactRef::parse(&registry.host, repo, digest).unwrap())
            .await
            .unwrap()
            .unwrap();
        let n = store
            .scans_of(a.id)
            .await
            .unwrap()
            .iter()
            .filter(|s| s.status == Status::Unsupported)
            .count();
        assert_eq!(n, 1, "{repo}: one result, no duplicate");
    }
    assert!(
        serve.log().contains("reconnected to RabbitMQ"),
        "the worker reconnected by itself:\n{}",
        serve.log()
    );
}

/// `RequestBuilder::json` needs reqwest's `json` feature; this sets the body by hand.
trait JsonBody {
    fn json_body(self, v: &serde_json::Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, v: &serde_json::Value) -> Self {
        self.body(serde_json::to_vec(v).expect("json"))
    }
}
