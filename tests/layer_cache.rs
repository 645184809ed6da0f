//! The per-layer inventory cache, counted at the registry: two images sharing a base layer are
//! scanned, and the base layer's blob is requested once; importing advisories afterwards
//! re-matches both images without a single blob request. A counting proxy sits between regscan
//! and a real `docker-registry`.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use regscan_scanner_api::Status;
use serde_json::json;
use support::oci::tar_gz;
use support::registry::{sha256_digest, Registry};

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    blob_gets: Arc<Mutex<HashMap<String, usize>>>,
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let path = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_default();
    if req.method() == axum::http::Method::GET && path.contains("/blobs/sha256:") {
        let digest = path.rsplit('/').next().unwrap_or("").to_owned();
        *p.blob_gets.lock().unwrap().entry(digest).or_default() += 1;
    }
    let mut fwd = p.http.request(req.method().clone(), format!("{}{path}", p.upstream));
    for (k, v) in req.headers() {
        if k != "host" {
            fwd = fwd.header(k, v);
        }
    }
    let body = axum::body::to_bytes(req.into_body(), 64 << 20).await.unwrap();
    let resp = fwd.body(body).send().await.unwrap();
    let mut out = Response::builder().status(resp.status().as_u16());
    for (k, v) in resp.headers() {
        out = out.header(k.as_str(), v.as_bytes());
    }
    out.body(Body::from(resp.bytes().await.unwrap())).unwrap()
}

async fn push_image(reg: &Registry, repo: &str, tag: &str, layers: &[&[u8]]) -> String {
    let config = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "config": {"User": "1000"}, "rootfs": {"type": "layers", "diff_ids": []}})).unwrap();
    reg.push_blob(repo, &config).await;
    for l in layers {
        reg.push_blob(repo, l).await;
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(&config), "size": config.len()},
        "layers": layers.iter().map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256_digest(l), "size": l.len()})).collect::<Vec<_>>(),
    }))
    .unwrap();
    reg.push_manifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", &manifest)
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shared_base_layer_is_fetched_once_and_rematching_fetches_nothing() {
    let reg = Registry::start().await;
    let base = tar_gz(&[
        ("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
        ("var/lib/dpkg/status", b"Package: zlib1g\nStatus: install ok installed\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\n\n"),
    ]);
    let app_a = tar_gz(&[(
        "usr/lib/python3/dist-packages/requests-2.28.1.dist-info/METADATA",
        b"Metadata-Version: 2.1\nName: requests\nVersion: 2.28.1\n\n",
    )]);
    let app_b = tar_gz(&[(
        "app/node_modules/left-pad/package.json",
        br#"{"name":"left-pad","version":"1.3.0"}"#,
    )]);
    let a = push_image(&reg, "team/a", "1", &[&base, &app_a]).await;
    let b = push_image(&reg, "team/b", "1", &[&base, &app_b]).await;
    // Two single-layer images sharing their only layer (small: peeked for an OPA bundle first).
    let solo = tar_gz(&[
        ("etc/alpine-release", b"3.19.1\n"),
        ("lib/apk/db/installed", b"P:musl\nV:1.2.4-r2\no:musl\n\n"),
    ]);
    let c = push_image(&reg, "team/c", "1", &[&solo]).await;
    let d = push_image(&reg, "team/d", "1", &[&solo]).await;

    let proxy = Proxy {
        upstream: reg.base_url(),
        http: reqwest::Client::new(),
        blob_gets: Arc::default(),
    };
    let counts = proxy.blob_gets.clone();
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (url, _dir) = support::db::sqlite_url();
    let store = regscan::store::Store::open(&url).await.unwrap();
    let mut config = regscan::config::Config::default();
    config.sandbox.program = Some(env!("CARGO_BIN_EXE_regscan").into());
    config.registries.push(regscan::config::RegistryConfig {
        host: host.clone(),
        insecure: true,
        ..Default::default()
    });
    let pipeline = regscan::scan::Pipeline::new(Arc::new(config), store.clone())
        .await
        .unwrap();
    for (repo, digest) in [("team/a", &a), ("team/b", &b), ("team/c", &c), ("team/d", &d)] {
        let job = regscan::queue::Job {
            id: format!("cache-{repo}"),
            registry: host.clone(),
            repository: repo.into(),
            reference: digest.clone(),
            tag: None,
            source: "test".into(),
            force: false,
            attempt: 0,
        };
        let out = pipeline.run_job(&job, "test").await.unwrap();
        assert_eq!(out.status, Status::Succeeded);
    }
    let base_digest = sha256_digest(&base);
    let snapshot = counts.lock().unwrap().clone();
    assert_eq!(
        snapshot.get(&base_digest),
        Some(&1),
        "the shared base layer is fetched once: {snapshot:?}"
    );
    assert_eq!(snapshot.get(&sha256_digest(&app_a)), Some(&1));
    assert_eq!(snapshot.get(&sha256_digest(&app_b)), Some(&1));
    assert_eq!(
        snapshot.get(&sha256_digest(&solo)),
        Some(&1),
        "peeked once, scanned from memory, then cached: {snapshot:?}"
    );

    // Both images carry the base layer's package, recorded against that layer.
    for (repo, digest, extra) in [("team/a", &a, "requests"), ("team/b", &b, "left-pad")] {
        let art = store
            .artifact(&regscan_scanner_api::ArtifactRef::parse(&host, repo, digest).unwrap())
            .await
            .unwrap()
            .unwrap();
        let pkgs = store.packages(art.latest_scan_id.unwrap()).await.unwrap();
        let zlib = pkgs
            .iter()
            .find(|p| p.name == "zlib1g")
            .unwrap_or_else(|| panic!("{repo}: {pkgs:?}"));
        assert_eq!(zlib.layer.as_deref(), Some(base_digest.as_str()));
        assert!(pkgs.iter().any(|p| p.name == extra), "{repo}: {pkgs:?}");
    }

    // New advisories: both re-matched from the store, no blob requested.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv");
    let rows = regscan::scan::advisories::read_source(fixtures.to_str().unwrap())
        .await
        .unwrap();
    let (stats, rescans) = regscan::scan::advisories::import_and_rematch(&store, pipeline.advisories(), "test", &rows)
        .await
        .unwrap();
    assert_eq!((stats.added, rescans.len()), (1, 2));
    assert_eq!(*counts.lock().unwrap(), snapshot, "re-matching fetched nothing");
    let art = store
        .artifact(&regscan_scanner_api::ArtifactRef::parse(&host, "team/b", &b).unwrap())
        .await
        .unwrap()
        .unwrap();
    let findings = store.findings(art.latest_scan_id.unwrap(), None).await.unwrap();
    assert!(findings.iter().any(|f| f.id == "REGSCAN-TEST-ZLIB"), "{findings:?}");
}
