//! Type resolution against real manifest shapes, one test per row of the table's behaviour.

use serde_json::json;

use super::*;

const SPDX_PREDICATE: &str = "https://spdx.dev/Document";

fn table() -> TypeTable {
    TypeTable::build(
        [
            TypeEntry::scanned(media::OCI_CONFIG, "image", "OCI image", "image"),
            TypeEntry::scanned(media::DOCKER_CONFIG, "image", "Docker image", "image"),
            TypeEntry::scanned(media::HELM_CONFIG, "helm", "Helm chart", "helm"),
            TypeEntry::scanned(media::HELM_CONFIG_V3, "helm", "Helm chart (historical)", "helm"),
            TypeEntry::scanned(media::OPA_CONFIG, "opa", "OPA bundle", "opa"),
            TypeEntry::scanned(media::COSIGN_SIMPLESIGNING, "signature", "Cosign signature", "cosign"),
            // The rows the `sbom` scanner claims (scanners/sbom).
            TypeEntry::scanned("application/spdx+json", "sbom", "SPDX SBOM (JSON)", "sbom"),
            TypeEntry::scanned("text/spdx+json", "sbom", "SPDX SBOM (JSON)", "sbom"),
            TypeEntry::scanned(
                "application/vnd.cyclonedx+json",
                "sbom",
                "CycloneDX SBOM (JSON)",
                "sbom",
            ),
            TypeEntry::scanned("application/vnd.cyclonedx", "sbom", "CycloneDX SBOM", "sbom"),
            TypeEntry::scanned(
                &predicate_media_type(media::IN_TOTO, SPDX_PREDICATE),
                "sbom",
                "SPDX SBOM (in-toto)",
                "sbom",
            ),
            TypeEntry::scanned(
                &predicate_media_type(media::DSSE_ENVELOPE, SPDX_PREDICATE),
                "sbom",
                "SPDX SBOM (DSSE)",
                "sbom",
            ),
        ],
        [],
        &["image", "helm", "opa", "sbom", "cosign"],
    )
    .unwrap()
}

fn resolve(v: serde_json::Value) -> Resolution {
    let body = serde_json::to_vec(&v).unwrap();
    table().resolve(&ManifestDoc::parse(&body, None).unwrap())
}

fn manifest(config_type: &str, layers: &[&str]) -> serde_json::Value {
    json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
        "layers": layers.iter().map(|t| json!({"mediaType": t, "digest": "sha256:aa", "size": 100})).collect::<Vec<_>>()
    })
}

fn assert_scan(r: Resolution, kind: &str, scanner: &str) {
    match r {
        Resolution::Scan { entry, .. } => {
            assert_eq!(entry.kind.as_str(), kind);
            assert_eq!(entry.scanner.as_deref(), Some(scanner));
        }
        other => panic!("expected scan by {scanner}, got {other:?}"),
    }
}

fn assert_unsupported(r: Resolution, kind: &str, media_type: &str) {
    match r {
        Resolution::Unsupported {
            artifact_type,
            kind: k,
            reason,
        } => {
            assert_eq!(k.as_str(), kind, "{reason}");
            assert_eq!(artifact_type, media_type);
            assert!(reason.contains(media_type), "reason {reason:?} must name {media_type}");
        }
        other => panic!("expected unsupported {media_type}, got {other:?}"),
    }
}

#[test]
fn oci_image() {
    assert_scan(
        resolve(manifest(
            media::OCI_CONFIG,
            &[media::OCI_LAYER_GZIP, media::OCI_LAYER_GZIP],
        )),
        "image",
        "image",
    );
}

#[test]
fn docker_image() {
    let mut m = manifest(media::DOCKER_CONFIG, &[media::DOCKER_LAYER_GZIP]);
    m["mediaType"] = json!(media::DOCKER_MANIFEST);
    assert_scan(resolve(m), "image", "image");
}

#[test]
fn helm_chart_and_historical_config() {
    assert_scan(
        resolve(manifest(media::HELM_CONFIG, &[media::HELM_CHART_LAYER])),
        "helm",
        "helm",
    );
    assert_scan(
        resolve(manifest(media::HELM_CONFIG_V3, &[media::HELM_CHART_LAYER])),
        "helm",
        "helm",
    );
}

#[test]
fn opa_bundle_config() {
    assert_scan(
        resolve(manifest(media::OPA_CONFIG, &[media::OPA_BUNDLE_LAYER])),
        "opa",
        "opa",
    );
}

#[test]
fn artifact_type_wins_over_config() {
    // Was unsupported until the `sbom` scanner claimed SPDX JSON.
    let mut m = manifest(media::OCI_EMPTY, &["application/spdx+json"]);
    m["artifactType"] = json!("application/spdx+json");
    assert_scan(resolve(m), "sbom", "sbom");
    let mut m = manifest(media::OCI_EMPTY, &["text/spdx"]);
    m["artifactType"] = json!("text/spdx");
    assert_unsupported(resolve(m), "sbom", "text/spdx");
}

#[test]
fn cyclonedx_sbom() {
    // Was unsupported until the `sbom` scanner claimed CycloneDX JSON.
    let mut m = manifest(media::OCI_EMPTY, &["application/vnd.cyclonedx+json"]);
    m["artifactType"] = json!("application/vnd.cyclonedx+json");
    assert_scan(resolve(m), "sbom", "sbom");
    let mut m = manifest(media::OCI_EMPTY, &["application/vnd.cyclonedx+xml"]);
    m["artifactType"] = json!("application/vnd.cyclonedx+xml");
    assert_unsupported(resolve(m), "sbom", "application/vnd.cyclonedx+xml");
}

#[test]
fn sbom_by_layer_type_under_oras_defaults_and_cosign_referrer() {
    // `oras push` without --artifact-type: ORAS's default artifact type, an SPDX layer.
    let mut m = manifest(media::OCI_EMPTY, &["application/spdx+json"]);
    m["artifactType"] = json!("application/vnd.unknown.artifact.v1");
    assert_scan(resolve(m), "sbom", "sbom");
    // The empty config and no artifactType.
    assert_scan(
        resolve(manifest(media::OCI_EMPTY, &["application/vnd.cyclonedx+json"])),
        "sbom",
        "sbom",
    );
    // `cosign attach sbom` with OCI 1.1 referrers: cosign's SBOM artifact type, the SBOM's own
    // media type on the layer.
    let mut m = manifest(media::OCI_EMPTY, &["text/spdx+json"]);
    m["artifactType"] = json!("application/vnd.dev.cosign.artifact.sbom.v1+json");
    assert_scan(resolve(m.clone()), "sbom", "sbom");
    // … of a format no scanner reads: still unsupported, naming the declared type.
    m["layers"][0]["mediaType"] = json!("application/vnd.syft+json");
    assert_unsupported(resolve(m), "sbom", "application/vnd.dev.cosign.artifact.sbom.v1+json");
    // A type a scanner handles is never overridden by its layers.
    assert_scan(
        resolve(manifest(media::HELM_CONFIG, &["application/spdx+json"])),
        "helm",
        "helm",
    );
    // Nor is a kind of another family: a notation signature with an SBOM-typed layer stays one.
    let mut m = manifest(media::OCI_EMPTY, &["application/spdx+json"]);
    m["artifactType"] = json!("application/vnd.cncf.notary.signature");
    assert_unsupported(resolve(m), "signature", "application/vnd.cncf.notary.signature");
}

fn annotate(m: &mut serde_json::Value, key: &str, predicate: &str) {
    for l in m["layers"].as_array_mut().unwrap() {
        l["annotations"] = json!({ key: predicate });
    }
}

#[test]
fn sbom_attestations_by_predicate_type() {
    // BuildKit's attestation manifest: image config, in-toto layers annotated with the predicate.
    let mut m = manifest(media::OCI_CONFIG, &[media::IN_TOTO]);
    annotate(&mut m, media::ANNOTATION_INTOTO_PREDICATE_TYPE, SPDX_PREDICATE);
    match resolve(m) {
        Resolution::Scan { artifact_type, entry } => {
            assert_eq!(
                artifact_type,
                "application/vnd.in-toto+json; predicateType=https://spdx.dev/Document"
            );
            assert_eq!((entry.kind.as_str(), entry.scanner.as_deref()), ("sbom", Some("sbom")));
        }
        other => panic!("{other:?}"),
    }
    // BuildKit puts provenance beside the SBOM in one manifest: the SBOM layer decides.
    let mut m = manifest(media::OCI_CONFIG, &[media::IN_TOTO, media::IN_TOTO]);
    m["layers"][0]["annotations"] =
        json!({ media::ANNOTATION_INTOTO_PREDICATE_TYPE: "https://slsa.dev/provenance/v0.2" });
    m["layers"][1]["annotations"] = json!({ media::ANNOTATION_INTOTO_PREDICATE_TYPE: SPDX_PREDICATE });
    assert_scan(resolve(m), "sbom", "sbom");
    // `cosign attest --type spdxjson`: DSSE layers annotated `predicateType`.
    let mut m = manifest(media::OCI_CONFIG, &[media::DSSE_ENVELOPE]);
    annotate(&mut m, media::ANNOTATION_COSIGN_PREDICATE_TYPE, SPDX_PREDICATE);
    assert_scan(resolve(m), "sbom", "sbom");
    // The same as an OCI 1.1 referrer declaring cosign's attestation type.
    let mut m = manifest(media::OCI_EMPTY, &[media::DSSE_ENVELOPE]);
    m["artifactType"] = json!("application/vnd.dev.cosign.attestation.v1+json");
    annotate(&mut m, media::ANNOTATION_COSIGN_PREDICATE_TYPE, SPDX_PREDICATE);
    assert_scan(resolve(m), "sbom", "sbom");
}

#[test]
fn other_attestations_stay_unsupported() {
    let mut m = manifest(media::OCI_CONFIG, &[media::DSSE_ENVELOPE]);
    annotate(
        &mut m,
        media::ANNOTATION_COSIGN_PREDICATE_TYPE,
        "https://slsa.dev/provenance/v1",
    );
    assert_unsupported(resolve(m), "attestation", media::DSSE_ENVELOPE);
    let mut m = manifest(media::OCI_CONFIG, &[media::IN_TOTO]);
    annotate(
        &mut m,
        media::ANNOTATION_INTOTO_PREDICATE_TYPE,
        "https://slsa.dev/provenance/v0.2",
    );
    assert_unsupported(resolve(m), "attestation", media::IN_TOTO);
    // Mixed with ordinary layers it is an image, annotations or not.
    let mut m = manifest(media::OCI_CONFIG, &[media::OCI_LAYER_GZIP, media::IN_TOTO]);
    annotate(&mut m, media::ANNOTATION_INTOTO_PREDICATE_TYPE, SPDX_PREDICATE);
    assert_scan(resolve(m), "image", "image");
}

#[test]
fn notation_signature() {
    let mut m = manifest(media::OCI_EMPTY, &["application/jose+json"]);
    m["artifactType"] = json!("application/vnd.cncf.notary.signature");
    m["subject"] = json!({"mediaType": media::OCI_MANIFEST, "digest": "sha256:bb", "size": 10});
    assert_unsupported(resolve(m), "signature", "application/vnd.cncf.notary.signature");
}

#[test]
fn cosign_signature_disguised_as_image_routes_to_the_cosign_scanner() {
    for layers in [
        &[media::COSIGN_SIMPLESIGNING][..],
        &[media::COSIGN_SIMPLESIGNING; 2][..],
    ] {
        let r = resolve(manifest(media::OCI_CONFIG, layers));
        match &r {
            Resolution::Scan { artifact_type, .. } => assert_eq!(artifact_type, media::COSIGN_SIMPLESIGNING),
            other => panic!("expected scan, got {other:?}"),
        }
        assert_scan(r, "signature", "cosign");
    }
    // One signature layer among image layers is still an image.
    let mixed = manifest(media::OCI_CONFIG, &[media::OCI_LAYER_GZIP, media::COSIGN_SIMPLESIGNING]);
    assert_scan(resolve(mixed), "image", "image");
}

#[test]
fn cosign_attestation_disguised_as_image() {
    let m = manifest(media::OCI_CONFIG, &[media::DSSE_ENVELOPE, media::DSSE_ENVELOPE]);
    assert_unsupported(resolve(m), "attestation", media::DSSE_ENVELOPE);
}

#[test]
fn buildkit_in_toto_attestation_manifest() {
    let m = manifest(media::OCI_CONFIG, &[media::IN_TOTO, media::IN_TOTO]);
    assert_unsupported(resolve(m), "attestation", media::IN_TOTO);
}

#[test]
fn wasm_module() {
    assert_unsupported(
        resolve(manifest("application/vnd.wasm.config.v0+json", &["application/wasm"])),
        "wasm",
        "application/vnd.wasm.config.v0+json",
    );
}

#[test]
fn flux_falco_kyverno_cnab_sif() {
    for (t, kind) in [
        ("application/vnd.cncf.flux.config.v1+json", "flux"),
        ("application/vnd.cncf.falco.rulesfile.config.v1+json", "falco"),
        ("application/vnd.cncf.kyverno.config.v1+json", "kyverno"),
        ("application/vnd.cnab.config.v1+json", "cnab"),
        ("application/vnd.sylabs.sif.config.v1+json", "sif"),
    ] {
        assert_unsupported(resolve(manifest(t, &["application/octet-stream"])), kind, t);
    }
}

#[test]
fn oras_default_config() {
    assert_unsupported(
        resolve(manifest("application/vnd.unknown.config.v1+json", &["text/plain"])),
        "unknown",
        "application/vnd.unknown.config.v1+json",
    );
}

#[test]
fn empty_config_without_artifact_type() {
    let r = resolve(manifest(media::OCI_EMPTY, &["text/plain"]));
    assert_unsupported(r.clone(), "unknown", media::OCI_EMPTY);
    if let Resolution::Unsupported { reason, .. } = r {
        assert!(reason.contains("no artifactType"));
    }
}

#[test]
fn vendor_type_not_in_table() {
    let mut m = manifest(media::OCI_EMPTY, &["application/octet-stream"]);
    m["artifactType"] = json!("application/vnd.acme.rocket.config.v1+json");
    assert_unsupported(resolve(m), "unknown", "application/vnd.acme.rocket.config.v1+json");
}

#[test]
fn multi_platform_index_with_attestations() {
    let idx = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": [
            {"mediaType": media::OCI_MANIFEST, "digest": "sha256:a1", "size": 1, "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": media::OCI_MANIFEST, "digest": "sha256:a2", "size": 1, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": media::OCI_MANIFEST, "digest": "sha256:a3", "size": 1, "platform": {"architecture": "unknown", "os": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": "sha256:a1"}}
        ]
    });
    match resolve(idx) {
        Resolution::Index { children } => {
            assert_eq!(
                children.iter().map(|c| c.attestation).collect::<Vec<_>>(),
                [false, false, true]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn docker_manifest_list() {
    let idx = json!({
        "schemaVersion": 2,
        "mediaType": media::DOCKER_MANIFEST_LIST,
        "manifests": [{"mediaType": media::DOCKER_MANIFEST, "digest": "sha256:a1", "size": 1, "platform": {"architecture": "amd64", "os": "linux"}}]
    });
    assert_eq!(resolve(idx).kind().as_str(), "index");
}

#[test]
fn index_with_artifact_type_or_annotation() {
    let idx = json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "artifactType": "application/vnd.cnab.manifest.v1", "manifests": []});
    assert_unsupported(resolve(idx), "cnab", "application/vnd.cnab.manifest.v1");
    let idx = json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "annotations": {"org.opencontainers.artifactType": "application/vnd.acme.bundle"}, "manifests": []});
    assert_unsupported(resolve(idx), "unknown", "application/vnd.acme.bundle");
}

#[test]
fn two_scanners_claiming_one_type_is_an_error() {
    let err = TypeTable::build(
        [
            TypeEntry::scanned(media::HELM_CONFIG, "helm", "Helm chart", "helm"),
            TypeEntry::scanned(media::HELM_CONFIG, "helm", "Helm chart", "other"),
        ],
        [],
        &["helm", "other"],
    )
    .unwrap_err();
    assert!(matches!(err, TypeTableError::Conflict { .. }));
}

#[test]
fn user_rows_extend_and_override() {
    let t = TypeTable::build(
        [TypeEntry::scanned(media::OCI_CONFIG, "image", "OCI image", "image")],
        [
            TypeEntry::known("application/vnd.acme.model.v1+json", "ml-model", "ACME model"),
            TypeEntry::scanned(
                "application/vnd.acme.image.config.v1+json",
                "image",
                "ACME image",
                "image",
            ),
        ],
        &["image"],
    )
    .unwrap();
    assert_eq!(
        t.lookup("application/vnd.acme.model.v1+json").unwrap().kind.as_str(),
        "ml-model"
    );
    assert_eq!(
        t.lookup("application/vnd.acme.image.config.v1+json")
            .unwrap()
            .scanner
            .as_deref(),
        Some("image")
    );
    let err = TypeTable::build([], [TypeEntry::scanned("x/y", "k", "t", "nope")], &["image"]).unwrap_err();
    assert!(err.to_string().contains("nope"));
}

#[test]
fn media_type_parameters_are_ignored_for_lookup() {
    let t = table();
    assert!(t
        .lookup("application/vnd.cncf.notary.signature; charset=utf-8")
        .is_some());
}

#[test]
fn sbom_attached_the_legacy_cosign_way() {
    // `cosign attach sbom`: an image config and one text/spdx+json layer. Scanned since the
    // `sbom` scanner claims text/spdx+json; the XML form is still unsupported.
    match resolve(manifest(media::OCI_CONFIG, &["text/spdx+json"])) {
        Resolution::Scan { artifact_type, entry } => {
            assert_eq!(artifact_type, "text/spdx+json");
            assert_eq!(entry.scanner.as_deref(), Some("sbom"));
        }
        other => panic!("{other:?}"),
    }
    assert_unsupported(
        resolve(manifest(media::OCI_CONFIG, &["text/spdx+xml"])),
        "sbom",
        "text/spdx+xml",
    );
}

#[test]
fn tekton_bundle_and_ai_models() {
    let tekton = manifest(
        media::OCI_CONFIG,
        &["application/vnd.cdf.tekton.catalog.v1beta1+yaml"; 2],
    );
    assert_unsupported(
        resolve(tekton),
        "tekton",
        "application/vnd.cdf.tekton.catalog.v1beta1+yaml",
    );
    let model = manifest(
        "application/vnd.docker.ai.model.config.v0.1+json",
        &["application/vnd.docker.ai.gguf.v3"],
    );
    assert_unsupported(
        resolve(model),
        "ml-model",
        "application/vnd.docker.ai.model.config.v0.1+json",
    );
}

#[test]
fn mixed_layers_stay_an_image() {
    let m = manifest(media::OCI_CONFIG, &[media::OCI_LAYER_GZIP, "text/spdx+json"]);
    assert_scan(resolve(m), "image", "image");
}
