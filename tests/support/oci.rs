//! Builds test artifacts in memory: image layers (tar.gz), OCI image layouts for skopeo, Helm
//! charts and arbitrary artifact manifests.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use super::registry::sha256_digest;

/// Media type of an OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of a gzip image layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Helm chart config media type.
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
/// Helm chart content layer media type.
pub const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// A `.tar.gz` of `files` (path, contents), regular files mode 0644.
pub fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, *data).expect("append tar entry");
    }
    let raw = tar.into_inner().expect("finish tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).expect("gzip");
    gz.finish().expect("gzip finish")
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

/// A one-layer container image.
#[derive(Debug, Clone)]
pub struct OciImage {
    /// Files of the single layer (path inside the image, contents).
    pub files: Vec<(String, Vec<u8>)>,
    /// `linux` by default.
    pub os: String,
    /// `amd64` by default.
    pub architecture: String,
}

impl OciImage {
    /// An image holding `files`.
    pub fn new(files: &[(&str, &[u8])]) -> Self {
        OciImage {
            files: files.iter().map(|(p, d)| (p.to_string(), d.to_vec())).collect(),
            os: "linux".into(),
            architecture: "amd64".into(),
        }
    }

    /// A tiny Debian-like image with a dpkg status file listing one package.
    pub fn debian_like() -> Self {
        let status = b"Package: zlib1g\nStatus: install ok installed\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\n\n";
        Self::new(&[
            (
                "etc/os-release",
                b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
            ),
            ("var/lib/dpkg/status", status),
        ])
    }

    /// The layer, config and manifest blobs: `(layer, config, manifest)`.
    pub fn blobs(&self) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let files: Vec<(&str, &[u8])> = self.files.iter().map(|(p, d)| (p.as_str(), d.as_slice())).collect();
        let layer = tar_gz(&files);
        let diff_id = sha256_digest(&gunzip(&layer));
        let config = serde_json::to_vec(&json!({
            "architecture": self.architecture,
            "os": self.os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(&config), "size": config.len()},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": sha256_digest(&layer), "size": layer.len()}],
        }))
        .unwrap();
        (layer, config, manifest)
    }

    /// Write an OCI layout at `dir` with this image tagged `tag`; returns the manifest digest.
    pub fn write_layout(&self, dir: &Path, tag: &str) -> String {
        let (layer, config, manifest) = self.blobs();
        for b in [&layer, &config, &manifest] {
            write_blob(dir, b);
        }
        let digest = sha256_digest(&manifest);
        write_index(
            dir,
            &[json!({
                "mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            })],
        );
        digest
    }

    /// Write an OCI layout at `dir` holding a multi-platform index of `images` tagged `tag`;
    /// returns the index digest. Push it with `skopeo copy --all` semantics
    /// (`Registry::skopeo_copy` copies all platforms of an index it finds).
    pub fn write_index_layout(dir: &Path, tag: &str, images: &[OciImage]) -> String {
        let mut entries = Vec::new();
        for img in images {
            let (layer, config, manifest) = img.blobs();
            for b in [&layer, &config, &manifest] {
                write_blob(dir, b);
            }
            entries.push(json!({
                "mediaType": OCI_MANIFEST, "digest": sha256_digest(&manifest), "size": manifest.len(),
                "platform": {"os": img.os, "architecture": img.architecture},
            }));
        }
        let index =
            serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})).unwrap();
        write_blob(dir, &index);
        let digest = sha256_digest(&index);
        write_index(
            dir,
            &[json!({
                "mediaType": OCI_INDEX, "digest": digest, "size": index.len(),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            })],
        );
        digest
    }
}

fn write_blob(dir: &Path, data: &[u8]) {
    let digest = sha256_digest(data);
    let path = dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    std::fs::create_dir_all(path.parent().unwrap()).expect("mkdir blobs");
    std::fs::write(path, data).expect("write blob");
}

fn write_index(dir: &Path, manifests: &[serde_json::Value]) {
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).expect("index.json");
}

/// A non-image artifact: a config blob, layers, and an optional `artifactType`.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// Config media type.
    pub config_media_type: String,
    /// Config blob.
    pub config: Vec<u8>,
    /// Layers: (media type, data).
    pub layers: Vec<(String, Vec<u8>)>,
    /// `artifactType`, if any.
    pub artifact_type: Option<String>,
}

impl Artifact {
    /// A Helm chart `name`-`version` with one template, as `helm push` stores it.
    pub fn helm_chart(name: &str, version: &str) -> Self {
        let chart_yaml =
            format!("apiVersion: v2\nname: {name}\nversion: {version}\ndescription: test chart\ntype: application\n");
        let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.25\n";
        let tgz = tar_gz(&[
            (&format!("{name}/Chart.yaml"), chart_yaml.as_bytes()),
            (&format!("{name}/values.yaml"), b"replicaCount: 1\n"),
            (&format!("{name}/templates/deployment.yaml"), deployment.as_bytes()),
        ]);
        let config = serde_json::to_vec(&json!({"name": name, "version": version, "apiVersion": "v2"})).unwrap();
        Artifact {
            config_media_type: HELM_CONFIG.into(),
            config,
            layers: vec![(HELM_CHART.into(), tgz)],
            artifact_type: None,
        }
    }

    /// An artifact whose config media type is `media_type`, which no scanner knows.
    pub fn unknown(media_type: &str) -> Self {
        Artifact {
            config_media_type: media_type.into(),
            config: b"{}".to_vec(),
            layers: vec![("application/octet-stream".into(), b"opaque payload".to_vec())],
            artifact_type: None,
        }
    }

    /// The OCI image manifest referencing the blobs.
    pub fn manifest(&self) -> Vec<u8> {
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": self.config_media_type, "digest": sha256_digest(&self.config), "size": self.config.len()},
            "layers": self.layers.iter().map(|(mt, d)| json!({"mediaType": mt, "digest": sha256_digest(d), "size": d.len()})).collect::<Vec<_>>(),
        });
        if let Some(t) = &self.artifact_type {
            m["artifactType"] = json!(t);
        }
        serde_json::to_vec(&m).unwrap()
    }
}
