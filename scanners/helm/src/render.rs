//! Rendering a loaded chart the way `helm template` does with default values: one template set
//! for the chart and its enabled subcharts, `.Values` / `.Release` / `.Chart` / `.Capabilities` /
//! `.Template` / `.Files` for each chart, then each output split into YAML documents.
//!
//! A template that fails (parse error, `required`, `fail`, a nil field, an unsupported function,
//! output that is not YAML) fails on its own; the others still render. The caller reports the
//! failure and falls back to checking the raw text.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_norway::Value as Y;

use crate::chart::{instantiate, Chart, Instance};
use crate::tmpl::{ExecLimits, Files, TemplateSet, Value};

/// Settings for one render.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// `.Release.Name`.
    pub release_name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// Kubernetes version for `.Capabilities.KubeVersion` (`v1.31.0`).
    pub kube_version: String,
    /// API versions for `.Capabilities.APIVersions` besides the built-in set.
    pub extra_api_versions: Vec<String>,
    /// Execution limits per template.
    pub limits: ExecLimits,
    /// Steps all templates of the chart may spend together.
    pub max_total_steps: u64,
    /// Bytes all templates of the chart may output together.
    pub max_total_output_bytes: usize,
}

/// The result of one template file.
#[derive(Debug, Clone)]
pub struct TemplateOutcome {
    /// Path relative to the top chart (`templates/deploy.yaml`, `charts/redis/templates/x.yaml`).
    pub location: String,
    /// Name of the chart it belongs to.
    pub chart: String,
    /// The raw template text.
    pub source: String,
    /// The rendered text (empty when rendering failed).
    pub rendered: String,
    /// The objects it renders to, or why it could not be rendered.
    pub result: Result<Vec<Y>, String>,
}

/// The API groups and versions (and `group/version/Kind`) of a stock cluster.
const BUILTIN_API_VERSIONS: &[(&str, &[&str])] = &[
    (
        "v1",
        &[
            "ConfigMap",
            "Secret",
            "Service",
            "Pod",
            "ServiceAccount",
            "PersistentVolumeClaim",
            "PersistentVolume",
            "Namespace",
            "Endpoints",
            "LimitRange",
            "ResourceQuota",
            "ReplicationController",
            "Event",
            "Node",
        ],
    ),
    (
        "apps/v1",
        &[
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet",
            "ControllerRevision",
        ],
    ),
    ("batch/v1", &["Job", "CronJob"]),
    ("autoscaling/v1", &["HorizontalPodAutoscaler"]),
    ("autoscaling/v2", &["HorizontalPodAutoscaler"]),
    ("networking.k8s.io/v1", &["Ingress", "IngressClass", "NetworkPolicy"]),
    ("policy/v1", &["PodDisruptionBudget"]),
    (
        "rbac.authorization.k8s.io/v1",
        &["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"],
    ),
    (
        "storage.k8s.io/v1",
        &[
            "StorageClass",
            "CSIDriver",
            "CSINode",
            "VolumeAttachment",
            "CSIStorageCapacity",
        ],
    ),
    ("apiextensions.k8s.io/v1", &["CustomResourceDefinition"]),
    (
        "admissionregistration.k8s.io/v1",
        &[
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ],
    ),
    ("apiregistration.k8s.io/v1", &["APIService"]),
    ("coordination.k8s.io/v1", &["Lease"]),
    ("scheduling.k8s.io/v1", &["PriorityClass"]),
    ("discovery.k8s.io/v1", &["EndpointSlice"]),
    ("certificates.k8s.io/v1", &["CertificateSigningRequest"]),
    ("events.k8s.io/v1", &["Event"]),
    ("node.k8s.io/v1", &["RuntimeClass"]),
    (
        "flowcontrol.apiserver.k8s.io/v1",
        &["FlowSchema", "PriorityLevelConfiguration"],
    ),
    ("authentication.k8s.io/v1", &["TokenReview"]),
    (
        "authorization.k8s.io/v1",
        &[
            "SubjectAccessReview",
            "SelfSubjectAccessReview",
            "LocalSubjectAccessReview",
        ],
    ),
];

fn api_versions(extra: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (gv, kinds) in BUILTIN_API_VERSIONS {
        out.push((*gv).to_owned());
        out.extend(kinds.iter().map(|k| format!("{gv}/{k}")));
    }
    out.extend(extra.iter().cloned());
    out
}

fn m(pairs: Vec<(&str, Value)>) -> Value {
    Value::map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// `.Chart`: the Chart.yaml fields under Helm's Go field names.
fn chart_object(chart: &Chart, name: &str) -> Value {
    let get = |k: &str| chart.field(k).map(Value::Str).unwrap_or(Value::str(""));
    let raw = |k: &str| chart.meta.get(k).map(Value::from_yaml).unwrap_or(Value::Nil);
    m(vec![
        ("Name", Value::str(name)),
        ("Version", get("version")),
        ("AppVersion", get("appVersion")),
        ("APIVersion", get("apiVersion")),
        ("Description", get("description")),
        ("KubeVersion", get("kubeVersion")),
        ("Type", get("type")),
        ("Home", get("home")),
        ("Icon", get("icon")),
        ("Keywords", raw("keywords")),
        ("Sources", raw("sources")),
        ("Maintainers", raw("maintainers")),
        ("Annotations", raw("annotations")),
        ("Dependencies", raw("dependencies")),
        (
            "Deprecated",
            Value::Bool(chart.meta.get("deprecated").and_then(Y::as_bool).unwrap_or(false)),
        ),
    ])
}

fn capabilities(opts: &RenderOptions) -> Value {
    let v = crate::tmpl::semver::Version::parse(&opts.kube_version).ok();
    let version = format!("v{}", opts.kube_version.trim_start_matches('v'));
    m(vec![
        (
            "KubeVersion",
            m(vec![
                ("Version", Value::str(version.clone())),
                ("GitVersion", Value::str(version)),
                (
                    "Major",
                    Value::str(v.as_ref().map(|v| v.major.to_string()).unwrap_or_default()),
                ),
                (
                    "Minor",
                    Value::str(v.as_ref().map(|v| v.minor.to_string()).unwrap_or_default()),
                ),
            ]),
        ),
        (
            "APIVersions",
            Value::ApiVersions(Arc::new(api_versions(&opts.extra_api_versions))),
        ),
        (
            "HelmVersion",
            m(vec![
                ("Version", Value::str("v3.16.0")),
                ("GoVersion", Value::str("go1.22")),
            ]),
        ),
    ])
}

fn flatten<'a>(inst: &'a Instance<'a>, out: &mut Vec<&'a Instance<'a>>) {
    out.push(inst);
    for s in &inst.subcharts {
        flatten(s, out);
    }
}

/// A YAML value read the way Helm reads manifests (go-yaml's non-strict `Unmarshal`): a key
/// repeated in a mapping keeps its last value instead of failing the document.
struct Lenient(Y);

impl<'de> serde::Deserialize<'de> for Lenient {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor).map(Lenient)
    }
}

struct LenientVisitor;

impl<'de> serde::de::Visitor<'de> for LenientVisitor {
    type Value = Y;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Y, E> {
        Ok(Y::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Y, E> {
        Ok(Y::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Y, E> {
        Ok(Y::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Y, E> {
        Ok(Y::Number(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Y, E> {
        Ok(Y::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Y, E> {
        Ok(Y::String(v))
    }
    fn visit_unit<E>(self) -> Result<Y, E> {
        Ok(Y::Null)
    }
    fn visit_none<E>(self) -> Result<Y, E> {
        Ok(Y::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Y, D::Error> {
        serde::Deserialize::deserialize(d).map(|l: Lenient| l.0)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Y, A::Error> {
        let mut out = Vec::new();
        while let Some(Lenient(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Y::Sequence(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Y, A::Error> {
        let mut out = serde_norway::Mapping::new();
        while let Some((Lenient(k), Lenient(v))) = map.next_entry()? {
            out.insert(k, v);
        }
        Ok(Y::Mapping(out))
    }
    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<Y, A::Error> {
        // A tagged value (`!!binary …`, `!custom …`): keep the value, drop the tag.
        use serde::de::VariantAccess as _;
        let (_tag, variant): (String, _) = data.variant()?;
        variant.newtype_variant::<Lenient>().map(|l| l.0)
    }
}

/// Split rendered text into YAML documents and parse them; `List` objects are expanded.
pub fn split_documents(text: &str) -> Result<Vec<Y>, String> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let push = |cur: &mut String, docs: &mut Vec<Y>| -> Result<(), String> {
        if !cur.trim().is_empty() {
            let doc = serde_norway::from_str::<Lenient>(cur)
                .map_err(|e| format!("rendered output is not valid YAML: {e}"))?
                .0;
            match doc {
                Y::Null => {}
                Y::Mapping(_) => {
                    let is_list = doc.get("kind").and_then(Y::as_str).is_some_and(|k| k.ends_with("List"));
                    match doc.get("items") {
                        Some(Y::Sequence(items)) if is_list => docs.extend(items.iter().cloned()),
                        _ => docs.push(doc),
                    }
                }
                other => {
                    return Err(format!(
                        "rendered output holds a YAML {} where a Kubernetes object was expected",
                        match other {
                            Y::Sequence(_) => "list",
                            _ => "scalar",
                        }
                    ))
                }
            }
        }
        cur.clear();
        Ok(())
    };
    for line in text.split_inclusive('\n') {
        let rest = line.strip_prefix("---");
        if rest.is_some_and(|r| r.trim().is_empty() || r.trim_start().starts_with('#')) {
            push(&mut cur, &mut docs)?;
            continue;
        }
        cur.push_str(line);
    }
    push(&mut cur, &mut docs)?;
    Ok(docs)
}

fn is_library(chart: &Chart) -> bool {
    chart.field("type").is_some_and(|t| t == "library")
}

fn is_partial_path(path: &str) -> bool {
    path.rsplit('/').next().unwrap_or(path).starts_with('_')
}

/// Render every template of the chart and its enabled subcharts.
pub fn render(chart: &Chart, opts: &RenderOptions) -> Vec<TemplateOutcome> {
    let root = instantiate(chart);
    let mut all = Vec::new();
    flatten(&root, &mut all);
    let top = chart.name.clone();
    let caps = capabilities(opts);
    // One set for all charts; parents are added last so their defines win, as in Helm.
    let mut set = TemplateSet::default();
    let mut parse_errors: BTreeMap<String, String> = BTreeMap::new();
    let mut order: Vec<&Instance> = all.clone();
    order.sort_by_key(|i| std::cmp::Reverse(i.chart.prefix.matches('/').count()));
    for inst in &order {
        let library = is_library(inst.chart);
        for (path, src) in &inst.chart.templates {
            let full = format!("{top}/{}{path}", inst.chart.prefix);
            // A library chart contributes only its partials, as in Helm.
            if set.contains(&full) || (library && !is_partial_path(path)) {
                continue;
            }
            if let Err(e) = set.add(&full, src) {
                parse_errors.insert(full, e.to_string());
            }
        }
    }
    let release = m(vec![
        ("Name", Value::str(opts.release_name.clone())),
        ("Namespace", Value::str(opts.namespace.clone())),
        ("IsInstall", Value::Bool(true)),
        ("IsUpgrade", Value::Bool(false)),
        ("Revision", Value::Int(1)),
        ("Service", Value::str("Helm")),
    ]);
    let mut outcomes = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut steps_left = opts.max_total_steps;
    let mut bytes_left = opts.max_total_output_bytes;
    for inst in all {
        let files = Files(Arc::new(inst.chart.files.clone()));
        let chart_obj = chart_object(inst.chart, &inst.name);
        let library = is_library(inst.chart);
        for (path, src) in &inst.chart.templates {
            if library && !is_partial_path(path) {
                continue;
            }
            let base = path.rsplit('/').next().unwrap_or(path);
            let location = format!("{}{path}", inst.chart.prefix);
            let full = format!("{top}/{location}");
            let is_partial = base.starts_with('_');
            if let Some(e) = parse_errors.get(&full) {
                if seen.insert(location.clone()) {
                    outcomes.push(TemplateOutcome {
                        location,
                        chart: inst.name.clone(),
                        source: src.clone(),
                        rendered: String::new(),
                        result: Err(e.clone()),
                    });
                }
                continue;
            }
            if is_partial || base == "NOTES.txt" {
                continue;
            }
            let data = m(vec![
                ("Values", inst.values.clone()),
                ("Release", release.clone()),
                ("Chart", chart_obj.clone()),
                ("Capabilities", caps.clone()),
                ("Files", Value::Files(files.clone())),
                (
                    "Template",
                    m(vec![
                        ("Name", Value::str(full.clone())),
                        ("BasePath", Value::str(format!("{top}/{}templates", inst.chart.prefix))),
                    ]),
                ),
            ]);
            if steps_left == 0 || bytes_left == 0 {
                let reason = format!(
                    "not rendered: the chart's templates together exceeded the rendering budget ({} steps, {} bytes)",
                    opts.max_total_steps, opts.max_total_output_bytes
                );
                outcomes.push(TemplateOutcome {
                    location,
                    chart: inst.name.clone(),
                    source: src.clone(),
                    rendered: String::new(),
                    result: Err(reason),
                });
                continue;
            }
            // The tighter of the per-template and the whole-chart budget, named in the error.
            let mut limits = opts.limits;
            if steps_left < limits.max_steps {
                limits.max_steps = steps_left;
                limits.steps_setting = "max_total_render_steps";
            }
            if bytes_left < limits.max_output_bytes {
                limits.max_output_bytes = bytes_left;
                limits.bytes_setting = "max_total_render_bytes";
            }
            let (res, spent) = set.execute_counted(&full, &data, limits);
            steps_left = steps_left.saturating_sub(spent.max(1));
            let (rendered, result) = match res {
                Ok(text) => {
                    bytes_left = bytes_left.saturating_sub(text.len().max(1));
                    let docs = split_documents(&text);
                    (text, docs)
                }
                Err(e) => (String::new(), Err(e.to_string())),
            };
            outcomes.push(TemplateOutcome {
                location,
                chart: inst.name.clone(),
                source: src.clone(),
                rendered,
                result,
            });
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_and_expands_lists() {
        let docs =
            split_documents("a: 1\n---\n# only a comment\n---\nkind: List\nitems:\n- {b: 2}\n- {c: 3}\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert!(split_documents("a: [1\n").unwrap_err().contains("not valid YAML"));
        assert!(split_documents("- a\n").is_err());
        assert!(split_documents("\n\n").unwrap().is_empty());
        // Duplicate keys: the last one wins, as in Helm.
        let docs = split_documents("metadata:\n  labels:\n    app: a\n    app: b\n").unwrap();
        assert_eq!(docs[0]["metadata"]["labels"]["app"], Y::String("b".into()));
        let docs = split_documents("data: !!binary aGk=\nn: 1.5\nm: -3\n").unwrap();
        assert_eq!(docs[0]["n"].as_f64(), Some(1.5));
    }
}
