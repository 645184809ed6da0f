//! The precision suite (issue 18): real-shaped charts, written for regscan on the patterns of
//! Bitnami and prometheus-community charts (helpers in `_helpers.tpl` and a library chart,
//! features disabled by default, `existingSecret` patterns, `genCA` / `htpasswd`, RE2 regexps),
//! with the findings expected for each object written down. A finding not listed is a false
//! positive and fails the suite; a listed finding that is missing is a regression too.

mod common;

use common::fixture_tgz;
use regscan_scanner_api::ScanOutput;
use regscan_scanner_helm::{HelmConfig, HelmScanner};

fn scan_fixture(name: &str, edit: impl Fn(&str, String) -> String) -> ScanOutput {
    HelmScanner::new(HelmConfig::default())
        .scan_chart(&fixture_tgz(name, edit), None)
        .expect("scan succeeds")
}

/// `(id, object, location)` of every finding, sorted.
fn found(out: &ScanOutput) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = out
        .findings
        .iter()
        .map(|f| {
            (
                f.id.clone(),
                f.package.clone().unwrap_or_default(),
                f.location.clone().unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

fn expect(out: &ScanOutput, expected: &[(&str, &str, &str)]) {
    let mut want: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect();
    want.sort();
    let got = found(out);
    // Multiset differences: a finding reported twice where once is expected is an extra.
    let mut extra = got.clone();
    let mut missing = Vec::new();
    for w in &want {
        match extra.iter().position(|g| g == w) {
            Some(i) => {
                extra.remove(i);
            }
            None => missing.push(w.clone()),
        }
    }
    assert!(
        extra.is_empty() && missing.is_empty(),
        "false positives: {extra:#?}\nmissing: {missing:#?}\nrender errors: {}",
        out.details["render_errors"]
    );
}

/// The Bitnami-shaped database with its defaults: secure settings, TLS generated with `genCA` /
/// `genSignedCert`, passwords from `lookup` + `hasKey` + `randAlphaNum`, and off-by-default
/// blocks holding risky settings (volume-permissions init container as root, a privileged
/// metrics sidecar, `:latest` images, a `runAsUser: 0` behind an empty `hostPath.path`).
/// `ALLOW_EMPTY_PASSWORD: "no"`, Secret key names, a `private.key` file name: not credentials.
#[test]
fn bitnami_shaped_database_defaults() {
    let out = scan_fixture("precision-db", |_, c| c);
    expect(
        &out,
        &[
            // No provenance layer: true of every chart pushed without `helm package --sign`.
            ("HELM-CHART-001", "db", ""),
        ],
    );
    let objects: Vec<&str> = out.details["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["object"].as_str().unwrap())
        .collect();
    assert_eq!(
        objects,
        [
            "NetworkPolicy/release-name-db",
            "Secret/release-name-db",
            "Service/release-name-db",
            "ServiceAccount/release-name-db",
            "StatefulSet/release-name-db",
            "Secret/release-name-db-crt",
        ],
        "every template renders, genCA included"
    );
}

/// The same chart with its off-by-default features switched on and a literal root password: the
/// risky settings that are now rendered are found, on the objects that carry them.
#[test]
fn bitnami_shaped_database_with_risky_values() {
    let out = scan_fixture("precision-db", |path, c| {
        if path == "precision-db/values.yaml" {
            c.replace("  rootPassword: \"\"", "  rootPassword: hunter2")
                .replace(
                    "volumePermissions:\n  enabled: false",
                    "volumePermissions:\n  enabled: true",
                )
                .replace("metrics:\n  enabled: false", "metrics:\n  enabled: true")
        } else {
            c
        }
    });
    let sts = "StatefulSet/release-name-db";
    let at = "templates/statefulset.yaml";
    expect(
        &out,
        &[
            ("HELM-CHART-001", "db", ""),
            ("HELM-SEC-002", "auth.rootPassword", "values.yaml"),
            // volume-permissions init container: root, os-shell at :latest, writable root
            // filesystem, capabilities not dropped, privilege escalation not refused.
            ("HELM-USER-002", sts, at),
            ("HELM-IMG-001", sts, at),
            ("HELM-FS-001", sts, at),
            ("HELM-CAP-003", sts, at),
            ("HELM-PRIV-002", sts, at),
            // metrics sidecar: privileged, mysqld-exporter at :latest, runAsNonRoot not set,
            // writable root filesystem, capabilities not dropped, privilege escalation not
            // refused, no resources.
            ("HELM-PRIV-001", sts, at),
            ("HELM-IMG-001", sts, at),
            ("HELM-USER-001", sts, at),
            ("HELM-FS-001", sts, at),
            ("HELM-CAP-003", sts, at),
            ("HELM-PRIV-002", sts, at),
            ("HELM-RES-001", sts, at),
            ("HELM-RES-002", sts, at),
        ],
    );
}

/// The statefulset cannot be rendered (a function regscan refuses): the fallback reports the gap
/// and asserts nothing from the blocks a render would leave out; what it could not judge is
/// listed on the gap.
#[test]
fn bitnami_shaped_database_unrenderable_template() {
    let out = scan_fixture("precision-db", |path, c| {
        if path == "precision-db/templates/statefulset.yaml" {
            c.replacen(
                "  labels: {{- include \"common.labels.standard\" . | nindent 4 }}",
                "  annotations:\n    resolved: {{ getHostByName \"db.example.com\" | quote }}\n  labels: {{- include \"common.labels.standard\" . | nindent 4 }}",
                1,
            )
        } else {
            c
        }
    });
    expect(
        &out,
        &[
            ("HELM-CHART-001", "db", ""),
            ("HELM-RENDER-001", "db", "templates/statefulset.yaml"),
        ],
    );
    let gap = &out.details["render_errors"][0];
    assert!(gap["reason"].as_str().unwrap().contains("getHostByName"), "{gap}");
    let notes: Vec<&str> = gap["not_judged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for expected in [
        // The `runAsUser: 0` behind `{{- if .Values.primary.hostPath.path }}` (empty by default).
        "templates/statefulset.yaml:34: HELM-USER-002",
        "values.yaml: HELM-USER-002 (volumePermissions.containerSecurityContext.runAsUser: 0), in a block disabled by default (volumePermissions.enabled: false)",
        "values.yaml: HELM-PRIV-001 (metrics.containerSecurityContext.privileged: true), in a block disabled by default (metrics.enabled: false)",
        "values.yaml: HELM-IMG-001 (metrics.image.tag: latest), in a block disabled by default (metrics.enabled: false)",
    ] {
        assert!(notes.iter().any(|n| n.starts_with(expected)), "{expected} in {notes:#?}");
    }
    let gap_finding = out.findings.iter().find(|f| f.id == "HELM-RENDER-001").unwrap();
    assert_eq!(gap_finding.severity, regscan_scanner_api::Severity::Unknown);
}

/// The prometheus-community-shaped chart: node-exporter really shares the host's network and PID
/// namespaces and mounts /proc, /sys and / (read-only), and ships without resource limits; the
/// ServiceMonitor (CRD absent), the PodSecurityPolicy (removed API) and the kube-rbac-proxy
/// sidecar (off) are not rendered. The dashboards Deployment passes a Secret's key name
/// (`REDIS_SENTINEL_AUTH_KEY: auth`), a Secret's name (`ADMIN_TOKEN_SECRET`), a file path and
/// flags: none is a credential. `htpasswd` and an RE2 regexp render.
#[test]
fn prometheus_community_shaped_monitoring_defaults() {
    let out = scan_fixture("precision-monitoring", |_, c| c);
    let ds = "DaemonSet/release-name-monitoring";
    let at = "templates/daemonset.yaml";
    expect(
        &out,
        &[
            ("HELM-CHART-001", "monitoring", ""),
            ("HELM-HOST-001", ds, at),
            ("HELM-HOST-002", ds, at),
            ("HELM-HOST-004", ds, at),
            // /proc and / are critical host paths, even read-only.
            ("HELM-HOST-005", ds, at),
            ("HELM-HOST-005", ds, at),
            ("HELM-RES-001", ds, at),
            ("HELM-RES-002", ds, at),
        ],
    );
    assert_eq!(out.details["render_errors"], serde_json::json!([]));
    let objects = out.details["objects"].to_string();
    for absent in ["ServiceMonitor", "PodSecurityPolicy"] {
        assert!(!objects.contains(absent), "{absent} rendered: {objects}");
    }
    assert!(objects.contains("Secret/release-name-monitoring-dashboards-basic-auth"));
}

/// A host name that fails the RE2 validation makes the helper `fail`, and the error names the
/// helper's file and line, not the including template's.
#[test]
fn failing_helper_is_blamed_on_its_own_file() {
    let out = scan_fixture("precision-monitoring", |path, c| {
        if path == "precision-monitoring/values.yaml" {
            c.replace("hostname: redis-ha.default", "hostname: \"redis ha\"")
        } else {
            c
        }
    });
    let gap = &out.details["render_errors"][0];
    assert_eq!(gap["template"], "templates/dashboards.yaml");
    let reason = gap["reason"].as_str().unwrap();
    assert!(reason.contains("monitoring/templates/_helpers.tpl:61:"), "{reason}");
    assert!(reason.contains("is not a valid host name"), "{reason}");
}

/// A subchart disabled by its `condition` is not deployed: its credential-like defaults are not
/// reported. Enabled, they are; and the fallback of an unrenderable subchart template reads the
/// subchart's values with the parent's overrides.
#[test]
fn disabled_subcharts_report_nothing() {
    let build = |enabled: bool, perms: bool| {
        let parent_values = format!("cache:\n  enabled: {enabled}\n  volumePermissions:\n    enabled: {perms}\n");
        common::tgz(&[
            (
                "app/Chart.yaml",
                "apiVersion: v2\nname: app\nversion: 1.0.0\nkubeVersion: '>=1.20.0-0'\ndependencies:\n- name: cache\n  version: 1.0.0\n  condition: cache.enabled\n",
            ),
            ("app/values.yaml", &parent_values),
            ("app/charts/cache/Chart.yaml", "apiVersion: v2\nname: cache\nversion: 1.0.0\n"),
            (
                "app/charts/cache/values.yaml",
                "auth:\n  password: cachepass\nvolumePermissions:\n  enabled: false\n  securityContext:\n    runAsUser: 0\n",
            ),
            (
                "app/charts/cache/templates/pod.yaml",
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: c\n  annotations:\n    ip: {{ getHostByName \"x\" }}\nspec:\n  securityContext: {{ toYaml .Values.volumePermissions.securityContext | nindent 4 }}\n  containers: []\n",
            ),
        ])
    };
    let scan = |bytes: Vec<u8>| {
        HelmScanner::new(HelmConfig::default())
            .scan_chart(&bytes, None)
            .unwrap()
    };
    expect(&scan(build(false, false)), &[("HELM-CHART-001", "app", "")]);
    let on = scan(build(true, false));
    expect(
        &on,
        &[
            ("HELM-CHART-001", "app", ""),
            ("HELM-SEC-002", "auth.password", "charts/cache/values.yaml"),
            ("HELM-RENDER-001", "cache", "charts/cache/templates/pod.yaml"),
        ],
    );
    // The parent switches the block on: the value printed unconditionally is now asserted.
    let perms = scan(build(true, true));
    expect(
        &perms,
        &[
            ("HELM-CHART-001", "app", ""),
            ("HELM-SEC-002", "auth.password", "charts/cache/values.yaml"),
            ("HELM-RENDER-001", "cache", "charts/cache/templates/pod.yaml"),
            (
                "HELM-USER-002",
                "volumePermissions.securityContext.runAsUser",
                "charts/cache/values.yaml",
            ),
        ],
    );
}
