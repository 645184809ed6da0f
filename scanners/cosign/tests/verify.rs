//! Real signatures over cosign-shaped payloads, made here with freshly generated ECDSA P-256 and
//! Ed25519 keys and a fixed RSA test key (tests/fixtures), verified through the `Scanner` trait
//! against in-memory blobs.

use std::path::PathBuf;

use base64::Engine as _;
use regscan_scanner_api::testing::{MemBlobs, NoCache};
use regscan_scanner_api::{media, ImageManifest, ScanContext, ScanError, ScanOutput, Scanner, TypeEntry};
use regscan_scanner_cosign::{CosignConfig, CosignScanner, KeyConfig, ANNOTATION_CERTIFICATE, ANNOTATION_SIGNATURE};
use serde_json::{json, Value};

const SUBJECT: &str = "sha256:3b2a9a2f5e0c4f6d8e7a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e";
const OTHER: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

fn payload(digest: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "critical": {"identity": {"docker-reference": "registry.example/team/app"},
                     "image": {"docker-manifest-digest": digest},
                     "type": "cosign container image signature"},
        "optional": {"creator": "regscan tests"}
    }))
    .unwrap()
}

fn b64(sig: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sig)
}

/// Signing keys of the three algorithms, their public PEMs written to a temporary directory.
struct Keys {
    dir: tempfile::TempDir,
    ecdsa: p256::ecdsa::SigningKey,
    ed25519: ed25519_dalek::SigningKey,
    rsa: rsa::RsaPrivateKey,
}

impl Keys {
    fn new() -> Keys {
        use ed25519_dalek::pkcs8::EncodePublicKey as _;
        use rsa::pkcs8::DecodePrivateKey as _;
        let dir = tempfile::tempdir().unwrap();
        let ecdsa = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
        let ed25519 = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let rsa_pem = std::fs::read_to_string(fixture("rsa-test-key.pem")).unwrap();
        let rsa = rsa::RsaPrivateKey::from_pkcs8_pem(&rsa_pem).unwrap();
        let lf = p256::pkcs8::LineEnding::LF;
        let pems = [
            ("ecdsa", ecdsa.verifying_key().to_public_key_pem(lf).unwrap()),
            ("ed25519", ed25519.verifying_key().to_public_key_pem(lf).unwrap()),
            ("rsa", rsa.to_public_key().to_public_key_pem(lf).unwrap()),
        ];
        for (name, pem) in pems {
            std::fs::write(dir.path().join(format!("{name}.pub")), pem).unwrap();
        }
        Keys {
            dir,
            ecdsa,
            ed25519,
            rsa,
        }
    }

    fn key(&self, name: &str) -> KeyConfig {
        KeyConfig {
            name: name.into(),
            path: self.dir.path().join(format!("{name}.pub")),
        }
    }

    fn scanner(&self, names: &[&str]) -> CosignScanner {
        CosignScanner::new(CosignConfig {
            keys: names.iter().map(|n| self.key(n)).collect(),
            ..Default::default()
        })
        .unwrap()
    }

    fn sign_ecdsa(&self, data: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        let sig: p256::ecdsa::Signature = self.ecdsa.sign(data);
        sig.to_der().as_bytes().to_vec()
    }

    fn sign_ed25519(&self, data: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer as _;
        self.ed25519.sign(data).to_bytes().to_vec()
    }

    fn sign_rsa_pkcs1(&self, data: &[u8]) -> Vec<u8> {
        use rsa::signature::{SignatureEncoding as _, Signer as _};
        let k = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.rsa.clone());
        k.sign(data).to_vec()
    }

    fn sign_rsa_pss(&self, data: &[u8]) -> Vec<u8> {
        use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
        let k = rsa::pss::SigningKey::<sha2::Sha256>::new(self.rsa.clone());
        k.sign_with_rng(&mut rand::thread_rng(), data).to_vec()
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// One signature layer: payload bytes and annotations.
struct Layer {
    payload: Vec<u8>,
    annotations: Vec<(&'static str, String)>,
}

fn signed(payload: Vec<u8>, sig: &[u8]) -> Layer {
    Layer {
        payload,
        annotations: vec![(ANNOTATION_SIGNATURE, b64(sig))],
    }
}

async fn scan(scanner: &CosignScanner, layers: Vec<Layer>) -> Result<ScanOutput, ScanError> {
    let mut blobs = MemBlobs::default();
    let config = blobs.add(media::OCI_CONFIG, br#"{"architecture":"","os":""}"#.to_vec());
    let layers = layers
        .into_iter()
        .map(|l| {
            let mut d = blobs.add(media::COSIGN_SIMPLESIGNING, l.payload);
            d.annotations = l.annotations.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            d
        })
        .collect();
    let manifest = ImageManifest {
        schema_version: 2,
        config,
        layers,
        ..Default::default()
    };
    let entry = TypeEntry::scanned(media::COSIGN_SIMPLESIGNING, "signature", "Cosign signature", "cosign");
    let ctx = ScanContext {
        reference: "registry.example/team/app@sha256:sig",
        manifest: &manifest,
        artifact_type: media::COSIGN_SIMPLESIGNING,
        entry: &entry,
        blobs: &blobs,
        cache: &NoCache,
    };
    scanner.scan(&ctx).await
}

fn signatures(out: &ScanOutput) -> Vec<Value> {
    out.details["signatures"]
        .as_array()
        .expect("details.signatures")
        .clone()
}

fn finding_ids(out: &ScanOutput) -> Vec<&str> {
    out.findings.iter().map(|f| f.id.as_str()).collect()
}

#[tokio::test]
async fn each_algorithm_verifies_its_own_signature_and_names_the_key() {
    let keys = Keys::new();
    let scanner = keys.scanner(&["ecdsa", "ed25519", "rsa"]);
    let p = payload(SUBJECT);
    let out = scan(
        &scanner,
        vec![
            signed(p.clone(), &keys.sign_ecdsa(&p)),
            signed(p.clone(), &keys.sign_ed25519(&p)),
            signed(p.clone(), &keys.sign_rsa_pkcs1(&p)),
            signed(p.clone(), &keys.sign_rsa_pss(&p)),
        ],
    )
    .await
    .unwrap();
    let sigs = signatures(&out);
    let names: Vec<&str> = sigs.iter().map(|s| s["key"].as_str().unwrap_or("<none>")).collect();
    assert_eq!(names, ["ecdsa", "ed25519", "rsa", "rsa"], "{sigs:#?}");
    for s in &sigs {
        assert_eq!(s["signature_valid"], true, "{s}");
        assert_eq!(s["reason"], Value::Null);
        assert_eq!(s["payload_digest"], SUBJECT);
        assert_eq!(s["identity"], "registry.example/team/app");
        assert!(s["layer"].as_str().unwrap().starts_with("sha256:"));
        let mut fields: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "identity",
                "key",
                "layer",
                "payload_digest",
                "reason",
                "signature_valid"
            ]
        );
    }
    assert!(out.findings.is_empty(), "{:?}", out.findings);
    assert_eq!(out.details["keyless"], false);
}

#[tokio::test]
async fn a_payload_naming_another_digest_still_verifies_and_reports_that_digest() {
    let keys = Keys::new();
    let p = payload(OTHER);
    let out = scan(&keys.scanner(&["ecdsa"]), vec![signed(p.clone(), &keys.sign_ecdsa(&p))])
        .await
        .unwrap();
    let s = &signatures(&out)[0];
    assert_eq!(
        (s["signature_valid"].clone(), s["payload_digest"].clone()),
        (json!(true), json!(OTHER))
    );
}

#[tokio::test]
async fn tampered_payload_and_wrong_key_fail_with_a_finding() {
    let keys = Keys::new();
    let scanner = keys.scanner(&["ed25519", "rsa"]);
    let p = payload(SUBJECT);
    // Signed, then the digest swapped: the signature no longer covers the bytes.
    let sig = keys.sign_ed25519(&p);
    let tampered = String::from_utf8(p.clone())
        .unwrap()
        .replace(SUBJECT, OTHER)
        .into_bytes();
    // Signed by the ECDSA key, which this scanner is not configured with.
    let foreign = keys.sign_ecdsa(&p);
    let out = scan(&scanner, vec![signed(tampered, &sig), signed(p.clone(), &foreign)])
        .await
        .unwrap();
    for s in signatures(&out) {
        assert_eq!(s["signature_valid"], false, "{s}");
        assert_eq!(s["key"], Value::Null);
        assert_eq!(
            s["reason"],
            "no configured key verifies this signature (tried: ed25519, rsa)"
        );
    }
    assert_eq!(finding_ids(&out), ["SIG-INVALID", "SIG-INVALID"]);
    assert_eq!(out.findings[0].severity, regscan_scanner_api::Severity::Medium);
}

#[tokio::test]
async fn garbage_base64_missing_annotation_and_non_cosign_payloads_are_explained() {
    let keys = Keys::new();
    let scanner = keys.scanner(&["ecdsa"]);
    let p = payload(SUBJECT);
    let garbage = Layer {
        payload: p.clone(),
        annotations: vec![(ANNOTATION_SIGNATURE, "!!not base64!!".into())],
    };
    let unannotated = Layer {
        payload: p.clone(),
        annotations: vec![],
    };
    let other_doc = br#"{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"x"}}}"#;
    let not_cosign = signed(other_doc.to_vec(), &keys.sign_ecdsa(other_doc));
    let out = scan(&scanner, vec![garbage, unannotated, not_cosign]).await.unwrap();
    let reasons: Vec<String> = signatures(&out)
        .iter()
        .map(|s| {
            assert_eq!(s["signature_valid"], false);
            s["reason"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(reasons[0].starts_with("signature is not base64"), "{reasons:?}");
    assert!(reasons[1].starts_with("no signature annotation"), "{reasons:?}");
    assert!(
        reasons[2].starts_with("payload is not a cosign simple-signing document: critical.type"),
        "{reasons:?}"
    );
    assert_eq!(signatures(&out)[2]["payload_digest"], Value::Null);
    assert_eq!(out.findings.len(), 3);
}

#[tokio::test]
async fn without_keys_nothing_is_verified_and_no_finding_is_invented() {
    let keys = Keys::new();
    let scanner = CosignScanner::new(CosignConfig::default()).unwrap();
    let p = payload(SUBJECT);
    let mut keyless = signed(p.clone(), &keys.sign_ecdsa(&p));
    keyless
        .annotations
        .push((ANNOTATION_CERTIFICATE, "-----BEGIN CERTIFICATE-----\n…".into()));
    let out = scan(&scanner, vec![keyless]).await.unwrap();
    let s = &signatures(&out)[0];
    assert_eq!(s["signature_valid"], false);
    assert_eq!(s["payload_digest"], SUBJECT);
    let reason = s["reason"].as_str().unwrap();
    assert!(reason.starts_with("no keys configured"), "{reason}");
    assert!(reason.contains("keyless"), "{reason}");
    assert_eq!(out.details["keyless"], true);
    assert!(out.findings.is_empty());
}

#[tokio::test]
async fn keyless_signature_no_key_verifies_says_why() {
    let keys = Keys::new();
    let p = payload(SUBJECT);
    let mut layer = signed(p.clone(), &keys.sign_ecdsa(&p));
    layer.annotations.push((ANNOTATION_CERTIFICATE, "cert".into()));
    let out = scan(&keys.scanner(&["rsa"]), vec![layer]).await.unwrap();
    let reason = signatures(&out)[0]["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("tried: rsa") && reason.contains("keyless") && reason.contains("offline"),
        "{reason}"
    );
}

#[tokio::test]
async fn an_oversize_payload_is_a_limit_error() {
    let keys = Keys::new();
    let scanner = CosignScanner::new(CosignConfig {
        keys: vec![keys.key("ecdsa")],
        max_payload_bytes: 100,
    })
    .unwrap();
    let mut big = payload(SUBJECT);
    big.resize(101, b' ');
    let sig = keys.sign_ecdsa(&big);
    match scan(&scanner, vec![signed(big, &sig)]).await {
        Err(ScanError::Limit(m)) => assert!(m.contains("100-byte limit"), "{m}"),
        other => panic!("expected a limit error, got {other:?}"),
    }
}

#[test]
fn keys_of_each_algorithm_load_and_private_keys_are_refused() {
    let keys = Keys::new();
    let s = keys.scanner(&["ecdsa", "ed25519", "rsa"]);
    let algs: Vec<_> = s.keys().collect();
    assert_eq!(algs, [("ecdsa", "ECDSA P-256"), ("ed25519", "Ed25519"), ("rsa", "RSA")]);
    let err = CosignScanner::new(CosignConfig {
        keys: vec![KeyConfig {
            name: "oops".into(),
            path: fixture("rsa-test-key.pem"),
        }],
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("oops") && err.contains("private key"), "{err}");
    // PKCS#1 `RSA PUBLIC KEY` is accepted too.
    use rsa::pkcs1::EncodeRsaPublicKey as _;
    let pkcs1 = keys
        .rsa
        .to_public_key()
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap();
    let path = keys.dir.path().join("pkcs1.pub");
    std::fs::write(&path, pkcs1).unwrap();
    let s = CosignScanner::new(CosignConfig {
        keys: vec![KeyConfig {
            name: "pkcs1".into(),
            path,
        }],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(s.keys().next(), Some(("pkcs1", "RSA")));
    // Two keys with one name are refused.
    let err = CosignScanner::new(CosignConfig {
        keys: vec![keys.key("rsa"), keys.key("rsa")],
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("used twice"), "{err}");
}

#[test]
fn config_round_trips_through_json_into_a_working_scanner() {
    let keys = Keys::new();
    let config = CosignConfig {
        keys: vec![keys.key("ecdsa"), keys.key("rsa")],
        max_payload_bytes: 4096,
    };
    let text = serde_json::to_string(&config).unwrap();
    let back: CosignConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, config);
    let s = CosignScanner::new(back).unwrap();
    assert_eq!(s.keys().count(), 2);
}
