//! The pipeline under load: many pushes at once through a real registry's notifications into one
//! `regscan serve` on its embedded default (SQLite + the queue table). Every pushed artifact —
//! images, charts, unknown types, one tag moved twice — ends stored exactly once with the right
//! kind and status, and the queue drains.

mod support;

use std::time::Duration;

use futures_util::future::join_all;
use regscan::store::Store;
use regscan_scanner_api::Status;
use support::oci::{tar_gz, Artifact};
use support::process::{RegscanProcess, TestConfig};
use support::registry::{Notify, Registry};
use support::wait_until;

const IMAGES: usize = 40;
const CHARTS: usize = 10;
const ODD: usize = 10;

fn image(i: usize) -> Artifact {
    let status = format!("Package: app{i}\nStatus: install ok installed\nVersion: 1.{i}-1\nArchitecture: amd64\n\n");
    let layer = tar_gz(&[
        (
            "etc/os-release",
            b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
        ),
        ("var/lib/dpkg/status", status.as_bytes()),
    ]);
    Artifact {
        config_media_type: "application/vnd.oci.image.config.v1+json".into(),
        config: format!(r#"{{"architecture":"amd64","os":"linux","config":{{"User":"app{i}"}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#).into_bytes(),
        layers: vec![("application/vnd.oci.image.layer.v1.tar+gzip".into(), layer)],
        artifact_type: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_pushes_is_scanned_exactly_once_each() {
    let (db, _dir) = support::db::sqlite_url();
    let addr = format!("127.0.0.1:{}", support::free_port());
    let registry = Registry::start_with(Some(Notify::new(
        format!("http://{addr}/v1/webhooks/distribution"),
        Some("load-token"),
    )))
    .await;
    let mut config = TestConfig::new(&db, &[&registry.host]);
    config.webhook_token = Some("load-token".into());
    config.extra = "[worker]\nconcurrency = 4\nkind_concurrency = { image = 2 }\n".into();
    let serve = RegscanProcess::start_on(&config, &["serve"], &addr).await;

    let mut pushes = Vec::new();
    for i in 0..IMAGES {
        pushes.push((
            format!("load/img{}", i % 8),
            format!("v{i}"),
            image(i),
            "image",
            Status::Succeeded,
        ));
    }
    for i in 0..CHARTS {
        pushes.push((
            format!("load/chart{i}"),
            "0.1.0".into(),
            Artifact::helm_chart(&format!("c{i}"), "0.1.0"),
            "helm",
            Status::Succeeded,
        ));
    }
    for i in 0..ODD {
        let a = Artifact::unknown(&format!("application/vnd.load.t{i}.config.v1+json"));
        pushes.push((format!("load/odd{i}"), "1".into(), a, "unknown", Status::Unsupported));
    }
    // Eight pushers at once.
    let mut expected = Vec::new();
    for chunk in pushes.chunks(8) {
        let digests = join_all(
            chunk
                .iter()
                .map(|(repo, tag, a, _, _)| registry.push_artifact(repo, tag, a)),
        )
        .await;
        for ((repo, tag, _, kind, status), digest) in chunk.iter().zip(digests) {
            expected.push((repo.clone(), tag.clone(), digest, *kind, *status));
        }
    }
    // The same tag moved twice: both digests are scanned, the tag points at the last.
    let moved_a = registry.push_artifact("load/moving", "latest", &image(1000)).await;
    let moved_b = registry.push_artifact("load/moving", "latest", &image(1001)).await;

    let store = Store::open(&db).await.unwrap();
    for (repo, _tag, digest, kind, status) in &expected {
        let got = wait_until(
            Duration::from_secs(180),
            &format!("{repo}@{digest} to be scanned"),
            || async {
                let a = store
                    .artifact(&regscan_scanner_api::ArtifactRef::parse(&registry.host, repo, digest).unwrap())
                    .await
                    .ok()??;
                let s = store.scan(a.latest_scan_id?).await.ok()??;
                s.status.is_terminal().then(|| (a.kind.as_str().to_owned(), s.status))
            },
        )
        .await;
        assert_eq!(
            (got.0.as_str(), got.1),
            (*kind, *status),
            "{repo}@{digest}\n{}",
            serve.log()
        );
        let a = store
            .artifact(&regscan_scanner_api::ArtifactRef::parse(&registry.host, repo, digest).unwrap())
            .await
            .unwrap()
            .unwrap();
        let scans = store.scans_of(a.id).await.unwrap();
        assert_eq!(scans.len(), 1, "{repo}@{digest} scanned once: {scans:?}");
    }
    for d in [&moved_a, &moved_b] {
        wait_until(
            Duration::from_secs(60),
            "the moved tag's digests to be scanned",
            || async {
                let a = store
                    .artifact(&regscan_scanner_api::ArtifactRef::parse(&registry.host, "load/moving", d).unwrap())
                    .await
                    .ok()??;
                store
                    .scan(a.latest_scan_id?)
                    .await
                    .ok()??
                    .status
                    .is_terminal()
                    .then_some(())
            },
        )
        .await;
    }
    assert_eq!(
        store
            .resolve_tag(&registry.host, "load/moving", "latest")
            .await
            .unwrap()
            .as_ref()
            .map(regscan_scanner_api::Digest::as_str),
        Some(moved_b.as_str())
    );
    wait_until(Duration::from_secs(30), "the queue to drain", || async {
        let left: Vec<(String,)> = sqlx::query_as("SELECT id FROM jobs")
            .fetch_all(store.pool())
            .await
            .unwrap();
        left.is_empty().then_some(())
    })
    .await;
    // Every image has exactly its one package.
    let a = store
        .artifact(&regscan_scanner_api::ArtifactRef::parse(&registry.host, "load/img3", &expected[3].2).unwrap())
        .await
        .unwrap()
        .unwrap();
    let pkgs = store.packages(a.latest_scan_id.unwrap()).await.unwrap();
    assert_eq!(
        pkgs.iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect::<Vec<_>>(),
        [("app3", "1.3-1")]
    );
}
