//! Other shapes of a report: Harbor's pluggable-scanner vulnerability report (version 1.1), for
//! tools that already read it, and an image's package inventory as a CycloneDX 1.5 SBOM.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use regscan_scanner_api::{Package, Severity};
use serde_json::json;

use crate::report::Report;

/// Media type of Harbor's vulnerability report.
pub const HARBOR_REPORT_MIME: &str = "application/vnd.security.vulnerability.report; version=1.1";
/// Media type of CycloneDX JSON.
pub const CYCLONEDX_MIME: &str = "application/vnd.cyclonedx+json; version=1.5";

fn harbor_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
        Severity::Negligible => "Negligible",
        Severity::Unknown => "Unknown",
    }
}

/// The findings of a report (children included) as Harbor's vulnerability report.
pub fn harbor_json(r: &Report) -> serde_json::Value {
    let mut all = Vec::new();
    fn collect<'a>(r: &'a Report, out: &mut Vec<&'a regscan_scanner_api::Finding>) {
        out.extend(&r.findings);
        for c in &r.children {
            collect(c, out);
        }
    }
    collect(r, &mut all);
    let vulns: Vec<_> = all
        .iter()
        .map(|f| {
            json!({
                "id": f.id,
                "package": f.package.clone().unwrap_or_default(),
                "version": f.installed_version.clone().unwrap_or_default(),
                "fix_version": f.fixed_version.clone().unwrap_or_default(),
                "severity": harbor_severity(f.severity),
                "description": f.title,
                "links": f.references.iter().filter(|l| l.starts_with("http")).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "generated_at": r.scanned_at.clone().unwrap_or_else(|| crate::time::rfc3339(crate::time::now_ms())),
        "artifact": {"repository": r.repository, "digest": r.digest, "mime_type": r.manifest_media_type},
        "scanner": {"name": "regscan", "vendor": "regscan", "version": r.scanner.as_ref().map_or(env!("CARGO_PKG_VERSION").to_owned(), |s| format!("{} {}", s.name, s.version))},
        "severity": harbor_severity(r.summary.max_severity().unwrap_or(Severity::Unknown)),
        "vulnerabilities": vulns,
    })
}

/// [`harbor_json`] as a response with Harbor's media type.
pub fn harbor(r: &Report) -> Response {
    ([(CONTENT_TYPE, HARBOR_REPORT_MIME)], harbor_json(r).to_string()).into_response()
}

/// The package inventory as a CycloneDX 1.5 JSON SBOM.
pub fn cyclonedx_json(r: &Report, packages: &[Package]) -> serde_json::Value {
    let components: Vec<_> = packages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut props = vec![
                json!({"name": "regscan:ecosystem", "value": p.ecosystem}),
                json!({"name": "regscan:path", "value": p.path}),
            ];
            if let Some(l) = &p.layer {
                props.push(json!({"name": "regscan:layer", "value": l}));
            }
            if let Some(s) = &p.source_name {
                props.push(json!({"name": "regscan:source_name", "value": s}));
            }
            json!({
                "type": "library",
                "bom-ref": format!("pkg-{i}"),
                "name": p.name,
                "version": p.version,
                "purl": p.purl(),
                "properties": props,
            })
        })
        .collect();
    let serial = {
        use sha2::Digest as _;
        let h = hex::encode(sha2::Sha256::digest(format!(
            "{}{}",
            r.digest,
            r.scanned_at.clone().unwrap_or_default()
        )));
        format!(
            "urn:uuid:{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    };
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "timestamp": r.scanned_at.clone().unwrap_or_else(|| crate::time::rfc3339(crate::time::now_ms())),
            "tools": {"components": [{"type": "application", "name": "regscan", "version": env!("CARGO_PKG_VERSION")}]},
            "component": {"type": "container", "bom-ref": r.digest, "name": format!("{}/{}", r.registry, r.repository), "version": r.digest},
        },
        "components": components,
    })
}

/// [`cyclonedx_json`] as a response.
pub fn cyclonedx(r: &Report, packages: &[Package]) -> Response {
    (
        [(CONTENT_TYPE, CYCLONEDX_MIME)],
        cyclonedx_json(r, packages).to_string(),
    )
        .into_response()
}
