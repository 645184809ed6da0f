//! The catalogue of checks: stable ids, severities, titles, one-line remediations and the
//! matching well-known ids (Trivy KSV, Checkov CKV_K8S) with links. The README's checks table is
//! written from this list.

use regscan_scanner_api::{Finding, Severity};

/// One check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// Stable id.
    pub id: &'static str,
    /// Severity.
    pub severity: Severity,
    /// What is wrong, in a few words.
    pub title: &'static str,
    /// What to do, in one line.
    pub remediation: &'static str,
    /// Related ids and links.
    pub refs: &'static [&'static str],
}

impl Check {
    /// A finding of this check about `object` (`Deployment/web`) in `location`, with `detail`
    /// appended to the title (`container "app"`).
    pub fn finding(&self, object: &str, location: &str, detail: &str) -> Finding {
        let title = if detail.is_empty() {
            self.title.to_owned()
        } else {
            format!("{}: {detail}", self.title)
        };
        let mut f = Finding::new(self.id, self.severity, title)
            .on(object)
            .fix(self.remediation)
            .refs(self.refs.iter().copied());
        if !location.is_empty() {
            f = f.at(location);
        }
        f
    }
}

macro_rules! check {
    ($name:ident, $id:literal, $sev:ident, $title:literal, $fix:literal, [$($r:literal),* $(,)?]) => {
        #[doc = $title]
        pub const $name: Check = Check {
            id: $id,
            severity: Severity::$sev,
            title: $title,
            remediation: $fix,
            refs: &[$($r),*],
        };
    };
}

check!(
    PRIVILEGED,
    "HELM-PRIV-001",
    High,
    "Container runs privileged",
    "Remove securityContext.privileged or set it to false.",
    ["KSV017", "CKV_K8S_16", "https://avd.aquasec.com/misconfig/ksv017"]
);
check!(
    PRIV_ESCALATION,
    "HELM-PRIV-002",
    Medium,
    "Container allows privilege escalation",
    "Set securityContext.allowPrivilegeEscalation: false on every container.",
    ["KSV001", "CKV_K8S_20", "https://avd.aquasec.com/misconfig/ksv001"]
);
check!(
    RUN_AS_ROOT_MAYBE,
    "HELM-USER-001",
    Medium,
    "Container may run as root (runAsNonRoot not set)",
    "Set securityContext.runAsNonRoot: true (pod or container) and a non-zero runAsUser.",
    ["KSV012", "CKV_K8S_23", "https://avd.aquasec.com/misconfig/ksv012"]
);
check!(
    RUN_AS_ROOT,
    "HELM-USER-002",
    High,
    "Container runs as root (runAsUser: 0)",
    "Set securityContext.runAsUser to a non-zero UID and runAsNonRoot: true.",
    ["KSV105", "CKV_K8S_23", "https://avd.aquasec.com/misconfig/ksv105"]
);
check!(
    WRITABLE_ROOT_FS,
    "HELM-FS-001",
    Low,
    "Container root filesystem is writable",
    "Set securityContext.readOnlyRootFilesystem: true and mount writable paths as volumes.",
    ["KSV014", "CKV_K8S_22", "https://avd.aquasec.com/misconfig/ksv014"]
);
check!(
    HOST_NETWORK,
    "HELM-HOST-001",
    High,
    "Pod shares the host network namespace (hostNetwork)",
    "Remove hostNetwork: true from the pod spec.",
    ["KSV009", "CKV_K8S_19", "https://avd.aquasec.com/misconfig/ksv009"]
);
check!(
    HOST_PID,
    "HELM-HOST-002",
    High,
    "Pod shares the host PID namespace (hostPID)",
    "Remove hostPID: true from the pod spec.",
    ["KSV010", "CKV_K8S_17", "https://avd.aquasec.com/misconfig/ksv010"]
);
check!(
    HOST_IPC,
    "HELM-HOST-003",
    High,
    "Pod shares the host IPC namespace (hostIPC)",
    "Remove hostIPC: true from the pod spec.",
    ["KSV008", "CKV_K8S_18", "https://avd.aquasec.com/misconfig/ksv008"]
);
check!(
    HOST_PATH,
    "HELM-HOST-004",
    Medium,
    "Pod mounts a hostPath volume",
    "Replace the hostPath volume with a configMap, secret, emptyDir or persistent volume.",
    ["KSV023", "https://avd.aquasec.com/misconfig/ksv023"]
);
check!(
    HOST_RUNTIME_SOCKET,
    "HELM-HOST-005",
    Critical,
    "Pod mounts the container runtime socket or a critical host path",
    "Never mount docker.sock, containerd.sock, /, /proc or /etc; use a scoped API or a dedicated volume instead.",
    [
        "KSV006",
        "KSV121",
        "CKV_K8S_27",
        "https://avd.aquasec.com/misconfig/ksv006"
    ]
);
check!(
    CAP_DANGEROUS,
    "HELM-CAP-001",
    High,
    "Container adds a dangerous capability",
    "Remove the capability from securityContext.capabilities.add.",
    [
        "KSV005",
        "KSV022",
        "CKV_K8S_39",
        "CKV_K8S_37",
        "https://avd.aquasec.com/misconfig/ksv005"
    ]
);
check!(
    CAP_ADDED,
    "HELM-CAP-002",
    Medium,
    "Container adds a capability beyond the baseline set",
    "Remove the capability from securityContext.capabilities.add, or justify it.",
    [
        "KSV022",
        "CKV_K8S_28",
        "CKV_K8S_37",
        "https://avd.aquasec.com/misconfig/ksv022"
    ]
);
check!(
    CAP_NO_DROP_ALL,
    "HELM-CAP-003",
    Low,
    "Container does not drop all capabilities",
    "Add securityContext.capabilities.drop: [ALL] and add back only what is needed.",
    ["KSV003", "CKV_K8S_37", "https://avd.aquasec.com/misconfig/ksv003"]
);
check!(
    NO_CPU_LIMIT,
    "HELM-RES-001",
    Low,
    "Container has no CPU limit",
    "Set resources.limits.cpu.",
    ["KSV011", "CKV_K8S_11", "https://avd.aquasec.com/misconfig/ksv011"]
);
check!(
    NO_MEMORY_LIMIT,
    "HELM-RES-002",
    Low,
    "Container has no memory limit",
    "Set resources.limits.memory.",
    ["KSV018", "CKV_K8S_13", "https://avd.aquasec.com/misconfig/ksv018"]
);
check!(
    IMAGE_TAG,
    "HELM-IMG-001",
    Medium,
    "Image uses the latest tag or no tag",
    "Pin the image to a version tag or, better, a digest.",
    ["KSV013", "CKV_K8S_14", "https://avd.aquasec.com/misconfig/ksv013"]
);
check!(
    SECRET_ENV,
    "HELM-SEC-001",
    High,
    "Secret passed as a literal environment value",
    "Move the value into a Secret and use env.valueFrom.secretKeyRef.",
    ["CKV_K8S_35", "https://cwe.mitre.org/data/definitions/798.html"]
);
check!(
    SECRET_VALUES,
    "HELM-SEC-002",
    Medium,
    "Credential-like default in values.yaml",
    "Ship no default credential: leave it empty, require it, or reference an existing Secret.",
    ["https://cwe.mitre.org/data/definitions/798.html"]
);
check!(
    SA_TOKEN,
    "HELM-SA-001",
    Low,
    "Service account token is mounted automatically",
    "Set automountServiceAccountToken: false on the pod or its ServiceAccount unless it calls the API.",
    ["KSV036", "CKV_K8S_38", "https://avd.aquasec.com/misconfig/ksv036"]
);
check!(
    API_DEPRECATED,
    "HELM-API-001",
    Low,
    "Object uses a deprecated API version",
    "Move the object to the replacement API version before it is removed.",
    ["https://kubernetes.io/docs/reference/using-api/deprecation-guide/"]
);
check!(
    API_REMOVED,
    "HELM-API-002",
    Medium,
    "Object uses an API version removed from the target Kubernetes version",
    "Move the object to the replacement API version; the chart cannot install as it is.",
    ["https://kubernetes.io/docs/reference/using-api/deprecation-guide/"]
);
check!(
    RBAC_WILDCARD,
    "HELM-RBAC-001",
    High,
    "Role grants wildcard permissions",
    "List the exact apiGroups, resources and verbs the workload needs instead of \"*\".",
    [
        "KSV044",
        "KSV045",
        "KSV046",
        "CKV_K8S_49",
        "https://avd.aquasec.com/misconfig/ksv044"
    ]
);
check!(
    RBAC_CLUSTER_ADMIN,
    "HELM-RBAC-002",
    High,
    "Binding grants cluster-admin",
    "Bind a role scoped to what the workload needs instead of cluster-admin.",
    ["KSV111", "https://avd.aquasec.com/misconfig/ksv111"]
);
check!(
    SERVICE_EXPOSED,
    "HELM-NET-001",
    Negligible,
    "Service is exposed outside the cluster",
    "Use type ClusterIP behind an ingress unless external exposure is intended.",
    ["https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types"]
);
check!(
    NO_PROVENANCE,
    "HELM-CHART-001",
    Negligible,
    "Chart has no provenance file",
    "Package with `helm package --sign` and push the .prov with the chart.",
    ["https://helm.sh/docs/topics/provenance/"]
);
check!(
    HTTP_DEPENDENCY,
    "HELM-CHART-002",
    Medium,
    "Dependency comes from a plain-HTTP repository",
    "Use an https:// or oci:// repository for the dependency.",
    ["https://helm.sh/docs/topics/charts/#chart-dependencies"]
);
check!(
    NO_KUBE_VERSION,
    "HELM-CHART-003",
    Negligible,
    "Chart declares no kubeVersion",
    "Set kubeVersion in Chart.yaml to the range the chart is tested on.",
    ["https://helm.sh/docs/topics/charts/#the-kubeversion-field"]
);
check!(
    KUBE_VERSION_MISMATCH,
    "HELM-CHART-004",
    Negligible,
    "Chart's kubeVersion excludes the target Kubernetes version",
    "Widen kubeVersion if the chart works there, or expect Helm to refuse the install.",
    ["https://helm.sh/docs/topics/charts/#the-kubeversion-field"]
);
check!(
    DEPRECATED_CHART,
    "HELM-CHART-005",
    Low,
    "Chart is marked deprecated",
    "Move to the chart's maintained successor.",
    ["https://helm.sh/docs/topics/charts/#deprecating-charts"]
);
check!(
    PROVENANCE_MISMATCH,
    "HELM-CHART-006",
    High,
    "Provenance file does not match the chart archive",
    "Re-package and re-sign the chart; do not install a chart whose provenance does not match.",
    ["https://helm.sh/docs/topics/provenance/"]
);
check!(
    RENDER_GAP,
    "HELM-RENDER-001",
    Unknown,
    "Template could not be rendered; not checked beyond what it certainly contains",
    "Fix the template or supply the values it requires; rendered checks are more precise.",
    ["https://helm.sh/docs/chart_template_guide/debugging/"]
);

/// Every check, for documentation and tests.
pub const ALL: &[Check] = &[
    PRIVILEGED,
    PRIV_ESCALATION,
    RUN_AS_ROOT_MAYBE,
    RUN_AS_ROOT,
    WRITABLE_ROOT_FS,
    HOST_NETWORK,
    HOST_PID,
    HOST_IPC,
    HOST_PATH,
    HOST_RUNTIME_SOCKET,
    CAP_DANGEROUS,
    CAP_ADDED,
    CAP_NO_DROP_ALL,
    NO_CPU_LIMIT,
    NO_MEMORY_LIMIT,
    IMAGE_TAG,
    SECRET_ENV,
    SECRET_VALUES,
    SA_TOKEN,
    API_DEPRECATED,
    API_REMOVED,
    RBAC_WILDCARD,
    RBAC_CLUSTER_ADMIN,
    SERVICE_EXPOSED,
    NO_PROVENANCE,
    HTTP_DEPENDENCY,
    NO_KUBE_VERSION,
    KUBE_VERSION_MISMATCH,
    DEPRECATED_CHART,
    PROVENANCE_MISMATCH,
    RENDER_GAP,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_remediations_one_line() {
        let mut ids: Vec<&str> = ALL.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len());
        assert!(ALL.iter().all(|c| !c.remediation.contains('\n') && !c.refs.is_empty()));
    }
}
