//! [`ImageScanner`]: the `image` scanner plugin. It reads the image config (checks), walks every
//! layer once or takes its facts from the cache, merges the layers, and returns the package
//! inventory (matched against advisories by the caller), the config findings and details.

use std::collections::BTreeMap;

use async_trait::async_trait;
use regscan_scanner_api::{media, Descriptor, Limits, Package, ScanContext, ScanError, ScanOutput, Scanner, TypeEntry};
use serde_json::{json, Map, Value};

use crate::analyzers::{self, ANALYZERS_VERSION};
use crate::checks::{self, ImageConfigBlob};
use crate::config::ImageConfig;
use crate::layer::{self, LayerFacts, WalkLimits, WALKER_VERSION};
use crate::merge::Merged;

/// Version of the image scanner's analysis, stored with every scan.
pub const SCANNER_VERSION: &str = "0.1.4";

/// The container image scanner.
#[derive(Debug, Clone, Default)]
pub struct ImageScanner {
    config: ImageConfig,
}

/// What happened to one layer, for the details.
struct LayerOutcome {
    descriptor: Descriptor,
    /// Facts, unless skipped.
    facts: Option<LayerFacts>,
    cached: bool,
    skipped: Option<String>,
}

impl ImageScanner {
    /// A scanner with `config` (see [`ImageConfig::validate`]).
    pub fn new(config: ImageConfig) -> Self {
        ImageScanner { config }
    }

    /// The cache's analyzer-version key for layer facts.
    pub fn cache_version() -> String {
        format!("image-layer/{WALKER_VERSION}/{ANALYZERS_VERSION}")
    }

    async fn read_config(&self, ctx: &ScanContext<'_>) -> Result<ImageConfigBlob, ScanError> {
        let bytes = ctx
            .read_blob(&ctx.manifest.config, self.config.max_config_bytes, "image config")
            .await?;
        ImageConfigBlob::parse(&bytes)
    }

    /// Facts of one layer, from the cache or by walking its blob.
    async fn layer(
        &self,
        ctx: &ScanContext<'_>,
        desc: &Descriptor,
        image_bytes: u64,
    ) -> Result<(LayerFacts, bool, Option<String>), ScanError> {
        let version = Self::cache_version();
        if let Some(value) = ctx.cache.get(&desc.digest, &version).await {
            match serde_json::from_value::<LayerFacts>(value) {
                Ok(facts) => return Ok((facts, true, None)),
                Err(e) => {
                    tracing::warn!(layer = %desc.digest, error = %e, "cached layer facts unreadable; walking the layer again")
                }
            }
        }
        let remaining = self.config.max_image_bytes.saturating_sub(image_bytes);
        let limits = if remaining < self.config.max_layer_bytes {
            WalkLimits {
                max_bytes: remaining,
                max_bytes_setting: "max_image_bytes",
                max_entries: self.config.max_layer_entries,
            }
        } else {
            WalkLimits {
                max_bytes: self.config.max_layer_bytes,
                max_bytes_setting: "max_layer_bytes",
                max_entries: self.config.max_layer_entries,
            }
        };
        let blob = ctx.blobs.open(desc, self.config.max_layer_blob_bytes).await?;
        let facts = layer::walk_blob(blob, &desc.digest, limits).await?;
        let mut note = None;
        match cache_value(&facts) {
            Ok(v) => ctx.cache.put(&desc.digest, &version, v).await,
            Err(e) => {
                tracing::warn!(layer = %desc.digest, error = %e, "layer facts not cached");
                note = Some(format!("layer {}: facts not cached: {e}", desc.digest));
            }
        }
        Ok((facts, false, note))
    }
}

/// Largest JSON value of one layer's facts written to the cache, in bytes. Larger facts (a
/// layer with hundreds of thousands of whiteouts or packages) are used for this scan but not
/// cached, so one layer can never write an unbounded cache row.
pub const MAX_CACHED_LAYER_BYTES: u64 = 16 << 20;

/// Counts serialised bytes and stops the serialiser past [`MAX_CACHED_LAYER_BYTES`].
struct SizeCap(u64);

impl std::io::Write for SizeCap {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        if self.0 > MAX_CACHED_LAYER_BYTES {
            return Err(std::io::Error::other("over the cache value limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The cache value of a layer's facts, unless its JSON would exceed [`MAX_CACHED_LAYER_BYTES`]
/// (measured without building it).
pub fn cache_value(facts: &LayerFacts) -> Result<Value, String> {
    let mut cap = SizeCap(0);
    if serde_json::to_writer(&mut cap, facts).is_err() {
        return Err(format!(
            "their JSON is larger than {MAX_CACHED_LAYER_BYTES} bytes (the per-layer cache value limit)"
        ));
    }
    serde_json::to_value(facts).map_err(|e| e.to_string())
}

/// Why a layer is not walked, if it is not.
fn skip_reason(desc: &Descriptor) -> Option<String> {
    if media::is_foreign_layer(&desc.media_type) {
        return Some(format!(
            "foreign (non-distributable) layer {}: not fetched; its content is not scanned",
            desc.media_type
        ));
    }
    let base = desc.media_type.split(';').next().unwrap_or("").trim();
    if !media::is_tar_layer(base) {
        return Some(format!(
            "layer media type {:?} is not a filesystem tar layer; not scanned",
            desc.media_type
        ));
    }
    None
}

#[async_trait]
impl Scanner for ImageScanner {
    fn name(&self) -> &'static str {
        "image"
    }

    fn version(&self) -> &'static str {
        SCANNER_VERSION
    }

    fn accepts(&self) -> Vec<TypeEntry> {
        vec![
            TypeEntry::scanned(media::OCI_CONFIG, "image", "OCI container image", "image"),
            TypeEntry::scanned(media::DOCKER_CONFIG, "image", "Docker container image", "image"),
        ]
    }

    fn limits(&self) -> Limits {
        Limits {
            timeout: self.config.timeout(),
            max_blob_bytes: self.config.max_layer_blob_bytes,
        }
    }

    async fn scan(&self, ctx: &ScanContext<'_>) -> Result<ScanOutput, ScanError> {
        let manifest = ctx.manifest;
        if manifest.layers.len() > self.config.max_layers {
            return Err(ScanError::Limit(format!(
                "image has {} layers, more than {} (max_layers)",
                manifest.layers.len(),
                self.config.max_layers
            )));
        }
        let image_config = self.read_config(ctx).await?;
        let mut findings = checks::run(&image_config, &self.config.skip_checks);

        let mut outcomes = Vec::with_capacity(manifest.layers.len());
        let mut cache_notes = Vec::new();
        let mut image_bytes = 0u64;
        for desc in &manifest.layers {
            if let Some(reason) = skip_reason(desc) {
                outcomes.push(LayerOutcome {
                    descriptor: desc.clone(),
                    facts: None,
                    cached: false,
                    skipped: Some(reason),
                });
                continue;
            }
            let (facts, cached, cache_note) = self.layer(ctx, desc, image_bytes).await?;
            cache_notes.extend(cache_note);
            image_bytes = image_bytes.saturating_add(facts.uncompressed_bytes);
            if image_bytes > self.config.max_image_bytes {
                return Err(ScanError::Limit(format!(
                    "image layers expand to more than {} bytes together (max_image_bytes), reached at layer {}",
                    self.config.max_image_bytes, desc.digest
                )));
            }
            outcomes.push(LayerOutcome {
                descriptor: desc.clone(),
                facts: Some(facts),
                cached,
                skipped: None,
            });
        }

        let walked: Vec<(&str, &LayerFacts)> = outcomes
            .iter()
            .filter_map(|o| Some((o.descriptor.digest.as_str(), o.facts.as_ref()?)))
            .collect();
        let digests: Vec<&str> = walked.iter().map(|(d, _)| *d).collect();
        let merged = Merged::new(walked.iter().map(|(_, f)| *f));
        let os = merged.os();
        let mut packages = merged.packages(&digests);
        let os_ecosystem = analyzers::finish(os.as_ref(), &mut packages);
        dedup_python_installs(&mut packages);
        crate::lockfiles::prefer_installed(&mut packages);
        findings.sort_by(|a, b| (a.id.as_str(), a.location.as_deref()).cmp(&(b.id.as_str(), b.location.as_deref())));

        let mut details = Map::new();
        details.insert(
            "os".into(),
            match &os {
                Some(os) => json!({
                    "id": os.id,
                    "version_id": os.version_id,
                    "pretty_name": os.pretty_name,
                    "ecosystem": os_ecosystem,
                }),
                None => Value::Null,
            },
        );
        details.insert(
            "config".into(),
            json!({
                "os": image_config.os,
                "architecture": image_config.architecture,
                "user": image_config.user(),
            }),
        );
        details.insert(
            "layers".into(),
            Value::Array(outcomes.iter().map(layer_detail).collect()),
        );
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for p in &packages {
            *counts.entry(p.ecosystem.as_str()).or_default() += 1;
        }
        details.insert("package_counts".into(), json!(counts));
        let mut notes: Vec<String> = outcomes.iter().filter_map(|o| o.skipped.clone()).collect();
        notes.extend(cache_notes);
        if os.is_none() {
            notes.push("no operating system release file (etc/os-release, usr/lib/os-release, etc/debian_version, etc/alpine-release) found".into());
        }
        details.insert("notes".into(), json!(notes));
        Ok(ScanOutput {
            findings,
            packages,
            details,
        })
    }
}

fn layer_detail(o: &LayerOutcome) -> Value {
    let mut v = json!({
        "digest": o.descriptor.digest,
        "media_type": o.descriptor.media_type,
        "size": o.descriptor.size,
        "cached": o.cached,
        "skipped": o.skipped,
    });
    if let Some(f) = &o.facts {
        let extra = json!({
            "packages": f.package_count(),
            "uncompressed_bytes": f.uncompressed_bytes,
            "entries": f.entries,
            "compression": f.compression,
            "files_not_analyzed": f.skipped,
            "files_not_analyzed_total": f.skipped_total,
        });
        if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
            m.extend(e);
        }
    }
    v
}

/// One Python distribution recorded twice in one site directory (Debian ships both
/// `foo-1.0.dist-info/` and `foo.egg-info/` for some packages) is one install: keep the first.
fn dedup_python_installs(packages: &mut Vec<Package>) {
    fn site_dir(path: &str) -> &str {
        // `…/site-packages/foo-1.0.dist-info/METADATA` or `…/foo.egg-info/PKG-INFO` → `…/site-packages`;
        // `…/site-packages/foo.egg-info` (a file) → `…/site-packages`.
        let trimmed = path
            .strip_suffix("/METADATA")
            .or_else(|| path.strip_suffix("/PKG-INFO"))
            .unwrap_or(path);
        trimmed.rsplit_once('/').map_or("", |(dir, _)| dir)
    }
    let norm = |n: &str| n.to_ascii_lowercase().replace(['_', '.'], "-");
    let mut seen = std::collections::HashSet::new();
    packages.retain(|p| {
        p.ecosystem != "PyPI" || seen.insert((norm(&p.name), p.version.clone(), site_dir(&p.path).to_owned()))
    });
}

#[cfg(test)]
mod dedup_tests {
    use super::*;

    fn py(name: &str, version: &str, path: &str) -> Package {
        Package {
            ecosystem: "PyPI".into(),
            name: name.into(),
            version: version.into(),
            source_name: None,
            source_version: None,
            path: path.into(),
            layer: None,
            dev: false,
        }
    }

    #[test]
    fn one_install_recorded_twice_in_a_site_directory_is_kept_once() {
        let mut p = vec![
            py(
                "cryptography",
                "38.0.4",
                "usr/lib/python3/dist-packages/cryptography-38.0.4.dist-info/METADATA",
            ),
            py(
                "cryptography",
                "38.0.4",
                "usr/lib/python3/dist-packages/cryptography.egg-info/PKG-INFO",
            ),
            py(
                "cryptography",
                "38.0.4",
                "opt/venv/lib/python3.11/site-packages/cryptography-38.0.4.dist-info/METADATA",
            ),
            py(
                "cryptography",
                "41.0.0",
                "usr/lib/python3/dist-packages/cryptography-41.0.0.dist-info/METADATA",
            ),
        ];
        dedup_python_installs(&mut p);
        assert_eq!(p.len(), 3, "{p:?}");
    }
}
