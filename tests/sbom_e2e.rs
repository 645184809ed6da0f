//! SBOMs through a real registry and the `regscan` binary: an SPDX 2.3 artifact, a CycloneDX 1.5
//! artifact, an SBOM attached the legacy cosign way and a cosign DSSE attestation of a CycloneDX
//! BOM are scanned by the `sbom` scanner (kind `sbom`, status `succeeded`), their packages are
//! stored as the artifact's inventory, and real OSV records affecting packages they list come
//! back as findings — exactly those, computed by hand from the records and the SBOMs.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::{json, Value};
use support::db::{sqlite_url, PgDb};
use support::oci::Artifact;
use support::process::regscan_bin;
use support::registry::Registry;

fn sbom_fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scanners/sbom/tests/fixtures")
            .join(name),
    )
    .unwrap()
}

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

    fn json(&self, args: &[&str]) -> Value {
        self.json_exit(args, 0)
    }

    fn json_exit(&self, args: &[&str], code: i32) -> Value {
        let out = Command::new(regscan_bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("REGSCAN_DATABASE_URL")
            .env_remove("REGSCAN_API_TOKEN")
            .env("REGSCAN_LOG", "warn")
            .output()
            .expect("run regscan");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "regscan {args:?}\nstdout: {stdout}\nstderr: {stderr}"
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("regscan {args:?}: not JSON ({e}): {stdout}"))
    }
}

/// (id, package, installed version, fixed version) of every finding.
fn findings(r: &Value) -> BTreeSet<(String, String, String, String)> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_owned();
            (s("id"), s("package"), s("installed_version"), s("fixed_version"))
        })
        .collect()
}

fn finding(id: &str, package: &str, installed: &str, fixed: &str) -> (String, String, String, String) {
    (id.into(), package.into(), installed.into(), fixed.into())
}

fn assert_sbom_scanned(r: &Value, artifact_type: &str) {
    assert_eq!(
        (r["kind"].as_str(), r["status"].as_str(), r["scanner"]["name"].as_str()),
        (Some("sbom"), Some("succeeded"), Some("sbom")),
        "{r:#}"
    );
    assert_eq!(r["artifact_type"], artifact_type, "{r:#}");
}

/// The purls of the stored inventory (`status --format cyclonedx` reads it from the store).
fn inventory(cli: &Cli, reference: &str) -> BTreeSet<String> {
    let bom = cli.json(&["status", reference, "--format", "cyclonedx"]);
    bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["purl"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn sbom_scans(database_url: &str) {
    let reg = Registry::start().await;
    let host = reg.host.clone();
    let cli = Cli::new(database_url, &host);
    let empty = "application/vnd.oci.empty.v1+json";
    let spdx = Artifact {
        config_media_type: empty.into(),
        config: b"{}".to_vec(),
        layers: vec![("application/spdx+json".into(), sbom_fixture("spdx-2.3-debian.json"))],
        artifact_type: Some("application/spdx+json".into()),
    };
    let spdx_digest = reg.push_artifact("shop/web", "sbom-spdx", &spdx).await;
    let cdx = Artifact {
        config_media_type: empty.into(),
        config: b"{}".to_vec(),
        layers: vec![(
            "application/vnd.cyclonedx+json".into(),
            sbom_fixture("cyclonedx-1.5-cyclonedx-py.json"),
        )],
        artifact_type: Some("application/vnd.cyclonedx+json".into()),
    };
    reg.push_artifact("shop/web", "sbom-cdx", &cdx).await;

    // Scanned before any advisory is known: packages stored, no findings; the import then
    // re-matches the stored inventory (no blob fetched) and the finding appears.
    let cdx_ref = format!("{host}/shop/web:sbom-cdx");
    let r = cli.json(&["scan", &cdx_ref, "--format", "json"]);
    assert_sbom_scanned(&r, "application/vnd.cyclonedx+json");
    assert!(findings(&r).is_empty(), "{r:#}");
    let osv = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv-sbom");
    let import = cli.json(&["advisories", "import", osv.to_str().unwrap(), "--format", "json"]);
    assert_eq!(import["added"], 3, "{import:#}");
    assert_eq!(import["rematched_scans"].as_array().unwrap().len(), 1, "{import:#}");

    // SPDX 2.3: the Debian 12 and npm packages are matched. intel-microcode
    // 3.20230214.1~deb12u1 < 3.20230808.1~deb12u1 (DSA-5474-1, Debian:12); lodash 4.17.15 in
    // [3.7.0, 4.17.19) (GHSA-p6mc-m468-83gw). Nothing else in the SBOM is named by a record.
    let r = cli.json(&["scan", &format!("{host}/shop/web:sbom-spdx"), "--format", "json"]);
    assert_sbom_scanned(&r, "application/spdx+json");
    assert_eq!(r["digest"], spdx_digest.as_str());
    assert_eq!(
        findings(&r),
        BTreeSet::from([
            finding(
                "DSA-5474-1",
                "intel-microcode",
                "3.20230214.1~deb12u1",
                "3.20230808.1~deb12u1"
            ),
            finding("GHSA-p6mc-m468-83gw", "lodash", "4.17.15", "4.17.19"),
        ]),
        "{r:#}"
    );
    assert_eq!(r["details"]["documents"][0]["spec_version"], "SPDX-2.3", "{r:#}");
    assert_eq!(r["details"]["packages"], 6);
    let purls = inventory(&cli, &format!("{host}/shop/web:sbom-spdx"));
    assert_eq!(purls.len(), 6, "{purls:?}");
    for p in [
        "pkg:deb/debian/intel-microcode@3.20230214.1~deb12u1?distro=debian-12",
        "pkg:npm/lodash@4.17.15",
    ] {
        assert!(purls.contains(p), "{p} not in {purls:?}");
    }

    // CycloneDX 1.5 from cyclonedx-py: pyyaml 5.3.1 < 5.4 (PYSEC-2021-142), found by the
    // re-match after the import.
    let r = cli.json(&["status", &cdx_ref, "--format", "json"]);
    assert_sbom_scanned(&r, "application/vnd.cyclonedx+json");
    assert_eq!(
        findings(&r),
        BTreeSet::from([finding("PYSEC-2021-142", "pyyaml", "5.3.1", "5.4")]),
        "{r:#}"
    );
    assert_eq!(inventory(&cli, &cdx_ref).len(), 4);

    // `cosign attach sbom`: an image config and one text/spdx+json layer. Routed by the layer.
    let legacy = Artifact {
        config_media_type: "application/vnd.oci.image.config.v1+json".into(),
        config: b"{}".to_vec(),
        layers: vec![("text/spdx+json".into(), sbom_fixture("spdx-2.3-debian.json"))],
        artifact_type: None,
    };
    reg.push_artifact("shop/web", "sha256-4d1b.sbom", &legacy).await;
    let r = cli.json(&["scan", &format!("{host}/shop/web:sha256-4d1b.sbom"), "--format", "json"]);
    assert_sbom_scanned(&r, "text/spdx+json");
    assert_eq!(r["findings"].as_array().unwrap().len(), 2, "{r:#}");

    // `cosign attest --type cyclonedx`: a DSSE envelope layer annotated with its predicate type.
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://cyclonedx.org/bom",
        "subject": [{"name": format!("{host}/shop/web"), "digest": {"sha256": "4d1b"}}],
        "predicate": serde_json::from_slice::<Value>(&sbom_fixture("cyclonedx-1.4-cyclonedx-py.json")).unwrap(),
    });
    let envelope = serde_json::to_vec(&json!({
        "payloadType": "application/vnd.in-toto+json",
        "payload": base64::engine::general_purpose::STANDARD.encode(statement.to_string()),
        "signatures": [{"keyid": "", "sig": "MEUCIQC"}],
    }))
    .unwrap();
    let config = br#"{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    reg.push_blob("shop/web", config).await;
    reg.push_blob("shop/web", &envelope).await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": support::registry::sha256_digest(config), "size": config.len()},
        "layers": [{
            "mediaType": "application/vnd.dsse.envelope.v1+json",
            "digest": support::registry::sha256_digest(&envelope),
            "size": envelope.len(),
            "annotations": {"predicateType": "https://cyclonedx.org/bom", "dev.cosignproject.cosign/signature": ""}
        }]
    });
    reg.push_manifest(
        "shop/web",
        "sha256-4d1b.att",
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    )
    .await;
    let r = cli.json(&["scan", &format!("{host}/shop/web:sha256-4d1b.att"), "--format", "json"]);
    assert_sbom_scanned(
        &r,
        "application/vnd.dsse.envelope.v1+json; predicateType=https://cyclonedx.org/bom",
    );
    assert_eq!(
        findings(&r),
        BTreeSet::from([finding("PYSEC-2021-142", "pyyaml", "5.3.1", "5.4")]),
        "{r:#}"
    );
    assert_eq!(r["details"]["documents"][0]["wrappers"], json!(["dsse", "in-toto"]));

    // A bomb through the sandbox: a CycloneDX document of 1,200,000 empty components fails at
    // once with the limit named (exit 3, the scan could not be done), and is not retried.
    let bomb = Artifact {
        config_media_type: empty.into(),
        config: b"{}".to_vec(),
        layers: vec![(
            "application/vnd.cyclonedx+json".into(),
            format!(
                r#"{{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{}]}}"#,
                vec!["{}"; 1_200_000].join(",")
            )
            .into_bytes(),
        )],
        artifact_type: Some("application/vnd.cyclonedx+json".into()),
    };
    reg.push_artifact("shop/web", "bomb", &bomb).await;
    let r = cli.json_exit(&["scan", &format!("{host}/shop/web:bomb"), "--format", "json"], 3);
    assert_eq!(
        (r["kind"].as_str(), r["status"].as_str()),
        (Some("sbom"), Some("failed")),
        "{r:#}"
    );
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("limit exceeded") && reason.contains("max_entries"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sbom_scans_on_sqlite() {
    let (url, _dir) = sqlite_url();
    sbom_scans(&url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sbom_scans_on_postgres() {
    let db = PgDb::create();
    sbom_scans(&db.url).await;
}
