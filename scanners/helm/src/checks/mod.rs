//! The checks: what a rendered chart would deploy ([`workload`], [`objects`]), what its values
//! and raw text say when rendering fails ([`values`]), and the chart itself ([`chart_level`]).
//! [`catalog`] lists every check with its id, severity and references.

pub mod catalog;
pub mod fallback;
pub mod objects;
pub mod values;
pub mod workload;

use std::collections::{BTreeMap, BTreeSet};

use regscan_scanner_api::Finding;
use serde::Serialize;
use serde_norway::Value as Y;

use crate::chart::Chart;
use crate::render::TemplateOutcome;
use crate::tmpl::semver::Version;

/// One rendered object, for the report's details.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ObjectInfo {
    /// `Kind/name`.
    pub object: String,
    /// `apiVersion`.
    pub api_version: String,
    /// The template it came from.
    pub template: String,
}

/// A template that could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderGap {
    /// The template.
    pub template: String,
    /// Why.
    pub reason: String,
    /// Risky settings that could not be judged without rendering it (the first
    /// [`fallback::MAX_NOT_JUDGED`]).
    pub not_judged: Vec<String>,
    /// How many settings could not be judged in all.
    pub not_judged_total: usize,
}

/// What the checks on rendered output found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Findings.
    pub findings: Vec<Finding>,
    /// Images the chart would run.
    pub images: BTreeSet<String>,
    /// Objects rendered.
    pub objects: Vec<ObjectInfo>,
    /// Templates that could not be rendered.
    pub gaps: Vec<RenderGap>,
    /// Chart prefixes (`""`, `charts/redis/`) with at least one gap.
    pub charts_with_gaps: BTreeSet<String>,
}

fn object_id(doc: &Y) -> String {
    let kind = doc.get("kind").and_then(Y::as_str).unwrap_or("Unknown");
    let name = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Y::as_str)
        .unwrap_or("(unnamed)");
    format!("{kind}/{name}")
}

/// Check every rendered template; for the ones that failed, report the gap and what can be
/// said without rendering ([`fallback`]). `values_of` gives a chart's values by its prefix
/// (`""`, `charts/redis/`).
pub fn check_rendered(outcomes: &[TemplateOutcome], kube: &Version, values_of: &dyn Fn(&str) -> Option<Y>) -> Checked {
    let mut out = Checked::default();
    let mut service_accounts: BTreeMap<String, Option<bool>> = BTreeMap::new();
    for o in outcomes {
        for doc in o.result.iter().flatten() {
            if doc.get("kind").and_then(Y::as_str) == Some("ServiceAccount") {
                let name = doc
                    .get("metadata")
                    .and_then(|m| m.get("name"))
                    .and_then(Y::as_str)
                    .unwrap_or("");
                service_accounts.insert(
                    name.to_owned(),
                    doc.get("automountServiceAccountToken").and_then(Y::as_bool),
                );
            }
        }
    }
    for o in outcomes {
        match &o.result {
            Ok(docs) => {
                for doc in docs {
                    let id = object_id(doc);
                    out.objects.push(ObjectInfo {
                        object: id.clone(),
                        api_version: doc.get("apiVersion").and_then(Y::as_str).unwrap_or("").to_owned(),
                        template: o.location.clone(),
                    });
                    out.findings.extend(objects::check(&id, &o.location, doc, kube));
                    if let Some(spec) = workload::pod_spec(doc) {
                        let (f, images) = workload::check(&id, &o.location, spec, &service_accounts);
                        out.findings.extend(f);
                        out.images.extend(images);
                    }
                }
            }
            Err(reason) => {
                let prefix = o.location.split("templates/").next().unwrap_or("").to_owned();
                let values = values_of(&prefix);
                let fb = fallback::check(&o.source, &o.location, values.as_ref(), &format!("{prefix}values.yaml"));
                let detail = if fb.not_judged_total == 0 {
                    reason.clone()
                } else {
                    format!(
                        "{reason}; {} risky setting(s) not judged (details.render_errors)",
                        fb.not_judged_total
                    )
                };
                out.findings
                    .push(catalog::RENDER_GAP.finding(&o.chart, &o.location, &detail));
                out.findings.extend(fb.findings);
                out.gaps.push(RenderGap {
                    template: o.location.clone(),
                    reason: reason.clone(),
                    not_judged: fb.not_judged,
                    not_judged_total: fb.not_judged_total,
                });
                out.charts_with_gaps.insert(prefix);
            }
        }
    }
    out
}

/// What is known about the provenance layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// Whether the manifest has a provenance layer.
    pub present: bool,
    /// Whether the chart digest listed in it matches the chart layer (None: no digest listed).
    pub digest_matches: Option<bool>,
    /// Whether it is a PGP clear-signed message (the signature itself is not verified here).
    pub signed: bool,
}

/// Chart-level checks on the top chart and its subcharts. `enabled` holds the prefixes of the
/// charts a default install deploys (`""`, `charts/redis/`): a subchart disabled by its
/// `condition` or `tags` is not deployed, so its values are not reported.
pub fn chart_level(chart: &Chart, prov: &Provenance, kube: &Version, enabled: &BTreeSet<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = chart.field("name").unwrap_or_default();
    if !prov.present {
        out.push(catalog::NO_PROVENANCE.finding(&name, "", ""));
    } else if prov.digest_matches == Some(false) {
        out.push(catalog::PROVENANCE_MISMATCH.finding(
            &name,
            "",
            "the chart digest listed does not match the chart layer",
        ));
    }
    visit(chart, kube, enabled, &mut out);
    out
}

fn visit(chart: &Chart, kube: &Version, enabled: &BTreeSet<String>, out: &mut Vec<Finding>) {
    if !enabled.contains(&chart.prefix) {
        return;
    }
    let name = chart.field("name").unwrap_or_default();
    let at = format!("{}Chart.yaml", chart.prefix);
    match chart.field("kubeVersion").filter(|s| !s.trim().is_empty()) {
        None if chart.prefix.is_empty() => out.push(catalog::NO_KUBE_VERSION.finding(&name, &at, "")),
        None => {}
        Some(range) => {
            if let Ok(false) = crate::tmpl::semver::matches(&range, kube) {
                let detail = format!(
                    "kubeVersion {range:?} excludes {}.{}.{}",
                    kube.major, kube.minor, kube.patch
                );
                out.push(catalog::KUBE_VERSION_MISMATCH.finding(&name, &at, &detail));
            }
        }
    }
    if chart.meta.get("deprecated").and_then(Y::as_bool) == Some(true) {
        out.push(catalog::DEPRECATED_CHART.finding(&name, &at, ""));
    }
    for dep in &chart.dependencies {
        if dep.repository.to_ascii_lowercase().starts_with("http://") {
            let detail = format!("{} from {}", dep.name, dep.repository);
            out.push(catalog::HTTP_DEPENDENCY.finding(&format!("{name}/{}", dep.name), &at, &detail));
        }
    }
    out.extend(values::credentials(
        &chart.values,
        &format!("{}values.yaml", chart.prefix),
    ));
    for sub in &chart.subcharts {
        visit(sub, kube, enabled, out);
    }
}

/// Drop repeated findings (same check, object, place and title), keeping the first.
pub fn dedupe(findings: Vec<Finding>) -> Vec<Finding> {
    let mut seen = BTreeSet::new();
    findings
        .into_iter()
        .filter(|f| seen.insert((f.id.clone(), f.package.clone(), f.location.clone(), f.title.clone())))
        .collect()
}
