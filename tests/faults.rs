//! Faults a running pipeline meets, through a real registry with real notifications:
//!
//! - a late delivery for a digest that has since been deleted from the registry keeps the
//!   artifact's last result (marked deleted), never turning it into `failed`;
//! - a drill on PostgreSQL + RabbitMQ: many pushes while workers are SIGKILLed again and again;
//!   every artifact ends `succeeded` exactly once, none `failed` because of a dead worker's claim.

mod support;

use std::time::Duration;

use regscan::store::Store;
use regscan_scanner_api::Status;
use serde_json::json;
use support::oci::{Artifact, OciImage};
use support::process::{RegscanProcess, TestConfig};
use support::registry::Registry;
use support::wait_until;

const TOKEN: &str = "faults-webhook-token";

async fn statuses(store: &Store, registry: &str, repo: &str, digest: &str) -> Vec<Status> {
    let a = store
        .artifact(&regscan_scanner_api::ArtifactRef::parse(registry, repo, digest).unwrap())
        .await
        .unwrap()
        .expect("stored");
    store.scans_of(a.id).await.unwrap().iter().map(|s| s.status).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_job_for_a_deleted_manifest_keeps_the_result() {
    let (db, _dir) = support::db::sqlite_url();
    let addr = format!("127.0.0.1:{}", support::free_port());
    let registry = Registry::notifying(&addr, Some(TOKEN)).await;
    let mut config = TestConfig::new(&db, &[&registry.host]);
    config.webhook_token = Some(TOKEN.into());
    let serve = RegscanProcess::start_on(&config, &["serve"], &addr).await;
    let store = Store::open(&db).await.unwrap();

    let repo = "late/mystery";
    let digest = registry
        .push_artifact(repo, "v1", &Artifact::unknown("application/vnd.example.late.v1+json"))
        .await;
    let (status, _) = wait_until(Duration::from_secs(60), "the first scan", || {
        support::finished_scan(&store, &registry.host, repo, &digest)
    })
    .await;
    assert_eq!(status, Status::Unsupported);

    registry.delete_manifest(repo, &digest).await;
    // A second delivery of the push, under another event id, arrives after the delete.
    let late = json!({"events": [{
        "id": "late-delivery-1", "timestamp": "2026-12-03T10:00:00Z", "action": "push",
        "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                   "repository": repo, "tag": "v1",
                   "url": format!("http://{}/v2/{repo}/manifests/{digest}", registry.host)},
        "request": {"host": registry.host}
    }]});
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/webhooks/distribution", serve.url()))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/vnd.docker.distribution.events.v1+json")
        .body(late.to_string())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());

    // The late job runs (its event is recorded queued), meets the 404 and keeps the result.
    wait_until(Duration::from_secs(30), "the late job to run", || async {
        let a = store
            .artifact(&regscan_scanner_api::ArtifactRef::parse(&registry.host, repo, &digest).unwrap())
            .await
            .ok()??;
        let jobs: Vec<(String,)> = sqlx::query_as("SELECT id FROM jobs")
            .fetch_all(store.pool())
            .await
            .ok()?;
        (a.deleted_at.is_some() && jobs.is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        support::finished_scan(&store, &registry.host, repo, &digest)
            .await
            .map(|(s, _)| s),
        Some(Status::Unsupported),
        "{}",
        serve.log()
    );
    assert!(
        !statuses(&store, &registry.host, repo, &digest)
            .await
            .contains(&Status::Failed),
        "a late 404 never becomes a failed scan"
    );
}

/// An image big enough that workers are often killed mid-scan.
fn sizeable_image(seed: u64) -> OciImage {
    let mut noise = vec![0u8; 6 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ seed;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let mut image = OciImage::debian_like();
    image.files.push(("opt/blob.bin".into(), noise));
    image
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_again_and_again_lose_nothing_and_fail_nothing() {
    let db = support::db::PgDb::create();
    let queue = support::db::RabbitQueue::new();
    let addr = format!("127.0.0.1:{}", support::free_port());
    let registry = Registry::notifying(&addr, Some(TOKEN)).await;
    let mut config = TestConfig::new(&db.url, &[&registry.host]);
    config.webhook_token = Some(TOKEN.into());
    config.queue_url = support::db::amqp_url();
    config.rabbit_queue = Some(queue.name.clone());
    config.extra = "[worker]\nlease_secs = 6\nretry_base_delay_secs = 1\n".into();
    let _receiver = RegscanProcess::start_on(&config, &["serve", "--workers", "0"], &addr).await;
    let mut workers = [
        RegscanProcess::start(&config, &["worker", "--workers", "2"]).await,
        RegscanProcess::start(&config, &["worker", "--workers", "2"]).await,
    ];

    let mut pushed = Vec::new();
    for i in 0..16u64 {
        let repo = format!("drill/app{i}");
        let digest = if i % 4 == 3 {
            registry
                .push_artifact(&repo, "1", &Artifact::helm_chart(&format!("c{i}"), "0.1.0"))
                .await
        } else {
            registry.push_image(&repo, "1", &sizeable_image(i)).await
        };
        pushed.push((repo, digest));
    }
    // SIGKILL a worker four times, alternating, while the work is under way.
    let store = Store::open(&db.url).await.unwrap();
    for round in 0..4 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let victim = round % 2;
        workers[victim].kill();
        workers[victim] = RegscanProcess::start(&config, &["worker", "--workers", "2"]).await;
    }
    for (repo, digest) in &pushed {
        let what = format!("{repo} to be scanned");
        let (status, reason) = wait_until(Duration::from_secs(180), &what, || {
            support::finished_scan(&store, &registry.host, repo, digest)
        })
        .await;
        assert_eq!(status, Status::Succeeded, "{repo}: {reason:?}");
        let all = statuses(&store, &registry.host, repo, digest).await;
        assert_eq!(all, vec![Status::Succeeded], "{repo}: exactly one scan, succeeded");
    }
}
