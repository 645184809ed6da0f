//! The page of one artifact: what it is, its status (and for `failed`/`unsupported` the
//! reason), how to use it, its tags, findings, children (index) and scan history.

use maud::{html, Markup};
use regscan_scanner_api::{ArtifactRef, Digest, Kind, Status};

use super::html::{self, page};
use super::{AppState, WebError};
use crate::http::api::ApiError;
use crate::report::Report;

/// Render the page of `registry/repository` at `digest` (or the digest `tag` points at).
pub async fn render(
    state: &AppState,
    registry: &str,
    repository: &str,
    digest: Option<Digest>,
    tag: Option<String>,
) -> Result<String, WebError> {
    let store = &state.store;
    let digest = match digest {
        Some(d) => d,
        None => {
            let t = tag.clone().unwrap_or_default();
            store
                .resolve_tag(registry, repository, &t)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("no artifact is tagged {registry}/{repository}:{t}")))?
        }
    };
    let at = ArtifactRef::new(registry, repository, digest);
    let Some(artifact) = store.artifact(&at).await? else {
        return Err(ApiError::not_found(format!("{at} is not in the results database")).into());
    };
    let report = Report::of_artifact(store, &artifact, tag.as_deref()).await?;
    let tags = store.tags_of(&at).await?;
    let history = store.scans_of(artifact.id).await?;
    let config = &state.config;

    let action = html::action_text(
        config,
        &report.kind,
        report.status,
        report.reason.as_deref(),
        &at,
        tags.first().map(String::as_str),
    );
    let api = format!("/v1{}", &html::artifact_href(registry, repository, at.digest.as_str()));

    // The facts, in order: (label, value).
    let mut facts: Vec<(&str, Markup)> = vec![
        (
            "Type",
            html::kind_cell(config, report.kind.as_str(), report.artifact_type.as_deref()),
        ),
        (
            "Status",
            html! { span id="status" { (html::status_badge(report.status)) } },
        ),
    ];
    if let Some(r) = &report.reason {
        let label = if report.status == Status::Unsupported {
            "Why unsupported"
        } else {
            "Reason"
        };
        facts.push((label, html! { span id="reason" class="reason" { (r) } }));
    }
    facts.push(("Findings", html::severity_counts(&report.summary)));
    facts.push(("Digest", html! { code { (report.digest) } }));
    facts.push(("Manifest media type", html! { code { (report.manifest_media_type) } }));
    if let Some(t) = &report.artifact_type {
        facts.push(("Artifact type", html! { code id="artifact-type" { (t) } }));
    }
    if let Some(p) = &report.platform {
        facts.push(("Platform", html! { (p) }));
    }
    if let Some(s) = &report.scanner {
        facts.push(("Scanner", html! { (s.name) " " (s.version) }));
    }
    if let Some(t) = &report.scanned_at {
        facts.push(("Scanned", html! { (t) }));
    }
    if let Some(s) = &report.advisory_snapshot {
        facts.push(("Advisory snapshot", html! { code { (s) } }));
    }
    facts.push(("Use it", action.to_html()));
    facts.push((
        "Machine-readable",
        html! {
            a href=(api) { "JSON report" }
            " · "
            a href={ (api) "?format=harbor" } { "Harbor report" }
            " · "
            a href={ (api) "?format=cyclonedx" } { "CycloneDX SBOM" }
        },
    ));
    if let Some(subject) = &report.subject {
        facts.push((
            "Refers to",
            html! { a id="subject" href=(html::artifact_href(registry, repository, subject)) { code { (subject) } } },
        ));
    }

    let no_findings = match report.status {
        Status::Succeeded if report.kind == Kind::Index => "An index has no findings of its own; see its children.",
        Status::Succeeded => "No findings.",
        Status::Unsupported => "Not scanned: no scanner handles this type. This is not a clean result.",
        Status::Failed => "Not scanned: the scan failed. This is not a clean result.",
        Status::Queued | Status::Running => "The scan has not finished.",
    };

    let body = html! {
        h1 id="reference" { (report.reference) }
        dl class="facts" {
            @for (k, v) in &facts { dt { (k) } dd { (v) } }
        }

        @if !report.referrers.is_empty() {
            h2 { "Signatures, SBOMs and attestations (" (report.referrers.len()) ")" }
            table id="referrers" {
                thead { tr { th { "Digest" } th { "Type" } th { "Status" } } }
                tbody {
                    @for r in &report.referrers {
                        @let kind = r.kind.as_ref().unwrap_or(&Kind::Unknown).as_str();
                        tr data-kind=(kind) {
                            td { a href=(html::artifact_href(registry, repository, &r.digest)) { code { (r.digest) } } }
                            td { (html::kind_cell(config, kind, r.artifact_type.as_deref())) }
                            td {
                                @match r.status {
                                    Some(s) => { (html::status_badge(s)) }
                                    None => { span class="muted" { "not stored yet" } }
                                }
                            }
                        }
                    }
                }
            }
        }

        @if !report.signatures.is_empty() {
            h2 { "Signatures" }
            table id="signatures" {
                thead { tr { th { "Signature" } th { "Verified" } th { "Key" } th { "Why not" } } }
                tbody {
                    @for sig in &report.signatures {
                        tr class=(if sig.verified { "verified" } else { "unverified" }) {
                            td { code { (sig.digest) } }
                            td { (if sig.verified { "yes" } else { "no" }) }
                            td { (sig.key.as_deref().unwrap_or("")) }
                            td { (sig.reason.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }

        h2 { "Tags" }
        @if tags.is_empty() {
            p class="muted" { "No tag points at this digest." }
        } @else {
            p id="tags" { @for t in &tags { code { (t) } " " } }
        }

        h2 { "Findings (" (report.findings.len()) ")" }
        @if report.findings.is_empty() {
            p class="muted" id="no-findings" { (no_findings) }
        } @else {
            table id="findings" {
                thead {
                    tr {
                        th { "Severity" } th { "ID" } th { "Package / object" } th { "Installed" } th { "Fixed" }
                        th { "Title" } th { "Location" }
                    }
                }
                tbody {
                    @for f in &report.findings {
                        tr {
                            td { (html::severity_badge(f.severity)) }
                            td class="mono id" {
                                (f.id)
                                @for r in f.references.iter().filter(|r| is_web_link(r)).take(3) {
                                    " " a href=(r) rel="noreferrer" { "link" }
                                }
                            }
                            td { (f.package.as_deref().unwrap_or("")) }
                            td class="mono" { (f.installed_version.as_deref().unwrap_or("")) }
                            td class="mono" { (f.fixed_version.as_deref().unwrap_or("")) }
                            td {
                                (f.title)
                                @if let Some(r) = &f.remediation { div class="muted" { (r) } }
                            }
                            td class="mono" { (f.location.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }

        @if !report.children.is_empty() {
            h2 { "Children (" (report.children.len()) ")" }
            table id="children" {
                thead { tr { th { "Platform" } th { "Type" } th { "Status" } th { "Findings" } } }
                tbody {
                    @for c in &report.children {
                        tr {
                            td {
                                a href=(html::artifact_href(&c.registry, &c.repository, &c.digest)) {
                                    (c.platform.as_deref().unwrap_or("(no platform)"))
                                }
                                div class="mono muted" { (c.digest) }
                            }
                            td { (html::kind_cell(config, c.kind.as_str(), c.artifact_type.as_deref())) }
                            td {
                                (html::status_badge(c.status))
                                @if let Some(r) = &c.reason { div class="reason" { (r) } }
                            }
                            td { (html::severity_counts(&c.summary)) }
                        }
                    }
                }
            }
        }
        @if let Some(parent) = &artifact.parent_digest {
            p {
                "Part of the index "
                a href=(html::artifact_href(registry, repository, parent)) { (parent) }
                "."
            }
        }

        h2 { "Scan history (" (history.len()) ")" }
        @if history.is_empty() {
            p class="muted" { "Never scanned yet." }
        } @else {
            table id="history" {
                thead {
                    tr {
                        th { "#" } th { "Started" } th { "Finished" } th { "Scanner" } th { "Status" }
                        th { "Findings" }
                    }
                }
                tbody {
                    @for s in &history {
                        tr {
                            td { (s.id) }
                            td { (s.started_at.map(crate::report::rfc3339).unwrap_or_default()) }
                            td { (s.finished_at.map(crate::report::rfc3339).unwrap_or_default()) }
                            td {
                                @if s.scanner.is_empty() { "—" } @else { (s.scanner) " " (s.scanner_version) }
                            }
                            td {
                                (html::status_badge(s.status))
                                @if let Some(r) = &s.reason { div class="reason" { (r) } }
                            }
                            td { (html::severity_counts(&s.summary)) }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&report.reference, body))
}

/// Whether a finding's reference is a web link (shown as a link; other references are not).
fn is_web_link(r: &str) -> bool {
    r.starts_with("https://") || r.starts_with("http://")
}
