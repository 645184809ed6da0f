//! The "Vulnerabilities" pages: `/vulnerabilities` searches advisories as
//! `GET /v1/vulnerabilities` does and shows the top lists of `GET /v1/summary` (most dangerous
//! artifacts, most widespread advisories, fixable split); `/packages` shows where a package is
//! installed, as `GET /v1/packages`. Every advisory id links to the artifacts it affects, every
//! package to where it is found, every artifact to its page. Every stored value goes through
//! [`esc`].

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use regscan_scanner_api::Severity;

use super::html::{self, esc, page};
use super::{select, url_component, WebError, KINDS};
use crate::http::api::incidents::{PackageParams, VulnParams};
use crate::http::api::ApiError;
use crate::http::auth::{require, Role};
use crate::http::AppState;
use crate::store::incidents::ArtifactRef;

fn v(o: &Option<String>) -> &str {
    o.as_deref().unwrap_or("")
}

fn nonempty(o: &Option<String>) -> Option<&str> {
    o.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn query_string(pairs: &[(&str, &Option<String>)], before: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, val) in pairs {
        if let Some(val) = nonempty(val) {
            q.append_pair(k, val);
        }
    }
    q.append_pair("before", before);
    q.finish()
}

fn vuln_href(id: &str) -> String {
    format!("/vulnerabilities?id={}", url_component(id))
}

fn package_href(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("/packages?name={}&version={}", url_component(name), url_component(v)),
        None => format!("/packages?name={}", url_component(name)),
    }
}

fn artifact_link(a: &ArtifactRef) -> String {
    let short: String = a.digest.chars().take(19).collect();
    format!(
        "<a class=\"artifact\" href=\"{}\">{}/{}</a> <span class=\"mono muted\">{}…</span>{}",
        esc(&html::artifact_href(&a.registry, &a.repository, &a.digest)),
        esc(&a.registry),
        esc(&a.repository),
        esc(&short),
        a.platform
            .as_deref()
            .map(|p| format!(" <span class=\"muted\">({})</span>", esc(p)))
            .unwrap_or_default()
    )
}

fn forms(vp: &VulnParams, pp: &PackageParams) -> String {
    let severities: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
    let mut s = String::from("<form id=\"vuln-search\" class=\"filters\" method=\"get\" action=\"/vulnerabilities\">");
    s.push_str(&format!(
        "<label>Advisory id (or alias)<input name=\"id\" value=\"{}\" placeholder=\"CVE-2021-44228\"></label>\
         <label>Package<input name=\"package\" value=\"{}\"></label>",
        esc(v(&vp.id)),
        esc(v(&vp.package))
    ));
    s.push_str(&select(
        "min_severity",
        "Severity at least",
        &severities,
        nonempty(&vp.min_severity),
    ));
    s.push_str(&format!(
        "<label>CVSS from<input name=\"cvss_min\" size=\"4\" value=\"{}\"></label><label>to<input name=\"cvss_max\" size=\"4\" value=\"{}\"></label>\
         <label>Repository prefix<input name=\"repository\" value=\"{}\"></label>",
        esc(v(&vp.cvss_min)),
        esc(v(&vp.cvss_max)),
        esc(v(&vp.repository))
    ));
    s.push_str(&select("kind", "Kind", KINDS, nonempty(&vp.kind)));
    s.push_str("<button type=\"submit\">Find affected artifacts</button></form>");
    s.push_str(&format!(
        "<form id=\"package-search\" class=\"filters\" method=\"get\" action=\"/packages\">\
         <label>Package name<input name=\"name\" value=\"{}\" placeholder=\"openssl\"></label>\
         <label>Version<input name=\"version\" value=\"{}\" placeholder=\"&gt;=2.0,&lt;2.17 or 2.1*\"></label>\
         <label>Ecosystem<input name=\"ecosystem\" value=\"{}\" placeholder=\"Debian\"></label>\
         <label>purl<input name=\"purl\" value=\"{}\" placeholder=\"pkg:deb/debian/openssl\"></label>\
         <button type=\"submit\">Where is it installed?</button></form>",
        esc(v(&pp.name)),
        esc(v(&pp.version)),
        esc(v(&pp.ecosystem)),
        esc(v(&pp.purl))
    ));
    s
}

/// `GET /vulnerabilities`.
pub(super) async fn vulnerabilities_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<VulnParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Html<String>, WebError> {
    require(&state, &headers, Role::Read)?;
    let Query(p) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let filter = p.to_filter()?;
    let searching = !filter.ids.is_empty()
        || filter.package.is_some()
        || filter.min_severity.is_some()
        || filter.cvss_min.is_some()
        || filter.cvss_max.is_some()
        || filter.repository.is_some()
        || filter.kind.is_some();
    let mut body = String::from("<h1>Vulnerabilities</h1>");
    body.push_str(&forms(&p, &PackageParams::default()));
    if searching {
        let result = state.store.vulnerabilities(&filter).await.map_err(ApiError::from)?;
        if result.items.is_empty() {
            body.push_str("<p class=\"muted\" id=\"empty\">No stored artifact is affected now.</p>");
        } else {
            body.push_str("<table id=\"vulns\"><thead><tr><th>Advisory</th><th>Severity</th><th>Package</th><th>Affected artifacts (installed → fixed)</th></tr></thead><tbody>");
            for i in &result.items {
                let aliases = if i.aliases.is_empty() {
                    String::new()
                } else {
                    format!(
                        "<div class=\"muted aliases\">{}</div>",
                        i.aliases
                            .iter()
                            .map(|a| format!("<a href=\"{}\">{}</a>", esc(&vuln_href(a)), esc(a)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let package = match &i.package {
                    Some(name) => format!(
                        "<a class=\"package\" href=\"{}\">{}</a>",
                        esc(&package_href(name, None)),
                        esc(name)
                    ),
                    None => "<span class=\"muted\">—</span>".into(),
                };
                let mut arts = String::from("<ul class=\"affected\">");
                for a in &i.artifacts {
                    let versions = match (&a.installed_version, &a.fixed_version) {
                        (Some(inst), Some(fix)) => format!("{} → {}", esc(inst), esc(fix)),
                        (Some(inst), None) => format!("{} → <span class=\"muted\">no fix</span>", esc(inst)),
                        _ => String::new(),
                    };
                    arts.push_str(&format!(
                        "<li>{} <span class=\"mono versions\">{versions}</span></li>",
                        artifact_link(&a.artifact)
                    ));
                }
                arts.push_str("</ul>");
                body.push_str(&format!(
                    "<tr class=\"vuln\" data-id=\"{id}\"><td class=\"id\"><a class=\"advisory\" href=\"{href}\">{id}</a>{aliases}<div class=\"muted\">{title}</div></td><td>{sev}{cvss}</td><td>{package}</td><td>{arts}</td></tr>",
                    id = esc(&i.id),
                    href = esc(&vuln_href(&i.id)),
                    title = esc(&i.title),
                    sev = html::severity_badge(i.severity),
                    cvss = i.cvss.map(|c| format!(" <span class=\"muted\">CVSS {c:.1}</span>")).unwrap_or_default(),
                ));
            }
            body.push_str("</tbody></table>");
        }
        if let Some(c) = &result.next_cursor {
            let q = query_string(
                &[
                    ("id", &p.id),
                    ("package", &p.package),
                    ("min_severity", &p.min_severity),
                    ("cvss_min", &p.cvss_min),
                    ("cvss_max", &p.cvss_max),
                    ("repository", &p.repository),
                    ("kind", &p.kind),
                    ("limit", &p.limit),
                ],
                c,
            );
            body.push_str(&format!(
                "<p class=\"pager\"><a id=\"next\" href=\"/vulnerabilities?{}\">Next page →</a></p>",
                esc(&q)
            ));
        }
    }
    body.push_str(&top_lists(&state).await?);
    Ok(Html(page("Vulnerabilities", &body)))
}

async fn top_lists(state: &AppState) -> Result<String, WebError> {
    let store = &state.store;
    let dangerous = store.most_dangerous(10).await?;
    let top = store.top_vulnerabilities(10).await?;
    let split = store.fixable_split().await?;
    let mut s = String::from("<h2>Most dangerous artifacts</h2>");
    if dangerous.is_empty() {
        s.push_str("<p class=\"muted\" id=\"top-artifacts\">No stored artifact has critical or high findings.</p>");
    } else {
        s.push_str("<table id=\"top-artifacts\"><thead><tr><th>Artifact</th><th>Kind</th><th>Findings</th></tr></thead><tbody>");
        for d in &dangerous {
            s.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                artifact_link(&d.artifact),
                esc(&d.artifact.kind),
                html::severity_counts(&d.summary)
            ));
        }
        s.push_str("</tbody></table>");
    }
    s.push_str("<h2>Advisories affecting the most artifacts</h2>");
    if top.is_empty() {
        s.push_str("<p class=\"muted\" id=\"top-vulns\">No stored artifact has findings about a package.</p>");
    } else {
        s.push_str("<table id=\"top-vulns\"><thead><tr><th>Advisory</th><th>Severity</th><th>Artifacts</th></tr></thead><tbody>");
        for t in &top {
            s.push_str(&format!(
                "<tr><td class=\"id\"><a class=\"advisory\" href=\"{}\">{}</a></td><td>{}</td><td class=\"count\">{}</td></tr>",
                esc(&vuln_href(&t.id)),
                esc(&t.id),
                html::severity_badge(t.severity),
                t.artifacts
            ));
        }
        s.push_str("</tbody></table>");
    }
    s.push_str(&format!(
        "<h2>Fixable</h2><p id=\"fixable\"><span class=\"fixable\">{}</span> findings have a fixed version (in <span class=\"fixable-artifacts\">{}</span> artifacts); <span class=\"unfixable\">{}</span> have none yet.</p>",
        split.fixable, split.fixable_artifacts, split.unfixable
    ));
    Ok(s)
}

/// `GET /packages`.
pub(super) async fn packages_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<PackageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Html<String>, WebError> {
    require(&state, &headers, Role::Read)?;
    let Query(p) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let mut body = String::from("<h1>Packages</h1>");
    body.push_str(&forms(&VulnParams::default(), &p));
    if nonempty(&p.name).is_none() && nonempty(&p.purl).is_none() {
        body.push_str("<p class=\"muted\">Give a package name or purl.</p>");
        return Ok(Html(page("Packages", &body)));
    }
    let filter = p.to_filter()?;
    let result = state.store.packages_in_use(&filter).await.map_err(ApiError::from)?;
    if result.items.is_empty() {
        body.push_str("<p class=\"muted\" id=\"empty\">No stored artifact holds it now.</p>");
    } else {
        body.push_str("<table id=\"packages\"><thead><tr><th>Package</th><th>Version</th><th>Ecosystem</th><th>Found in (path, layer)</th></tr></thead><tbody>");
        for i in &result.items {
            let mut arts = String::from("<ul class=\"found\">");
            for a in &i.artifacts {
                let locs: Vec<String> = a
                    .locations
                    .iter()
                    .map(|l| {
                        let layer: String = l.layer.as_deref().unwrap_or("").chars().take(19).collect();
                        if layer.is_empty() {
                            format!("<code>{}</code>", esc(&l.path))
                        } else {
                            format!(
                                "<code>{}</code> <span class=\"mono muted\">layer {}…</span>",
                                esc(&l.path),
                                esc(&layer)
                            )
                        }
                    })
                    .collect();
                arts.push_str(&format!(
                    "<li>{} <span class=\"locations\">{}</span></li>",
                    artifact_link(&a.artifact),
                    locs.join("; ")
                ));
            }
            arts.push_str("</ul>");
            body.push_str(&format!(
                "<tr class=\"package\" data-name=\"{name}\"><td><a class=\"package\" href=\"{href}\">{name}</a><div class=\"mono muted\">{purl}</div></td><td class=\"mono\">{version}</td><td>{eco}</td><td>{arts}</td></tr>",
                name = esc(&i.name),
                href = esc(&package_href(&i.name, Some(&i.version))),
                purl = esc(&i.purl),
                version = esc(&i.version),
                eco = esc(&i.ecosystem),
            ));
        }
        body.push_str("</tbody></table>");
    }
    if let Some(c) = &result.next_cursor {
        let q = query_string(
            &[
                ("name", &p.name),
                ("version", &p.version),
                ("ecosystem", &p.ecosystem),
                ("purl", &p.purl),
                ("repository", &p.repository),
                ("kind", &p.kind),
                ("limit", &p.limit),
            ],
            c,
        );
        body.push_str(&format!(
            "<p class=\"pager\"><a id=\"next\" href=\"/packages?{}\">Next page →</a></p>",
            esc(&q)
        ));
    }
    Ok(Html(page("Packages", &body)))
}
