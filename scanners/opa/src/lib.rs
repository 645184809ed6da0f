//! regscan's scanner for OPA policy bundles.
//!
//! [`OpaScanner`] implements [`regscan_scanner_api::Scanner`] for bundles pushed to a registry in
//! any of the shapes found there: an OPA artifact (`…openpolicyagent.config.v1+json`) with a
//! bundle tarball layer or with conftest's per-file policy and data layers, and OPA's own server
//! shape (an image config with a single gzip tar layer holding a bundle), which the pipeline
//! routes here after peeking into the layer.
//!
//! The bundle is read into memory within [`BundleLimits`], unpacked without touching the disk and
//! checked for tampering (`.signatures.json`), root violations, dangerous built-ins found by
//! walking the Rego syntax tree, Rego dialect problems and leaked credentials. The report's
//! details list the packages and rules, the manifest, data files and Wasm modules.
//!
//! Modules: [`config`] (settings and keys), `bundle` (unpacking), `manifest` (roots), `rego`
//! (parsing with regorus), `repair` (workarounds for Rego regorus refuses), `data` and `secrets` (data documents, credentials), `hash` and
//! `signatures` (OPA-compatible signature checks), `jws` (JWT verification), `checks` (the
//! analysis tying them together).
#![forbid(unsafe_code)]

mod bundle;
mod checks;
pub mod config;
mod data;
mod hash;
mod jws;
mod manifest;
mod rego;
mod repair;
mod secrets;
mod signatures;

use std::sync::Arc;

use async_trait::async_trait;
use regscan_scanner_api::media;
use regscan_scanner_api::{
    Descriptor, Finding, ImageManifest, Limits, ScanContext, ScanError, ScanOutput, Scanner, Severity, TypeEntry,
};
use serde_json::json;

pub use config::{BundleLimits, ConfigError, KeyConfig, OpaConfig, VerificationConfig};
pub use jws::Algorithm;

use bundle::{normalize_path, BundleFiles, UnpackError, TITLE_ANNOTATION};
use config::Verifier;

/// Version of the OPA scanner's analysis; bumped whenever checks change, so stored results are
/// redone.
pub const OPA_SCANNER_VERSION: &str = "1.1.0";

/// The scanner name.
pub const OPA_SCANNER_NAME: &str = "opa";

/// Largest single image layer the scanner looks into to tell an OPA bundle from an image.
pub const SNIFF_MAX_BYTES: u64 = 8 << 20;

/// Most archive entries read while sniffing a layer.
const SNIFF_MAX_ENTRIES: usize = 10_000;

/// Whether the file paths of a single-layer "image" are those of an OPA bundle: a `.manifest` or
/// `*.rego` file, and nothing that looks like a root filesystem.
pub fn looks_like_opa_bundle<'a>(paths: impl IntoIterator<Item = &'a str>) -> bool {
    let mut policy = false;
    for p in paths {
        let p = p.trim_start_matches("./").trim_start_matches('/');
        let top = p.split('/').next().unwrap_or("");
        if matches!(top, "bin" | "sbin" | "usr" | "lib" | "etc" | "var" | "lib64" | "opt") && p.contains('/') {
            return false;
        }
        if p == ".manifest" || p.ends_with("/.manifest") || p.ends_with(".rego") {
            policy = true;
        }
    }
    policy
}

/// Scans OPA policy bundles.
#[derive(Debug, Clone)]
pub struct OpaScanner {
    limits: BundleLimits,
    verifier: Option<Arc<Verifier>>,
}

impl OpaScanner {
    /// Build the scanner, checking the limits and loading the verification keys (key files are
    /// read here, once).
    pub fn new(config: OpaConfig) -> Result<Self, ConfigError> {
        let verifier = config.load()?.map(Arc::new);
        Ok(OpaScanner {
            limits: config.limits,
            verifier,
        })
    }
}

/// How a layer is read.
enum LayerUse {
    Tarball { gzip: bool },
    Policy,
    Data,
}

fn layer_use(media_type: &str) -> Option<LayerUse> {
    match media_type {
        media::OPA_BUNDLE_LAYER | media::OCI_LAYER_GZIP | media::DOCKER_LAYER_GZIP => {
            Some(LayerUse::Tarball { gzip: true })
        }
        media::OCI_LAYER_TAR | "application/vnd.docker.image.rootfs.diff.tar" => {
            Some(LayerUse::Tarball { gzip: false })
        }
        media::OPA_POLICY_LAYER => Some(LayerUse::Policy),
        media::OPA_DATA_LAYER => Some(LayerUse::Data),
        _ => None,
    }
}

fn unpack_error(e: UnpackError) -> ScanError {
    match e {
        UnpackError::Malformed { .. } => ScanError::Invalid(e.to_string()),
        UnpackError::Limit { .. } => ScanError::Limit(e.to_string()),
    }
}

impl OpaScanner {
    async fn read_blob(&self, ctx: &ScanContext<'_>, desc: &Descriptor) -> Result<Vec<u8>, ScanError> {
        ctx.read_blob(desc, self.limits.max_blob_bytes, "layer").await
    }

    /// Fetch and unpack every layer the scanner understands.
    async fn collect(&self, ctx: &ScanContext<'_>) -> Result<(BundleFiles, serde_json::Value), ScanError> {
        let layers = &ctx.manifest.layers;
        if layers.len() > self.limits.max_layers {
            return Err(ScanError::Limit(format!(
                "{} layers, over the limit of {}",
                layers.len(),
                self.limits.max_layers
            )));
        }
        let mut files = BundleFiles::default();
        let mut used = Vec::new();
        let mut skipped = Vec::new();
        for (i, desc) in layers.iter().enumerate() {
            let Some(how) = layer_use(&desc.media_type) else {
                skipped.push(json!({"digest": desc.digest, "media_type": desc.media_type}));
                continue;
            };
            let blob = self.read_blob(ctx, desc).await?;
            match how {
                LayerUse::Tarball { gzip } => files
                    .add_tarball(&desc.digest, &blob, gzip, &self.limits)
                    .map_err(unpack_error)?,
                LayerUse::Policy | LayerUse::Data => {
                    let is_data = matches!(how, LayerUse::Data);
                    let title = desc.annotations.get(TITLE_ANNOTATION).cloned();
                    let fallback = format!("layer-{i}.{}", if is_data { "json" } else { "rego" });
                    let Some(path) = normalize_path(title.as_deref().unwrap_or(&fallback)) else {
                        files.findings.push(
                            Finding::new(
                                "OPA-BUNDLE-PATH",
                                Severity::High,
                                format!(
                                    "layer {} is titled {:?}, a path escaping the bundle root; it was ignored",
                                    desc.digest,
                                    title.unwrap_or_default()
                                ),
                            )
                            .fix("Push the files with paths relative to the policy directory."),
                        );
                        continue;
                    };
                    let path = if is_data || path.ends_with(".rego") {
                        path
                    } else {
                        format!("{path}.rego")
                    };
                    if is_data {
                        files.root_data.insert(path.clone());
                    }
                    files
                        .add(&desc.digest, path, blob, &self.limits)
                        .map_err(unpack_error)?;
                }
            }
            used.push(json!({"digest": desc.digest, "media_type": desc.media_type}));
        }
        if used.is_empty() {
            let types: Vec<&str> = layers.iter().map(|l| l.media_type.as_str()).collect();
            return Err(ScanError::Invalid(format!(
                "manifest has no OPA bundle layer (layer media types: {types:?})"
            )));
        }
        let shape = if ctx.artifact_type == media::OPA_CONFIG {
            if layers
                .iter()
                .any(|l| matches!(layer_use(&l.media_type), Some(LayerUse::Tarball { .. })))
            {
                "opa-bundle-artifact"
            } else {
                "conftest-file-layers"
            }
        } else {
            "image-shaped-bundle"
        };
        Ok((
            files,
            json!({"shape": shape, "artifact_type": ctx.artifact_type, "layers": used, "skipped_layers": skipped}),
        ))
    }
}

#[async_trait]
impl Scanner for OpaScanner {
    fn name(&self) -> &'static str {
        OPA_SCANNER_NAME
    }

    fn version(&self) -> &'static str {
        OPA_SCANNER_VERSION
    }

    fn accepts(&self) -> Vec<TypeEntry> {
        vec![TypeEntry::scanned(
            media::OPA_CONFIG,
            "opa",
            "OPA policy bundle",
            OPA_SCANNER_NAME,
        )]
    }

    fn limits(&self) -> Limits {
        Limits {
            max_blob_bytes: self.limits.max_blob_bytes,
            ..Limits::default()
        }
    }

    /// OPA's own server pulls bundles pushed as images: an OCI image config with one small gzip
    /// layer. Such a manifest is routed to the image scanner by its type; its layer decides.
    fn sniff_layer(&self, manifest: &ImageManifest, artifact_type: &str) -> Option<Descriptor> {
        (artifact_type == media::OCI_CONFIG
            && manifest.layers.len() == 1
            && manifest.layers[0].media_type == media::OCI_LAYER_GZIP
            && manifest.layers[0].size <= SNIFF_MAX_BYTES)
            .then(|| manifest.layers[0].clone())
    }

    async fn sniff(&self, ctx: &ScanContext<'_>, layer: &Descriptor) -> Result<bool, ScanError> {
        let blob = ctx.read_blob(layer, SNIFF_MAX_BYTES, "layer").await?;
        tokio::task::spawn_blocking(move || bundle::tarball_paths(&blob, SNIFF_MAX_ENTRIES))
            .await
            .map_err(|e| ScanError::Internal(format!("sniffing the layer: {e}")))
            .map(|paths| paths.is_some_and(|p| looks_like_opa_bundle(p.iter().map(String::as_str))))
    }

    async fn scan(&self, ctx: &ScanContext<'_>) -> Result<ScanOutput, ScanError> {
        let (files, layout) = self.collect(ctx).await?;
        let limits = self.limits;
        let verifier = self.verifier.clone();
        let mut out = tokio::task::spawn_blocking(move || checks::analyze(files, &limits, verifier.as_deref()))
            .await
            .map_err(|e| ScanError::Internal(format!("OPA bundle analysis stopped: {e}")))??;
        out.details.insert("bundle".into(), layout);
        Ok(out)
    }
}
