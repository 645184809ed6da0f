//! regscan's Helm chart scanner.
//!
//! A pushed chart is pulled (chart layer, and the provenance layer when present), unpacked in
//! memory within limits ([`archive`], [`chart`]), rendered with its default values the way
//! `helm template` would ([`render`], on the Go-template engine in [`tmpl`]), and the objects it
//! would deploy are checked ([`checks`]). A template that cannot be rendered is reported and
//! checked from its raw text and `values.yaml` instead, never skipped silently.
//!
//! The scanner is pure: it reads blobs through the [`ScanContext`] and never touches the network.
#![forbid(unsafe_code)]

pub mod archive;
pub mod chart;
pub mod checks;
pub mod provenance;
pub mod render;
pub mod tmpl;

use async_trait::async_trait;
use regscan_scanner_api::media;
use regscan_scanner_api::{Descriptor, Finding, Limits, ScanContext, ScanError, ScanOutput, Scanner, TypeEntry};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::archive::{ArchiveError, ArchiveLimits, Budget};
use crate::chart::ChartError;
use crate::checks::Provenance;
use crate::render::RenderOptions;
use crate::tmpl::semver::Version;
use crate::tmpl::ExecLimits;

/// Version of the analysis; a chart scanned by the same version is not scanned again.
pub const SCANNER_VERSION: &str = "0.2.0";

/// Default target Kubernetes version.
pub const DEFAULT_KUBE_VERSION: &str = "1.31.0";

/// Configuration of the Helm scanner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HelmConfig {
    /// Largest chart layer (compressed) read, in bytes. Default 16 MiB.
    pub max_chart_bytes: u64,
    /// Largest provenance layer read, in bytes. Default 1 MiB.
    pub max_provenance_bytes: u64,
    /// Total decompressed size of the chart and the subchart archives inside it. Default 64 MiB.
    pub max_unpacked_bytes: u64,
    /// Largest single file in the chart. Default 8 MiB.
    pub max_file_bytes: u64,
    /// Most archive entries (files and directories, subchart archives included). Default 5000.
    pub max_files: usize,
    /// Deepest nesting of subcharts. Default 8.
    pub max_subchart_depth: usize,
    /// Largest rendered output of one template, in bytes. Default 8 MiB.
    pub max_render_bytes: usize,
    /// Most evaluation steps for one template (guards against runaway loops). Default 2,000,000.
    pub max_render_steps: u64,
    /// Deepest nesting of `include` / `template` / `tpl`. Default 100.
    pub max_include_depth: usize,
    /// Evaluation budget of all templates of a chart together. Default 20,000,000.
    pub max_total_render_steps: u64,
    /// Rendered output of all templates of a chart together, in bytes. Default 64 MiB.
    pub max_total_render_bytes: usize,
    /// `.Release.Name` used for rendering. Default `release-name` (as `helm template`).
    pub release_name: String,
    /// `.Release.Namespace` used for rendering. Default `default`.
    pub namespace: String,
    /// Target Kubernetes version: `.Capabilities.KubeVersion`, deprecated/removed API checks and
    /// the chart's `kubeVersion` check. Default `1.31.0`.
    pub kube_version: String,
    /// API versions added to the built-in `.Capabilities.APIVersions` set (for example
    /// `monitoring.coreos.com/v1`), so charts that gate on CRDs render those objects. Default none.
    pub api_versions: Vec<String>,
}

impl Default for HelmConfig {
    fn default() -> Self {
        HelmConfig {
            max_chart_bytes: 16 << 20,
            max_provenance_bytes: 1 << 20,
            max_unpacked_bytes: 64 << 20,
            max_file_bytes: 8 << 20,
            max_files: 5000,
            max_subchart_depth: 8,
            max_render_bytes: 8 << 20,
            max_render_steps: 2_000_000,
            max_include_depth: 100,
            max_total_render_steps: 20_000_000,
            max_total_render_bytes: 64 << 20,
            release_name: "release-name".into(),
            namespace: "default".into(),
            kube_version: DEFAULT_KUBE_VERSION.into(),
            api_versions: Vec::new(),
        }
    }
}

/// A configuration value the scanner cannot work with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HelmConfigError {
    /// `kube_version` is not a version.
    #[error("helm scanner: kube_version {0:?} is not a Kubernetes version such as 1.31.0")]
    KubeVersion(String),
    /// A limit is zero.
    #[error("helm scanner: {0} must be greater than zero")]
    ZeroLimit(&'static str),
}

impl HelmConfig {
    /// Check the configuration; call this where configuration is loaded.
    pub fn validate(&self) -> Result<(), HelmConfigError> {
        Version::parse(&self.kube_version).map_err(|_| HelmConfigError::KubeVersion(self.kube_version.clone()))?;
        for (name, v) in [
            ("max_chart_bytes", self.max_chart_bytes),
            ("max_unpacked_bytes", self.max_unpacked_bytes),
            ("max_file_bytes", self.max_file_bytes),
            ("max_files", self.max_files as u64),
            ("max_render_bytes", self.max_render_bytes as u64),
            ("max_render_steps", self.max_render_steps),
            ("max_include_depth", self.max_include_depth as u64),
            ("max_total_render_steps", self.max_total_render_steps),
            ("max_total_render_bytes", self.max_total_render_bytes as u64),
        ] {
            if v == 0 {
                return Err(HelmConfigError::ZeroLimit(name));
            }
        }
        Ok(())
    }
}

/// The Helm chart scanner.
#[derive(Debug, Clone)]
pub struct HelmScanner {
    config: HelmConfig,
    kube: Version,
}

impl HelmScanner {
    /// A scanner with `config`. An unparsable `kube_version` falls back to
    /// [`DEFAULT_KUBE_VERSION`]; use [`HelmConfig::validate`] to reject it up front.
    pub fn new(config: HelmConfig) -> Self {
        let kube = Version::parse(&config.kube_version)
            .or_else(|_| Version::parse(DEFAULT_KUBE_VERSION))
            .unwrap_or(Version {
                major: 1,
                minor: 31,
                patch: 0,
                pre: String::new(),
                meta: String::new(),
            });
        HelmScanner { config, kube }
    }

    /// The configuration in use.
    pub fn config(&self) -> &HelmConfig {
        &self.config
    }

    /// Cache key of a scan: the chart and provenance digests and the configuration that shapes
    /// the result.
    fn cache_key(&self, chart: &Descriptor, prov: Option<&Descriptor>) -> String {
        use sha2::Digest as _;
        let cfg = serde_json::to_vec(&self.config).unwrap_or_default();
        let cfg_hash = hex::encode(&sha2::Sha256::digest(cfg)[..8]);
        let prov = prov.map_or("-", |d| d.digest.as_str());
        format!("helm-chart:{}:{prov}:{cfg_hash}", chart.digest)
    }

    /// Scan a chart archive (`.tgz` bytes) and its provenance file, without a registry. This is
    /// what [`Scanner::scan`] runs once the blobs are read; it renders on a thread with a large
    /// stack so that every nesting the limits allow fits.
    pub fn scan_chart(&self, chart_tgz: &[u8], provenance: Option<&[u8]>) -> Result<ScanOutput, ScanError> {
        tmpl::with_big_stack(|| self.analyse(chart_tgz, provenance))
            .map_err(|e| ScanError::Internal(format!("could not start the render thread: {e}")))?
    }

    fn analyse(&self, chart_tgz: &[u8], provenance: Option<&[u8]>) -> Result<ScanOutput, ScanError> {
        let cfg = &self.config;
        let mut budget = Budget::new(ArchiveLimits {
            max_total_bytes: cfg.max_unpacked_bytes,
            max_file_bytes: cfg.max_file_bytes,
            max_entries: cfg.max_files,
        });
        let chart = chart::load_tgz(chart_tgz, &mut budget, cfg.max_subchart_depth).map_err(chart_error)?;
        let prov = match provenance {
            Some(p) => provenance::inspect(p, chart_tgz),
            None => Provenance::default(),
        };
        let opts = RenderOptions {
            release_name: cfg.release_name.clone(),
            namespace: cfg.namespace.clone(),
            kube_version: format!("{}.{}.{}", self.kube.major, self.kube.minor, self.kube.patch),
            extra_api_versions: cfg.api_versions.clone(),
            limits: ExecLimits {
                max_output_bytes: cfg.max_render_bytes,
                max_depth: cfg.max_include_depth,
                max_steps: cfg.max_render_steps,
                ..ExecLimits::default()
            },
            max_total_steps: cfg.max_total_render_steps,
            max_total_output_bytes: cfg.max_total_render_bytes,
        };
        let outcomes = render::render(&chart, &opts);
        // The charts a default install deploys, with their effective values (defaults coalesced
        // with the parents' overrides and globals), as the renderer saw them.
        let mut effective = std::collections::BTreeMap::new();
        effective_values(&chart::instantiate(&chart), &mut effective);
        let values_of = |prefix: &str| effective.get(prefix).cloned();
        let checked = checks::check_rendered(&outcomes, &self.kube, &values_of);
        let enabled = effective.keys().cloned().collect();
        let mut findings = checks::chart_level(&chart, &prov, &self.kube, &enabled);
        findings.extend(checked.findings);
        let mut findings = checks::dedupe(findings);
        sort_findings(&mut findings);

        let mut details = serde_json::Map::new();
        details.insert("chart".into(), chart_details(&chart));
        details.insert("images".into(), json!(checked.images));
        details.insert("objects".into(), json!(checked.objects));
        details.insert("render_errors".into(), json!(checked.gaps));
        details.insert("provenance".into(), json!(prov));
        details.insert(
            "rendered_with".into(),
            json!({
                "release_name": opts.release_name,
                "namespace": opts.namespace,
                "kube_version": opts.kube_version,
                "templates": outcomes.len(),
            }),
        );
        Ok(ScanOutput {
            findings,
            packages: Vec::new(),
            details,
        })
    }
}

/// Each deployed chart's prefix and effective `.Values`, as YAML.
fn effective_values(inst: &chart::Instance<'_>, out: &mut std::collections::BTreeMap<String, serde_norway::Value>) {
    let yaml = serde_norway::to_value(inst.values.to_json()).unwrap_or(serde_norway::Value::Null);
    out.insert(inst.chart.prefix.clone(), yaml);
    for s in &inst.subcharts {
        effective_values(s, out);
    }
}

fn chart_details(c: &chart::Chart) -> serde_json::Value {
    json!({
        "name": c.field("name"),
        "version": c.field("version"),
        "appVersion": c.field("appVersion"),
        "apiVersion": c.field("apiVersion"),
        "type": c.field("type"),
        "kubeVersion": c.field("kubeVersion"),
        "description": c.field("description"),
        "deprecated": c.meta.get("deprecated").and_then(serde_norway::Value::as_bool).unwrap_or(false),
        "values_schema": c.has_schema,
        "dependencies": c.dependencies,
        "subcharts": c.subcharts.iter().map(chart_details).collect::<Vec<_>>(),
        "path": c.prefix,
    })
}

fn sort_findings(f: &mut [Finding]) {
    f.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.package.cmp(&b.package))
            .then_with(|| a.location.cmp(&b.location))
            .then_with(|| a.title.cmp(&b.title))
    });
}

fn chart_error(e: ChartError) -> ScanError {
    match e {
        ChartError::Archive(
            a @ (ArchiveError::TooLarge { .. }
            | ArchiveError::FileTooLarge { .. }
            | ArchiveError::TooManyEntries { .. }),
        ) => ScanError::Limit(a.to_string()),
        ChartError::TooDeep { .. } => ScanError::Limit(e.to_string()),
        other => ScanError::Invalid(other.to_string()),
    }
}

#[async_trait]
impl Scanner for HelmScanner {
    fn name(&self) -> &'static str {
        "helm"
    }

    fn version(&self) -> &'static str {
        SCANNER_VERSION
    }

    fn accepts(&self) -> Vec<TypeEntry> {
        vec![
            TypeEntry::scanned(media::HELM_CONFIG, "helm", "Helm chart", "helm"),
            TypeEntry::scanned(
                media::HELM_CONFIG_V3,
                "helm",
                "Helm chart (historical config type)",
                "helm",
            ),
        ]
    }

    fn limits(&self) -> Limits {
        Limits {
            max_blob_bytes: self.config.max_chart_bytes,
            ..Limits::default()
        }
    }

    async fn scan(&self, ctx: &ScanContext<'_>) -> Result<ScanOutput, ScanError> {
        let layers = &ctx.manifest.layers;
        let chart_layer = layers
            .iter()
            .find(|l| l.media_type == media::HELM_CHART_LAYER)
            .or_else(|| layers.iter().find(|l| l.media_type == media::HELM_CHART_LAYER_LEGACY))
            .ok_or_else(|| {
                ScanError::Invalid(format!(
                    "{}: Helm chart manifest has no chart layer ({} or {})",
                    ctx.reference,
                    media::HELM_CHART_LAYER,
                    media::HELM_CHART_LAYER_LEGACY
                ))
            })?;
        let prov_layer = layers.iter().find(|l| l.media_type == media::HELM_PROVENANCE_LAYER);
        // The same chart layer pushed under another tag or repository renders the same: reuse.
        let key = self.cache_key(chart_layer, prov_layer);
        if let Some(cached) = ctx.cache.get(&key, SCANNER_VERSION).await {
            if let Ok(out) = serde_json::from_value::<ScanOutput>(cached) {
                return Ok(out);
            }
        }
        let chart = ctx
            .read_blob(chart_layer, self.config.max_chart_bytes, "chart layer")
            .await?;
        let prov = match prov_layer {
            Some(d) => Some(
                ctx.read_blob(d, self.config.max_provenance_bytes, "provenance layer")
                    .await?,
            ),
            None => None,
        };
        // Rendering is CPU work: keep it off the async worker threads.
        let scanner = self.clone();
        let out = tokio::task::spawn_blocking(move || scanner.scan_chart(&chart, prov.as_deref()))
            .await
            .map_err(|e| ScanError::Internal(format!("helm render task failed: {e}")))??;
        if let Ok(v) = serde_json::to_value(&out) {
            ctx.cache.put(&key, SCANNER_VERSION, v).await;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_unknown_fields() {
        let c: HelmConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, HelmConfig::default());
        assert!(c.validate().is_ok());
        assert!(serde_json::from_str::<HelmConfig>(r#"{"no_such_field": 1}"#).is_err());
        let bad = HelmConfig {
            kube_version: "banana".into(),
            ..HelmConfig::default()
        };
        assert!(matches!(bad.validate(), Err(HelmConfigError::KubeVersion(_))));
        let zero = HelmConfig {
            max_files: 0,
            ..HelmConfig::default()
        };
        assert_eq!(zero.validate(), Err(HelmConfigError::ZeroLimit("max_files")));
    }

    #[test]
    fn accepts_both_helm_config_types() {
        let s = HelmScanner::new(HelmConfig::default());
        let types: Vec<String> = s.accepts().into_iter().map(|t| t.media_type).collect();
        assert_eq!(types, [media::HELM_CONFIG, media::HELM_CONFIG_V3]);
        assert_eq!(s.name(), "helm");
    }
}
