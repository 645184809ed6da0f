//! The "Vulnerabilities" pages: `/vulnerabilities` searches advisories as
//! `GET /v1/vulnerabilities` does and shows the top lists of `GET /v1/summary` (most dangerous
//! artifacts, most widespread advisories, fixable split); `/packages` shows where a package is
//! installed, as `GET /v1/packages`. Every advisory id links to the artifacts it affects, every
//! package to where it is found, every artifact to its page. Stored values are escaped by the
//! templates (see [`super::html`]).

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use maud::{html, Markup};
use regscan_scanner_api::Severity;

use super::html::{self, page};
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

fn artifact_link(a: &ArtifactRef) -> Markup {
    let short: String = a.digest.chars().take(19).collect();
    html! {
        a class="artifact" href=(html::artifact_href(&a.registry, &a.repository, &a.digest)) {
            (a.registry) "/" (a.repository)
        }
        " "
        span class="mono muted" { (short) "…" }
        @if let Some(p) = &a.platform {
            " " span class="muted" { "(" (p) ")" }
        }
    }
}

fn forms(vp: &VulnParams, pp: &PackageParams) -> Markup {
    let severities: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
    html! {
        form id="vuln-search" class="filters" method="get" action="/vulnerabilities" {
            label { "Advisory id (or alias)" input name="id" value=(v(&vp.id)) placeholder="CVE-2021-44228"; }
            label { "Package" input name="package" value=(v(&vp.package)); }
            (select("min_severity", "Severity at least", &severities, nonempty(&vp.min_severity)))
            label { "CVSS from" input name="cvss_min" size="4" value=(v(&vp.cvss_min)); }
            label { "to" input name="cvss_max" size="4" value=(v(&vp.cvss_max)); }
            label { "Repository prefix" input name="repository" value=(v(&vp.repository)); }
            (select("kind", "Kind", KINDS, nonempty(&vp.kind)))
            button type="submit" { "Find affected artifacts" }
        }
        form id="package-search" class="filters" method="get" action="/packages" {
            label { "Package name" input name="name" value=(v(&pp.name)) placeholder="openssl"; }
            label { "Version" input name="version" value=(v(&pp.version)) placeholder=">=2.0,<2.17 or 2.1*"; }
            label { "Ecosystem" input name="ecosystem" value=(v(&pp.ecosystem)) placeholder="Debian"; }
            label { "purl" input name="purl" value=(v(&pp.purl)) placeholder="pkg:deb/debian/openssl"; }
            button type="submit" { "Where is it installed?" }
        }
    }
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
    let result = if searching {
        Some(state.store.vulnerabilities(&filter).await.map_err(ApiError::from)?)
    } else {
        None
    };
    let next = result.as_ref().and_then(|r| r.next_cursor.as_ref()).map(|c| {
        query_string(
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
        )
    });
    let top = top_lists(&state).await?;
    let body = html! {
        h1 { "Vulnerabilities" }
        (forms(&p, &PackageParams::default()))
        @if let Some(result) = &result {
            @if result.items.is_empty() {
                p class="muted" id="empty" { "No stored artifact is affected now." }
            } @else {
                table id="vulns" {
                    thead {
                        tr {
                            th { "Advisory" } th { "Severity" } th { "Package" }
                            th { "Affected artifacts (installed → fixed)" }
                        }
                    }
                    tbody {
                        @for i in &result.items {
                            tr class="vuln" data-id=(i.id) {
                                td class="id" {
                                    a class="advisory" href=(vuln_href(&i.id)) { (i.id) }
                                    @if !i.aliases.is_empty() {
                                        div class="muted aliases" {
                                            @for (n, a) in i.aliases.iter().enumerate() {
                                                @if n > 0 { ", " }
                                                a href=(vuln_href(a)) { (a) }
                                            }
                                        }
                                    }
                                    div class="muted" { (i.title) }
                                }
                                td {
                                    (html::severity_badge(i.severity))
                                    @if let Some(c) = i.cvss {
                                        " " span class="muted" { "CVSS " (format!("{c:.1}")) }
                                    }
                                }
                                td {
                                    @match &i.package {
                                        Some(name) => {
                                            a class="package" href=(package_href(name, None)) { (name) }
                                        }
                                        None => { span class="muted" { "—" } }
                                    }
                                }
                                td {
                                    ul class="affected" {
                                        @for a in &i.artifacts {
                                            li {
                                                (artifact_link(&a.artifact))
                                                " "
                                                span class="mono versions" {
                                                    @match (&a.installed_version, &a.fixed_version) {
                                                        (Some(inst), Some(fix)) => { (inst) " → " (fix) }
                                                        (Some(inst), None) => {
                                                            (inst) " → " span class="muted" { "no fix" }
                                                        }
                                                        _ => {}
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(q) = &next {
                p class="pager" { a id="next" href={ "/vulnerabilities?" (q) } { "Next page →" } }
            }
        }
        (top)
    };
    Ok(Html(page("Vulnerabilities", body)))
}

async fn top_lists(state: &AppState) -> Result<Markup, WebError> {
    let store = &state.store;
    let dangerous = store.most_dangerous(10).await?;
    let top = store.top_vulnerabilities(10).await?;
    let split = store.fixable_split().await?;
    Ok(html! {
        h2 { "Most dangerous artifacts" }
        @if dangerous.is_empty() {
            p class="muted" id="top-artifacts" { "No stored artifact has critical or high findings." }
        } @else {
            table id="top-artifacts" {
                thead { tr { th { "Artifact" } th { "Kind" } th { "Findings" } } }
                tbody {
                    @for d in &dangerous {
                        tr {
                            td { (artifact_link(&d.artifact)) }
                            td { (d.artifact.kind) }
                            td { (html::severity_counts(&d.summary)) }
                        }
                    }
                }
            }
        }
        h2 { "Advisories affecting the most artifacts" }
        @if top.is_empty() {
            p class="muted" id="top-vulns" { "No stored artifact has findings about a package." }
        } @else {
            table id="top-vulns" {
                thead { tr { th { "Advisory" } th { "Severity" } th { "Artifacts" } } }
                tbody {
                    @for t in &top {
                        tr {
                            td class="id" { a class="advisory" href=(vuln_href(&t.id)) { (t.id) } }
                            td { (html::severity_badge(t.severity)) }
                            td class="count" { (t.artifacts) }
                        }
                    }
                }
            }
        }
        h2 { "Fixable" }
        p id="fixable" {
            span class="fixable" { (split.fixable) }
            " findings have a fixed version (in "
            span class="fixable-artifacts" { (split.fixable_artifacts) }
            " artifacts); "
            span class="unfixable" { (split.unfixable) }
            " have none yet."
        }
    })
}

/// `GET /packages`.
pub(super) async fn packages_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<PackageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Html<String>, WebError> {
    require(&state, &headers, Role::Read)?;
    let Query(p) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if nonempty(&p.name).is_none() && nonempty(&p.purl).is_none() {
        let body = html! {
            h1 { "Packages" }
            (forms(&VulnParams::default(), &p))
            p class="muted" { "Give a package name or purl." }
        };
        return Ok(Html(page("Packages", body)));
    }
    let filter = p.to_filter()?;
    let result = state.store.packages_in_use(&filter).await.map_err(ApiError::from)?;
    let next = result.next_cursor.as_ref().map(|c| {
        query_string(
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
        )
    });
    let body = html! {
        h1 { "Packages" }
        (forms(&VulnParams::default(), &p))
        @if result.items.is_empty() {
            p class="muted" id="empty" { "No stored artifact holds it now." }
        } @else {
            table id="packages" {
                thead {
                    tr { th { "Package" } th { "Version" } th { "Ecosystem" } th { "Found in (path, layer)" } }
                }
                tbody {
                    @for i in &result.items {
                        tr class="package" data-name=(i.name) {
                            td {
                                a class="package" href=(package_href(&i.name, Some(&i.version))) { (i.name) }
                                div class="mono muted" { (i.purl) }
                            }
                            td class="mono" { (i.version) }
                            td { (i.ecosystem) }
                            td {
                                ul class="found" {
                                    @for a in &i.artifacts {
                                        li {
                                            (artifact_link(&a.artifact))
                                            " "
                                            span class="locations" {
                                                @for (n, l) in a.locations.iter().enumerate() {
                                                    @if n > 0 { "; " }
                                                    @let layer: String =
                                                        l.layer.as_deref().unwrap_or("").chars().take(19).collect();
                                                    code { (l.path) }
                                                    @if !layer.is_empty() {
                                                        " " span class="mono muted" { "layer " (layer) "…" }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(q) = &next {
            p class="pager" { a id="next" href={ "/packages?" (q) } { "Next page →" } }
        }
    };
    Ok(Html(page("Packages", body)))
}
