//! The SBOM scanner against real-shaped SBOMs in the shapes registries hold them: an artifact of
//! its own, `cosign attach sbom`, `oras attach` with ORAS's default layer type, BuildKit's
//! attestation manifest and cosign's DSSE attestation; and against bombs, which must fail with
//! the limit named, quickly.
//!
//! Fixtures (tests/fixtures/README.md): CycloneDX 1.4/1.5/1.6 made by `cyclonedx-py`, SPDX 2.2
//! and 2.3 written by `spdx-tools`, one CycloneDX 1.5 hand-written after syft's output.

use std::collections::BTreeMap;

use base64::Engine as _;
use regscan_scanner_api::testing::{MemBlobs, NoCache};
use regscan_scanner_api::types::predicate_media_type;
use regscan_scanner_api::{
    media, Descriptor, ImageManifest, Package, ScanContext, ScanError, ScanOutput, Scanner, TypeEntry, TypeTable,
};
use regscan_scanner_sbom::{SbomConfig, SbomScanner};
use serde_json::{json, Value};

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// One layer of an artifact under test.
struct Layer {
    media_type: String,
    data: Vec<u8>,
    annotations: BTreeMap<String, String>,
}

fn layer(media_type: &str, data: Vec<u8>) -> Layer {
    Layer {
        media_type: media_type.into(),
        data,
        annotations: BTreeMap::new(),
    }
}

impl Layer {
    fn annotate(mut self, k: &str, v: &str) -> Self {
        self.annotations.insert(k.into(), v.into());
        self
    }
}

/// Build the manifest, resolve it through a type table holding the scanner's rows (as the
/// pipeline does), check it routes to `sbom`, and scan.
async fn scan_with(
    config: SbomConfig,
    artifact_type: Option<&str>,
    config_type: &str,
    layers: Vec<Layer>,
) -> Result<ScanOutput, ScanError> {
    let scanner = SbomScanner::new(config);
    let mut blobs = MemBlobs::default();
    let cfg = blobs.add(config_type, b"{}".to_vec());
    let descs: Vec<Descriptor> = layers
        .into_iter()
        .map(|l| {
            let mut d = blobs.add(&l.media_type, l.data);
            d.annotations = l.annotations;
            d
        })
        .collect();
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.into()),
        artifact_type: artifact_type.map(Into::into),
        config: cfg,
        layers: descs,
        subject: None,
        annotations: BTreeMap::new(),
    };
    let table = TypeTable::build(scanner.accepts(), [], &["sbom"]).unwrap();
    let body = serde_json::to_vec(&manifest).unwrap();
    let doc = regscan_scanner_api::ManifestDoc::parse(&body, None).unwrap();
    let (resolved_type, entry): (String, TypeEntry) = match table.resolve(&doc) {
        regscan_scanner_api::Resolution::Scan { artifact_type, entry } => (artifact_type, entry),
        other => panic!("not routed to the sbom scanner: {other:?}"),
    };
    assert_eq!(entry.scanner.as_deref(), Some("sbom"));
    assert_eq!(entry.kind.as_str(), "sbom");
    let ctx = ScanContext {
        reference: "registry.example/sboms@sha256:00",
        manifest: &manifest,
        artifact_type: &resolved_type,
        entry: &entry,
        blobs: &blobs,
        cache: &NoCache,
    };
    let out = scanner.scan(&ctx).await;
    if let Ok(o) = &out {
        assert!(
            o.findings.is_empty(),
            "the scanner invents no findings: {:?}",
            o.findings
        );
    }
    out
}

async fn scan(artifact_type: Option<&str>, config_type: &str, layers: Vec<Layer>) -> Result<ScanOutput, ScanError> {
    scan_with(SbomConfig::default(), artifact_type, config_type, layers).await
}

/// (ecosystem, name, version, source name, source version) of a package.
type Key = (String, String, String, Option<String>, Option<String>);

/// The [`Key`] of every package, in order.
fn keys(out: &ScanOutput) -> Vec<Key> {
    out.packages
        .iter()
        .map(|p| {
            (
                p.ecosystem.clone(),
                p.name.clone(),
                p.version.clone(),
                p.source_name.clone(),
                p.source_version.clone(),
            )
        })
        .collect()
}

fn k(eco: &str, name: &str, version: &str) -> Key {
    (eco.into(), name.into(), version.into(), None, None)
}

fn ks(eco: &str, name: &str, version: &str, src: &str, src_version: Option<&str>) -> Key {
    (
        eco.into(),
        name.into(),
        version.into(),
        Some(src.into()),
        src_version.map(Into::into),
    )
}

fn spdx_23_expected() -> Vec<Key> {
    vec![
        ks("Debian:12", "libc6", "2.36-9+deb12u4", "glibc", None),
        k("Debian:12", "intel-microcode", "3.20230214.1~deb12u1"),
        ks(
            "Debian:12",
            "login",
            "1:4.13+dfsg1-1+b1",
            "shadow",
            Some("1:4.13+dfsg1-1"),
        ),
        k("npm", "lodash", "4.17.15"),
        k("npm", "@babel/traverse", "7.23.2"),
        k("", "node", "20.11.1"),
    ]
}

#[tokio::test]
async fn spdx_2_3_artifact() {
    let l = layer("application/spdx+json", fixture("spdx-2.3-debian.json"))
        .annotate("org.opencontainers.image.title", "sbom.spdx.json");
    let out = scan(Some("application/spdx+json"), media::OCI_EMPTY, vec![l])
        .await
        .unwrap();
    assert_eq!(keys(&out), spdx_23_expected());
    let p: &Package = &out.packages[0];
    assert_eq!(p.path, "sbom.spdx.json#SPDXRef-Package-deb-libc6-9d8f1a");
    assert!(p.layer.as_deref().unwrap().starts_with("sha256:"));
    assert_eq!(
        p.purl(),
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?distro=debian-12",
        "the purl regscan shows is rebuilt from the mapped fields"
    );
    let d = &out.details;
    assert_eq!(d["packages"], 6);
    assert_eq!(d["matchable"], 5);
    assert_eq!(d["ecosystems"], json!({"": 1, "Debian:12": 3, "npm": 2}));
    let doc = &d["documents"][0];
    assert_eq!(doc["format"], "SPDX");
    assert_eq!(doc["spec_version"], "SPDX-2.3");
    assert_eq!(doc["name"], "registry.example/shop/web@sha256:4d1b");
    assert_eq!(doc["tools"], json!(["syft-0.105.0"]));
    assert_eq!(doc["components"], 6);
    assert_eq!(doc["with_purl"], 5);
    assert!(d.get("notes").is_none(), "{d:?}");
}

#[tokio::test]
async fn spdx_2_2_alpine_and_go() {
    let l = layer("application/spdx+json", fixture("spdx-2.2-alpine.json"));
    let out = scan(Some("application/spdx+json"), media::OCI_EMPTY, vec![l])
        .await
        .unwrap();
    assert_eq!(
        keys(&out),
        vec![
            ks("Alpine:v3.18", "musl", "1.2.4-r2", "musl", None),
            ks("Alpine:v3.18", "busybox", "1.36.1-r2", "busybox", None),
            k("Go", "golang.org/x/net", "v0.17.0"),
        ]
    );
    assert_eq!(out.details["documents"][0]["spec_version"], "SPDX-2.2");
}

#[tokio::test]
async fn cyclonedx_1_4_to_1_6_from_cyclonedx_py() {
    for v in ["1.4", "1.5", "1.6"] {
        let l = layer(
            "application/vnd.cyclonedx+json",
            fixture(&format!("cyclonedx-{v}-cyclonedx-py.json")),
        );
        let out = scan(Some("application/vnd.cyclonedx+json"), media::OCI_EMPTY, vec![l])
            .await
            .unwrap();
        assert_eq!(
            keys(&out),
            vec![
                k("PyPI", "jinja2", "3.1.2"),
                k("PyPI", "pyyaml", "5.3.1"),
                k("PyPI", "requests", "2.31.0"),
                k("PyPI", "urllib3", "1.26.5"),
            ],
            "CycloneDX {v}"
        );
        let doc = &out.details["documents"][0];
        assert_eq!(doc["format"], "CycloneDX");
        assert_eq!(doc["spec_version"], v);
        assert_eq!(
            doc["tools"],
            json!(["cyclonedx-py-7.5.0", "cyclonedx-python-lib-11.12.0"]),
            "1.4 tools array and 1.5+ tools.components read alike"
        );
        assert!(
            out.packages[1].path.ends_with("#requirements-L1"),
            "{:?}",
            out.packages[1]
        );
    }
}

#[tokio::test]
async fn cyclonedx_1_5_syft_nested_and_purl_less_components() {
    let l = layer(
        "application/vnd.cyclonedx+json",
        fixture("cyclonedx-1.5-syft-debian.json"),
    );
    let out = scan(Some("application/vnd.cyclonedx+json"), media::OCI_EMPTY, vec![l])
        .await
        .unwrap();
    assert_eq!(
        keys(&out),
        vec![
            ks("Debian:12", "libssl3", "3.0.11-1~deb12u2", "openssl", None),
            k("Debian:12", "intel-microcode", "3.20230214.1~deb12u1"),
            k("Maven", "org.apache.logging.log4j:log4j-core", "2.14.1"),
            k("Maven", "org.apache.logging.log4j:log4j-api", "2.14.1"),
            k("", "/app/bin/healthcheck", ""),
            k("Go", "stdlib", "1.21.6"),
        ]
    );
    let doc = &out.details["documents"][0];
    assert_eq!(
        doc["name"], "registry.example/shop/api",
        "metadata.component names the document"
    );
    assert_eq!(doc["id"], "urn:uuid:0a5d4a3e-5c8e-4f43-9d0b-7b2f5f8f1c11");
    assert_eq!(doc["tools"], json!(["syft-0.105.0"]));
    assert_eq!(
        doc["operating_systems"],
        json!(["debian 12"]),
        "the OS component is no package"
    );
    assert_eq!(out.details["matchable"], 5);
}

#[tokio::test]
async fn cosign_attach_sbom_legacy_shape() {
    // An image config and one text/spdx+json layer, tagged sha256-<hex>.sbom.
    let l = layer("text/spdx+json", fixture("spdx-2.3-debian.json"));
    let out = scan(None, media::OCI_CONFIG, vec![l]).await.unwrap();
    assert_eq!(keys(&out), spdx_23_expected());
}

#[tokio::test]
async fn oras_attach_with_the_default_layer_type() {
    // `oras attach --artifact-type application/vnd.cyclonedx+json img bom.json`: ORAS gives the
    // file its default layer type; the artifact type says what it is.
    let l = layer(media::OCI_LAYER_TAR, fixture("cyclonedx-1.6-cyclonedx-py.json"));
    let out = scan(Some("application/vnd.cyclonedx+json"), media::OCI_EMPTY, vec![l])
        .await
        .unwrap();
    assert_eq!(out.packages.len(), 4);
}

fn statement(predicate_type: &str, predicate: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": "registry.example/shop/web", "digest": {"sha256": "4d1b0c"}}],
        "predicate": predicate,
    }))
    .unwrap()
}

fn dsse(payload: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "payloadType": "application/vnd.in-toto+json",
        "payload": base64::engine::general_purpose::STANDARD.encode(payload),
        "signatures": [{"keyid": "", "sig": "MEUCIQDx"}],
    }))
    .unwrap()
}

fn json_fixture(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

#[tokio::test]
async fn buildkit_attestation_manifest_with_provenance_and_spdx() {
    let provenance = layer(
        media::IN_TOTO,
        statement(
            "https://slsa.dev/provenance/v0.2",
            json!({"builder": {"id": ""}, "buildType": "https://mobyproject.org/buildkit@v1", "metadata": {"buildInvocationID": "x"}}),
        ),
    )
    .annotate(media::ANNOTATION_INTOTO_PREDICATE_TYPE, "https://slsa.dev/provenance/v0.2");
    let sbom = layer(
        media::IN_TOTO,
        statement("https://spdx.dev/Document", json_fixture("spdx-2.3-debian.json")),
    )
    .annotate(media::ANNOTATION_INTOTO_PREDICATE_TYPE, "https://spdx.dev/Document");
    let out = scan(None, media::OCI_CONFIG, vec![provenance, sbom]).await.unwrap();
    assert_eq!(keys(&out), spdx_23_expected());
    let doc = &out.details["documents"][0];
    assert_eq!(doc["wrappers"], json!(["in-toto"]));
    assert_eq!(doc["predicate_type"], "https://spdx.dev/Document");
    let notes = out.details["notes"].to_string();
    assert!(notes.contains("https://slsa.dev/provenance/v0.2"), "{notes}");
}

#[tokio::test]
async fn cosign_dsse_attestation_of_cyclonedx() {
    let l = layer(
        media::DSSE_ENVELOPE,
        dsse(&statement(
            "https://cyclonedx.org/bom",
            json_fixture("cyclonedx-1.5-syft-debian.json"),
        )),
    )
    .annotate(media::ANNOTATION_COSIGN_PREDICATE_TYPE, "https://cyclonedx.org/bom");
    let out = scan(None, media::OCI_CONFIG, vec![l]).await.unwrap();
    assert_eq!(out.packages.len(), 6);
    assert_eq!(out.details["documents"][0]["wrappers"], json!(["dsse", "in-toto"]));
    // cosign's generic predicate wrapper: {"Data": "<the document as a string>"}.
    let data = String::from_utf8(fixture("spdx-2.2-alpine.json")).unwrap();
    let l = layer(
        media::DSSE_ENVELOPE,
        dsse(&statement("https://spdx.dev/Document", json!({ "Data": data }))),
    )
    .annotate(media::ANNOTATION_COSIGN_PREDICATE_TYPE, "https://spdx.dev/Document");
    let out = scan(None, media::OCI_CONFIG, vec![l]).await.unwrap();
    assert_eq!(out.packages.len(), 3);
    assert_eq!(
        out.details["documents"][0]["wrappers"],
        json!(["dsse", "in-toto", "data"])
    );
}

#[tokio::test]
async fn nothing_matchable_is_said_not_invented() {
    let bom = json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [
        {"type": "file", "name": "/etc/passwd"},
        {"type": "library", "name": "internal-lib", "version": "1.0", "purl": "pkg:generic/internal-lib@1.0"}
    ]});
    let l = layer("application/vnd.cyclonedx+json", serde_json::to_vec(&bom).unwrap());
    let out = scan(Some("application/vnd.cyclonedx+json"), media::OCI_EMPTY, vec![l])
        .await
        .unwrap();
    assert_eq!(out.packages.len(), 2);
    assert_eq!(out.details["matchable"], 0);
    assert!(out.details["notes"].to_string().contains("nothing was matched"));
}

fn limit(r: Result<ScanOutput, ScanError>, words: &str) {
    match r {
        Err(ScanError::Limit(m)) => assert!(m.contains(words), "{m:?} should name {words}"),
        other => panic!("expected a limit naming {words}, got {other:?}"),
    }
}

fn invalid(r: Result<ScanOutput, ScanError>, words: &str) {
    match r {
        Err(ScanError::Invalid(m)) => assert!(m.contains(words), "{m:?} should say {words}"),
        other => panic!("expected invalid ({words}), got {other:?}"),
    }
}

#[tokio::test]
async fn bombs_fail_with_the_limit_named() {
    let cdx = "application/vnd.cyclonedx+json";
    // Oversize: refused before reading.
    let small = SbomConfig {
        max_document_bytes: 1000,
        ..SbomConfig::default()
    };
    let big = layer(cdx, fixture("cyclonedx-1.6-cyclonedx-py.json"));
    limit(
        scan_with(small, Some(cdx), media::OCI_EMPTY, vec![big]).await,
        "1000-byte limit",
    );
    // A huge array of empty components (about 3.6 MB).
    let huge = format!(
        r#"{{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{}]}}"#,
        vec!["{}"; 1_200_000].join(",")
    );
    limit(
        scan(Some(cdx), media::OCI_EMPTY, vec![layer(cdx, huge.into_bytes())]).await,
        "max_entries",
    );
    // Components nested past max_depth.
    let nest = |n: usize| {
        format!(
            r#"{{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{}{}]}}"#,
            r#"{"name":"x","components":["#.repeat(n),
            "]}".repeat(n)
        )
        .into_bytes()
    };
    limit(
        scan(Some(cdx), media::OCI_EMPTY, vec![layer(cdx, nest(40))]).await,
        "max_depth",
    );
    // … and past serde_json's recursion limit, whatever max_depth says.
    let lax = SbomConfig {
        max_depth: 1000,
        ..SbomConfig::default()
    };
    assert!(
        scan_with(lax.clone(), Some(cdx), media::OCI_EMPTY, vec![layer(cdx, nest(40))])
            .await
            .is_ok()
    );
    limit(
        scan_with(lax, Some(cdx), media::OCI_EMPTY, vec![layer(cdx, nest(70))]).await,
        "128 levels",
    );
    // Too many documents.
    let two = SbomConfig {
        max_documents: 2,
        ..SbomConfig::default()
    };
    let layers = (0..3)
        .map(|_| layer(cdx, fixture("cyclonedx-1.6-cyclonedx-py.json")))
        .collect();
    limit(
        scan_with(two, Some(cdx), media::OCI_EMPTY, layers).await,
        "max_documents",
    );
    // Too many packages over all documents.
    let few = SbomConfig {
        max_packages: 5,
        ..SbomConfig::default()
    };
    let layers = (0..2)
        .map(|_| layer(cdx, fixture("cyclonedx-1.6-cyclonedx-py.json")))
        .collect();
    limit(
        scan_with(few, Some(cdx), media::OCI_EMPTY, layers).await,
        "max_packages",
    );
}

#[tokio::test]
async fn what_is_not_an_sbom_is_invalid() {
    let cdx = "application/vnd.cyclonedx";
    invalid(
        scan(
            Some(cdx),
            media::OCI_EMPTY,
            vec![layer(cdx, b"<?xml version=\"1.0\"?><bom/>".to_vec())],
        )
        .await,
        "XML",
    );
    invalid(
        scan(
            Some("application/spdx+json"),
            media::OCI_EMPTY,
            vec![layer("application/spdx+json", b"{\"hello\": \"world\"}".to_vec())],
        )
        .await,
        "neither SPDX",
    );
    invalid(
        scan(
            Some("application/spdx+json"),
            media::OCI_EMPTY,
            vec![layer(
                "application/spdx+json",
                b"{\"spdxVersion\": \"SPDX-2.3\", \"packages\": [".to_vec(),
            )],
        )
        .await,
        "not valid JSON",
    );
    // An in-toto attestation routed here by its predicate annotation whose statement says
    // otherwise: no SBOM in it.
    let l = layer(
        media::IN_TOTO,
        statement("https://slsa.dev/provenance/v1", json!({"buildDefinition": {}})),
    )
    .annotate(media::ANNOTATION_INTOTO_PREDICATE_TYPE, "https://spdx.dev/Document");
    invalid(scan(None, media::OCI_CONFIG, vec![l]).await, "no SBOM document");
}

#[test]
fn every_row_is_a_json_sbom_type_or_an_sbom_predicate() {
    let rows = SbomScanner::default().accepts();
    for r in &rows {
        assert_eq!((r.kind.as_str(), r.scanner.as_deref()), ("sbom", Some("sbom")));
    }
    let types: Vec<&str> = rows.iter().map(|r| r.media_type.as_str()).collect();
    for t in [
        "application/spdx+json",
        "text/spdx+json",
        "application/vnd.cyclonedx+json",
        "application/vnd.cyclonedx",
    ] {
        assert!(types.contains(&t), "{t}");
    }
    assert!(types.contains(&predicate_media_type(media::IN_TOTO, "https://spdx.dev/Document").as_str()));
    assert!(types.contains(&predicate_media_type(media::DSSE_ENVELOPE, "https://cyclonedx.org/bom").as_str()));
    assert!(
        !types.iter().any(|t| t.contains("xml") || *t == "text/spdx"),
        "XML and tag-value are not read"
    );
}
