//! The `Scanner` trait end to end: layers found in the manifest, read through a `BlobSource`,
//! provenance compared with the chart layer.

mod common;

use std::collections::BTreeMap;

use common::{chart, MemBlobs, NoCache};
use regscan_scanner_api::{media, Descriptor, ImageManifest, ScanContext, ScanError, Scanner, TypeEntry};
use regscan_scanner_helm::{HelmConfig, HelmScanner};
use sha2::Digest;

fn manifest(layers: Vec<Descriptor>) -> ImageManifest {
    ImageManifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.into()),
        config: Descriptor {
            media_type: media::HELM_CONFIG.into(),
            digest: "sha256:00".into(),
            size: 2,
            ..Default::default()
        },
        layers,
        ..Default::default()
    }
}

async fn run(
    scanner: &HelmScanner,
    blobs: &MemBlobs,
    m: &ImageManifest,
) -> Result<regscan_scanner_api::ScanOutput, ScanError> {
    run_with(scanner, blobs, m, &NoCache).await
}

async fn run_with(
    scanner: &HelmScanner,
    blobs: &MemBlobs,
    m: &ImageManifest,
    cache: &dyn regscan_scanner_api::ScanCache,
) -> Result<regscan_scanner_api::ScanOutput, ScanError> {
    let entry = TypeEntry::scanned(media::HELM_CONFIG, "helm", "Helm chart", "helm");
    let ctx = ScanContext {
        reference: "r.example/charts/demo@sha256:00",
        manifest: m,
        artifact_type: media::HELM_CONFIG,
        entry: &entry,
        blobs,
        cache,
    };
    scanner.scan(&ctx).await
}

fn prov_for(bytes: &[u8]) -> Vec<u8> {
    format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: demo\n...\nfiles:\n  demo-0.1.0.tgz: sha256:{}\n-----BEGIN PGP SIGNATURE-----\nx\n-----END PGP SIGNATURE-----\n",
        hex::encode(sha2::Sha256::digest(bytes))
    )
    .into_bytes()
}

#[tokio::test]
async fn scans_chart_with_matching_provenance() {
    let tgz = chart(
        "demo",
        "kubeVersion: '>=1.20.0-0'\n",
        "",
        &[(
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        )],
    );
    let mut blobs = MemBlobs(BTreeMap::new());
    let c = blobs.add(media::HELM_CHART_LAYER, tgz.clone());
    let p = blobs.add(media::HELM_PROVENANCE_LAYER, prov_for(&tgz));
    let out = run(&HelmScanner::new(HelmConfig::default()), &blobs, &manifest(vec![c, p]))
        .await
        .unwrap();
    assert!(out.findings.is_empty(), "{:#?}", out.findings);
    assert_eq!(
        out.details["provenance"],
        serde_json::json!({"present": true, "digest_matches": true, "signed": true})
    );
}

#[tokio::test]
async fn mismatched_provenance_is_high() {
    let tgz = chart("demo", "kubeVersion: '>=1.20.0-0'\n", "", &[]);
    let mut blobs = MemBlobs(BTreeMap::new());
    let c = blobs.add(media::HELM_CHART_LAYER_LEGACY, tgz);
    let p = blobs.add(media::HELM_PROVENANCE_LAYER, prov_for(b"some other chart"));
    let out = run(&HelmScanner::new(HelmConfig::default()), &blobs, &manifest(vec![c, p]))
        .await
        .unwrap();
    assert_eq!(out.findings.len(), 1);
    assert_eq!(out.findings[0].id, "HELM-CHART-006");
}

#[tokio::test]
async fn missing_chart_layer_is_invalid() {
    let blobs = MemBlobs(BTreeMap::new());
    let e = run(&HelmScanner::new(HelmConfig::default()), &blobs, &manifest(vec![]))
        .await
        .unwrap_err();
    assert!(matches!(e, ScanError::Invalid(_)));
    assert!(e.to_string().contains("no chart layer"), "{e}");
}

#[tokio::test]
async fn oversized_chart_layer_is_a_limit() {
    let tgz = chart("demo", "", "", &[]);
    let mut blobs = MemBlobs(BTreeMap::new());
    let c = blobs.add(media::HELM_CHART_LAYER, tgz);
    let cfg = HelmConfig {
        max_chart_bytes: 16,
        ..HelmConfig::default()
    };
    let e = run(&HelmScanner::new(cfg), &blobs, &manifest(vec![c]))
        .await
        .unwrap_err();
    assert!(matches!(e, ScanError::Limit(_)), "{e}");
    // A descriptor that understates the size is still cut off while reading.
    let tgz = chart("demo", "", "", &[]);
    let mut blobs = MemBlobs(BTreeMap::new());
    let mut c = blobs.add(media::HELM_CHART_LAYER, tgz);
    c.size = 10;
    let cfg = HelmConfig {
        max_chart_bytes: 64,
        ..HelmConfig::default()
    };
    let e = run(&HelmScanner::new(cfg), &blobs, &manifest(vec![c]))
        .await
        .unwrap_err();
    assert!(matches!(e, ScanError::Blob(_) | ScanError::Limit(_)), "{e}");
}

/// A cache in memory.
#[derive(Default)]
struct MemCache(std::sync::Mutex<BTreeMap<String, serde_json::Value>>);

#[async_trait::async_trait]
impl regscan_scanner_api::ScanCache for MemCache {
    async fn get(&self, key: &str, v: &str) -> Option<serde_json::Value> {
        self.0.lock().unwrap().get(&format!("{key}@{v}")).cloned()
    }
    async fn put(&self, key: &str, v: &str, value: serde_json::Value) {
        self.0.lock().unwrap().insert(format!("{key}@{v}"), value);
    }
}

#[tokio::test]
async fn results_are_cached_by_chart_digest_and_config() {
    let tgz = chart(
        "demo",
        "",
        "",
        &[(
            "templates/p.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostPID: true\n  containers: []\n",
        )],
    );
    let mut blobs = MemBlobs(BTreeMap::new());
    let c = blobs.add(media::HELM_CHART_LAYER, tgz);
    let m = manifest(vec![c.clone()]);
    let cache = MemCache::default();
    let scanner = HelmScanner::new(HelmConfig::default());
    let first = run_with(&scanner, &blobs, &m, &cache).await.unwrap();
    assert_eq!(cache.0.lock().unwrap().len(), 1);
    // The blob is gone: a second scan can only succeed from the cache.
    let empty = MemBlobs(BTreeMap::new());
    let second = run_with(&scanner, &empty, &m, &cache).await.unwrap();
    assert_eq!(
        serde_json::to_value(&first).unwrap(),
        serde_json::to_value(&second).unwrap()
    );
    // Another configuration does not reuse it.
    let other = HelmScanner::new(HelmConfig {
        kube_version: "1.20.0".into(),
        ..HelmConfig::default()
    });
    assert!(run_with(&other, &empty, &m, &cache).await.is_err());
}
