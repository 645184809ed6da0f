//! HTML building blocks of the web pages, as [maud](https://maud.lambda.xyz) templates: the page
//! frame with its stylesheet, kind icons (inline SVG), status and severity badges, and the "how
//! to use it" action per type.
//!
//! maud escapes every value spliced into a template (`&`, `<`, `>`, `"`), in text and attribute
//! values alike; only the compile-time constants of this file (stylesheet, icon shapes) are
//! written raw, through `PreEscaped`. On top of that, [`page`] shows bidirectional controls (which
//! can make one row read like another) and other control characters visibly as `<U+202E>`,
//! wherever they come from, so no value can reorder or hide text on a page.

use std::fmt::Write as _;

use maud::{html, Markup, PreEscaped, DOCTYPE};
use regscan_scanner_api::{ArtifactRef, Kind, Severity, Status, Summary};

use crate::config::Config;

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d232b;background:#f6f7f9}
header{background:#1d2b3a;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:baseline}
header a{color:#fff;text-decoration:none;font-weight:600}header nav a{font-weight:400;opacity:.85;margin-right:14px}
main{padding:16px 24px;max-width:1400px}
h1{font-size:20px;margin:8px 0 14px;overflow-wrap:anywhere}h2{font-size:16px;margin:22px 0 8px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde1e6}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e8ebef;vertical-align:top}
th{background:#eef1f4;font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
code.cmd{display:block;background:#f1f3f5;border:1px solid #e1e4e8;padding:3px 6px;white-space:pre-wrap;word-break:break-all}
.badge{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.mark{display:inline-block;margin-left:4px;padding:0 6px;border-radius:8px;font-size:11px;border:1px solid #9aa5b1;color:#38424c}.mark-signed{border-color:#2f855a;color:#22543d}.mark-sbom{border-color:#2b6cb0;color:#2a4365}
.st-succeeded{background:#dff3e4;color:#17602b}.st-failed{background:#fbe0e0;color:#8d1c1c}
.st-unsupported{background:#fff1cc;color:#7a5500}.st-queued,.st-running{background:#e0eefb;color:#1c4f8d}
.sev{display:inline-block;min-width:22px;text-align:center;padding:0 4px;margin-right:2px;border-radius:3px;font-size:12px}
.sev-critical{background:#7d1010;color:#fff}.sev-high{background:#d9411e;color:#fff}.sev-medium{background:#f0a30a;color:#222}
.sev-low{background:#8fb8de;color:#123}.sev-negligible,.sev-unknown{background:#d6d9dd;color:#333}.sev.zero{background:#f1f3f5;color:#aab}
.sevs{white-space:nowrap}td.id{white-space:nowrap}
.kind{display:inline-flex;gap:6px;align-items:center;white-space:nowrap}.kind svg{flex:none}
.kind small{display:block;color:#5b6570;font-size:11px}
.reason{color:#7a5500}.failed .reason{color:#8d1c1c}
form.filters{display:flex;gap:12px;align-items:end;flex-wrap:wrap;margin-bottom:14px;background:#fff;border:1px solid #dde1e6;padding:10px}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:#5b6570;gap:2px}
form.filters input,form.filters select{font:inherit;padding:3px 5px}
table.overview{width:auto;margin-bottom:14px}table.overview td{text-align:center}table.overview td:first-child{text-align:left}
.pager{margin:12px 0}.muted{color:#6b7580}dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;background:#fff;border:1px solid #dde1e6;padding:10px}
dl.facts dt{color:#5b6570}dl.facts dd{margin:0}
"#;

/// A whole page: `<title>`, header with navigation, and `body`; control characters shown
/// visibly (see [`show_controls`]).
pub fn page(title: &str, body: Markup) -> String {
    let page = html! {
        (DOCTYPE) "\n"
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · regscan" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a href="/" { "regscan" }
                    nav {
                        a href="/" { "Artifacts" }
                        a href="/vulnerabilities" { "Vulnerabilities" }
                        a href="/?status=unsupported" { "Unsupported" }
                        a href="/?status=failed" { "Failed" }
                        a href="/openapi.json" { "API" }
                    }
                }
                main { (body) }
            }
        }
        "\n"
    };
    show_controls(page.into_string())
}

/// Whether `c` is never rendered raw: a bidirectional control or a control character other
/// than newline and tab.
fn hidden(c: char) -> bool {
    crate::registry::error::is_bidi_control(c) || (c.is_control() && c != '\n' && c != '\t')
}

/// `html` with every [`hidden`] character replaced by its visible name, `&lt;U+202E&gt;`. The
/// templates themselves hold none, so only values are affected; the replacement is valid in
/// text and attribute values alike.
fn show_controls(html: String) -> String {
    if !html.chars().any(hidden) {
        return html;
    }
    let mut out = String::with_capacity(html.len() + 32);
    for c in html.chars() {
        if hidden(c) {
            let _ = write!(out, "&lt;U+{:04X}&gt;", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// The status as a coloured badge.
pub fn status_badge(s: Status) -> Markup {
    html! { span class={ "badge st-" (s.as_str()) } { (s.as_str()) } }
}

/// Findings per severity as six small counters (zeros greyed).
pub fn severity_counts(s: &Summary) -> Markup {
    html! {
        span class="sevs" {
            @for sev in Severity::ALL {
                @let n = s.get(sev);
                span class={ "sev sev-" (sev.as_str()) (if n == 0 { " zero" } else { "" }) } title=(sev.as_str()) {
                    (sev_letter(sev)) (n)
                }
            }
        }
    }
}

fn sev_letter(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "C",
        Severity::High => "H",
        Severity::Medium => "M",
        Severity::Low => "L",
        Severity::Negligible => "N",
        Severity::Unknown => "?",
    }
}

/// A severity as a badge.
pub fn severity_badge(s: Severity) -> Markup {
    html! { span class={ "sev sev-" (s.as_str()) } { (s.as_str()) } }
}

/// A person's title for an artifact: the `[[types]]` row or well-known type for its media type,
/// else one per kind.
pub fn type_title(config: &Config, kind: &str, artifact_type: Option<&str>) -> String {
    if let Some(t) = artifact_type {
        let base = t.split(';').next().unwrap_or(t).trim();
        if let Some(e) = config
            .types
            .iter()
            .chain(regscan_scanner_api::types::known_unsupported().iter())
            .find(|e| e.media_type == t || e.media_type == base)
        {
            return e.title.clone();
        }
    }
    match kind {
        "image" => "Container image",
        "helm" => "Helm chart",
        "opa" => "OPA policy bundle",
        "index" => "Multi-platform image index",
        "signature" => "Signature",
        "attestation" => "Attestation",
        "sbom" => "SBOM",
        "wasm" => "WebAssembly module",
        _ => "Unknown artifact type",
    }
    .to_owned()
}

/// A 20-pixel inline SVG icon for a kind.
pub fn kind_icon(kind: &str) -> Markup {
    let (color, shape) = match kind {
        // A shipping container.
        "image" => (
            "#2463a6",
            r##"<rect x="2" y="5" width="16" height="11" rx="1"/><path d="M6 5v11M10 5v11M14 5v11" stroke="#fff" stroke-width="1.2"/>"##,
        ),
        // A ship's wheel.
        "helm" => (
            "#0f1689",
            r##"<circle cx="10" cy="10" r="6" fill="none" stroke-width="2.2"/><circle cx="10" cy="10" r="2"/><path d="M10 1v18M1 10h18M3.6 3.6l12.8 12.8M16.4 3.6L3.6 16.4" stroke-width="1.6"/>"##,
        ),
        // A shield.
        "opa" => (
            "#4d7a2a",
            r##"<path d="M10 1.5l7 3v5c0 4.5-3 7.6-7 9-4-1.4-7-4.5-7-9v-5z"/><path d="M6.5 10l2.5 2.5 4.5-5" fill="none" stroke="#fff" stroke-width="1.8"/>"##,
        ),
        // Stacked layers.
        "index" => (
            "#6a3fa0",
            r##"<rect x="5" y="2" width="13" height="9" rx="1" opacity=".5"/><rect x="2" y="8" width="13" height="10" rx="1"/>"##,
        ),
        // A pen nib.
        "signature" | "attestation" => (
            "#7a5a1a",
            r##"<path d="M3 17l3-9 6-6 6 6-6 6z"/><circle cx="10.5" cy="9.5" r="1.6" fill="#fff"/>"##,
        ),
        // A list.
        "sbom" => (
            "#2a7a78",
            r##"<rect x="3" y="2" width="14" height="16" rx="1"/><path d="M6 6h8M6 10h8M6 14h5" stroke="#fff" stroke-width="1.5"/>"##,
        ),
        // A question mark in a circle.
        _ => (
            "#7b8591",
            r##"<circle cx="10" cy="10" r="8.5"/><path d="M7.3 7.6a2.8 2.8 0 1 1 3.8 2.6c-.8.4-1.1.9-1.1 1.8" fill="none" stroke="#fff" stroke-width="1.8"/><circle cx="10" cy="14.8" r="1.1" fill="#fff"/>"##,
        ),
    };
    html! {
        svg width="20" height="20" viewBox="0 0 20 20" role="img" aria-label=(kind) fill=(color) stroke=(color)
            class={ "icon-" (kind) } {
            title { (kind) }
            (PreEscaped(shape))
        }
    }
}

/// The icon, the kind and its title.
pub fn kind_cell(config: &Config, kind: &str, artifact_type: Option<&str>) -> Markup {
    html! {
        span class="kind" {
            (kind_icon(kind))
            span { (kind) small { (type_title(config, kind, artifact_type)) } }
        }
    }
}

/// What a user runs to use the artifact, or (for an unsupported type) why there is nothing.
pub fn action_text(
    config: &Config,
    kind: &Kind,
    status: Status,
    reason: Option<&str>,
    artifact: &ArtifactRef,
    tag: Option<&str>,
) -> Action {
    let ArtifactRef {
        registry,
        repository,
        digest,
    } = artifact;
    if status == Status::Unsupported {
        return Action::Reason(reason.unwrap_or("no scanner handles this artifact type").to_owned());
    }
    let by_tag = match tag {
        Some(t) => format!("{registry}/{repository}:{t}"),
        None => format!("{registry}/{repository}@{digest}"),
    };
    let scheme = if config.registry(registry).is_some_and(|r| r.insecure) {
        "http"
    } else {
        "https"
    };
    let name = repository.rsplit('/').next().unwrap_or(repository);
    match kind {
        Kind::Image | Kind::Index => Action::Commands(vec![format!("docker pull {registry}/{repository}@{digest}"), format!("docker run --rm -it {by_tag}")]),
        Kind::Helm => match tag {
            Some(v) => Action::Commands(vec![format!("helm install {name} oci://{registry}/{repository} --version {v}")]),
            None => Action::Commands(vec![format!("helm pull oci://{registry}/{repository}@{digest}")]),
        },
        Kind::Opa => Action::Commands(vec![format!(
            "opa run --server --set services.registry.url={scheme}://{registry} --set services.registry.type=oci --set bundles.{name}.service=registry --set bundles.{name}.resource={by_tag}"
        )]),
        _ => Action::Reason(reason.unwrap_or("regscan knows no way to run this type").to_owned()),
    }
}

/// How to use an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Commands to run.
    Commands(Vec<String>),
    /// Why there is nothing to run (unsupported type, failed scan).
    Reason(String),
}

impl Action {
    /// As HTML.
    pub fn to_html(&self) -> Markup {
        html! {
            @match self {
                Action::Commands(cmds) => {
                    @for c in cmds { code class="cmd" { (c) } }
                }
                Action::Reason(r) => { span class="reason" { (r) } }
            }
        }
    }
}

/// The page URL of an artifact.
pub fn artifact_href(registry: &str, repository: &str, digest: &str) -> String {
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, PATH).to_string();
    format!("/artifacts/{}/{}@{}", enc(registry), enc(repository), enc(digest))
}

/// Characters escaped in a path piece (`/` and `:` stay, they are part of references).
const PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'%')
    .add(b'\'');

#[cfg(test)]
mod tests {
    use super::*;
    use regscan_scanner_api::Digest;

    #[test]
    fn values_are_escaped_and_controls_shown_on_the_page() {
        let v = r#"<script>alert("x")</script> & 'y'"#;
        let body = html! { p title=(v) { (v) } };
        let out = page("t<i>", body);
        assert!(
            out.contains(
                "<p title=\"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; 'y'\">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; 'y'</p>"
            ),
            "{out}"
        );
        assert!(out.contains("<title>t&lt;i&gt; · regscan</title>"), "{out}");
        assert!(!out.contains("<script>") && !out.contains("<i>"), "{out}");
        assert_eq!(show_controls("plain/repo:1.0".into()), "plain/repo:1.0");
        let out = page("x", html! { a href=("a\u{202E}b") { "a\u{202E}gpj.exe" } });
        assert!(
            out.contains("<a href=\"a&lt;U+202E&gt;b\">a&lt;U+202E&gt;gpj.exe</a>"),
            "{out}"
        );
        assert_eq!(
            show_controls("\u{2066}x\u{2069}\u{200F}\u{061C}".into()),
            "&lt;U+2066&gt;x&lt;U+2069&gt;&lt;U+200F&gt;&lt;U+061C&gt;"
        );
        assert_eq!(show_controls("a\r\nb\tc".into()), "a&lt;U+000D&gt;\nb\tc");
        assert!(
            out.starts_with("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"),
            "{out}"
        );
    }

    #[test]
    fn actions_fit_the_type() {
        let mut c = Config::default();
        c.registries.push(crate::config::RegistryConfig {
            host: "127.0.0.1:5000".into(),
            insecure: true,
            ..Default::default()
        });
        let d = Digest::parse(&format!("sha256:{}", "1".repeat(64))).unwrap();
        let at = |repo: &str| ArtifactRef::new("127.0.0.1:5000", repo, d.clone());
        let a = action_text(
            &c,
            &Kind::new("helm"),
            Status::Succeeded,
            None,
            &at("charts/web"),
            Some("0.1.0"),
        );
        assert_eq!(
            a,
            Action::Commands(vec![
                "helm install web oci://127.0.0.1:5000/charts/web --version 0.1.0".into()
            ])
        );
        let Action::Commands(cmds) = action_text(
            &c,
            &Kind::new("image"),
            Status::Succeeded,
            None,
            &at("team/app"),
            Some("1.0"),
        ) else {
            panic!()
        };
        assert_eq!(
            cmds,
            [
                format!("docker pull 127.0.0.1:5000/team/app@{d}"),
                "docker run --rm -it 127.0.0.1:5000/team/app:1.0".to_owned()
            ]
        );
        let Action::Commands(cmds) = action_text(
            &c,
            &Kind::new("opa"),
            Status::Succeeded,
            None,
            &at("policy/authz"),
            Some("v1"),
        ) else {
            panic!()
        };
        assert!(
            cmds[0].starts_with("opa run --server")
                && cmds[0].contains("http://127.0.0.1:5000")
                && cmds[0].contains("resource=127.0.0.1:5000/policy/authz:v1"),
            "{cmds:?}"
        );
        let a = action_text(
            &c,
            &Kind::new("unknown"),
            Status::Unsupported,
            Some("no scanner handles media type x/y"),
            &at("o"),
            None,
        );
        assert_eq!(a, Action::Reason("no scanner handles media type x/y".into()));
        assert!(Action::Reason("<b>".into())
            .to_html()
            .into_string()
            .contains("&lt;b&gt;"));
    }

    #[test]
    fn titles_and_icons() {
        let c = Config::default();
        assert_eq!(
            type_title(&c, "sbom", Some("application/spdx+json")),
            "SPDX SBOM (JSON)"
        );
        assert_eq!(
            type_title(&c, "helm", Some("application/vnd.cncf.helm.config.v1+json")),
            "Helm chart"
        );
        assert_eq!(
            type_title(&c, "unknown", Some("application/x-rocket")),
            "Unknown artifact type"
        );
        assert!(kind_icon("<x>").into_string().contains("aria-label=\"&lt;x&gt;\""));
        assert_eq!(
            artifact_href("h:5000", "a/b", "sha256:0"),
            "/artifacts/h:5000/a/b@sha256:0"
        );
        assert_eq!(artifact_href("h", "a b", "x#y"), "/artifacts/h/a%20b@x%23y");
    }
}
