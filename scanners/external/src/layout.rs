//! Writing one artifact as a read-only OCI image layout (image-spec `image-layout.md`) for a
//! plugin: `oci-layout`, `index.json` naming the one manifest, and `blobs/<alg>/<hex>` for the
//! manifest, its config and its layers.
//!
//! Blobs are streamed through the scan's `BlobSource`, which verifies each digest as it is read;
//! each blob is bounded by `max_blob_bytes` and all of them together by `max_artifact_bytes`.
//! Digests come from a manifest anyone with push rights wrote, so only `sha256:<64 hex>` and
//! `sha512:<128 hex>` are accepted before one becomes a file name.
//!
//! The manifest is written byte for byte when the caller has the registry's bytes and they hash
//! to the registry's digest; otherwise (today: `ScanContext` carries the parsed manifest only) it
//! is written as regscan parsed it, re-serialised, and its digest in the layout may differ from
//! the registry's. Either way the registry's digest is in `index.json` as the annotation
//! [`REGISTRY_DIGEST_ANNOTATION`] (and on the plugin's stdin as `digest`).

use std::collections::BTreeSet;
use std::path::Path;

use regscan_scanner_api::{Descriptor, ScanContext, ScanError};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ExternalConfig;

/// `index.json` annotation holding the manifest's digest in the registry.
pub const REGISTRY_DIGEST_ANNOTATION: &str = "io.regscan.registry.digest";
/// `index.json` annotation holding the tag, when known.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// What was written.
#[derive(Debug)]
pub struct Written {
    /// The manifest as written (and as given to the plugin on stdin).
    pub manifest: serde_json::Value,
    /// Digest of the manifest file in the layout.
    pub manifest_digest: String,
    /// Bytes of blobs written (config and layers).
    pub blob_bytes: u64,
}

/// `(algorithm, hex)` of a digest that is safe to use as a path, or an error naming it.
pub fn digest_path_parts(digest: &str) -> Result<(&str, &str), ScanError> {
    let ok = |alg: &str, hex: &str, len: usize| {
        hex.len() == len && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) && !alg.is_empty()
    };
    match digest.split_once(':') {
        Some((alg @ "sha256", hex)) if ok(alg, hex, 64) => Ok((alg, hex)),
        Some((alg @ "sha512", hex)) if ok(alg, hex, 128) => Ok((alg, hex)),
        _ => Err(ScanError::Invalid(format!(
            "digest {digest:?} is not sha256:<64 hex> or sha512:<128 hex>"
        ))),
    }
}

/// What the layout is made of besides the context's blobs.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The manifest's digest in the registry.
    pub registry_digest: &'a str,
    /// The tag, when known (annotated as `org.opencontainers.image.ref.name`).
    pub tag: Option<&'a str>,
    /// The registry's exact manifest bytes, when known; used only if they hash to
    /// `registry_digest`.
    pub manifest_bytes: Option<&'a [u8]>,
}

fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Write the artifact of `ctx` as an OCI layout in `dir` (which exists and is empty), then make
/// it read-only.
pub async fn write(
    ctx: &ScanContext<'_>,
    dir: &Path,
    source: Source<'_>,
    config: &ExternalConfig,
) -> Result<Written, ScanError> {
    let io = |what: &Path, e: std::io::Error| ScanError::Internal(format!("writing {}: {e}", what.display()));
    let exact = source
        .manifest_bytes
        .filter(|b| sha256_digest(b) == source.registry_digest);
    let manifest_bytes = match exact {
        Some(b) => b.to_vec(),
        None => serde_json::to_vec(ctx.manifest)
            .map_err(|e| ScanError::Internal(format!("serialising the manifest: {e}")))?,
    };
    let manifest_digest = sha256_digest(&manifest_bytes);
    for alg in ["sha256", "sha512"] {
        let p = dir.join("blobs").join(alg);
        tokio::fs::create_dir_all(&p).await.map_err(|e| io(&p, e))?;
    }
    let (alg, hex) = digest_path_parts(&manifest_digest)?;
    let p = dir.join("blobs").join(alg).join(hex);
    tokio::fs::write(&p, &manifest_bytes).await.map_err(|e| io(&p, e))?;

    let mut seen = BTreeSet::new();
    let mut total = 0u64;
    for desc in std::iter::once(&ctx.manifest.config).chain(&ctx.manifest.layers) {
        if !seen.insert(desc.digest.clone()) {
            continue;
        }
        let (alg, hex) = digest_path_parts(&desc.digest)?;
        if desc.size > config.max_blob_bytes {
            return Err(ScanError::Limit(format!(
                "blob {} is {} bytes, over max_blob_bytes ({}) of external scanner {}",
                desc.digest, desc.size, config.max_blob_bytes, config.name
            )));
        }
        total = total.saturating_add(desc.size);
        if total > config.max_artifact_bytes {
            return Err(ScanError::Limit(format!(
                "the artifact's blobs add up to more than max_artifact_bytes ({}) of external scanner {}",
                config.max_artifact_bytes, config.name
            )));
        }
        let p = dir.join("blobs").join(alg).join(hex);
        copy_blob(ctx, desc, &p, config.max_blob_bytes).await?;
    }

    let mut annotations = serde_json::Map::new();
    annotations.insert(REGISTRY_DIGEST_ANNOTATION.into(), source.registry_digest.into());
    if let Some(t) = source.tag {
        annotations.insert(REF_NAME_ANNOTATION.into(), t.into());
    }
    let mut entry = serde_json::json!({
        "mediaType": ctx.manifest.media_type.as_deref().unwrap_or(OCI_MANIFEST),
        "digest": manifest_digest,
        "size": manifest_bytes.len(),
        "annotations": annotations,
    });
    if let Some(t) = &ctx.manifest.artifact_type {
        entry["artifactType"] = t.as_str().into();
    }
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]});
    let p = dir.join("index.json");
    tokio::fs::write(&p, serde_json::to_vec_pretty(&index).unwrap_or_default())
        .await
        .map_err(|e| io(&p, e))?;
    let p = dir.join("oci-layout");
    tokio::fs::write(&p, br#"{"imageLayoutVersion":"1.0.0"}"#)
        .await
        .map_err(|e| io(&p, e))?;
    make_read_only(dir);
    let manifest = serde_json::from_slice(&manifest_bytes).unwrap_or(serde_json::Value::Null);
    Ok(Written {
        manifest,
        manifest_digest,
        blob_bytes: total,
    })
}

/// Stream one blob to `path`, refusing more than `max` bytes or a size other than the
/// descriptor's. The source verifies the digest at the end of the stream.
async fn copy_blob(ctx: &ScanContext<'_>, desc: &Descriptor, path: &Path, max: u64) -> Result<(), ScanError> {
    let reader = ctx.blobs.open(desc, max).await?;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| ScanError::Internal(format!("creating {}: {e}", path.display())))?;
    let mut limited = reader.take(max + 1);
    let copied = tokio::io::copy(&mut limited, &mut file)
        .await
        .map_err(|e| ScanError::io(format!("blob {}", desc.digest), e))?;
    file.flush()
        .await
        .map_err(|e| ScanError::Internal(format!("writing {}: {e}", path.display())))?;
    if copied > max {
        return Err(ScanError::Limit(format!(
            "blob {} is over the {max}-byte max_blob_bytes limit",
            desc.digest
        )));
    }
    if copied != desc.size {
        return Err(ScanError::Invalid(format!(
            "blob {} is {copied} bytes; the manifest says {}",
            desc.digest, desc.size
        )));
    }
    Ok(())
}

fn set_mode_tree(dir: &Path, dir_mode: u32, file_mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    // Directories writable first (when restoring) so their entries can be changed, read-only last.
    let set = |p: &Path, mode: u32| {
        let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
    };
    if dir_mode & 0o200 != 0 {
        set(dir, dir_mode);
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => set_mode_tree(&p, dir_mode, file_mode),
                Ok(t) if t.is_file() => set(&p, file_mode),
                _ => {}
            }
        }
    }
    if dir_mode & 0o200 == 0 {
        set(dir, dir_mode);
    }
}

/// Make the layout read-only (files 0444, directories 0555).
pub fn make_read_only(dir: &Path) {
    set_mode_tree(dir, 0o555, 0o444);
}

/// Undo [`make_read_only`], so the layout can be removed.
pub fn make_writable(dir: &Path) {
    set_mode_tree(dir, 0o755, 0o644);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_digests_become_paths() {
        let hex = "a".repeat(64);
        assert!(digest_path_parts(&format!("sha256:{hex}")).is_ok());
        assert!(digest_path_parts(&format!("sha512:{}", "b".repeat(128))).is_ok());
        for bad in [
            format!("sha256:../../{}", &hex[6..]),
            format!("sha256:{}", "A".repeat(64)),
            format!("md5:{hex}"),
            format!("sha256:{hex}/x"),
            "sha256:".to_owned(),
            hex.clone(),
        ] {
            assert!(digest_path_parts(&bad).is_err(), "{bad}");
        }
    }
}
