//! The bundle shapes found in registries, and malformed artifacts failing with a clear reason.

mod common;

use common::*;
use regscan_scanner_api::media;
use regscan_scanner_api::ScanError;
use regscan_scanner_api::Scanner;
use regscan_scanner_opa::{OpaConfig, OpaScanner};

#[tokio::test]
async fn conftest_per_file_layers() {
    let art = Artifact::new(media::OPA_CONFIG)
        .layer(
            media::OPA_POLICY_LAYER,
            b"package main\n\ndeny contains msg if {\n  input.kind == \"Pod\"\n  msg := \"no pods\"\n}\n".to_vec(),
            Some("policy/deny.rego"),
        )
        .layer(
            media::OPA_POLICY_LAYER,
            b"package main\n\nwarn contains \"x\" if http.send({\"url\": \"https://x\", \"method\": \"GET\"})\n"
                .to_vec(),
            Some("policy/net.rego"),
        )
        .layer(
            media::OPA_DATA_LAYER,
            br#"{"settings":{"api_password":"pa55w0rd-real"}}"#.to_vec(),
            Some("data/settings.json"),
        );
    let out = art.scan().await.unwrap();
    assert_eq!(out.details["bundle"]["shape"], "conftest-file-layers");
    let pkgs = out.details["packages"].as_array().unwrap();
    assert_eq!(pkgs.len(), 2);
    assert_eq!(
        finding(&out, "OPA-NET-BUILTIN").location.as_deref(),
        Some("policy/net.rego:3")
    );
    let secret = finding(&out, "OPA-SECRET-KEYNAME");
    assert!(secret.title.contains("data.settings.api_password"), "{}", secret.title);
    assert_eq!(secret.location.as_deref(), Some("data/settings.json:1"));
    assert_eq!(out.details["data_files"][0]["mounted_at"], "data");
}

#[tokio::test]
async fn image_shaped_bundle() {
    let files = clean_files();
    let art = Artifact::new(media::OCI_CONFIG).layer(media::OCI_LAYER_GZIP, tarball(&as_slices(&files)), None);
    let out = art.scan().await.unwrap();
    assert_eq!(out.details["bundle"]["shape"], "image-shaped-bundle");
    assert_eq!(out.details["bundle"]["artifact_type"], media::OCI_CONFIG);
    assert_eq!(out.details["packages"][0]["package"], "data.authz");
    assert_eq!(ids(&out), ["OPA-SIG-MISSING"]);
}

#[tokio::test]
async fn sniffing_claims_one_layer_bundles_and_leaves_images_alone() {
    let bundle = Artifact::new(media::OCI_CONFIG).layer(
        media::OCI_LAYER_GZIP,
        tarball(&[(".manifest", b"{}"), ("authz/policy.rego", b"package authz\n")]),
        None,
    );
    assert_eq!(bundle.sniff().await, Some(true));
    let rootfs = Artifact::new(media::OCI_CONFIG).layer(
        media::OCI_LAYER_GZIP,
        tarball(&[("etc/os-release", b"ID=debian\n"), ("usr/share/x.rego", b"package x\n")]),
        None,
    );
    assert_eq!(rootfs.sniff().await, Some(false));
    let two_layers = Artifact::new(media::OCI_CONFIG)
        .layer(media::OCI_LAYER_GZIP, tarball(&[("a.rego", b"package a\n")]), None)
        .layer(media::OCI_LAYER_GZIP, tarball(&[("b.rego", b"package b\n")]), None);
    assert_eq!(two_layers.sniff().await, None, "only one-layer images are sniffed");
    let not_tar = Artifact::new(media::OCI_CONFIG).layer(media::OCI_LAYER_GZIP, b"\x1f\x8bgarbage".to_vec(), None);
    assert_eq!(not_tar.sniff().await, Some(false));
}

#[test]
fn opa_bundle_recognised_by_paths() {
    use regscan_scanner_opa::looks_like_opa_bundle;
    assert!(looks_like_opa_bundle([".manifest", "policy/authz.rego", "data.json"]));
    assert!(looks_like_opa_bundle(["./example/policy.rego"]));
    assert!(!looks_like_opa_bundle(["etc/os-release", "usr/share/x.rego"]));
    assert!(!looks_like_opa_bundle(["bin/sh", "data.json"]));
}

#[tokio::test]
async fn scanner_identity() {
    let s = OpaScanner::new(OpaConfig::default()).unwrap();
    assert_eq!(s.name(), "opa");
    assert!(!s.version().is_empty());
    let a = s.accepts();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].media_type, media::OPA_CONFIG);
    assert_eq!(a[0].kind.as_str(), "opa");
    assert_eq!(a[0].title, "OPA policy bundle");
    assert_eq!(a[0].scanner.as_deref(), Some("opa"));
}

fn invalid(err: ScanError) -> String {
    match err {
        ScanError::Invalid(m) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_archives_fail_with_a_reason() {
    let art = Artifact::new(media::OPA_CONFIG).layer(media::OPA_BUNDLE_LAYER, b"definitely not gzip".to_vec(), None);
    let msg = invalid(art.scan().await.unwrap_err());
    assert!(msg.contains("not gzip"), "{msg}");

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &[0x55u8; 700]).unwrap();
    let art = Artifact::new(media::OPA_CONFIG).layer(media::OPA_BUNDLE_LAYER, gz.finish().unwrap(), None);
    let msg = invalid(art.scan().await.unwrap_err());
    assert!(msg.contains("tar"), "{msg}");

    let good = tarball(&as_slices(&clean_files()));
    let art = Artifact::new(media::OPA_CONFIG).layer(media::OPA_BUNDLE_LAYER, good[..good.len() / 2].to_vec(), None);
    let err = art.scan().await.unwrap_err();
    assert!(matches!(err, ScanError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn bad_json_and_yaml_fail_naming_the_file() {
    for (path, content, word) in [
        ("/authz/data.json", &b"{\"admins\": [}"[..], "JSON"),
        ("/authz/x/data.yaml", &b"a: [unclosed\n"[..], "YAML"),
        ("/.manifest", &b"{\"roots\": \"authz\"}"[..], ".manifest"),
    ] {
        let mut files = clean_files();
        files.insert(path, content.to_vec());
        let msg = invalid(Artifact::bundle(&as_slices(&files)).scan().await.unwrap_err());
        assert!(
            msg.contains(path.trim_start_matches('/')) && msg.contains(word),
            "{msg}"
        );
    }
}

#[tokio::test]
async fn limits_and_missing_content() {
    let files = clean_files();
    let config: OpaConfig = serde_json::from_value(serde_json::json!({"limits": {"max_blob_bytes": 64}})).unwrap();
    let err = Artifact::bundle(&as_slices(&files))
        .scan_with(config)
        .await
        .unwrap_err();
    assert!(matches!(err, ScanError::Limit(_)), "{err:?}");

    let config: OpaConfig = serde_json::from_value(serde_json::json!({"limits": {"max_file_bytes": 10}})).unwrap();
    let err = Artifact::bundle(&as_slices(&files))
        .scan_with(config)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("file limit"), "{err}");

    let art = Artifact::new(media::OPA_CONFIG).layer("application/octet-stream", b"x".to_vec(), None);
    let msg = invalid(art.scan().await.unwrap_err());
    assert!(msg.contains("application/octet-stream"), "{msg}");

    let msg = invalid(Artifact::bundle(&[("README.md", b"hi")]).scan().await.unwrap_err());
    assert!(msg.contains("README.md"), "{msg}");
}

#[tokio::test]
async fn layer_titles_escaping_the_root_are_ignored() {
    let art = Artifact::new(media::OPA_CONFIG)
        .layer(
            media::OPA_POLICY_LAYER,
            b"package main\n\nx := 1\n".to_vec(),
            Some("../../evil.rego"),
        )
        .layer(
            media::OPA_POLICY_LAYER,
            b"package main\n\ny := 2\n".to_vec(),
            Some("ok.rego"),
        );
    let out = art.scan().await.unwrap();
    assert_eq!(serious_ids(&out), ["OPA-BUNDLE-PATH"]);
    assert_eq!(out.details["packages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn type_table_routes_opa_artifacts_here() {
    use regscan_scanner_api::{ManifestDoc, Resolution, TypeTable};
    let s = OpaScanner::new(OpaConfig::default()).unwrap();
    let table = TypeTable::build(s.accepts(), [], &["opa"]).unwrap();
    let art = Artifact::bundle(&as_slices(&clean_files()));
    let doc = ManifestDoc::Manifest(art.manifest.clone());
    match table.resolve(&doc) {
        Resolution::Scan {
            entry, artifact_type, ..
        } => {
            assert_eq!(entry.scanner.as_deref(), Some("opa"));
            assert_eq!(artifact_type, media::OPA_CONFIG);
        }
        other => panic!("{other:?}"),
    }
}
