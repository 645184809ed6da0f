//! Checks that read `values.yaml` and raw template text rather than rendered objects:
//! credential-like defaults (always), and the fallback used when a template cannot be rendered,
//! so that a rendering gap never turns into a silent clean result.

use regscan_scanner_api::Finding;
use serde_yaml::Value as Y;

use super::catalog::{self as c, Check};
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

/// The risky settings a failed template might have taken from values.yaml.
pub fn fallback_values(values: &Y, file: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    walk(
        values,
        &mut Vec::new(),
        &mut |path, v| {
            let Some(key) = path.last() else { return };
            let dotted = path.join(".");
            let hit: Option<Check> = match (key.as_str(), v) {
                ("privileged", Y::Bool(true)) => Some(c::PRIVILEGED),
                ("allowPrivilegeEscalation", Y::Bool(true)) => Some(c::PRIV_ESCALATION),
                ("hostNetwork", Y::Bool(true)) => Some(c::HOST_NETWORK),
                ("hostPID", Y::Bool(true)) => Some(c::HOST_PID),
                ("hostIPC", Y::Bool(true)) => Some(c::HOST_IPC),
                ("runAsUser", Y::Number(n)) if n.as_f64() == Some(0.0) => Some(c::RUN_AS_ROOT),
                ("tag", Y::String(t)) if t == "latest" && path.iter().any(|p| p.to_lowercase().contains("image")) => {
                    Some(c::IMAGE_TAG)
                }
                ("path", Y::String(p)) if p.contains(".sock") => Some(c::HOST_RUNTIME_SOCKET),
                _ => None,
            };
            if let Some(check) = hit {
                let shown = match v {
                    Y::String(s) => s.clone(),
                    other => serde_yaml::to_string(other).unwrap_or_default().trim().to_owned(),
                };
                out.push(check.finding(&dotted, file, &format!("values.yaml sets {dotted}: {shown}")));
            }
        },
        0,
    );
    out
}

/// Risky settings written literally in a template's text.
pub fn fallback_text(src: &str, location: &str) -> Vec<Finding> {
    const PATTERNS: &[(&str, Check)] = &[
        (r"\bprivileged:\s*true\b", c::PRIVILEGED),
        (r"\ballowPrivilegeEscalation:\s*true\b", c::PRIV_ESCALATION),
        (r"\bhostNetwork:\s*true\b", c::HOST_NETWORK),
        (r"\bhostPID:\s*true\b", c::HOST_PID),
        (r"\bhostIPC:\s*true\b", c::HOST_IPC),
        (r"\brunAsUser:\s*0\s*$", c::RUN_AS_ROOT),
        (r"(docker|containerd|crio)\.sock", c::HOST_RUNTIME_SOCKET),
        (r"\b(SYS_ADMIN|SYS_MODULE|SYS_PTRACE|NET_ADMIN)\b", c::CAP_DANGEROUS),
        (r#"\bimage:\s*["']?[^\s"'{}]+:latest\b"#, c::IMAGE_TAG),
        (r"\bname:\s*cluster-admin\b", c::RBAC_CLUSTER_ADMIN),
    ];
    let compiled: Vec<(regex_lite::Regex, Check)> = PATTERNS
        .iter()
        .filter_map(|(p, check)| regex_lite::Regex::new(p).ok().map(|r| (r, *check)))
        .collect();
    let mut out = Vec::new();
    for (i, line) in src.lines().enumerate() {
        let code = line.split(" #").next().unwrap_or(line);
        if code.trim_start().starts_with('#') {
            continue;
        }
        for (re, check) in &compiled {
            if re.is_match(code) {
                let shown: String = code.trim().chars().take(100).collect();
                let at = format!("{location}:{}", i + 1);
                out.push(check.finding("template text", &at, &format!("unrendered line {}: {shown}", i + 1)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Y {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn finds_credentials_but_not_references() {
        let v = y("auth:\n  rootPassword: hunter2\n  existingSecret: my-secret\n  passwordKey: pw\n  token: ''\napiKey: '{{ .Values.x }}'");
        let f = credentials(&v, "values.yaml");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].package.as_deref(), Some("auth.rootPassword"));
        assert!(!f[0].title.contains("hunter2"), "the secret itself is never reported");
    }

    #[test]
    fn fallback_reads_values_and_text() {
        let v = y("securityContext: {privileged: true, runAsUser: 0}\nimage: {tag: latest}");
        let ids: Vec<String> = fallback_values(&v, "values.yaml").into_iter().map(|f| f.id).collect();
        assert_eq!(ids, ["HELM-PRIV-001", "HELM-USER-002", "HELM-IMG-001"]);
        let text = "spec:\n  hostNetwork: true\n  # privileged: true\n  containers:\n  - image: nginx:latest\n";
        let f = fallback_text(text, "templates/x.yaml");
        let got: Vec<(&str, &str)> = f
            .iter()
            .map(|f| (f.id.as_str(), f.location.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            got,
            [
                ("HELM-HOST-001", "templates/x.yaml:2"),
                ("HELM-IMG-001", "templates/x.yaml:5")
            ]
        );
    }
}
