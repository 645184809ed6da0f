//! `regscan scan` / `status` / `artifacts` / `types` / `advisories` as a user runs them, against a
//! real CNCF distribution registry (`docker-registry`), on SQLite and on PostgreSQL. Pins the
//! report JSON shape and the exit codes of SPEC.md.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::db::{sqlite_url, PgDb};
use support::oci::{Artifact, OciImage};
use support::process::regscan_bin;
use support::registry::Registry;

struct Cli {
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cli {
    fn new(database_url: &str, registry: &str) -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("regscan.toml");
        std::fs::write(
            &config,
            format!("database_url = {database_url:?}\n\n[[registry]]\nhost = {registry:?}\ninsecure = true\n"),
        )
        .unwrap();
        Cli { config, _dir: dir }
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(regscan_bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("REGSCAN_DATABASE_URL")
            .env_remove("REGSCAN_API_TOKEN")
            .env("REGSCAN_LOG", "warn")
            .output()
            .expect("run regscan");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn json(&self, args: &[&str], expect_code: i32) -> Value {
        let (code, out, err) = self.run(args);
        assert_eq!(
            code, expect_code,
            "regscan {args:?} exited {code}\nstdout: {out}\nstderr: {err}"
        );
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("regscan {args:?}: not JSON ({e}): {out}"))
    }
}

fn assert_report_shape(r: &Value) {
    for key in [
        "reference",
        "registry",
        "repository",
        "digest",
        "tag",
        "manifest_media_type",
        "artifact_type",
        "kind",
        "status",
        "reason",
        "scanner",
        "summary",
        "findings",
        "children",
    ] {
        assert!(r.get(key).is_some(), "report lacks {key}: {r:#}");
    }
    for sev in ["critical", "high", "medium", "low", "negligible", "unknown"] {
        assert!(r["summary"][sev].is_u64(), "summary lacks {sev}: {r:#}");
    }
}

async fn scan_everything(database_url: &str) {
    let reg = Registry::start().await;
    let host = reg.host.clone();
    let image_digest = reg.push_image("team/app", "1.0", &OciImage::debian_like()).await;
    let chart_digest = reg
        .push_artifact("team/chart", "0.1.0", &Artifact::helm_chart("demo", "0.1.0"))
        .await;
    let odd = "application/vnd.acme.rocket.config.v1+json";
    let odd_digest = reg.push_artifact("team/odd", "1", &Artifact::unknown(odd)).await;
    let mut arm = OciImage::debian_like();
    arm.architecture = "arm64".into();
    let layout = tempfile::tempdir().unwrap();
    let index_digest = OciImage::write_index_layout(layout.path(), "src", &[OciImage::debian_like(), arm]);
    reg.skopeo_copy(layout.path(), "src", "team/multi", "2.0").await;

    let cli = Cli::new(database_url, &host);

    // An image: routed to the image scanner, inventory found, stored.
    let r = cli.json(&["scan", &format!("{host}/team/app:1.0"), "--format", "json"], 0);
    assert_report_shape(&r);
    assert_eq!(r["digest"], image_digest.as_str());
    assert_eq!(r["tag"], "1.0");
    assert_eq!(r["kind"], "image");
    assert_eq!(r["status"], "succeeded", "{r:#}");
    assert_eq!(r["scanner"]["name"], "image");
    assert_eq!(r["artifact_type"], "application/vnd.oci.image.config.v1+json");
    // The image runs as root: a finding of the image config checks, so --fail-on medium exits 1.
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "IMG-ROOT-USER"),
        "{r:#}"
    );
    let (code, _, _) = cli.run(&["scan", &format!("{host}/team/app:1.0"), "--fail-on", "medium"]);
    assert_eq!(code, 1, "--fail-on medium with a medium finding exits 1");
    let (code, _, _) = cli.run(&["scan", &format!("{host}/team/app:1.0"), "--fail-on", "critical"]);
    assert_eq!(code, 0, "--fail-on critical with no critical finding exits 0");

    // A Helm chart: routed to the helm scanner.
    let r = cli.json(&["scan", &format!("{host}/team/chart:0.1.0"), "--format", "json"], 0);
    assert_report_shape(&r);
    assert_eq!(
        (r["kind"].as_str(), r["status"].as_str(), r["scanner"]["name"].as_str()),
        (Some("helm"), Some("succeeded"), Some("helm")),
        "{r:#}"
    );
    assert_eq!(r["digest"], chart_digest.as_str());

    // An unknown type: stored unsupported, the media type named, never clean.
    let r = cli.json(&["scan", &format!("{host}/team/odd:1"), "--format", "json"], 0);
    assert_report_shape(&r);
    assert_eq!(r["status"], "unsupported");
    assert_eq!(r["kind"], "unknown");
    assert_eq!(r["artifact_type"], odd);
    assert_eq!(r["digest"], odd_digest.as_str());
    assert!(r["reason"].as_str().unwrap().contains(odd), "{r:#}");
    assert!(r["scanner"].is_null());
    let (code, _, _) = cli.run(&["scan", &format!("{host}/team/odd:1"), "--fail-on-unsupported"]);
    assert_eq!(code, 4, "--fail-on-unsupported exits 4 for an unsupported type");

    // A multi-platform index: one report with a child per platform.
    let r = cli.json(&["scan", &format!("{host}/team/multi:2.0"), "--format", "json"], 0);
    assert_eq!(r["kind"], "index");
    assert_eq!(r["digest"], index_digest.as_str());
    let children = r["children"].as_array().unwrap();
    assert_eq!(children.len(), 2, "{r:#}");
    for c in children {
        assert_eq!(
            (c["kind"].as_str(), c["status"].as_str()),
            (Some("image"), Some("succeeded")),
            "{c:#}"
        );
    }
    let platforms: Vec<_> = children
        .iter()
        .map(|c| c["platform"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        platforms.contains(&"linux/amd64".to_owned()) && platforms.contains(&"linux/arm64".to_owned()),
        "{platforms:?}"
    );

    // Scanning again is idempotent: the stored scan is reused.
    let before = cli.json(&["status", &format!("{host}/team/app:1.0"), "--format", "json"], 0);
    cli.json(&["scan", &format!("{host}/team/app:1.0"), "--format", "json"], 0);
    let after = cli.json(&["status", &format!("{host}/team/app:1.0"), "--format", "json"], 0);
    assert_eq!(before["scanned_at"], after["scanned_at"]);

    // status and artifacts read the same store.
    let list = cli.json(&["artifacts", "--format", "json"], 0);
    let kinds: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    for k in ["image", "helm", "unknown", "index"] {
        assert!(kinds.contains(&k), "artifacts lists {kinds:?}");
    }
    let helm = cli.json(&["artifacts", "--kind", "helm", "--format", "json"], 0);
    assert_eq!(helm.as_array().unwrap().len(), 1);
    let unsupported = cli.json(&["artifacts", "--status", "unsupported", "--format", "json"], 0);
    assert_eq!(unsupported.as_array().unwrap().len(), 1);
    assert_eq!(unsupported[0]["artifact_type"], odd);
    let with_children = cli.json(&["artifacts", "--children", "--format", "json"], 0);
    assert!(with_children.as_array().unwrap().len() >= 6, "{with_children:#}");

    // Advisories: importing a record that affects the stored inventory re-matches it from the
    // database. The registry is stopped first: re-matching must not fetch anything.
    drop(reg);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv");
    let import = cli.json(
        &["advisories", "import", fixtures.to_str().unwrap(), "--format", "json"],
        0,
    );
    assert_eq!(import["added"], 1, "{import:#}");
    // team/app:1.0 and the two platforms of team/multi:2.0 hold zlib.
    assert_eq!(import["rematched_scans"].as_array().unwrap().len(), 3, "{import:#}");
    let r = cli.json(&["status", &format!("{host}/team/app:1.0"), "--format", "json"], 0);
    let f = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "REGSCAN-TEST-ZLIB")
        .unwrap_or_else(|| panic!("no advisory finding after re-match: {r:#}"));
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["package"], "zlib1g");
    assert_eq!(f["installed_version"], "1:1.2.13.dfsg-1");
    assert_eq!(f["fixed_version"], "1:1.2.13.dfsg-1+deb12u1");
    assert!(r["advisory_snapshot"].is_string());
    let status = cli.json(&["advisories", "status", "--format", "json"], 0);
    assert_eq!(status["total"], 1);

    // The inventory as a CycloneDX SBOM, from the store (the registry is gone).
    let bom = cli.json(&["status", &format!("{host}/team/app:1.0"), "--format", "cyclonedx"], 0);
    assert_eq!(bom["bomFormat"], "CycloneDX");
    let components = bom["components"].as_array().unwrap();
    assert_eq!(components.len(), 1, "{bom:#}");
    assert_eq!(components[0]["name"], "zlib1g");
    assert_eq!(
        components[0]["purl"],
        "pkg:deb/debian/zlib1g@1.2.13.dfsg-1?distro=debian-12&epoch=1"
    );
    // An index's SBOM holds its platforms' packages.
    let bom = cli.json(
        &["status", &format!("{host}/team/multi:2.0"), "--format", "cyclonedx"],
        0,
    );
    assert_eq!(bom["components"].as_array().unwrap().len(), 2, "{bom:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_on_sqlite() {
    let (url, _dir) = sqlite_url();
    scan_everything(&url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_on_postgres() {
    let db = PgDb::create();
    scan_everything(&db.url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_for_usage_and_failures() {
    let reg = Registry::start().await;
    let (url, _dir) = sqlite_url();
    let cli = Cli::new(&url, &reg.host);
    let (code, _, err) = cli.run(&["scan", "not a reference"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = cli.run(&["scan", &format!("{}/team/missing:1.0", reg.host)]);
    assert_eq!(code, 3, "a missing manifest is a scan that could not be done: {err}");
    assert!(err.contains("not found"), "{err}");
    let (code, _, err) = cli.run(&["scan", "--bogus-flag", "x"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = cli.run(&["status", &format!("{}/team/never:1", reg.host)]);
    assert_eq!(code, 3, "{err}");
    let (code, out, _) = cli.run(&["types"]);
    assert_eq!(code, 0);
    for needle in [
        "application/vnd.cncf.helm.config.v1+json",
        "application/vnd.cncf.openpolicyagent.config.v1+json",
        "unsupported",
    ] {
        assert!(out.contains(needle), "types lacks {needle}: {out}");
    }
    let types = cli.json(&["types", "--format", "json"], 0);
    assert!(types.as_array().unwrap().len() > 20);
    // A broken config file is a usage error naming the file.
    std::fs::write(&cli.config, "nonsense = [").unwrap();
    let (code, _, err) = cli.run(&["types"]);
    assert_eq!(code, 2);
    assert!(err.contains("regscan.toml"), "{err}");
}

/// A registry holds more than images: each of these is pushed for real and classified.
#[tokio::test(flavor = "multi_thread")]
async fn classifies_what_registries_hold() {
    let reg = Registry::start().await;
    let host = reg.host.clone();
    let (url, _dir) = sqlite_url();
    let cli = Cli::new(&url, &host);

    // An OPA bundle pushed the way OPA's own server pulls it: an image config and one gzip layer.
    let bundle = support::oci::tar_gz(&[
        (".manifest", br#"{"revision":"1","roots":["authz"]}"#),
        (
            "authz/policy.rego",
            b"package authz\n\nimport rego.v1\n\ndefault allow := false\n\nallow if input.user == \"admin\"\n",
        ),
    ]);
    let disguised = Artifact {
        config_media_type: "application/vnd.oci.image.config.v1+json".into(),
        config: br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec(),
        layers: vec![("application/vnd.oci.image.layer.v1.tar+gzip".into(), bundle)],
        artifact_type: None,
    };
    reg.push_artifact("policy/authz", "1", &disguised).await;
    // A cosign signature: image-shaped, simple-signing layer.
    let sig = Artifact {
        config_media_type: "application/vnd.oci.image.config.v1+json".into(),
        config: b"{}".to_vec(),
        layers: vec![(
            "application/vnd.dev.cosign.simplesigning.v1+json".into(),
            br#"{"critical":{}}"#.to_vec(),
        )],
        artifact_type: None,
    };
    reg.push_artifact("team/app", "sha256-abc.sig", &sig).await;
    // An SPDX SBOM in tag-value form as an OCI 1.1 artifact: empty config, artifactType. (SPDX
    // JSON is the `sbom` scanner's: tests/sbom_e2e.rs; tag-value is still unsupported.)
    let sbom = Artifact {
        config_media_type: "application/vnd.oci.empty.v1+json".into(),
        config: b"{}".to_vec(),
        layers: vec![(
            "text/spdx".into(),
            b"SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n".to_vec(),
        )],
        artifact_type: Some("text/spdx".into()),
    };
    reg.push_artifact("team/app", "sbom", &sbom).await;
    // A WASM module.
    let wasm = Artifact {
        config_media_type: "application/vnd.wasm.config.v0+json".into(),
        config: br#"{"architecture":"wasm","os":"wasip1"}"#.to_vec(),
        layers: vec![("application/wasm".into(), b"\0asm\x01\0\0\0".to_vec())],
        artifact_type: None,
    };
    reg.push_artifact("team/module", "1", &wasm).await;

    let r = cli.json(&["scan", &format!("{host}/policy/authz:1"), "--format", "json"], 0);
    assert_eq!(
        (r["kind"].as_str(), r["scanner"]["name"].as_str(), r["status"].as_str()),
        (Some("opa"), Some("opa"), Some("succeeded")),
        "{r:#}"
    );
    // The signature goes to the cosign scanner; with no keys configured and no signature
    // annotation it is reported, not verified, and no finding is invented.
    let r = cli.json(
        &["scan", &format!("{host}/team/app:sha256-abc.sig"), "--format", "json"],
        0,
    );
    assert_eq!(
        (r["kind"].as_str(), r["scanner"]["name"].as_str(), r["status"].as_str()),
        (Some("signature"), Some("cosign"), Some("succeeded")),
        "{r:#}"
    );
    assert_eq!(r["artifact_type"], "application/vnd.dev.cosign.simplesigning.v1+json");
    assert_eq!(r["details"]["signatures"][0]["signature_valid"], false, "{r:#}");
    assert_eq!(r["findings"].as_array().map(Vec::len), Some(0), "{r:#}");
    for (reference, kind, media_type) in [
        ("team/app:sbom", "sbom", "text/spdx"),
        ("team/module:1", "wasm", "application/vnd.wasm.config.v0+json"),
    ] {
        let r = cli.json(&["scan", &format!("{host}/{reference}"), "--format", "json"], 0);
        assert_eq!(
            (r["kind"].as_str(), r["status"].as_str()),
            (Some(kind), Some("unsupported")),
            "{reference}: {r:#}"
        );
        assert_eq!(r["artifact_type"], media_type, "{reference}");
        assert!(r["reason"].as_str().unwrap().contains(media_type), "{reference}: {r:#}");
        assert_eq!(r["summary"]["critical"], 0);
    }

    // A BuildKit-style index: one platform image and its attestation manifest (in-toto layers,
    // platform unknown/unknown, vnd.docker.reference.* annotations).
    let img = Artifact {
        config_media_type: "application/vnd.oci.image.config.v1+json".into(),
        config: br#"{"architecture":"amd64","os":"linux","config":{"User":"1000"},"rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec(),
        layers: vec![("application/vnd.oci.image.layer.v1.tar+gzip".into(), support::oci::tar_gz(&[("etc/alpine-release", b"3.19.1\n")]))],
        artifact_type: None,
    };
    let img_digest = reg.push_artifact("team/bk", "amd64", &img).await;
    let att = Artifact {
        config_media_type: "application/vnd.oci.image.config.v1+json".into(),
        config: br#"{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec(),
        layers: vec![(
            "application/vnd.in-toto+json".into(),
            br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#.to_vec(),
        )],
        artifact_type: None,
    };
    let att_digest = reg.push_artifact("team/bk", "att", &att).await;
    // BuildKit's SBOM attestation: an in-toto statement whose predicate is an SPDX document,
    // its layer annotated with the predicate type.
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://spdx.dev/Document",
        "subject": [{"name": "pkg:docker/team/bk@1.0?platform=linux%2Famd64", "digest": {"sha256": img_digest.trim_start_matches("sha256:")}}],
        "predicate": {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "bk", "dataLicense": "CC0-1.0",
                      "documentNamespace": "https://example.invalid/bk", "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: buildkit"]},
                      "packages": [{"name": "musl", "SPDXID": "SPDXRef-musl", "versionInfo": "1.2.4-r2", "downloadLocation": "NOASSERTION",
                                    "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:apk/alpine/musl@1.2.4-r2?distro=alpine-3.19.1"}]}]}
    });
    let statement = serde_json::to_vec(&statement).unwrap();
    let sbom_config =
        br#"{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    reg.push_blob("team/bk", &statement).await;
    reg.push_blob("team/bk", &sbom_config).await;
    let sbom_manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": support::registry::sha256_digest(&sbom_config), "size": sbom_config.len()},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": support::registry::sha256_digest(&statement), "size": statement.len(),
                    "annotations": {"in-toto.io/predicate-type": "https://spdx.dev/Document"}}]
    }))
    .unwrap();
    let sbom_digest = reg
        .push_manifest(
            "team/bk",
            "sbom-att",
            "application/vnd.oci.image.manifest.v1+json",
            &sbom_manifest,
        )
        .await;
    let size = |a: &Artifact| a.manifest().len();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": img_digest, "size": size(&img), "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": att_digest, "size": size(&att), "platform": {"architecture": "unknown", "os": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": img_digest}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sbom_digest, "size": sbom_manifest.len(), "platform": {"architecture": "unknown", "os": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": img_digest}}
        ]
    });
    reg.push_manifest(
        "team/bk",
        "1.0",
        "application/vnd.oci.image.index.v1+json",
        &serde_json::to_vec(&index).unwrap(),
    )
    .await;
    let r = cli.json(&["scan", &format!("{host}/team/bk:1.0"), "--format", "json"], 0);
    assert_eq!(r["kind"], "index", "{r:#}");
    let kinds: Vec<(&str, &str)> = r["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("image", "succeeded"),
            ("attestation", "unsupported"),
            ("sbom", "succeeded")
        ],
        "an SBOM attestation is scanned, provenance is not: {r:#}"
    );
    // The SBOM attestation is linked to the platform image it describes, and its packages stored.
    let image = &r["children"][0];
    assert!(
        image["referrers"].as_array().is_some_and(|rs| rs
            .iter()
            .any(|x| x["digest"] == sbom_digest.as_str() && x["kind"] == "sbom")),
        "{image:#}"
    );
    let sbom_status = cli.json(
        &[
            "status",
            &format!("{host}/team/bk@{sbom_digest}"),
            "--format",
            "cyclonedx",
        ],
        0,
    );
    assert!(sbom_status.to_string().contains("musl"), "{sbom_status:#}");
    let att_report = &r["children"][1];
    assert_eq!(att_report["digest"], att_digest.as_str());
    assert!(
        att_report["reason"].as_str().unwrap().contains("attestation"),
        "{att_report:#}"
    );
    assert!(
        att_report["reason"]
            .as_str()
            .unwrap()
            .contains("application/vnd.in-toto+json"),
        "{att_report:#}"
    );
    assert_eq!(att_report["artifact_type"], "application/vnd.in-toto+json");
    assert_eq!(att_report["platform"], "unknown/unknown");

    // A user's [[types]] row names a vendor type: a custom kind with its title, still unsupported.
    let text = std::fs::read_to_string(&cli.config).unwrap();
    std::fs::write(
        &cli.config,
        format!("{text}\n[[types]]\nmedia_type = \"application/vnd.acme.rocket.config.v1+json\"\nkind = \"rocket\"\ntitle = \"ACME rocket\"\n"),
    )
    .unwrap();
    reg.push_artifact(
        "team/rocket",
        "1",
        &Artifact::unknown("application/vnd.acme.rocket.config.v1+json"),
    )
    .await;
    let r = cli.json(&["scan", &format!("{host}/team/rocket:1"), "--format", "json"], 0);
    assert_eq!(
        (r["kind"].as_str(), r["status"].as_str()),
        (Some("rocket"), Some("unsupported")),
        "{r:#}"
    );
    assert!(r["reason"].as_str().unwrap().contains("ACME rocket"), "{r:#}");
}

/// `advisories import URL`: an osv.dev-style `all.zip` served over HTTP, re-imported with a newer
/// `modified` (updated, not duplicated) and an older one (kept).
#[tokio::test(flavor = "multi_thread")]
async fn advisories_import_from_a_url_keeps_the_newest_record() {
    use std::io::Write;
    let record = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv/REGSCAN-TEST-ZLIB.json"),
    )
    .unwrap();
    let zip_of = |modified: &str| {
        let body = record.replace("2026-01-01T00:00:00Z", modified);
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file("REGSCAN-TEST-ZLIB.json", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(body.as_bytes()).unwrap();
        w.finish().unwrap().into_inner()
    };
    let served = std::sync::Arc::new(std::sync::Mutex::new(zip_of("2026-01-01T00:00:00Z")));
    let app = {
        let served = served.clone();
        axum::Router::new().route(
            "/Debian/all.zip",
            axum::routing::get(move || {
                let body = served.lock().unwrap().clone();
                async move { body }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/Debian/all.zip", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (db, _dir) = sqlite_url();
    let cli = Cli::new(&db, "127.0.0.1:1");
    let first = cli.json(&["advisories", "import", &url, "--format", "json"], 0);
    assert_eq!(
        (first["added"].as_u64(), first["updated"].as_u64()),
        (Some(1), Some(0)),
        "{first:#}"
    );
    *served.lock().unwrap() = zip_of("2026-02-01T00:00:00Z");
    let newer = cli.json(&["advisories", "import", &url, "--format", "json"], 0);
    assert_eq!(
        (newer["added"].as_u64(), newer["updated"].as_u64()),
        (Some(0), Some(1)),
        "{newer:#}"
    );
    *served.lock().unwrap() = zip_of("2025-12-01T00:00:00Z");
    let older = cli.json(&["advisories", "import", &url, "--format", "json"], 0);
    assert_eq!(
        (older["updated"].as_u64(), older["unchanged"].as_u64()),
        (Some(0), Some(1)),
        "{older:#}"
    );
    let status = cli.json(&["advisories", "status", "--format", "json"], 0);
    assert_eq!(status["total"], 1);
    assert_eq!(status["newest_modified"], "2026-02-01T00:00:00Z");
    // A URL that does not answer is a clear failure, exit 3.
    let (code, _, err) = cli.run(&["advisories", "import", "http://127.0.0.1:1/all.zip"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
}

/// A platform image shared by two indexes stays a child of both.
#[tokio::test(flavor = "multi_thread")]
async fn a_child_shared_by_two_indexes_belongs_to_both() {
    let reg = Registry::start().await;
    let host = reg.host.clone();
    let (url, _dir) = sqlite_url();
    let cli = Cli::new(&url, &host);
    let image = |arch: &str| Artifact {
        config_media_type: "application/vnd.oci.image.config.v1+json".into(),
        config: format!(r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}"#)
            .into_bytes(),
        layers: vec![(
            "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            support::oci::tar_gz(&[("etc/alpine-release", b"3.19.1\n")]),
        )],
        artifact_type: None,
    };
    let mut digests = Vec::new();
    for arch in ["amd64", "arm64", "s390x"] {
        let a = image(arch);
        let d = reg.push_artifact("team/shared", arch, &a).await;
        digests.push((arch, d, a.manifest().len()));
    }
    let index = |entries: &[usize]| {
        let manifests: Vec<_> = entries
            .iter()
            .map(|&i| serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digests[i].1, "size": digests[i].2, "platform": {"architecture": digests[i].0, "os": "linux"}}))
            .collect();
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests})).unwrap()
    };
    reg.push_manifest(
        "team/shared",
        "1.0",
        "application/vnd.oci.image.index.v1+json",
        &index(&[0, 1]),
    )
    .await;
    reg.push_manifest(
        "team/shared",
        "2.0",
        "application/vnd.oci.image.index.v1+json",
        &index(&[1, 2]),
    )
    .await;
    cli.json(&["scan", &format!("{host}/team/shared:1.0"), "--format", "json"], 0);
    cli.json(&["scan", &format!("{host}/team/shared:2.0"), "--format", "json"], 0);
    for (tag, archs) in [
        ("1.0", ["linux/amd64", "linux/arm64"]),
        ("2.0", ["linux/arm64", "linux/s390x"]),
    ] {
        let r = cli.json(&["status", &format!("{host}/team/shared:{tag}"), "--format", "json"], 0);
        let got: Vec<&str> = r["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["platform"].as_str().unwrap())
            .collect();
        assert_eq!(got, archs, "{tag}: {r:#}");
    }
}
