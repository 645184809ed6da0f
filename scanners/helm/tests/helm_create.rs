//! The chart `helm create mychart` writes, rendered with its defaults and compared byte for byte
//! with the template output `helm template release-name ./mychart` prints for it (the text after
//! each `# Source:` line), then scanned.

mod common;

use common::{expected, fixture_tgz, ids_for, render_tgz};
use regscan_scanner_helm::{HelmConfig, HelmScanner};

fn rendered(bytes: &[u8], location: &str) -> String {
    let out = render_tgz(bytes);
    let t = out
        .iter()
        .find(|o| o.location == location)
        .unwrap_or_else(|| panic!("{location} rendered"));
    assert!(t.result.is_ok(), "{location}: {:?}", t.result);
    t.rendered.clone()
}

#[test]
fn scaffold_renders_like_helm_template() {
    let bytes = fixture_tgz("mychart", |_, c| c);
    assert_eq!(
        rendered(&bytes, "templates/deployment.yaml"),
        expected("deployment.yaml")
    );
    assert_eq!(rendered(&bytes, "templates/service.yaml"), expected("service.yaml"));
    assert_eq!(
        rendered(&bytes, "templates/serviceaccount.yaml"),
        expected("serviceaccount.yaml")
    );
    let out = render_tgz(&bytes);
    let ingress = out.iter().find(|o| o.location == "templates/ingress.yaml").unwrap();
    // Only the newline after `{{- end }}` is left, as in Go.
    assert_eq!(ingress.rendered, "\n", "ingress is disabled by default");
    assert!(ingress.result.as_ref().unwrap().is_empty());
    assert!(out
        .iter()
        .all(|o| !o.location.ends_with("NOTES.txt") && !o.location.ends_with("_helpers.tpl")));
}

#[test]
fn scaffold_with_ingress_enabled() {
    let bytes = fixture_tgz("mychart", |p, c| {
        if p.ends_with("values.yaml") {
            c.replacen("enabled: false", "enabled: true", 1)
        } else {
            c
        }
    });
    assert_eq!(
        rendered(&bytes, "templates/ingress.yaml"),
        expected("ingress-enabled.yaml")
    );
}

#[test]
fn scaffold_findings() {
    let bytes = fixture_tgz("mychart", |_, c| c);
    let out = HelmScanner::new(HelmConfig::default())
        .scan_chart(&bytes, None)
        .unwrap();
    assert_eq!(
        ids_for(&out.findings, "Deployment/release-name-mychart"),
        [
            "HELM-CAP-003",
            "HELM-FS-001",
            "HELM-PRIV-002",
            "HELM-RES-001",
            "HELM-RES-002",
            "HELM-SA-001",
            "HELM-USER-001"
        ]
    );
    assert!(ids_for(&out.findings, "Service/release-name-mychart").is_empty());
    assert_eq!(out.details["images"], serde_json::json!(["nginx:1.16.0"]));
    assert_eq!(out.details["render_errors"], serde_json::json!([]));
    assert_eq!(out.details["objects"].as_array().unwrap().len(), 3);
}
