//! Checks on rendered objects other than their pods: API versions that are deprecated or
//! removed, RBAC wildcards and cluster-admin bindings, and services exposed outside the cluster.

use regscan_scanner_api::Finding;
use serde_norway::Value as Y;

use super::catalog as c;
use crate::tmpl::semver::Version;

/// One deprecated API: group/version, kind (`*` for all), minor version it was deprecated in,
/// minor version it was removed in, replacement.
struct Deprecation {
    api: &'static str,
    kind: &'static str,
    deprecated: u64,
    removed: u64,
    replacement: &'static str,
}

const fn d(
    api: &'static str,
    kind: &'static str,
    deprecated: u64,
    removed: u64,
    replacement: &'static str,
) -> Deprecation {
    Deprecation {
        api,
        kind,
        deprecated,
        removed,
        replacement,
    }
}

/// Kubernetes 1.x API removals (from the Kubernetes deprecation guide).
const DEPRECATIONS: &[Deprecation] = &[
    d("extensions/v1beta1", "Ingress", 14, 22, "networking.k8s.io/v1"),
    d("extensions/v1beta1", "NetworkPolicy", 9, 16, "networking.k8s.io/v1"),
    d(
        "extensions/v1beta1",
        "PodSecurityPolicy",
        10,
        16,
        "policy/v1beta1 (itself removed in 1.25)",
    ),
    d("extensions/v1beta1", "*", 9, 16, "apps/v1"),
    d("apps/v1beta1", "*", 9, 16, "apps/v1"),
    d("apps/v1beta2", "*", 9, 16, "apps/v1"),
    d("networking.k8s.io/v1beta1", "*", 19, 22, "networking.k8s.io/v1"),
    d(
        "rbac.authorization.k8s.io/v1alpha1",
        "*",
        17,
        22,
        "rbac.authorization.k8s.io/v1",
    ),
    d(
        "rbac.authorization.k8s.io/v1beta1",
        "*",
        17,
        22,
        "rbac.authorization.k8s.io/v1",
    ),
    d("apiextensions.k8s.io/v1beta1", "*", 16, 22, "apiextensions.k8s.io/v1"),
    d(
        "admissionregistration.k8s.io/v1beta1",
        "*",
        16,
        22,
        "admissionregistration.k8s.io/v1",
    ),
    d(
        "apiregistration.k8s.io/v1beta1",
        "*",
        19,
        22,
        "apiregistration.k8s.io/v1",
    ),
    d("authentication.k8s.io/v1beta1", "*", 19, 22, "authentication.k8s.io/v1"),
    d("authorization.k8s.io/v1beta1", "*", 19, 22, "authorization.k8s.io/v1"),
    d("certificates.k8s.io/v1beta1", "*", 19, 22, "certificates.k8s.io/v1"),
    d("coordination.k8s.io/v1beta1", "*", 19, 22, "coordination.k8s.io/v1"),
    d("scheduling.k8s.io/v1alpha1", "*", 14, 22, "scheduling.k8s.io/v1"),
    d("scheduling.k8s.io/v1beta1", "*", 14, 22, "scheduling.k8s.io/v1"),
    d(
        "storage.k8s.io/v1beta1",
        "CSIStorageCapacity",
        24,
        27,
        "storage.k8s.io/v1",
    ),
    d("storage.k8s.io/v1beta1", "*", 19, 22, "storage.k8s.io/v1"),
    d("batch/v1beta1", "*", 21, 25, "batch/v1"),
    d("discovery.k8s.io/v1beta1", "*", 21, 25, "discovery.k8s.io/v1"),
    d("events.k8s.io/v1beta1", "*", 19, 25, "events.k8s.io/v1"),
    d("autoscaling/v2beta1", "*", 22, 25, "autoscaling/v2"),
    d("autoscaling/v2beta2", "*", 23, 26, "autoscaling/v2"),
    d(
        "policy/v1beta1",
        "PodSecurityPolicy",
        21,
        25,
        "Pod Security Admission (no replacement object)",
    ),
    d("policy/v1beta1", "*", 21, 25, "policy/v1"),
    d("node.k8s.io/v1beta1", "*", 21, 25, "node.k8s.io/v1"),
    d(
        "flowcontrol.apiserver.k8s.io/v1beta1",
        "*",
        23,
        26,
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    d(
        "flowcontrol.apiserver.k8s.io/v1beta2",
        "*",
        26,
        29,
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    d(
        "flowcontrol.apiserver.k8s.io/v1beta3",
        "*",
        29,
        32,
        "flowcontrol.apiserver.k8s.io/v1",
    ),
];

fn strs(v: Option<&Y>) -> Vec<&str> {
    match v {
        Some(Y::Sequence(s)) => s.iter().filter_map(Y::as_str).collect(),
        _ => vec![],
    }
}

/// Check one object. `kube` is the target Kubernetes version.
pub fn check(object: &str, location: &str, doc: &Y, kube: &Version) -> Vec<Finding> {
    let mut out = Vec::new();
    let kind = doc.get("kind").and_then(Y::as_str).unwrap_or("");
    let api = doc.get("apiVersion").and_then(Y::as_str).unwrap_or("");
    if let Some(dep) = DEPRECATIONS
        .iter()
        .find(|d| d.api == api && (d.kind == "*" || d.kind == kind))
    {
        let detail = format!(
            "{api} {kind}: deprecated in 1.{}, removed in 1.{}; use {}",
            dep.deprecated, dep.removed, dep.replacement
        );
        if kube.major > 1 || (kube.major == 1 && kube.minor >= dep.removed) {
            out.push(c::API_REMOVED.finding(object, location, &detail));
        } else {
            out.push(c::API_DEPRECATED.finding(object, location, &detail));
        }
    }
    match kind {
        "Role" | "ClusterRole" => {
            if let Some(Y::Sequence(rules)) = doc.get("rules") {
                for (i, rule) in rules.iter().enumerate() {
                    let verbs = strs(rule.get("verbs"));
                    let resources = strs(rule.get("resources"));
                    let groups = strs(rule.get("apiGroups"));
                    let wild: Vec<&str> = [("verbs", &verbs), ("resources", &resources), ("apiGroups", &groups)]
                        .into_iter()
                        .filter(|(_, l)| l.contains(&"*"))
                        .map(|(n, _)| n)
                        .collect();
                    if !wild.is_empty() {
                        let detail = format!("rule {} has \"*\" in {}", i + 1, wild.join(", "));
                        out.push(c::RBAC_WILDCARD.finding(object, location, &detail));
                    }
                }
            }
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let role = doc
                .get("roleRef")
                .and_then(|r| r.get("name"))
                .and_then(Y::as_str)
                .unwrap_or("");
            if role == "cluster-admin" {
                let scope = if kind == "ClusterRoleBinding" {
                    "cluster-wide"
                } else {
                    "in its namespace"
                };
                out.push(c::RBAC_CLUSTER_ADMIN.finding(object, location, &format!("cluster-admin {scope}")));
            }
        }
        "Service" => {
            let ty = doc
                .get("spec")
                .and_then(|s| s.get("type"))
                .and_then(Y::as_str)
                .unwrap_or("");
            if matches!(ty, "LoadBalancer" | "NodePort") {
                out.push(c::SERVICE_EXPOSED.finding(object, location, &format!("type {ty}")));
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(doc: &str, kube: &str) -> Vec<String> {
        let y: Y = serde_norway::from_str(doc).unwrap();
        check("X/y", "templates/x.yaml", &y, &Version::parse(kube).unwrap())
            .into_iter()
            .map(|f| f.id)
            .collect()
    }

    #[test]
    fn api_versions_by_target() {
        let doc = "apiVersion: batch/v1beta1\nkind: CronJob";
        assert_eq!(ids(doc, "1.31.0"), ["HELM-API-002"]);
        assert_eq!(ids(doc, "1.22.0"), ["HELM-API-001"]);
        assert!(ids("apiVersion: batch/v1\nkind: CronJob", "1.31.0").is_empty());
    }

    #[test]
    fn rbac_and_services() {
        let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nrules:\n- {apiGroups: ['*'], resources: ['*'], verbs: ['*']}\n- {apiGroups: [''], resources: [pods], verbs: [get]}";
        assert_eq!(ids(role, "1.31.0"), ["HELM-RBAC-001"]);
        let binding = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nroleRef: {kind: ClusterRole, name: cluster-admin}";
        assert_eq!(ids(binding, "1.31.0"), ["HELM-RBAC-002"]);
        assert_eq!(
            ids("apiVersion: v1\nkind: Service\nspec: {type: NodePort}", "1.31.0"),
            ["HELM-NET-001"]
        );
        assert!(ids("apiVersion: v1\nkind: Service\nspec: {type: ClusterIP}", "1.31.0").is_empty());
    }
}
