//! Hostile artifacts through a real registry with real notifications, while a prober asks
//! `/healthz` every half second: memory bombs, CPU bombs, path bombs, decompression bombs and
//! recursion bombs each end in a final state with a reason, the service never stops answering,
//! nothing is retried, and a good chart pushed afterwards is scanned.

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use regscan::store::Store;
use regscan_scanner_api::{media, Status};
use serde_json::json;
use sha2::{Digest, Sha256};
use support::oci::{tar_gz, Artifact, HELM_CHART, HELM_CONFIG};
use support::process::{RegscanProcess, TestConfig};
use support::registry::Registry;

const TOKEN: &str = "hostile-webhook-token";

fn chart(name: &str, extra: &[(&str, &[u8])], template: &str) -> Artifact {
    let chart_yaml = format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n");
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (format!("{name}/Chart.yaml"), chart_yaml.into_bytes()),
        (format!("{name}/values.yaml"), b"replicaCount: 1\n".to_vec()),
        (format!("{name}/templates/t.yaml"), template.as_bytes().to_vec()),
    ];
    for (path, data) in extra {
        files.push((format!("{name}/{path}"), data.to_vec()));
    }
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), d.as_slice())).collect();
    Artifact {
        config_media_type: HELM_CONFIG.into(),
        config: serde_json::to_vec(&json!({"name": name, "version": "0.1.0", "apiVersion": "v2"})).unwrap(),
        layers: vec![(HELM_CHART.into(), tar_gz(&refs))],
        artifact_type: None,
    }
}

/// Writes through to a gzip stream while hashing the uncompressed bytes (the layer's diff id).
struct Layer {
    gz: flate2::write::GzEncoder<Vec<u8>>,
    diff: Sha256,
}

impl Write for Layer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.diff.update(buf);
        self.gz.write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.gz.flush()
    }
}

/// A one-layer image whose layer `fill` writes.
fn image(fill: impl FnOnce(&mut tar::Builder<Layer>)) -> Artifact {
    let mut b = tar::Builder::new(Layer {
        gz: flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()),
        diff: Sha256::new(),
    });
    fill(&mut b);
    let layer = b.into_inner().unwrap();
    let diff_id = format!("sha256:{}", hex::encode(layer.diff.finalize()));
    let data = layer.gz.finish().unwrap();
    let config = json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}});
    Artifact {
        config_media_type: media::OCI_CONFIG.into(),
        config: serde_json::to_vec(&config).unwrap(),
        layers: vec![(media::OCI_LAYER_GZIP.into(), data)],
        artifact_type: None,
    }
}

fn file(b: &mut tar::Builder<Layer>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, path, data).unwrap();
}

/// 2,000 PAX entries, each a whiteout whose path is 100 KB long.
fn pax_path_bomb() -> Artifact {
    image(|b| {
        file(b, "etc/os-release", b"ID=debian\nVERSION_ID=12\n");
        let long = "d".repeat(100_000);
        for i in 0..2_000 {
            let path = format!("{long}/.wh.f{i}");
            b.append_pax_extensions([("path", path.as_bytes())]).unwrap();
            let mut h = tar::Header::new_ustar();
            h.set_size(0);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_path(format!("x/.wh.f{i}")).unwrap();
            h.set_cksum();
            b.append(&h, std::io::empty()).unwrap();
        }
    })
}

/// A layer whose one file is 1 GiB of zeros (about 1 MB compressed).
fn decompression_bomb() -> Artifact {
    image(|b| {
        file(b, "etc/os-release", b"ID=debian\nVERSION_ID=12\n");
        let size: u64 = 1 << 30;
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(
            &mut h,
            "var/lib/dpkg/status",
            std::io::Read::take(std::io::repeat(0), size),
        )
        .unwrap();
    })
}

/// An OPA bundle whose Rego nests 100,000 arrays deep.
fn rego_recursion_bomb() -> Artifact {
    let depth = 100_000;
    let rego = format!("package bomb\n\np := {}1{}\n", "[".repeat(depth), "]".repeat(depth));
    let bundle = tar_gz(&[
        (".manifest", br#"{"roots": ["bomb"]}"#),
        ("bomb/policy.rego", rego.as_bytes()),
    ]);
    Artifact {
        config_media_type: media::OPA_CONFIG.into(),
        config: b"{}".to_vec(),
        layers: vec![(media::OPA_BUNDLE_LAYER.into(), bundle)],
        artifact_type: None,
    }
}

/// (repository, artifact) pairs, hostile first.
fn hostile() -> Vec<(&'static str, Artifact)> {
    let glob_file = "a".repeat(60);
    let glob = format!("{}b", "*a".repeat(20));
    vec![
        (
            "bombs/range",
            chart("range", &[], "{{ range 100000000000000 }}x{{ end }}"),
        ),
        (
            "bombs/glob",
            chart(
                "glob",
                &[(glob_file.as_str(), b"x")],
                &format!("{{{{ $g := .Files.Glob {glob:?} }}}}a: b\n"),
            ),
        ),
        (
            "bombs/yaml-depth",
            chart(
                "depth",
                &[],
                &format!("a: {}1{}\n", "[".repeat(50_000), "]".repeat(50_000)),
            ),
        ),
        ("bombs/pax", pax_path_bomb()),
        ("bombs/gzip", decompression_bomb()),
        ("bombs/rego-depth", rego_recursion_bomb()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_artifacts_never_take_the_service_down() {
    let (db, _dir) = support::db::sqlite_url();
    let addr = format!("127.0.0.1:{}", support::free_port());
    let registry = Registry::notifying(&addr, Some(TOKEN)).await;
    let mut config = TestConfig::new(&db, &[&registry.host]);
    config.webhook_token = Some(TOKEN.into());
    config.extra = "[sandbox]\ncpu_secs = 10\nwall_secs = 40\n[worker]\nconcurrency = 2\n".into();
    let serve = RegscanProcess::start_on(&config, &["serve"], &addr).await;
    let pid = serve.pid();

    // The prober: /healthz every half second, counting every answer that is not 200.
    let failures = Arc::new(AtomicUsize::new(0));
    let probes = Arc::new(AtomicUsize::new(0));
    let prober = {
        let (failures, probes, url) = (failures.clone(), probes.clone(), format!("{}/healthz", serve.url()));
        tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap();
            loop {
                let ok = matches!(http.get(&url).send().await, Ok(r) if r.status().is_success());
                probes.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    let mut pushed = Vec::new();
    for (repo, artifact) in hostile() {
        pushed.push((repo, registry.push_artifact(repo, "1", &artifact).await));
    }
    let store = Store::open(&db).await.unwrap();
    for (repo, digest) in &pushed {
        let (status, reason) = support::wait_until(Duration::from_secs(120), &format!("{repo} to end"), || {
            support::finished_scan(&store, &registry.host, repo, digest)
        })
        .await;
        eprintln!("{repo}: {status:?} {reason:?}");
        assert!(
            matches!(status, Status::Succeeded | Status::Failed),
            "{repo}: {status:?} {reason:?}"
        );
        if status == Status::Failed {
            let reason = reason.unwrap_or_default();
            assert!(!reason.is_empty(), "{repo} failed without a reason");
        }
        let a = store
            .artifact(&regscan_scanner_api::ArtifactRef::parse(&registry.host, *repo, digest).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store.scans_of(a.id).await.unwrap().len(),
            1,
            "{repo} was scanned once: a hostile artifact is not retried"
        );
    }

    // A good chart pushed afterwards is scanned as usual.
    let good = registry
        .push_artifact("charts/good", "0.1.0", &Artifact::helm_chart("good", "0.1.0"))
        .await;
    let (status, _) = support::wait_until(Duration::from_secs(60), "the good chart to be scanned", || {
        support::finished_scan(&store, &registry.host, "charts/good", &good)
    })
    .await;
    assert_eq!(status, Status::Succeeded);

    prober.abort();
    assert_eq!(serve.pid(), pid);
    assert!(probes.load(Ordering::Relaxed) > 4, "the prober ran");
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "/healthz failed while hostile artifacts were scanned:\n{}",
        serve.log()
    );
}
