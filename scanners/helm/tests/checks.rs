//! Check tests: for each check, a chart that trips it and one that does not, scanned end to end
//! (archive → render → checks).

mod common;

use common::{chart, ids, ids_for, scan};
use regscan_scanner_api::Severity;

/// A hardened Deployment whose container settings come from values, so each test flips one.
const DEPLOY: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      automountServiceAccountToken: {{ .Values.automount }}
      hostNetwork: {{ .Values.hostNetwork }}
      hostPID: {{ .Values.hostPID }}
      hostIPC: {{ .Values.hostIPC }}
      {{- with .Values.volumes }}
      volumes:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
      - name: app
        image: "{{ .Values.image }}"
        securityContext:
          {{- toYaml .Values.securityContext | nindent 10 }}
        {{- with .Values.env }}
        env:
          {{- toYaml . | nindent 10 }}
        {{- end }}
        resources:
          {{- toYaml .Values.resources | nindent 10 }}
"#;

const GOOD_VALUES: &str = r#"automount: false
hostNetwork: false
hostPID: false
hostIPC: false
image: registry.example.com/web:1.2.3
securityContext:
  privileged: false
  allowPrivilegeEscalation: false
  runAsNonRoot: true
  runAsUser: 10001
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
    add: [NET_BIND_SERVICE]
resources:
  limits: {cpu: 500m, memory: 256Mi}
env:
- name: LOG_LEVEL
  value: info
- name: DB_PASSWORD
  valueFrom: {secretKeyRef: {name: db, key: password}}
"#;

const K8S: &str = "kubeVersion: '>=1.25.0-0'\n";

fn scan_values(values: &str) -> Vec<regscan_scanner_api::Finding> {
    scan(&chart("demo", K8S, values, &[("templates/deploy.yaml", DEPLOY)])).findings
}

/// GOOD_VALUES with `line` replaced by `with`.
fn tweak(line: &str, with: &str) -> String {
    assert!(GOOD_VALUES.contains(line), "{line:?} not in the good values");
    GOOD_VALUES.replacen(line, with, 1)
}

#[test]
fn hardened_deployment_is_clean() {
    let f = scan_values(GOOD_VALUES);
    assert_eq!(ids_for(&f, "Deployment/web"), Vec::<String>::new(), "{f:#?}");
}

#[test]
fn each_container_setting_trips_its_check() {
    let cases = [
        ("  privileged: false", "  privileged: true", "HELM-PRIV-001"),
        (
            "  allowPrivilegeEscalation: false",
            "  allowPrivilegeEscalation: true",
            "HELM-PRIV-002",
        ),
        ("  runAsUser: 10001", "  runAsUser: 0", "HELM-USER-002"),
        (
            "  readOnlyRootFilesystem: true",
            "  readOnlyRootFilesystem: false",
            "HELM-FS-001",
        ),
        ("    add: [NET_BIND_SERVICE]", "    add: [SYS_ADMIN]", "HELM-CAP-001"),
        ("    add: [NET_BIND_SERVICE]", "    add: [NET_RAW]", "HELM-CAP-002"),
        ("    drop: [ALL]", "    drop: [NET_RAW]", "HELM-CAP-003"),
        (
            "  limits: {cpu: 500m, memory: 256Mi}",
            "  limits: {memory: 256Mi}",
            "HELM-RES-001",
        ),
        (
            "  limits: {cpu: 500m, memory: 256Mi}",
            "  limits: {cpu: 500m}",
            "HELM-RES-002",
        ),
        (
            "image: registry.example.com/web:1.2.3",
            "image: registry.example.com/web:latest",
            "HELM-IMG-001",
        ),
        (
            "image: registry.example.com/web:1.2.3",
            "image: registry.example.com/web",
            "HELM-IMG-001",
        ),
        ("hostNetwork: false", "hostNetwork: true", "HELM-HOST-001"),
        ("hostPID: false", "hostPID: true", "HELM-HOST-002"),
        ("hostIPC: false", "hostIPC: true", "HELM-HOST-003"),
        ("automount: false", "automount: true", "HELM-SA-001"),
        (
            "  value: info",
            "  value: info\n- name: API_TOKEN\n  value: s3cr3t",
            "HELM-SEC-001",
        ),
    ];
    for (from, to, id) in cases {
        let f = scan_values(&tweak(from, to));
        assert_eq!(ids_for(&f, "Deployment/web"), [id], "{from:?} -> {to:?}");
        let hit = f.iter().find(|x| x.id == id).unwrap();
        assert_eq!(hit.location.as_deref(), Some("templates/deploy.yaml"));
        assert!(hit.remediation.is_some() && !hit.references.is_empty());
    }
}

#[test]
fn run_as_non_root_missing() {
    let v = tweak("  runAsNonRoot: true\n  runAsUser: 10001\n", "");
    assert_eq!(ids_for(&scan_values(&v), "Deployment/web"), ["HELM-USER-001"]);
}

#[test]
fn digest_pinned_latest_is_fine() {
    let v = tweak(
        "image: registry.example.com/web:1.2.3",
        "image: registry.example.com/web:latest@sha256:0123",
    );
    assert!(ids_for(&scan_values(&v), "Deployment/web").is_empty());
}

#[test]
fn host_paths() {
    let v = format!("{GOOD_VALUES}volumes:\n- name: logs\n  hostPath: {{path: /var/log}}\n");
    assert_eq!(ids_for(&scan_values(&v), "Deployment/web"), ["HELM-HOST-004"]);
    let v = format!("{GOOD_VALUES}volumes:\n- name: docker\n  hostPath: {{path: /var/run/docker.sock}}\n");
    let f = scan_values(&v);
    assert_eq!(ids_for(&f, "Deployment/web"), ["HELM-HOST-005"]);
    assert_eq!(
        f.iter().find(|x| x.id == "HELM-HOST-005").unwrap().severity,
        Severity::Critical
    );
    let v = format!("{GOOD_VALUES}volumes:\n- name: tmp\n  emptyDir: {{}}\n");
    assert!(ids_for(&scan_values(&v), "Deployment/web").is_empty());
}

#[test]
fn service_account_with_automount_off_satisfies_the_token_check() {
    let v = tweak("automount: false", "automount: null");
    let sa = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default}\nautomountServiceAccountToken: {{ .Values.saAutomount }}\n";
    let run = |sa_automount: bool| {
        let values = format!("{v}saAutomount: {sa_automount}\n");
        scan(&chart(
            "demo",
            K8S,
            &values,
            &[("templates/deploy.yaml", DEPLOY), ("templates/sa.yaml", sa)],
        ))
        .findings
    };
    assert!(ids_for(&run(false), "Deployment/web").is_empty());
    assert_eq!(ids_for(&run(true), "Deployment/web"), ["HELM-SA-001"]);
}

#[test]
fn cronjob_and_pod_specs_are_found() {
    let cron = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: job\n            image: busybox\n            securityContext: {privileged: true}\n";
    let f = scan(&chart("demo", K8S, "", &[("templates/cron.yaml", cron)])).findings;
    let got = ids_for(&f, "CronJob/nightly");
    assert!(
        got.contains(&"HELM-PRIV-001".to_owned()) && got.contains(&"HELM-IMG-001".to_owned()),
        "{got:?}"
    );
}

#[test]
fn rbac_checks() {
    let bad = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: god}\nrules:\n- apiGroups: ['*']\n  resources: ['*']\n  verbs: ['*']\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: god}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: []\n";
    let f = scan(&chart("demo", K8S, "", &[("templates/rbac.yaml", bad)])).findings;
    assert_eq!(ids_for(&f, "ClusterRole/god"), ["HELM-RBAC-001"]);
    assert_eq!(ids_for(&f, "ClusterRoleBinding/god"), ["HELM-RBAC-002"]);
    let good = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader}\nrules:\n- apiGroups: ['']\n  resources: [pods]\n  verbs: [get, list]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: reader}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}\n";
    let f = scan(&chart("demo", K8S, "", &[("templates/rbac.yaml", good)])).findings;
    assert!(ids_for(&f, "Role/reader").is_empty() && ids_for(&f, "RoleBinding/reader").is_empty());
}

#[test]
fn api_versions_and_services() {
    let t = "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: pdb}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: lb}\nspec: {type: LoadBalancer}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: internal}\nspec: {type: ClusterIP}\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: pdb2}\n";
    let f = scan(&chart("demo", K8S, "", &[("templates/x.yaml", t)])).findings;
    assert_eq!(ids_for(&f, "PodDisruptionBudget/pdb"), ["HELM-API-002"]);
    assert!(ids_for(&f, "PodDisruptionBudget/pdb2").is_empty());
    assert_eq!(ids_for(&f, "Service/lb"), ["HELM-NET-001"]);
    assert!(ids_for(&f, "Service/internal").is_empty());
}

#[test]
fn credentials_in_values() {
    let f = scan(&chart(
        "demo",
        K8S,
        "auth:\n  adminPassword: changeme\n  existingSecret: ''\n",
        &[],
    ))
    .findings;
    let hit = f.iter().find(|x| x.id == "HELM-SEC-002").expect("credential found");
    assert_eq!(hit.package.as_deref(), Some("auth.adminPassword"));
    assert_eq!(hit.location.as_deref(), Some("values.yaml"));
    assert!(!hit.title.contains("changeme"));
    let f = scan(&chart("demo", K8S, "auth:\n  adminPassword: ''\n", &[])).findings;
    assert!(!ids(&f).contains(&"HELM-SEC-002".to_owned()));
}

#[test]
fn chart_level_checks() {
    let f = scan(&chart("demo", "", "", &[])).findings;
    assert!(ids(&f).contains(&"HELM-CHART-001".to_owned()), "no provenance");
    assert!(ids(&f).contains(&"HELM-CHART-003".to_owned()), "no kubeVersion");
    let deps = "kubeVersion: '<1.20.0'\ndeprecated: true\ndependencies:\n- {name: db, version: 1.0.0, repository: 'http://charts.example.com'}\n- {name: cache, version: 1.0.0, repository: 'https://charts.example.com'}\n";
    let f = scan(&chart("demo", deps, "", &[])).findings;
    let got = ids(&f);
    for id in ["HELM-CHART-002", "HELM-CHART-004", "HELM-CHART-005"] {
        assert!(got.contains(&id.to_owned()), "{id} in {got:?}");
    }
    assert_eq!(
        f.iter().filter(|x| x.id == "HELM-CHART-002").count(),
        1,
        "only the http repository"
    );
    assert!(!got.contains(&"HELM-CHART-003".to_owned()));
}

#[test]
fn render_gap_is_reported_and_falls_back_to_text_and_values() {
    let broken = "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  hostPID: true\n  containers:\n  - name: c\n    image: {{ required \"image.repository is required\" .Values.image.repository }}\n    securityContext:\n      privileged: {{ .Values.privileged }}\n";
    let out = scan(&chart(
        "demo",
        K8S,
        "image: {}\nprivileged: true\n",
        &[("templates/pod.yaml", broken)],
    ));
    let gap = out
        .findings
        .iter()
        .find(|f| f.id == "HELM-RENDER-001")
        .expect("gap reported");
    assert_eq!(gap.location.as_deref(), Some("templates/pod.yaml"));
    assert!(gap.title.contains("image.repository is required"), "{}", gap.title);
    // Raw text: hostPID; values.yaml: privileged.
    assert!(out
        .findings
        .iter()
        .any(|f| f.id == "HELM-HOST-002" && f.location.as_deref() == Some("templates/pod.yaml:5")));
    assert!(out
        .findings
        .iter()
        .any(|f| f.id == "HELM-PRIV-001" && f.location.as_deref() == Some("values.yaml")));
    assert_eq!(out.details["render_errors"][0]["template"], "templates/pod.yaml");
}

#[test]
fn details_list_images_objects_and_chart() {
    let out = scan(&chart("demo", K8S, GOOD_VALUES, &[("templates/deploy.yaml", DEPLOY)]));
    assert_eq!(
        out.details["images"],
        serde_json::json!(["registry.example.com/web:1.2.3"])
    );
    assert_eq!(out.details["objects"][0]["object"], "Deployment/web");
    assert_eq!(out.details["chart"]["name"], "demo");
    assert_eq!(out.details["chart"]["version"], "0.1.0");
    assert_eq!(out.details["provenance"]["present"], false);
}

#[test]
fn findings_are_sorted_most_severe_first() {
    let f = scan_values(&tweak("  privileged: false", "  privileged: true"));
    assert!(f.windows(2).all(|w| w[0].severity >= w[1].severity));
}
