//! Media types regscan refers to by name.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Every manifest media type regscan asks a registry for.
pub const MANIFEST_ACCEPT: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];

/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// The OCI empty descriptor (`{}`), used as config by artifacts that set `artifactType`.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// OCI layer, uncompressed tar.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI layer, gzip.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI layer, zstd.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker layer, gzip.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker foreign (non-distributable) layer.
pub const DOCKER_LAYER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// OCI non-distributable layer prefix (deprecated in image-spec 1.1, still seen).
pub const OCI_LAYER_NONDISTRIBUTABLE_PREFIX: &str = "application/vnd.oci.image.layer.nondistributable.";

/// Helm chart config.
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
/// Historical Helm chart config seen from early OCI support.
pub const HELM_CONFIG_V3: &str = "application/vnd.cncf.helm.config.v3+json";
/// Helm chart content layer.
pub const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// Legacy Helm chart content layer.
pub const HELM_CHART_LAYER_LEGACY: &str = "application/tar+gzip";
/// Helm provenance layer.
pub const HELM_PROVENANCE_LAYER: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

/// OPA bundle config.
pub const OPA_CONFIG: &str = "application/vnd.cncf.openpolicyagent.config.v1+json";
/// OPA bundle tarball layer.
pub const OPA_BUNDLE_LAYER: &str = "application/vnd.cncf.openpolicyagent.layer.v1.tar+gzip";
/// OPA policy file layer (conftest).
pub const OPA_POLICY_LAYER: &str = "application/vnd.cncf.openpolicyagent.policy.layer.v1+rego";
/// OPA data file layer (conftest).
pub const OPA_DATA_LAYER: &str = "application/vnd.cncf.openpolicyagent.data.layer.v1+json";

/// Cosign simple signing payload layer.
pub const COSIGN_SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// DSSE envelope layer (cosign attestations).
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// BuildKit's layer annotation naming an in-toto statement's predicate type.
pub const ANNOTATION_INTOTO_PREDICATE_TYPE: &str = "in-toto.io/predicate-type";
/// Cosign's layer annotation naming an attestation's predicate type.
pub const ANNOTATION_COSIGN_PREDICATE_TYPE: &str = "predicateType";

/// Index annotation naming an artifact type (image-spec 1.1 guidance for indexes).
pub const ANNOTATION_ARTIFACT_TYPE: &str = "org.opencontainers.artifactType";
/// BuildKit's annotation on attestation manifests inside an index.
pub const ANNOTATION_DOCKER_REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// Value of [`ANNOTATION_DOCKER_REFERENCE_TYPE`] for attestation manifests.
pub const DOCKER_ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// Whether `media_type` is a layer media type regscan can unpack as a filesystem layer.
pub fn is_tar_layer(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_LAYER_TAR
            | OCI_LAYER_GZIP
            | OCI_LAYER_ZSTD
            | DOCKER_LAYER_GZIP
            | "application/vnd.docker.image.rootfs.diff.tar"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd"
    )
}

/// Whether `media_type` marks a foreign or non-distributable layer that must not be fetched.
pub fn is_foreign_layer(media_type: &str) -> bool {
    media_type == DOCKER_LAYER_FOREIGN || media_type.starts_with(OCI_LAYER_NONDISTRIBUTABLE_PREFIX)
}
