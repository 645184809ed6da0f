//! End to end with a real registry sending real notifications: `docker-registry` notifies
//! regscan (with the Authorization header), an image, a Helm chart and an unknown artifact are
//! pushed, and each ends up stored with the right kind and status — on the embedded default
//! (SQLite + the queue table, one `regscan serve`) and on PostgreSQL + RabbitMQ (a receiver and
//! two `regscan worker` processes). Also: a worker killed with SIGKILL mid-job, whose job comes
//! back and ends `succeeded` exactly once.

mod support;

use std::time::Duration;

use regscan::store::events::EventOutcome;
use regscan::store::Store;
use regscan_scanner_api::Status;
use support::oci::{Artifact, OciImage};
use support::process::{RegscanProcess, TestConfig};
use support::registry::{Notify, Registry};
use support::wait_until;

const TOKEN: &str = "e2e-webhook-token";
const UNKNOWN_TYPE: &str = "application/vnd.example.mystery.config.v1+json";

/// (kind, status) of the latest scan of an artifact, once it has a terminal status.
async fn stored(store: &Store, registry: &str, repo: &str, digest: &str) -> Option<(String, Status)> {
    let a = store
        .artifact(&regscan_scanner_api::ArtifactRef::parse(registry, repo, digest).unwrap())
        .await
        .ok()??;
    let scan = store.scan(a.latest_scan_id?).await.ok()??;
    scan.status
        .is_terminal()
        .then(|| (a.kind.as_str().to_owned(), scan.status))
}

/// Scans of an artifact with `status`.
async fn scans_with(store: &Store, registry: &str, repo: &str, digest: &str, status: Status) -> usize {
    let a = store
        .artifact(&regscan_scanner_api::ArtifactRef::parse(registry, repo, digest).unwrap())
        .await
        .unwrap()
        .expect("artifact stored");
    store
        .scans_of(a.id)
        .await
        .unwrap()
        .iter()
        .filter(|s| s.status == status)
        .count()
}

/// Push the three kinds; returns their (repository, digest, expected kind, expected status).
async fn push_three(registry: &Registry) -> Vec<(String, String, &'static str, Status)> {
    let image = registry.push_image("e2e/app", "1.0", &OciImage::debian_like()).await;
    let chart = registry
        .push_artifact("e2e/charts/web", "0.1.0", &Artifact::helm_chart("web", "0.1.0"))
        .await;
    let unknown = registry
        .push_artifact("e2e/mystery", "v1", &Artifact::unknown(UNKNOWN_TYPE))
        .await;
    vec![
        ("e2e/app".into(), image, "image", Status::Succeeded),
        ("e2e/charts/web".into(), chart, "helm", Status::Succeeded),
        ("e2e/mystery".into(), unknown, "unknown", Status::Unsupported),
    ]
}

async fn expect_all_stored(
    store: &Store,
    registry: &Registry,
    expected: &[(String, String, &'static str, Status)],
    procs: &[&RegscanProcess],
) {
    for (repo, digest, kind, status) in expected {
        let what = format!("{repo}@{digest} to be stored");
        let got = tokio::time::timeout(Duration::from_secs(90), async {
            loop {
                if let Some(v) = stored(store, &registry.host, repo, digest).await {
                    return v;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            let logs: Vec<String> = procs.iter().map(|p| p.log()).collect();
            panic!(
                "timed out waiting for {what}\nregistry log:\n{}\nregscan logs:\n{}",
                registry.log(),
                logs.join("\n-----\n")
            )
        });
        assert_eq!(got, (kind.to_string(), *status), "{repo}@{digest}");
        assert_eq!(
            scans_with(store, &registry.host, repo, digest, *status).await,
            1,
            "{repo}: stored exactly once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_notifications_get_every_push_stored_on_the_embedded_default() {
    let (db, _dir) = support::db::sqlite_url();
    let addr = format!("127.0.0.1:{}", support::free_port());
    let registry = Registry::start_with(Some(Notify::new(
        format!("http://{addr}/v1/webhooks/distribution"),
        Some(TOKEN),
    )))
    .await;
    let mut config = TestConfig::new(&db, &[&registry.host]);
    config.webhook_token = Some(TOKEN.into());
    let serve = RegscanProcess::start_on(&config, &["serve"], &addr).await;

    let expected = push_three(&registry).await;
    let store = Store::open(&db).await.unwrap();
    expect_all_stored(&store, &registry, &expected, &[&serve]).await;

    // Every notification was accepted with the token; blob events never reached regscan.
    let events = store.recent_events(1000).await.unwrap();
    assert!(
        events.iter().all(|e| e.record.outcome != EventOutcome::Rejected),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| e.record.outcome == EventOutcome::Queued));

    // The query API is mounted beside the webhooks.
    let list = reqwest::get(format!("{}/v1/artifacts", serve.url())).await.unwrap();
    assert_eq!(list.status().as_u16(), 200);

    // SIGTERM with nothing in flight: a clean, quick exit.
    let mut serve = serve;
    assert!(
        serve.terminate(Duration::from_secs(20)).await,
        "serve exits 0 on SIGTERM:\n{}",
        serve.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_notifications_on_postgres_and_rabbitmq_with_two_workers() {
    let db = support::db::PgDb::create();
    let queue = support::db::RabbitQueue::new();
    let addr = format!("127.0.0.1:{}", support::free_port());
    let registry = Registry::start_with(Some(Notify::new(
        format!("http://{addr}/v1/webhooks/distribution"),
        Some(TOKEN),
    )))
    .await;
    let mut config = TestConfig::new(&db.url, &[&registry.host]);
    config.webhook_token = Some(TOKEN.into());
    config.queue_url = support::db::amqp_url();
    config.rabbit_queue = Some(queue.name.clone());
    let receiver = RegscanProcess::start_on(&config, &["serve", "--workers", "0"], &addr).await;
    let probes = format!("127.0.0.1:{}", support::free_port());
    let w1 = RegscanProcess::start(&config, &["worker", "--workers", "2", "--metrics-listen", &probes]).await;
    let w2 = RegscanProcess::start(&config, &["worker", "--workers", "2"]).await;
    // Both consumers attached before anything is pushed, so both get work.
    wait_until(Duration::from_secs(30), "two consumers on the queue", || async {
        let out = tokio::process::Command::new("rabbitmqctl")
            .args(["list_queues", "-q", "--no-table-headers", "name", "consumers"])
            .output()
            .await
            .unwrap();
        let listing = String::from_utf8_lossy(&out.stdout).to_string();
        listing
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == [queue.name.as_str(), "2"])
            .then_some(())
    })
    .await;

    let mut expected = push_three(&registry).await;
    for i in 0..4 {
        let repo = format!("e2e/more{i}");
        let d = registry
            .push_artifact(&repo, "v1", &Artifact::unknown(&format!("{UNKNOWN_TYPE}.{i}")))
            .await;
        expected.push((repo, d, "unknown", Status::Unsupported));
    }
    let store = Store::open(&db.url).await.unwrap();
    expect_all_stored(&store, &registry, &expected, &[&receiver, &w1, &w2]).await;

    // Both workers took part (prefetch 2 each, 7 jobs), and the first one exports its metrics.
    for (name, w) in [("w1", &w1), ("w2", &w2)] {
        assert!(w.log().contains("job done"), "{name} did no job:\n{}", w.log());
    }
    let ready = reqwest::get(format!("http://{probes}/readyz")).await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let metrics = reqwest::get(format!("http://{probes}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("regscan_jobs_total{outcome="), "{metrics}");
}

/// An image with a big incompressible layer, which keeps a scan busy for a while.
fn big_image() -> OciImage {
    let mut noise = vec![0u8; 24 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
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

/// Wait until a worker holds a leased job and a running scan.
async fn wait_mid_scan(store: &Store) {
    wait_until(Duration::from_secs(60), "the worker to start scanning", || async {
        let leased: Option<(String,)> = sqlx::query_as("SELECT id FROM jobs WHERE worker IS NOT NULL")
            .fetch_optional(store.pool())
            .await
            .unwrap();
        let running: Option<(i64,)> = sqlx::query_as("SELECT id FROM scans WHERE status = 'running'")
            .fetch_optional(store.pool())
            .await
            .unwrap();
        leased.and(running).map(|_| ())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_hands_the_job_in_flight_back_untouched() {
    let (db, _dir) = support::db::sqlite_url();
    let addr = format!("127.0.0.1:{}", support::free_port());
    let registry = Registry::start_with(Some(Notify::new(
        format!("http://{addr}/v1/webhooks/distribution"),
        None,
    )))
    .await;
    let mut config = TestConfig::new(&db, &[&registry.host]);
    config.extra = "[worker]\nconcurrency = 1\nlease_secs = 4\nretry_base_delay_secs = 1\n".into();
    let _receiver = RegscanProcess::start_on(&config, &["serve", "--workers", "0"], &addr).await;
    let mut first = RegscanProcess::start(&config, &["worker", "--grace-secs", "0"]).await;
    let digest = registry.push_image("e2e/big", "1.0", &big_image()).await;
    let store = Store::open(&db).await.unwrap();
    wait_mid_scan(&store).await;
    assert!(
        first.terminate(Duration::from_secs(20)).await,
        "worker exits 0 on SIGTERM:\n{}",
        first.log()
    );
    assert!(first.log().contains("handed back"), "{}", first.log());
    // Handed back at once (no lease left to expire) and not counted as a failed attempt.
    let rows: Vec<(Option<String>, i64)> = sqlx::query_as("SELECT worker, attempt FROM jobs")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, vec![(None, 0)], "{}", first.log());

    let second = RegscanProcess::start(&config, &["worker"]).await;
    let got = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            if let Some(v) = stored(&store, &registry.host, "e2e/big", &digest).await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("job never finished\n{}", second.log()));
    assert_eq!(got, ("image".to_string(), Status::Succeeded));
    assert_eq!(
        scans_with(&store, &registry.host, "e2e/big", &digest, Status::Succeeded).await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_loses_nothing_and_the_scan_succeeds_once() {
    let (db, _dir) = support::db::sqlite_url();
    let addr = format!("127.0.0.1:{}", support::free_port());
    let registry = Registry::start_with(Some(Notify::new(
        format!("http://{addr}/v1/webhooks/distribution"),
        Some(TOKEN),
    )))
    .await;
    let mut config = TestConfig::new(&db, &[&registry.host]);
    config.webhook_token = Some(TOKEN.into());
    config.extra = "[worker]\nconcurrency = 1\nlease_secs = 4\nretry_base_delay_secs = 1\n".into();
    let _receiver = RegscanProcess::start_on(&config, &["serve", "--workers", "0"], &addr).await;
    let mut victim = RegscanProcess::start(&config, &["worker"]).await;

    let digest = registry.push_image("e2e/big", "1.0", &big_image()).await;

    // Kill the worker (SIGKILL) while it holds the job and the scan's claim: mid-scan.
    let store = Store::open(&db).await.unwrap();
    wait_mid_scan(&store).await;
    victim.kill();

    let rescuer = RegscanProcess::start(&config, &["worker"]).await;
    let got = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            if let Some(v) = stored(&store, &registry.host, "e2e/big", &digest).await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "job never came back\nvictim:\n{}\nrescuer:\n{}",
            victim.log(),
            rescuer.log()
        )
    });
    assert_eq!(got, ("image".to_string(), Status::Succeeded));
    assert_eq!(
        scans_with(&store, &registry.host, "e2e/big", &digest, Status::Succeeded).await,
        1
    );
    assert_eq!(
        scans_with(&store, &registry.host, "e2e/big", &digest, Status::Running).await,
        0
    );
    // The worker stores the result, then acknowledges the job: the queue
    // drains a moment after the result appears.
    wait_until(Duration::from_secs(10), "the queue to drain", || async {
        let left: Vec<(String,)> = sqlx::query_as("SELECT id FROM jobs")
            .fetch_all(store.pool())
            .await
            .unwrap();
        left.is_empty().then_some(())
    })
    .await;
}
