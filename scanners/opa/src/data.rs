//! Data documents in a bundle: parsing `data.json` / `data.yaml` (and conftest data layers),
//! checking that they stay inside the bundle's roots, and looking for credentials in them.

use regscan_scanner_api::{Finding, Severity};
use serde_json::Value;

use crate::manifest::{data_outside_roots, segments};
use crate::secrets::{classify_value, is_placeholder, mask, sensitive_key};

/// Most credential findings reported for one file; the rest are counted in the details.
pub const MAX_SECRET_FINDINGS_PER_FILE: usize = 50;

/// Most out-of-root paths reported for one data file.
const MAX_OUTSIDE_PER_FILE: usize = 20;

/// Whether OPA loads `path` as a data document.
pub fn is_data_file(path: &str) -> bool {
    matches!(path.rsplit('/').next(), Some("data.json" | "data.yaml"))
}

/// Parse a data document; YAML by extension, JSON otherwise.
pub fn parse(path: &str, content: &[u8]) -> Result<Value, String> {
    if path.ends_with(".yaml") || path.ends_with(".yml") {
        serde_norway::from_slice::<Value>(content).map_err(|e| format!("{path} is not valid YAML: {e}"))
    } else {
        serde_json::from_slice::<Value>(content).map_err(|e| format!("{path} is not valid JSON: {e}"))
    }
}

/// The `data` path a data file is mounted at: its directory (conftest layers: the root).
pub fn mount_point(path: &str, root_mounted: bool) -> Vec<String> {
    if root_mounted {
        return Vec::new();
    }
    match path.rsplit_once('/') {
        Some((dir, _)) => segments(dir),
        None => Vec::new(),
    }
}

/// 1-based line of the first occurrence of `needle` in `text`.
pub fn line_of(text: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    text.find(needle).map(|i| text[..i].matches('\n').count() + 1)
}

fn dotted(path: &[String]) -> String {
    let mut s = String::from("data");
    for p in path {
        if !p.is_empty()
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !p.starts_with(|c: char| c.is_ascii_digit())
        {
            s.push('.');
            s.push_str(p);
        } else {
            s.push_str(&format!("[{p:?}]"));
        }
    }
    s
}

/// Findings for data outside the declared roots.
pub fn check_roots(
    path: &str,
    text: &str,
    base: &[String],
    value: &Value,
    roots: &[(String, Vec<String>)],
    findings: &mut Vec<Finding>,
) {
    for outside in data_outside_roots(roots, base, value, MAX_OUTSIDE_PER_FILE) {
        let key = outside.last().cloned().unwrap_or_default();
        let line = line_of(text, &format!("\"{key}\""))
            .or_else(|| line_of(text, &key))
            .unwrap_or(1);
        let declared: Vec<&str> = roots.iter().map(|(r, _)| r.as_str()).collect();
        findings.push(
            Finding::new(
                "OPA-ROOT-DATA-OUTSIDE",
                Severity::High,
                format!("{} lies outside the bundle's roots {declared:?}; OPA refuses the bundle or it overwrites another bundle's data", dotted(&outside)),
            )
            .at(format!("{path}:{line}"))
            .fix("Move the data under a declared root, or declare its root in .manifest."),
        );
    }
}

/// Credential findings in a data document. Returns how many were left out past
/// [`MAX_SECRET_FINDINGS_PER_FILE`].
pub fn check_secrets(path: &str, text: &str, base: &[String], value: &Value, findings: &mut Vec<Finding>) -> usize {
    let mut hits = Vec::new();
    walk(value, base.to_vec(), None, &mut hits);
    let left_out = hits.len().saturating_sub(MAX_SECRET_FINDINGS_PER_FILE);
    for (json_path, key, val, hit) in hits.into_iter().take(MAX_SECRET_FINDINGS_PER_FILE) {
        let first_line = val.lines().next().unwrap_or("");
        let needle: String = first_line.chars().take(40).collect();
        let line = line_of(text, &needle)
            .or_else(|| key.as_deref().and_then(|k| line_of(text, k)))
            .unwrap_or(1);
        let (id, severity, title) = match hit {
            Some(h) => (
                h.id,
                h.severity,
                format!("{} in data at {} ({})", h.what, dotted(&json_path), mask(&val)),
            ),
            None => (
                "OPA-SECRET-KEYNAME",
                Severity::High,
                format!(
                    "credential-like value under {:?} at {} ({})",
                    key.unwrap_or_default(),
                    dotted(&json_path),
                    mask(&val)
                ),
            ),
        };
        findings.push(
            Finding::new(id, severity, title)
                .at(format!("{path}:{line}"))
                .fix("Remove the credential from the bundle (policies are widely readable); rotate it and pass secrets at run time."),
        );
    }
    left_out
}

type Hit = (Vec<String>, Option<String>, String, Option<crate::secrets::Hit>);

fn walk(v: &Value, path: Vec<String>, key: Option<&str>, out: &mut Vec<Hit>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let mut p = path.clone();
                p.push(k.clone());
                walk(child, p, Some(k), out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let mut p = path.clone();
                p.push(i.to_string());
                walk(child, p, key, out);
            }
        }
        Value::String(s) => {
            if let Some(hit) = classify_value(s) {
                out.push((path, key.map(str::to_owned), s.clone(), Some(hit)));
            } else if key.is_some_and(sensitive_key) && !is_placeholder(s) {
                out.push((path, key.map(str::to_owned), s.clone(), None));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_with_lines_and_masked() {
        let text = "{\n  \"db\": {\n    \"user\": \"app\",\n    \"password\": \"hunter2!x\"\n  },\n  \"aws\": \"AKIAIOSFODNN7EXAMPLE\",\n  \"token\": \"${TOKEN}\"\n}";
        let v = parse("data.json", text.as_bytes()).unwrap();
        let mut f = Vec::new();
        assert_eq!(check_secrets("x/data.json", text, &["x".into()], &v, &mut f), 0);
        assert_eq!(f.len(), 2);
        let pw = f.iter().find(|f| f.id == "OPA-SECRET-KEYNAME").unwrap();
        assert_eq!(pw.location.as_deref(), Some("x/data.json:4"));
        assert!(
            pw.title.contains("data.x.db.password") && !pw.title.contains("hunter2!x"),
            "{}",
            pw.title
        );
        let aws = f.iter().find(|f| f.id == "OPA-SECRET-CLOUD-KEY").unwrap();
        assert_eq!(aws.location.as_deref(), Some("x/data.json:6"));
    }

    #[test]
    fn bad_documents_name_the_file() {
        assert!(parse("a/data.json", b"{").unwrap_err().contains("a/data.json"));
        assert!(parse("a/data.yaml", b"a: [").unwrap_err().contains("YAML"));
        assert_eq!(mount_point("a/b/data.json", false), ["a", "b"]);
        assert!(mount_point("a/b/users.json", true).is_empty());
        assert_eq!(dotted(&["a".into(), "x-y".into()]), "data.a[\"x-y\"]");
    }

    #[test]
    fn yaml_alias_bomb_is_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse("data.yaml", doc.as_bytes()).unwrap_err();
        assert!(err.contains("data.yaml"), "{err}");
    }

    #[test]
    fn secret_findings_are_capped_per_file() {
        let obj: serde_json::Map<String, Value> = (0..60)
            .map(|i| (format!("password{i}"), Value::String(format!("real-secret-{i}"))))
            .collect();
        let v = Value::Object(obj);
        let mut f = Vec::new();
        assert_eq!(check_secrets("data.json", "", &[], &v, &mut f), 10);
        assert_eq!(f.len(), MAX_SECRET_FINDINGS_PER_FILE);
    }
}
