//! Signatures, SBOMs and attestations linked to the image they describe, through a real
//! `docker-registry` (CNCF distribution 2.8, which has no referrers API): a cosign signature
//! under its `sha256-<hex>.sig` tag, an OCI 1.1 SBOM with a `subject` listed in the referrers
//! tag schema index (`sha256-<hex>`), as `oras attach` leaves them. Either side may be stored
//! first.

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use support::oci::{Artifact, OciImage};
use support::process::regscan_bin;
use support::registry::{sha256_digest, Registry};

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const SPDX: &str = "application/spdx+json";

struct Cli {
    config: PathBuf,
    db: String,
    _dir: tempfile::TempDir,
}

impl Cli {
    fn new(registry: &str) -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("regscan.db").display());
        let config = dir.path().join("regscan.toml");
        std::fs::write(
            &config,
            format!("database_url = {db:?}\n\n[[registry]]\nhost = {registry:?}\ninsecure = true\n"),
        )
        .unwrap();
        Cli { config, db, _dir: dir }
    }

    fn database_url(&self) -> String {
        self.db.clone()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = Command::new(regscan_bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("REGSCAN_LOG", "warn")
            .output()
            .expect("run regscan");
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "regscan {args:?}: not JSON ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

async fn text(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// A cosign signature of `subject`: an image-shaped manifest whose one layer is the
/// simple-signing payload.
fn cosign_signature(registry: &str, subject: &str) -> Artifact {
    let payload = json!({
        "critical": {"identity": {"docker-reference": format!("{registry}/sign/app")},
                     "image": {"docker-manifest-digest": subject},
                     "type": "cosign container image signature"},
        "optional": null
    });
    Artifact {
        config_media_type: "application/vnd.oci.image.config.v1+json".into(),
        config: br#"{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec(),
        layers: vec![(SIMPLE_SIGNING.into(), serde_json::to_vec(&payload).unwrap())],
        artifact_type: None,
    }
}

/// An OCI 1.1 SBOM referrer of `subject` (`artifactType` + `subject`), as `oras attach` pushes it.
async fn push_sbom_referrer(registry: &Registry, repo: &str, subject: &str, subject_size: usize) -> String {
    let spdx = json!({"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "app", "packages": []});
    let layer = serde_json::to_vec(&spdx).unwrap();
    let empty = b"{}".to_vec();
    registry.push_blob(repo, &layer).await;
    registry.push_blob(repo, &empty).await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": SPDX,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256_digest(&empty), "size": 2},
        "layers": [{"mediaType": SPDX, "digest": sha256_digest(&layer), "size": layer.len()}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": subject_size},
    });
    let body = serde_json::to_vec(&manifest).unwrap();
    let digest = registry
        .push_manifest(
            repo,
            &sha256_digest(&body),
            "application/vnd.oci.image.manifest.v1+json",
            &body,
        )
        .await;
    // The referrers tag schema: an index of the subject's referrers under `sha256-<hex>`.
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                       "size": body.len(), "artifactType": SPDX}],
    });
    let index = serde_json::to_vec(&index).unwrap();
    let tag = subject.replace(':', "-");
    registry
        .push_manifest(repo, &tag, "application/vnd.oci.image.index.v1+json", &index)
        .await;
    digest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_and_sboms_are_linked_to_their_image() {
    let registry = Registry::start().await;
    let repo = "sign/app";
    let image = OciImage::debian_like();
    let subject = registry.push_image(repo, "1.0", &image).await;
    let hex = subject.trim_start_matches("sha256:");
    let sig = registry
        .push_artifact(
            repo,
            &format!("sha256-{hex}.sig"),
            &cosign_signature(&registry.host, &subject),
        )
        .await;
    let subject_size = {
        let m = reqwest::Client::new()
            .get(format!("{}/v2/{repo}/manifests/{subject}", registry.base_url()))
            .header("Accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        m.len()
    };
    let sbom = push_sbom_referrer(&registry, repo, &subject, subject_size).await;

    let cli = Cli::new(&registry.host);
    // Scanning the image finds both referrers and scans them too.
    let report = cli.json(&["scan", &format!("{}/{repo}:1.0", registry.host), "--format", "json"]);
    assert_eq!(report["kind"], "image");
    let referrers = report["referrers"].as_array().expect("referrers listed");
    let by_digest = |d: &str| referrers.iter().find(|r| r["digest"] == d).cloned();
    let s = by_digest(&sig).unwrap_or_else(|| panic!("signature listed: {report:#}"));
    assert_eq!(s["kind"], "signature");
    let b = by_digest(&sbom).unwrap_or_else(|| panic!("sbom listed: {report:#}"));
    assert_eq!(b["kind"], "sbom");
    assert_eq!(b["artifact_type"], SPDX);

    // Each referrer's own report names its subject, and has a final status.
    for (digest, kind) in [(&sig, "signature"), (&sbom, "sbom")] {
        let r = cli.json(&[
            "status",
            &format!("{}/{repo}@{digest}", registry.host),
            "--format",
            "json",
        ]);
        assert_eq!(r["subject"], subject.as_str(), "{r:#}");
        assert_eq!(r["kind"], kind);
        assert!(
            ["succeeded", "unsupported"].contains(&r["status"].as_str().unwrap()),
            "{r:#}"
        );
    }
    // With the referrers stored, the image's report shows their statuses.
    let again = cli.json(&["status", &format!("{}/{repo}:1.0", registry.host), "--format", "json"]);
    for r in again["referrers"].as_array().unwrap() {
        assert!(r["status"].is_string(), "{again:#}");
    }

    // An unsigned image beside it, for the filters.
    let mut other = OciImage::debian_like();
    other.files.push(("etc/motd".into(), b"unsigned\n".to_vec()));
    let unsigned = registry.push_image("plain/app", "1.0", &other).await;
    cli.json(&["scan", &format!("{}/plain/app:1.0", registry.host), "--format", "json"]);
    let digests = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["digest"].as_str().unwrap().to_owned())
            .collect()
    };
    let signed = cli.json(&["artifacts", "--signed", "true", "--format", "json"]);
    assert_eq!(digests(&signed), vec![subject.clone()], "{signed:#}");
    assert_eq!(signed[0]["signed"], true);
    assert_eq!(signed[0]["has_sbom"], true);
    let with_sbom = cli.json(&["artifacts", "--has-sbom", "true", "--format", "json"]);
    assert_eq!(digests(&with_sbom), vec![subject.clone()]);
    let unsigned_images = cli.json(&["artifacts", "--signed", "false", "--kind", "image", "--format", "json"]);
    assert_eq!(digests(&unsigned_images), vec![unsigned.clone()], "{unsigned_images:#}");
    assert_eq!(unsigned_images[0]["signed"], false);

    // The same through the API and the web pages of a running server.
    let serve = support::process::RegscanProcess::start(
        &support::process::TestConfig::new(&cli.database_url(), &[&registry.host]),
        &["serve", "--workers", "0"],
    )
    .await;
    let api: Value = serde_json::from_str(&text(&format!("{}/v1/artifacts?signed=true", serve.url())).await).unwrap();
    assert_eq!(digests(&api["items"]), vec![subject.clone()]);
    let api: Value =
        serde_json::from_str(&text(&format!("{}/v1/artifacts?has_sbom=false&kind=image", serve.url())).await).unwrap();
    assert_eq!(digests(&api["items"]), vec![unsigned.clone()]);
    let listing = text(&format!("{}/?signed=true", serve.url())).await;
    assert!(
        listing.contains("mark-signed") && listing.contains("sign/app"),
        "{listing}"
    );
    assert!(!listing.contains("plain/app"));
    let page = text(&format!("{}/artifacts/{}/{repo}@{subject}", serve.url(), registry.host)).await;
    assert!(
        page.contains("id=\"referrers\"") && page.contains(&sig) && page.contains(&sbom),
        "{page}"
    );
    let sig_page = text(&format!("{}/artifacts/{}/{repo}@{sig}", serve.url(), registry.host)).await;
    assert!(sig_page.contains("id=\"subject\"") && sig_page.contains(&subject));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_scanned_before_its_image_is_linked_when_the_image_arrives() {
    let registry = Registry::start().await;
    let repo = "early/app";
    let subject = registry.push_image(repo, "1.0", &OciImage::debian_like()).await;
    let hex = subject.trim_start_matches("sha256:");
    let sig_tag = format!("sha256-{hex}.sig");
    let sig = registry
        .push_artifact(repo, &sig_tag, &cosign_signature(&registry.host, &subject))
        .await;
    let cli = Cli::new(&registry.host);
    let r = cli.json(&[
        "scan",
        &format!("{}/{repo}:{sig_tag}", registry.host),
        "--format",
        "json",
    ]);
    assert_eq!(r["kind"], "signature");
    // Scanned by the `cosign` scanner (no keys configured: listed, not verified).
    assert_eq!(r["status"], "succeeded", "{r:#}");
    assert_eq!(r["subject"], subject.as_str());
    // The image is not stored yet; once it is, its report lists the signature.
    let image = cli.json(&["scan", &format!("{}/{repo}:1.0", registry.host), "--format", "json"]);
    let referrers = image["referrers"].as_array().expect("listed");
    assert_eq!(referrers.len(), 1, "{image:#}");
    assert_eq!(referrers[0]["digest"], sig.as_str());
    assert_eq!(referrers[0]["kind"], "signature");
    assert_eq!(referrers[0]["status"], "succeeded");
}
