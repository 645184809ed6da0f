//! `.signatures.json` checks: signed with test keys (HS256, RS256) in the test, then tampered.

mod common;

use common::*;
use regscan_scanner_api::Severity;
use regscan_scanner_opa::OpaConfig;
use serde_json::json;

/// A signed clean bundle's files plus its `.signatures.json`, HS256 with key id `k1`.
fn signed_hs256(secret: &[u8], scope: Option<&str>, algorithm: &str) -> Vec<(&'static str, Vec<u8>)> {
    let files = clean_files();
    let mut payload = json!({"files": file_claims(&as_slices(&files), algorithm), "iss": "ci"});
    if let Some(s) = scope {
        payload["scope"] = s.into();
    }
    let token = hs256(secret, json!({"alg": "HS256", "kid": "k1", "typ": "JWT"}), payload);
    let mut v: Vec<(&str, Vec<u8>)> = files.into_iter().collect();
    v.push(("/.signatures.json", signatures_file(&token)));
    v
}

fn artifact(files: &[(&'static str, Vec<u8>)]) -> Artifact {
    let slices: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (*p, c.as_slice())).collect();
    Artifact::bundle(&slices)
}

#[tokio::test]
async fn hs256_signed_bundle_verifies_clean() {
    let out = artifact(&signed_hs256(b"s3cret", Some("write"), "SHA-256"))
        .scan_with(hs256_config("k1", "s3cret", Some("write")))
        .await
        .unwrap();
    assert!(out.findings.is_empty(), "{:#?}", out.findings);
    assert_eq!(out.details["signatures"]["verified"], true);
    assert_eq!(out.details["signatures"]["kid"], "k1");
    assert_eq!(out.details["signatures"]["files_signed"], 3);
}

#[tokio::test]
async fn wrong_secret_scope_and_kid_are_findings() {
    let files = signed_hs256(b"s3cret", Some("write"), "SHA-256");
    let out = artifact(&files)
        .scan_with(hs256_config("k1", "other", Some("write")))
        .await
        .unwrap();
    assert_eq!(serious_ids(&out), ["OPA-SIG-JWT-INVALID"]);
    assert_eq!(finding(&out, "OPA-SIG-JWT-INVALID").severity, Severity::Critical);
    assert_eq!(out.details["signatures"]["verified"], false);

    let out = artifact(&files)
        .scan_with(hs256_config("k1", "s3cret", Some("read")))
        .await
        .unwrap();
    assert_eq!(serious_ids(&out), ["OPA-SIG-SCOPE"]);

    let out = artifact(&files)
        .scan_with(hs256_config("k2", "s3cret", Some("write")))
        .await
        .unwrap();
    assert_eq!(serious_ids(&out), ["OPA-SIG-KID"]);
    assert!(finding(&out, "OPA-SIG-KID").title.contains("k1"));
}

#[tokio::test]
async fn rs256_signed_bundle_verifies_with_key_file() {
    let key = rsa_key();
    let files = clean_files();
    let payload = json!({"files": file_claims(&as_slices(&files), "SHA-256"), "scope": "prod"});
    let token = rs256(key, json!({"alg": "RS256", "kid": "release"}), payload);
    let mut all: Vec<(&str, Vec<u8>)> = files.into_iter().collect();
    all.push(("/.signatures.json", signatures_file(&token)));

    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("release.pem");
    std::fs::write(&pem, rsa_public_pem(key)).unwrap();
    let config: OpaConfig = serde_json::from_value(json!({"verification": {"keys": {
        "release": {"algorithm": "RS256", "key_file": pem, "scope": "prod"}
    }}}))
    .unwrap();
    let out = artifact(&all).scan_with(config).await.unwrap();
    assert!(out.findings.is_empty(), "{:#?}", out.findings);
    assert_eq!(out.details["signatures"]["alg"], "RS256");

    // Another RSA key (inline PEM) does not verify it.
    let other = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
    let config: OpaConfig = serde_json::from_value(json!({"verification": {"keys": {
        "release": {"algorithm": "RS256", "key": rsa_public_pem(&other), "scope": "prod"}
    }}}))
    .unwrap();
    let out = artifact(&all).scan_with(config).await.unwrap();
    assert_eq!(serious_ids(&out), ["OPA-SIG-JWT-INVALID"]);
}

#[tokio::test]
async fn tampered_added_and_removed_files_are_caught() {
    let mut files = signed_hs256(b"s3cret", None, "SHA-256");
    let config = || hs256_config("k1", "s3cret", None);
    // Tamper with the policy after signing.
    for (p, c) in files.iter_mut() {
        if *p == "/authz/policy.rego" {
            *c = b"package authz\n\ndefault allow := true\n".to_vec();
        }
    }
    files.push((
        "/authz/extra.rego",
        b"package authz\n\nbackdoor if input.x == 1\n".to_vec(),
    ));
    let out = artifact(&files).scan_with(config()).await.unwrap();
    assert_eq!(serious_ids(&out), ["OPA-SIG-FILE-UNSIGNED", "OPA-SIG-HASH-MISMATCH"]);
    assert_eq!(
        finding(&out, "OPA-SIG-HASH-MISMATCH").location.as_deref(),
        Some("authz/policy.rego")
    );
    assert_eq!(
        finding(&out, "OPA-SIG-FILE-UNSIGNED").location.as_deref(),
        Some("authz/extra.rego")
    );
    // The signer itself is still the trusted one.
    assert_eq!(out.details["signatures"]["verified"], true);

    let files: Vec<_> = signed_hs256(b"s3cret", None, "SHA-256")
        .into_iter()
        .filter(|(p, _)| *p != "/authz/data.json")
        .collect();
    let out = artifact(&files).scan_with(config()).await.unwrap();
    assert_eq!(serious_ids(&out), ["OPA-SIG-FILE-MISSING"]);
}

#[tokio::test]
async fn structured_files_are_hashed_canonically() {
    // data.json re-formatted (whitespace, key order) after signing still verifies.
    let mut files = signed_hs256(b"s3cret", None, "SHA-256");
    for (p, c) in files.iter_mut() {
        if *p == "/authz/data.json" {
            *c = b"{\n  \"admins\": [\n    \"alice\",\n    \"bob\"\n  ]\n}\n".to_vec();
        }
        if *p == "/.manifest" {
            *c = b"{ \"roots\": [\"authz\"], \"revision\": \"r1\" }".to_vec();
        }
    }
    let out = artifact(&files)
        .scan_with(hs256_config("k1", "s3cret", None))
        .await
        .unwrap();
    assert!(out.findings.is_empty(), "{:#?}", out.findings);
    // A changed value does not.
    for (p, c) in files.iter_mut() {
        if *p == "/authz/data.json" {
            *c = br#"{"admins":["alice","bob","mallory"]}"#.to_vec();
        }
    }
    let out = artifact(&files)
        .scan_with(hs256_config("k1", "s3cret", None))
        .await
        .unwrap();
    assert_eq!(serious_ids(&out), ["OPA-SIG-HASH-MISMATCH"]);
}

#[tokio::test]
async fn weak_digests_are_flagged() {
    for alg in ["MD5", "SHA-1"] {
        let out = artifact(&signed_hs256(b"s3cret", None, alg))
            .scan_with(hs256_config("k1", "s3cret", None))
            .await
            .unwrap();
        assert_eq!(serious_ids(&out), ["OPA-SIG-WEAK-HASH"], "{alg}");
        assert!(finding(&out, "OPA-SIG-WEAK-HASH").title.contains(alg));
    }
}

#[tokio::test]
async fn missing_and_unverified_signatures_are_informational() {
    let files = clean_files();
    let out = Artifact::bundle(&as_slices(&files)).scan().await.unwrap();
    assert_eq!(ids(&out), ["OPA-SIG-MISSING"]);
    assert_eq!(finding(&out, "OPA-SIG-MISSING").severity, Severity::Negligible);

    let out = artifact(&signed_hs256(b"s3cret", None, "SHA-256"))
        .scan()
        .await
        .unwrap();
    assert_eq!(ids(&out), ["OPA-SIG-UNVERIFIED"]);
    assert_eq!(out.details["signatures"]["verified"], serde_json::Value::Null);
}

#[tokio::test]
async fn unsigned_jwt_and_broken_signature_files() {
    let files = clean_files();
    let payload = json!({"files": file_claims(&as_slices(&files), "SHA-256")});
    let b64 = |v: serde_json::Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let token = format!("{}.{}.", b64(json!({"alg": "none"})), b64(payload));
    let mut all: Vec<(&str, Vec<u8>)> = files.clone().into_iter().collect();
    all.push(("/.signatures.json", signatures_file(&token)));
    let out = artifact(&all).scan().await.unwrap();
    assert_eq!(serious_ids(&out), ["OPA-SIG-JWT-ALG"]);
    assert_eq!(finding(&out, "OPA-SIG-JWT-ALG").severity, Severity::Critical);

    let mut all: Vec<(&str, Vec<u8>)> = files.clone().into_iter().collect();
    all.push(("/.signatures.json", br#"{"signatures":["a","b"]}"#.to_vec()));
    let out = artifact(&all).scan().await.unwrap();
    assert_eq!(serious_ids(&out), ["OPA-SIG-INVALID"]);

    let mut all: Vec<(&str, Vec<u8>)> = files.into_iter().collect();
    all.push(("/.signatures.json", b"{not json".to_vec()));
    let err = artifact(&all).scan().await.unwrap_err();
    assert!(err.to_string().contains(".signatures.json"), "{err}");
}

#[tokio::test]
async fn rs256_with_pkcs1_public_key_pem() {
    use rsa::pkcs1::EncodeRsaPublicKey;
    let key = rsa_key();
    let files = clean_files();
    let payload = json!({"files": file_claims(&as_slices(&files), "SHA-256"), "keyid": "legacy"});
    // No `kid` header: the deprecated `keyid` claim names the key.
    let token = rs256(key, json!({"alg": "RS256"}), payload);
    let mut all: Vec<(&str, Vec<u8>)> = files.into_iter().collect();
    all.push(("/.signatures.json", signatures_file(&token)));
    let pem = key.to_public_key().to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    assert!(pem.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    let config: OpaConfig = serde_json::from_value(json!({"verification": {"keys": {
        "legacy": {"algorithm": "RS256", "key": pem}
    }}}))
    .unwrap();
    let out = artifact(&all).scan_with(config).await.unwrap();
    assert!(out.findings.is_empty(), "{:#?}", out.findings);
    assert_eq!(out.details["signatures"]["kid"], "legacy");
}
