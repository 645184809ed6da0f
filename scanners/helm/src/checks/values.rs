//! Checks that read `values.yaml` rather than rendered objects: credential-like defaults. (What
//! is said about a template that cannot be rendered is in [`super::fallback`].)

use regscan_scanner_api::Finding;
use serde_norway::Value as Y;

use super::catalog as c;
use super::workload::is_literal_credential;

fn walk<'a>(v: &'a Y, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &'a Y), depth: usize) {
    if depth > 64 {
        return;
    }
    match v {
        Y::Mapping(m) => {
            for (k, child) in m {
                path.push(crate::tmpl::value::yaml_key(k));
                f(path, child);
                walk(child, path, f, depth + 1);
                path.pop();
            }
        }
        Y::Sequence(s) => {
            for (i, child) in s.iter().enumerate() {
                path.push(i.to_string());
                f(path, child);
                walk(child, path, f, depth + 1);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Credential-like defaults: a key that names a secret holding a literal string.
pub fn credentials(values: &Y, file: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    walk(
        values,
        &mut Vec::new(),
        &mut |path, v| {
            let Some(key) = path.last() else { return };
            let Y::String(s) = v else { return };
            let s = s.trim();
            if s.is_empty() || s.contains("{{") || s.starts_with("${") || !is_literal_credential(key, s) {
                return;
            }
            let dotted = path.join(".");
            out.push(c::SECRET_VALUES.finding(&dotted, file, &format!("{dotted} has a default value")));
        },
        0,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Y {
        serde_norway::from_str(s).unwrap()
    }

    #[test]
    fn finds_credentials_but_not_references() {
        let v = y("auth:\n  rootPassword: hunter2\n  existingSecret: my-secret\n  passwordKey: pw\n  token: ''\napiKey: '{{ .Values.x }}'");
        let f = credentials(&v, "values.yaml");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].package.as_deref(), Some("auth.rootPassword"));
        assert!(!f[0].title.contains("hunter2"), "the secret itself is never reported");
    }
}
