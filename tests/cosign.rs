//! Cosign signatures verified end to end through a real `docker-registry`: an image, and beside
//! it under `sha256-<hex>.sig` a signature manifest as `cosign sign --key` pushes it (an
//! image-shaped manifest whose simple-signing layers carry their signature in the
//! `dev.cosignproject.cosign/signature` annotation), signed here with a fresh ECDSA P-256 key
//! that `[[signatures.keys]]` names, and a second layer signed by a key regscan does not know.

mod support;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use serde_json::{json, Value};
use support::oci::OciImage;
use support::process::regscan_bin;
use support::registry::{sha256_digest, Registry};

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn sign(key: &p256::ecdsa::SigningKey, payload: &[u8]) -> String {
    let sig: p256::ecdsa::Signature = key.sign(payload);
    base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes())
}

/// Push the signature manifest: one simple-signing layer per (payload, base64 signature).
async fn push_signature(registry: &Registry, repo: &str, tag: &str, layers: &[(Vec<u8>, String)]) -> String {
    let config = br#"{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    registry.push_blob(repo, &config).await;
    let mut descriptors = Vec::new();
    for (payload, signature) in layers {
        registry.push_blob(repo, payload).await;
        descriptors.push(json!({
            "mediaType": SIMPLE_SIGNING,
            "digest": sha256_digest(payload),
            "size": payload.len(),
            "annotations": {"dev.cosignproject.cosign/signature": signature},
        }));
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(&config), "size": config.len()},
        "layers": descriptors,
    });
    let body = serde_json::to_vec(&manifest).unwrap();
    registry.push_manifest(repo, tag, OCI_MANIFEST, &body).await
}

fn regscan_json(config: &Path, args: &[&str]) -> Value {
    let out = Command::new(regscan_bin())
        .arg("--config")
        .arg(config)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cosign_signature_is_verified_with_the_configured_key() {
    let registry = Registry::start().await;
    let repo = "signed/app";
    let subject = registry.push_image(repo, "1.0", &OciImage::debian_like()).await;
    let hex = subject.trim_start_matches("sha256:");

    let release = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
    let stranger = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
    let payload = serde_json::to_vec(&json!({
        "critical": {"identity": {"docker-reference": format!("{}/{repo}", registry.host)},
                     "image": {"docker-manifest-digest": subject},
                     "type": "cosign container image signature"},
        "optional": null
    }))
    .unwrap();
    // The foreign signature is over a payload with another `optional` section, so the two layers
    // are two blobs.
    let mut foreign_payload = payload.clone();
    foreign_payload.push(b'\n');
    let sig = push_signature(
        &registry,
        repo,
        &format!("sha256-{hex}.sig"),
        &[
            (payload.clone(), sign(&release, &payload)),
            (foreign_payload.clone(), sign(&stranger, &foreign_payload)),
        ],
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("release.pub");
    std::fs::write(
        &key_path,
        release.verifying_key().to_public_key_pem(LineEnding::LF).unwrap(),
    )
    .unwrap();
    let db = format!("sqlite://{}", dir.path().join("regscan.db").display());
    let config = dir.path().join("regscan.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = {db:?}\n\n[[registry]]\nhost = {:?}\ninsecure = true\n\n[[signatures.keys]]\nname = \"release\"\npath = {:?}\n",
            registry.host,
            key_path.display().to_string()
        ),
    )
    .unwrap();

    let r = regscan_json(
        &config,
        &[
            "scan",
            &format!("{}/{repo}:sha256-{hex}.sig", registry.host),
            "--format",
            "json",
        ],
    );
    assert_eq!(r["digest"], sig.as_str(), "{r:#}");
    assert_eq!(
        (r["kind"].as_str(), r["status"].as_str(), r["scanner"]["name"].as_str()),
        (Some("signature"), Some("succeeded"), Some("cosign")),
        "{r:#}"
    );
    let sigs = r["details"]["signatures"].as_array().expect("details.signatures");
    assert_eq!(sigs.len(), 2, "{r:#}");
    assert_eq!(sigs[0]["layer"], sha256_digest(&payload));
    assert_eq!(sigs[0]["key"], "release", "{r:#}");
    assert_eq!(sigs[0]["signature_valid"], true);
    assert_eq!(sigs[0]["payload_digest"], subject.as_str());
    assert_eq!(sigs[0]["identity"], format!("{}/{repo}", registry.host));
    assert_eq!(sigs[1]["key"], Value::Null);
    assert_eq!(sigs[1]["signature_valid"], false);
    assert_eq!(
        sigs[1]["reason"],
        "no configured key verifies this signature (tried: release)"
    );
    let findings = r["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{r:#}");
    assert_eq!(
        (findings[0]["id"].as_str(), findings[0]["severity"].as_str()),
        (Some("SIG-INVALID"), Some("medium"))
    );
}

fn cosign_payload(registry: &Registry, repo: &str, digest: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "critical": {"identity": {"docker-reference": format!("{}/{repo}", registry.host)},
                     "image": {"docker-manifest-digest": digest},
                     "type": "cosign container image signature"},
        "optional": null
    }))
    .unwrap()
}

/// Push a signature of `payload` under the image's cosign tag, scan it, and return the status
/// report of `repo:1.0` (the image it refers to).
async fn sign_scan_and_status(
    registry: &Registry,
    repo: &str,
    config: &Path,
    key: &p256::ecdsa::SigningKey,
    payload: &[u8],
) -> Value {
    let image = regscan_json(
        config,
        &["status", &format!("{}/{repo}:1.0", registry.host), "--format", "json"],
    );
    let tag = format!(
        "sha256-{}.sig",
        image["digest"].as_str().unwrap().trim_start_matches("sha256:")
    );
    push_signature(registry, repo, &tag, &[(payload.to_vec(), sign(key, payload))]).await;
    regscan_json(
        config,
        &["scan", &format!("{}/{repo}:{tag}", registry.host), "--format", "json"],
    );
    regscan_json(
        config,
        &["status", &format!("{}/{repo}:1.0", registry.host), "--format", "json"],
    )
}

/// With `signatures.required`, an image gets `SIG-UNSIGNED` until a configured key signs it; its
/// report lists its signatures judged against it, and a signature over another image's digest
/// does not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_is_unsigned_until_a_configured_key_signs_it() {
    let registry = Registry::start().await;
    let repo = "required/app";
    let subject = registry.push_image(repo, "1.0", &OciImage::debian_like()).await;
    let mut other_image = OciImage::debian_like();
    other_image.files.push(("etc/motd".into(), b"other\n".to_vec()));
    let other = registry.push_image(repo, "2.0", &other_image).await;

    let release = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("release.pub");
    std::fs::write(
        &key_path,
        release.verifying_key().to_public_key_pem(LineEnding::LF).unwrap(),
    )
    .unwrap();
    let db = format!("sqlite://{}", dir.path().join("regscan.db").display());
    let config = dir.path().join("regscan.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = {db:?}\n\n[[registry]]\nhost = {:?}\ninsecure = true\n\n[signatures]\nrequired = true\n[[signatures.keys]]\nname = \"release\"\npath = {:?}\n",
            registry.host,
            key_path.display().to_string()
        ),
    )
    .unwrap();
    let ids = |r: &Value| -> Vec<String> {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    };

    let image = regscan_json(
        &config,
        &["scan", &format!("{}/{repo}:1.0", registry.host), "--format", "json"],
    );
    assert!(ids(&image).contains(&"SIG-UNSIGNED".to_owned()), "{image:#}");
    assert_eq!(image["summary"]["high"].as_u64().map(|h| h >= 1), Some(true));

    // A valid signature by the configured key, but over the other image's digest: still unsigned.
    let wrong = cosign_payload(&registry, repo, &other);
    let r = sign_scan_and_status(&registry, repo, &config, &release, &wrong).await;
    assert!(ids(&r).contains(&"SIG-UNSIGNED".to_owned()), "{r:#}");
    let sigs = r["signatures"].as_array().expect("signatures listed");
    assert_eq!(sigs[0]["verified"], false, "{r:#}");
    assert!(sigs[0]["reason"].as_str().unwrap().contains(&other), "{r:#}");

    // Re-signed properly (the tag moves to a new signature manifest): the finding is withdrawn.
    let right = cosign_payload(&registry, repo, &subject);
    let r = sign_scan_and_status(&registry, repo, &config, &release, &right).await;
    assert!(!ids(&r).contains(&"SIG-UNSIGNED".to_owned()), "{r:#}");
    let verified: Vec<&Value> = r["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["verified"] == true)
        .collect();
    assert_eq!(verified.len(), 1, "{r:#}");
    assert_eq!(verified[0]["key"], "release");
    // The artifact listing knows it is signed.
    let signed = regscan_json(
        &config,
        &["artifacts", "--signed", "true", "--kind", "image", "--format", "json"],
    );
    assert_eq!(signed.as_array().unwrap().len(), 1, "{signed:#}");
    assert_eq!(signed[0]["digest"], subject.as_str());
}

#[test]
fn an_unreadable_or_private_key_stops_regscan_naming_the_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("cosign.key");
    let key = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
    use p256::pkcs8::EncodePrivateKey as _;
    std::fs::write(&private, key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
    for (path, why) in [
        (dir.path().join("missing.pub"), "No such file"),
        (private, "private key"),
    ] {
        let config = dir.path().join("regscan.toml");
        let db = format!("sqlite://{}", dir.path().join("regscan.db").display());
        std::fs::write(
            &config,
            format!(
                "database_url = {db:?}\n[[signatures.keys]]\nname = \"release\"\npath = {:?}\n",
                path.display().to_string()
            ),
        )
        .unwrap();
        let out = Command::new(regscan_bin())
            .arg("--config")
            .arg(&config)
            .args(["scan", "127.0.0.1:1/x/y:1", "--format", "json"])
            .env("REGSCAN_LOG", "warn")
            .output()
            .expect("run regscan");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains("\"release\"") && stderr.contains(&path.display().to_string()) && stderr.contains(why),
            "{stderr}"
        );
    }
}
