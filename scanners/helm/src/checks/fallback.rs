//! What is said about a template that could not be rendered.
//!
//! Helm would render only some of its text: blocks behind `if`, `with` and `range` usually
//! depend on values that are off by default (`volumePermissions.enabled: false`, an empty
//! `hostPath.path`). So the fallback asserts only what a render would certainly produce:
//! - a risky literal line of the template that is outside every `if` / `with` / `range` /
//!   `define` block and holds no action;
//! - a risky value in values.yaml that the template prints from outside every block
//!   (`.Values.securityContext` referenced unconditionally), unless it sits in a block of values
//!   that is disabled by default (a sibling `enabled: false` on the way to it).
//!
//! Everything else it would have flagged is listed as "not judged" on the render gap: an honest
//! "not rendered, not checked", never a finding a real render would not produce.

use std::collections::BTreeSet;

use regscan_scanner_api::Finding;
use serde_norway::Value as Y;

use super::catalog::{self as c, Check};

/// Most "not judged" notes kept per template.
pub const MAX_NOT_JUDGED: usize = 50;

/// The fallback's result for one template.
#[derive(Debug, Default)]
pub struct Fallback {
    /// Findings a render would certainly produce.
    pub findings: Vec<Finding>,
    /// Risky settings that could not be judged without rendering.
    pub not_judged: Vec<String>,
    /// How many settings could not be judged in all.
    pub not_judged_total: usize,
}

impl Fallback {
    fn not_judged(&mut self, note: String) {
        self.not_judged_total += 1;
        if self.not_judged.len() < MAX_NOT_JUDGED {
            self.not_judged.push(note);
        }
    }
}

/// The actions (`{{ … }}` bodies, trim markers removed) of a template, with the 0-based line each
/// starts on.
fn actions(src: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut line = 0;
    while let Some(start) = rest.find("{{") {
        line += rest[..start].matches('\n').count();
        let body_start = start + 2;
        let Some(len) = rest[body_start..].find("}}") else {
            break;
        };
        let body = &rest[body_start..body_start + len];
        let trimmed = body.trim_start_matches('-').trim_end_matches('-').trim();
        out.push((line, trimmed.to_owned()));
        line += body.matches('\n').count();
        rest = &rest[body_start + len + 2..];
    }
    out
}

fn keyword(action: &str) -> &str {
    action
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("")
}

/// For each line of `src`, whether it is inside an `if` / `with` / `range` / `define` / `block`
/// (the lines that open and close one included).
pub fn guarded_lines(src: &str) -> Vec<bool> {
    let n = src.lines().count();
    let acts = actions(src);
    let mut guarded = vec![false; n];
    let (mut depth, mut ai) = (0usize, 0usize);
    for (l, g) in guarded.iter_mut().enumerate() {
        let mut inside = depth > 0;
        while ai < acts.len() && acts[ai].0 <= l {
            match keyword(&acts[ai].1) {
                "if" | "with" | "range" | "define" | "block" => {
                    depth += 1;
                    inside = true;
                }
                "end" => {
                    depth = depth.saturating_sub(1);
                    inside = true;
                }
                _ => {}
            }
            ai += 1;
        }
        *g = inside || depth > 0;
    }
    guarded
}

/// `.Values.a.b` paths read by actions outside every block (`$.Values` too).
pub fn unguarded_value_refs(src: &str) -> BTreeSet<String> {
    let mut depth = 0usize;
    let mut out = BTreeSet::new();
    for (_, a) in actions(src) {
        match keyword(&a) {
            "if" | "with" | "range" | "define" | "block" => {
                depth += 1;
                continue;
            }
            "end" => {
                depth = depth.saturating_sub(1);
                continue;
            }
            _ => {}
        }
        if depth > 0 {
            continue;
        }
        let mut rest = a.as_str();
        while let Some(i) = rest.find(".Values.") {
            let tail = &rest[i + ".Values.".len()..];
            let path: String = tail
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
                .collect();
            let path = path.trim_end_matches('.');
            if !path.is_empty() {
                out.insert(path.to_owned());
            }
            rest = tail;
        }
    }
    out
}

/// The risky-setting check a values.yaml entry triggers, if any.
fn risky_value(path: &[String], v: &Y) -> Option<Check> {
    let key = path.last()?;
    match (key.as_str(), v) {
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
    }
}

/// The first enclosing block of values that is disabled by default (`volumePermissions` with
/// `enabled: false`), as `volumePermissions.enabled`.
fn disabled_ancestor(values: &Y, path: &[String]) -> Option<String> {
    let mut cur = values;
    for (i, seg) in path.iter().enumerate().take(path.len().saturating_sub(1)) {
        cur = match cur {
            Y::Mapping(m) => m.get(seg.as_str())?,
            Y::Sequence(s) => s.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
        if let Some(Y::Bool(false)) = cur.get("enabled") {
            return Some(format!("{}.enabled", path[..=i].join(".")));
        }
    }
    None
}

fn walk(v: &Y, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Y), depth: usize) {
    if depth > 64 {
        return;
    }
    let children: Vec<(String, &Y)> = match v {
        Y::Mapping(m) => m.iter().map(|(k, c)| (crate::tmpl::value::yaml_key(k), c)).collect(),
        Y::Sequence(s) => s.iter().enumerate().map(|(i, c)| (i.to_string(), c)).collect(),
        _ => return,
    };
    for (k, child) in children {
        path.push(k);
        f(path, child);
        walk(child, path, f, depth + 1);
        path.pop();
    }
}

fn shown(v: &Y) -> String {
    match v {
        Y::String(s) => s.clone(),
        other => serde_norway::to_string(other).unwrap_or_default().trim().to_owned(),
    }
}

const TEXT_PATTERNS: &[(&str, Check)] = &[
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

/// The fallback for template `location` (source `src`), whose chart's values are `values`
/// (from `values_file`).
pub fn check(src: &str, location: &str, values: Option<&Y>, values_file: &str) -> Fallback {
    let mut out = Fallback::default();
    let guarded = guarded_lines(src);
    let compiled: Vec<(regex_lite::Regex, Check)> = TEXT_PATTERNS
        .iter()
        .filter_map(|(p, check)| regex_lite::Regex::new(p).ok().map(|r| (r, *check)))
        .collect();
    for (i, line) in src.lines().enumerate() {
        let code = line.split(" #").next().unwrap_or(line);
        if code.trim_start().starts_with('#') {
            continue;
        }
        for (re, check) in &compiled {
            if !re.is_match(code) {
                continue;
            }
            let text: String = code.trim().chars().take(100).collect();
            let at = format!("{location}:{}", i + 1);
            if guarded.get(i).copied().unwrap_or(true) || code.contains("{{") {
                out.not_judged(format!("{at}: {} ({text}), inside a conditional block", check.id));
            } else {
                out.findings
                    .push(check.finding("template text", &at, &format!("unrendered line {}: {text}", i + 1)));
            }
        }
    }
    let Some(values) = values else { return out };
    let refs = unguarded_value_refs(src);
    let mut hits: Vec<(Vec<String>, Check, String)> = Vec::new();
    walk(
        values,
        &mut Vec::new(),
        &mut |path, v| {
            if let Some(check) = risky_value(path, v) {
                hits.push((path.to_vec(), check, shown(v)));
            }
        },
        0,
    );
    for (path, check, value) in hits {
        let dotted = path.join(".");
        if let Some(off) = disabled_ancestor(values, &path) {
            out.not_judged(format!(
                "{values_file}: {} ({dotted}: {value}), in a block disabled by default ({off}: false)",
                check.id
            ));
            continue;
        }
        let used = refs
            .iter()
            .any(|r| dotted == *r || dotted.starts_with(&format!("{r}.")));
        if used {
            out.findings.push(check.finding(
                &dotted,
                values_file,
                &format!("values.yaml sets {dotted}: {value}, printed unconditionally by {location}"),
            ));
        } else {
            out.not_judged(format!(
                "{values_file}: {} ({dotted}: {value}), not read unconditionally by {location}",
                check.id
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_tracked_per_line() {
        let src = "a: 1\n{{- if .Values.x }}\nb: 2\n{{- end }}\nc: 3\n{{ define \"x\" }}\nd\n{{ end }}\n";
        assert_eq!(guarded_lines(src), [false, true, true, true, false, true, true, true]);
    }

    #[test]
    fn only_unguarded_value_reads_count() {
        let src = "x: {{ .Values.a.b }}\n{{ if .Values.c }}{{ toYaml .Values.d }}{{ end }}\n{{ $.Values.e | quote }}";
        let refs: Vec<String> = unguarded_value_refs(src).into_iter().collect();
        assert_eq!(refs, ["a.b", "e"]);
    }

    fn y(s: &str) -> Y {
        serde_norway::from_str(s).unwrap()
    }

    #[test]
    fn disabled_and_guarded_settings_are_listed_not_asserted() {
        let values = y("hostPath: {path: ''}
volumePermissions:
  enabled: false
  containerSecurityContext: {runAsUser: 0}
initContainers:
  enabled: false
  image: {tag: latest}
securityContext: {privileged: true}
");
        let src = "spec:
  hostPID: true
  securityContext: {{ toYaml .Values.securityContext }}
{{- if .Values.hostPath.path }}
  runAsUser: 0
{{- end }}
{{- if .Values.volumePermissions.enabled }}
  - {{ toYaml .Values.volumePermissions.containerSecurityContext }}
{{- end }}
  x: {{ genNoSuchFunc }}
";
        let fb = check(src, "templates/sts.yaml", Some(&values), "values.yaml");
        let asserted: Vec<(&str, &str)> = fb
            .findings
            .iter()
            .map(|f| (f.id.as_str(), f.location.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            asserted,
            [
                ("HELM-HOST-002", "templates/sts.yaml:2"),
                ("HELM-PRIV-001", "values.yaml")
            ],
            "{:?}",
            fb.not_judged
        );
        assert_eq!(fb.not_judged_total, 3, "{:?}", fb.not_judged);
        assert!(fb
            .not_judged
            .iter()
            .any(|n| n.contains("templates/sts.yaml:5") && n.contains("conditional")));
        assert!(fb
            .not_judged
            .iter()
            .any(|n| n.contains("volumePermissions.enabled: false")));
        assert!(fb
            .not_judged
            .iter()
            .any(|n| n.contains("initContainers.enabled: false")));
    }
}
