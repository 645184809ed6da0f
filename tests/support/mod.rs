//! The shared test harness: real services on loopback, each test with its own.
//!
//! - [`browser`]: headless Chromium, `--dump-dom` and screenshots.
//! - [`registry`]: a real `docker-registry serve` on a free port with a temp storage directory and,
//!   optionally, `notifications.endpoints` pointing at regscan; push helpers (raw distribution API
//!   uploads, and `skopeo copy` of an OCI layout the test wrote).
//! - [`oci`]: builds OCI layouts, image layers, Helm charts and artifact manifests in memory.
//! - [`db`]: a fresh PostgreSQL database per test (dropped afterwards), a temp SQLite URL, and a
//!   unique RabbitMQ queue name per test.
//! - [`process`]: runs the `regscan` binary (`serve`, `worker`) as a child process with a config
//!   file written by the test, killed on drop; [`wait_until`] polls a condition.
//!
//! Every test binary includes this with `mod support;`; not every test uses every helper.
#![allow(dead_code)]

pub mod browser;
pub mod db;
pub mod oci;
pub mod process;
pub mod registry;

use std::future::Future;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound and released; a race with other processes is possible
/// but unlikely).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// A short random lowercase hex string, for unique names.
pub fn random_suffix() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{n:016x}")
}

/// `registry.example.com/{repository}@{digest}`, for tests that store results through the store
/// API directly.
pub fn artifact_ref(repository: &str, digest: &str) -> regscan_scanner_api::ArtifactRef {
    regscan_scanner_api::ArtifactRef::parse("registry.example.com", repository, digest).unwrap()
}

/// An image manifest at `at`, as the pipeline would store it.
pub fn image_artifact(at: &regscan_scanner_api::ArtifactRef) -> regscan::store::NewArtifact<'_> {
    static IMAGE: regscan_scanner_api::Kind = regscan_scanner_api::Kind::Image;
    regscan::store::NewArtifact {
        artifact: at,
        manifest_media_type: "application/vnd.oci.image.manifest.v1+json",
        artifact_type: None,
        kind: &IMAGE,
        size: 1,
        parent_digest: None,
        platform: None,
    }
}

/// The status and reason of an artifact's latest scan, once that scan has ended.
pub async fn finished_scan(
    store: &regscan::store::Store,
    registry: &str,
    repository: &str,
    digest: &str,
) -> Option<(regscan_scanner_api::Status, Option<String>)> {
    let a = store
        .artifact(&regscan_scanner_api::ArtifactRef::new(
            registry,
            repository,
            regscan_scanner_api::Digest::from_stored(digest).unwrap(),
        ))
        .await
        .ok()??;
    let scan = store.scan(a.latest_scan_id?).await.ok()??;
    scan.status.is_terminal().then(|| (scan.status, scan.reason.clone()))
}

/// Poll `check` every 100 ms until it returns `Some`, or panic with `what` after `timeout`.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
