//! The plugin's result, parsed strictly: one JSON object
//! `{"findings": […], "packages": […]?, "details": {…}?}` and nothing else; unknown fields and
//! unknown severities are errors, so a typo in a plugin fails loudly instead of dropping a
//! finding.

use regscan_scanner_api::{Finding, Package, ScanOutput, Severity};
use serde::Deserialize;

/// Most findings and packages accepted from one plugin run.
pub const MAX_ITEMS: usize = 100_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    findings: Vec<RawFinding>,
    #[serde(default)]
    packages: Option<Vec<RawPackage>>,
    #[serde(default)]
    details: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFinding {
    id: String,
    severity: String,
    title: String,
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    installed_version: Option<String>,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    references: Option<Vec<String>>,
    #[serde(default)]
    remediation: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPackage {
    name: String,
    version: String,
    ecosystem: String,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    source_name: Option<String>,
    #[serde(default)]
    source_version: Option<String>,
}

/// The exact severity words of the report; no aliases.
fn severity(s: &str) -> Option<Severity> {
    Severity::ALL.into_iter().find(|sv| sv.as_str() == s)
}

/// Parse a plugin's stdout into a scan output; the error says what is wrong and where.
pub fn parse(stdout: &[u8]) -> Result<ScanOutput, String> {
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Err("stdout is empty (expected one JSON object with \"findings\")".into());
    }
    let raw: RawOutput = serde_json::from_slice(stdout).map_err(|e| {
        let start: String = String::from_utf8_lossy(&stdout[..stdout.len().min(200)]).into_owned();
        format!("stdout is not the result JSON ({e}); it begins {start:?}")
    })?;
    let packages = raw.packages.unwrap_or_default();
    if raw.findings.len() > MAX_ITEMS || packages.len() > MAX_ITEMS {
        return Err(format!("more than {MAX_ITEMS} findings or packages"));
    }
    let mut findings = Vec::with_capacity(raw.findings.len());
    for (i, f) in raw.findings.into_iter().enumerate() {
        let Some(sev) = severity(&f.severity) else {
            return Err(format!(
                "finding #{} ({}) has severity {:?}, which is not one of critical, high, medium, low, negligible, unknown",
                i + 1,
                f.id,
                f.severity
            ));
        };
        if f.id.trim().is_empty() {
            return Err(format!("finding #{} has an empty id", i + 1));
        }
        findings.push(Finding {
            id: f.id,
            severity: sev,
            title: f.title,
            package: f.package,
            installed_version: f.installed_version,
            fixed_version: f.fixed_version,
            location: f.location,
            references: f.references.unwrap_or_default(),
            remediation: f.remediation,
        });
    }
    let mut out_packages = Vec::with_capacity(packages.len());
    for (i, p) in packages.into_iter().enumerate() {
        if p.name.trim().is_empty() || p.version.trim().is_empty() || p.ecosystem.trim().is_empty() {
            return Err(format!(
                "package #{} ({:?}) needs a non-empty name, version and ecosystem",
                i + 1,
                p.name
            ));
        }
        if let Some(purl) = p.purl.as_deref().filter(|u| !u.starts_with("pkg:")) {
            return Err(format!(
                "package #{} ({}) has purl {purl:?}, which does not start with pkg:",
                i + 1,
                p.name
            ));
        }
        out_packages.push(Package {
            ecosystem: p.ecosystem,
            name: p.name,
            version: p.version,
            source_name: p.source_name,
            source_version: p.source_version,
            path: p.path.unwrap_or_default(),
            layer: None,
            dev: false,
        });
    }
    Ok(ScanOutput {
        findings,
        packages: out_packages,
        details: raw.details.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_example_parses() {
        let out = parse(
            br#"{"findings": [{"id": "WASM-001", "severity": "low", "title": "t", "package": null,
                 "installed_version": null, "fixed_version": null, "location": "x", "references": []}],
                 "packages": [{"name": "left-pad", "version": "1.0.0", "ecosystem": "npm", "purl": "pkg:npm/left-pad@1.0.0"}],
                 "details": {"k": 1}}
"#,
        )
        .unwrap();
        assert_eq!(out.findings[0].severity, Severity::Low);
        assert_eq!(out.findings[0].location.as_deref(), Some("x"));
        assert_eq!(out.packages[0].purl(), "pkg:npm/left-pad@1.0.0");
        assert_eq!(out.details["k"], 1);
        let minimal = parse(br#"{"findings": []}"#).unwrap();
        assert!(minimal.packages.is_empty() && minimal.details.is_empty());
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        for (stdout, expect) in [
            (&b""[..], "empty"),
            (b"hello", "not the result JSON"),
            (b"{\"findings\": []} trailing", "not the result JSON"),
            (b"[]", "not the result JSON"),
            (b"{}", "findings"),
            (b"{\"findings\": [], \"extra\": 1}", "extra"),
            (
                b"{\"findings\": [{\"id\": \"X\", \"severity\": \"severe\", \"title\": \"t\"}]}",
                "severe",
            ),
            (
                b"{\"findings\": [{\"id\": \"X\", \"severity\": \"High\", \"title\": \"t\"}]}",
                "High",
            ),
            (
                b"{\"findings\": [{\"id\": \"X\", \"severity\": \"low\", \"title\": \"t\", \"cvss\": 1}]}",
                "cvss",
            ),
            (
                b"{\"findings\": [], \"packages\": [{\"name\": \"a\", \"version\": \"\", \"ecosystem\": \"npm\"}]}",
                "version",
            ),
            (
                b"{\"findings\": [], \"packages\": [{\"name\": \"a\", \"version\": \"1\", \"ecosystem\": \"npm\", \"purl\": \"npm/a\"}]}",
                "purl",
            ),
        ] {
            let err = parse(stdout).unwrap_err();
            assert!(err.contains(expect), "{}: {err}", String::from_utf8_lossy(stdout));
        }
    }
}
