//! SARIF 2.1.0 output (`scan --format sarif`) for code-scanning tools in CI.

use std::collections::BTreeMap;

use regscan_scanner_api::Severity;
use serde_json::{json, Value};

use super::Report;

/// The report (and its children) as one SARIF log with one run.
pub fn to_sarif(report: &Report) -> Value {
    let mut rules: BTreeMap<String, Value> = BTreeMap::new();
    let mut results = Vec::new();
    collect(report, &mut rules, &mut results);
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "regscan",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/regscan/regscan",
                "rules": rules.into_values().collect::<Vec<_>>(),
            }},
            "results": results,
        }]
    })
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        _ => "note",
    }
}

fn collect(r: &Report, rules: &mut BTreeMap<String, Value>, results: &mut Vec<Value>) {
    for f in &r.findings {
        rules.entry(f.id.clone()).or_insert_with(|| {
            json!({
                "id": f.id,
                "shortDescription": {"text": f.title},
                "helpUri": f.references.iter().find(|u| u.starts_with("http")),
                "properties": {"security-severity": security_severity(f.severity), "tags": ["security"]},
            })
        });
        let mut text = f.title.clone();
        if let (Some(p), Some(v)) = (&f.package, &f.installed_version) {
            text = format!(
                "{text} ({p} {v}{})",
                f.fixed_version
                    .as_ref()
                    .map(|x| format!(", fixed in {x}"))
                    .unwrap_or_default()
            );
        }
        if let Some(fix) = &f.remediation {
            text = format!("{text}. {fix}");
        }
        let uri = format!("{}/{}", r.reference, f.location.as_deref().unwrap_or(""));
        results.push(json!({
            "ruleId": f.id,
            "level": level(f.severity),
            "message": {"text": text},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri.trim_end_matches('/')}}}],
        }));
    }
    for c in &r.children {
        collect(c, rules, results);
    }
}

fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
        _ => "0.0",
    }
}
