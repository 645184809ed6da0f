//! The worker in-process on the embedded queue: retries with backoff then `failed` and
//! dead-lettered with the last error; a failure that cannot pass on retry stored as `failed` at
//! once; an index fanned out into one job per child; a redelivered job not scanned twice.

mod support;

use std::sync::Arc;
use std::time::Duration;

use regscan::config::{Config, RegistryConfig};
use regscan::queue::embedded::EmbeddedQueue;
use regscan::queue::{Job, Queue};
use regscan::registry::ClientOptions;
use regscan::scan::Pipeline;
use regscan::store::Store;
use regscan::telemetry::Metrics;
use regscan::worker::{Worker, WorkerOptions};
use regscan_scanner_api::Status;
use support::oci::OciImage;
use support::registry::Registry;
use support::wait_until;
use tokio_util::sync::CancellationToken;

struct Running {
    store: Store,
    queue: EmbeddedQueue,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start(registry_host: &str, max_attempts: u32) -> Running {
    let (url, dir) = support::db::sqlite_url();
    let store = Store::open(&url).await.unwrap();
    let mut config = Config {
        registries: vec![RegistryConfig {
            host: registry_host.into(),
            insecure: true,
            ..Default::default()
        }],
        ..Default::default()
    };
    config.worker.max_attempts = max_attempts;
    config.worker.retry_base_delay_secs = 1;
    config.worker.lease_secs = 30;
    config.sandbox.program = Some(env!("CARGO_BIN_EXE_regscan").into());
    let config = Arc::new(config);
    let opts = ClientOptions {
        max_attempts: 1,
        connect_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let pipeline = Pipeline::with_client_options(config.clone(), store.clone(), opts)
        .await
        .unwrap();
    let queue = EmbeddedQueue::new(store.clone(), 30);
    let metrics = Metrics::new();
    let worker = Worker::new(
        pipeline,
        Arc::new(queue.clone()),
        config,
        metrics.clone(),
        WorkerOptions {
            concurrency: 2,
            name: "test-worker".into(),
            grace: Duration::from_secs(5),
        },
    );
    let stop = CancellationToken::new();
    let s = stop.clone();
    let handle = tokio::spawn(async move { worker.run(s).await.unwrap() });
    Running {
        store,
        queue,
        metrics,
        stop,
        handle,
        _dir: dir,
    }
}

impl Running {
    async fn shutdown(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("worker stops")
            .unwrap();
    }
}

fn job(id: &str, registry: &str, repo: &str, reference: &str) -> Job {
    Job {
        id: id.into(),
        registry: registry.into(),
        repository: repo.into(),
        reference: reference.into(),
        tag: None,
        source: "test".into(),
        force: false,
        attempt: 0,
    }
}

async fn latest(store: &Store, registry: &str, repo: &str, digest: &str) -> Option<(String, Status, Option<String>)> {
    let a = store
        .artifact(&regscan_scanner_api::ArtifactRef::new(
            registry,
            repo,
            regscan_scanner_api::Digest::from_stored(digest).unwrap(),
        ))
        .await
        .ok()??;
    let s = store.scan(a.latest_scan_id?).await.ok()??;
    s.status
        .is_terminal()
        .then(|| (a.kind.as_str().to_owned(), s.status, s.reason))
}

#[tokio::test]
async fn an_unreachable_registry_is_retried_then_failed_and_dead_lettered() {
    // A port nobody listens on.
    let host = format!("127.0.0.1:{}", support::free_port());
    let r = start(&host, 3).await;
    let digest = format!("sha256:{}", "ab".repeat(32));
    r.queue.publish(&[job("j1", &host, "team/app", &digest)]).await.unwrap();
    let dead = wait_until(Duration::from_secs(30), "the job to be dead-lettered", || async {
        let d = r.queue.dead().await.unwrap();
        (!d.is_empty()).then_some(d)
    })
    .await;
    assert_eq!(dead[0].0, "j1");
    let (kind, status, reason) = latest(&r.store, &host, "team/app", &digest)
        .await
        .expect("failure stored");
    assert_eq!((kind.as_str(), status), ("unknown", Status::Failed));
    assert_eq!(
        reason.as_deref(),
        Some(dead[0].1.as_str()),
        "the stored reason is the last error"
    );
    let m = r.metrics.encode();
    assert!(m.contains(r#"regscan_jobs_total{outcome="retried"} 2"#), "{m}");
    assert!(m.contains(r#"regscan_jobs_total{outcome="dead"} 1"#), "{m}");
    r.shutdown().await;
}

#[tokio::test]
async fn a_missing_manifest_fails_at_once_without_retries() {
    let registry = Registry::start().await;
    let r = start(&registry.host, 5).await;
    r.queue
        .publish(&[job("j1", &registry.host, "team/app", "no-such-tag")])
        .await
        .unwrap();
    let m = wait_until(Duration::from_secs(30), "the job to fail", || async {
        let m = r.metrics.encode();
        m.contains(r#"regscan_jobs_total{outcome="failed"} 1"#).then_some(m)
    })
    .await;
    assert!(!m.contains("retried"), "{m}");
    assert_eq!(r.queue.pending().await.unwrap(), 0, "acked");
    assert!(
        r.queue.dead().await.unwrap().is_empty(),
        "not dead-lettered: it cannot pass on retry"
    );
    let (_, status, reason) = latest(&r.store, &registry.host, "team/app", "unresolved:no-such-tag")
        .await
        .expect("failure stored");
    assert_eq!(status, Status::Failed);
    assert!(reason.unwrap_or_default().to_lowercase().contains("no-such-tag"));
    r.shutdown().await;
}

#[tokio::test]
async fn an_index_fans_out_and_a_redelivered_job_is_not_scanned_twice() {
    let registry = Registry::start().await;
    let mut arm = OciImage::debian_like();
    arm.architecture = "arm64".into();
    let index = registry
        .push_index("team/multi", "1.0", &[OciImage::debian_like(), arm])
        .await;
    let r = start(&registry.host, 3).await;
    r.queue
        .publish(&[job("idx", &registry.host, "team/multi", &index)])
        .await
        .unwrap();
    wait_until(Duration::from_secs(60), "the index and both children", || async {
        let m = r.metrics.encode();
        m.contains(r#"regscan_jobs_total{outcome="succeeded"} 3"#).then_some(())
    })
    .await;
    let children = r
        .store
        .children(&regscan_scanner_api::ArtifactRef::parse(&registry.host, "team/multi", &index).unwrap())
        .await
        .unwrap();
    assert_eq!(children.len(), 2);
    for c in &children {
        let (kind, status, _) = latest(&r.store, &registry.host, "team/multi", c.digest.as_str())
            .await
            .expect("child scanned");
        assert_eq!((kind.as_str(), status), ("image", Status::Succeeded), "{}", c.digest);
    }

    // The same child again (a redelivery): skipped, no second scan row.
    let child = &children[0];
    r.queue
        .publish(&[job("again", &registry.host, "team/multi", child.digest.as_str())])
        .await
        .unwrap();
    wait_until(Duration::from_secs(30), "the redelivery to be skipped", || async {
        r.metrics
            .encode()
            .contains(r#"regscan_jobs_total{outcome="skipped"} 1"#)
            .then_some(())
    })
    .await;
    let scans = r.store.scans_of(child.id).await.unwrap();
    assert_eq!(scans.iter().filter(|s| s.status == Status::Succeeded).count(), 1);
    r.shutdown().await;
}
