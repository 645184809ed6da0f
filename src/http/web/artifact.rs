//! The page of one artifact: what it is, its status (and for `failed`/`unsupported` the
//! reason), how to use it, its tags, findings, children (index) and scan history.

use std::fmt::Write as _;

use regscan_scanner_api::{ArtifactRef, Digest, Kind, Status};

use super::html::{self, esc, page};
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

    let mut b = String::new();
    let _ = write!(b, "<h1 id=\"reference\">{}</h1>", esc(&report.reference));
    b.push_str("<dl class=\"facts\">");
    let mut fact = |k: &str, v: String| {
        let _ = write!(b, "<dt>{k}</dt><dd>{v}</dd>");
    };
    fact(
        "Type",
        html::kind_cell(config, report.kind.as_str(), report.artifact_type.as_deref()),
    );
    fact(
        "Status",
        format!("<span id=\"status\">{}</span>", html::status_badge(report.status)),
    );
    if let Some(r) = &report.reason {
        fact(
            if report.status == Status::Unsupported {
                "Why unsupported"
            } else {
                "Reason"
            },
            format!("<span id=\"reason\" class=\"reason\">{}</span>", esc(r)),
        );
    }
    fact("Findings", html::severity_counts(&report.summary));
    fact("Digest", format!("<code>{}</code>", esc(&report.digest)));
    fact(
        "Manifest media type",
        format!("<code>{}</code>", esc(&report.manifest_media_type)),
    );
    if let Some(t) = &report.artifact_type {
        fact("Artifact type", format!("<code id=\"artifact-type\">{}</code>", esc(t)));
    }
    if let Some(p) = &report.platform {
        fact("Platform", esc(p));
    }
    if let Some(s) = &report.scanner {
        fact("Scanner", format!("{} {}", esc(&s.name), esc(&s.version)));
    }
    if let Some(t) = &report.scanned_at {
        fact("Scanned", esc(t));
    }
    if let Some(s) = &report.advisory_snapshot {
        fact("Advisory snapshot", format!("<code>{}</code>", esc(s)));
    }
    let action = html::action_text(
        config,
        &report.kind,
        report.status,
        report.reason.as_deref(),
        &at,
        tags.first().map(String::as_str),
    );
    fact("Use it", action.to_html());
    let api = format!("/v1{}", &html::artifact_href(registry, repository, at.digest.as_str()));
    fact(
        "Machine-readable",
        format!("<a href=\"{0}\">JSON report</a> · <a href=\"{0}?format=harbor\">Harbor report</a> · <a href=\"{0}?format=cyclonedx\">CycloneDX SBOM</a>", esc(&api)),
    );
    if let Some(subject) = &report.subject {
        let href = html::artifact_href(registry, repository, subject);
        fact(
            "Refers to",
            format!(
                "<a id=\"subject\" href=\"{}\"><code>{}</code></a>",
                esc(&href),
                esc(subject)
            ),
        );
    }
    b.push_str("</dl>");

    if !report.referrers.is_empty() {
        let _ = write!(
            b,
            "<h2>Signatures, SBOMs and attestations ({})</h2><table id=\"referrers\"><thead><tr><th>Digest</th><th>Type</th><th>Status</th></tr></thead><tbody>",
            report.referrers.len()
        );
        for r in &report.referrers {
            let href = html::artifact_href(registry, repository, &r.digest);
            let kind = r.kind.as_ref().unwrap_or(&Kind::Unknown).as_str();
            let status = match r.status {
                Some(s) => html::status_badge(s),
                None => "<span class=\"muted\">not stored yet</span>".to_owned(),
            };
            let _ = write!(
                b,
                "<tr data-kind=\"{}\"><td><a href=\"{}\"><code>{}</code></a></td><td>{}</td><td>{status}</td></tr>",
                esc(kind),
                esc(&href),
                esc(&r.digest),
                html::kind_cell(config, kind, r.artifact_type.as_deref()),
            );
        }
        b.push_str("</tbody></table>");
    }

    if !report.signatures.is_empty() {
        b.push_str("<h2>Signatures</h2><table id=\"signatures\"><thead><tr><th>Signature</th><th>Verified</th><th>Key</th><th>Why not</th></tr></thead><tbody>");
        for sig in &report.signatures {
            let _ = write!(
                b,
                "<tr class=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if sig.verified { "verified" } else { "unverified" },
                esc(&sig.digest),
                if sig.verified { "yes" } else { "no" },
                esc(sig.key.as_deref().unwrap_or("")),
                esc(sig.reason.as_deref().unwrap_or("")),
            );
        }
        b.push_str("</tbody></table>");
    }

    let _ = write!(b, "<h2>Tags</h2>");
    if tags.is_empty() {
        b.push_str("<p class=\"muted\">No tag points at this digest.</p>");
    } else {
        b.push_str("<p id=\"tags\">");
        for t in &tags {
            let _ = write!(b, "<code>{}</code> ", esc(t));
        }
        b.push_str("</p>");
    }

    let _ = write!(b, "<h2>Findings ({})</h2>", report.findings.len());
    if report.findings.is_empty() {
        let why = match report.status {
            Status::Succeeded if report.kind == Kind::Index => "An index has no findings of its own; see its children.",
            Status::Succeeded => "No findings.",
            Status::Unsupported => "Not scanned: no scanner handles this type. This is not a clean result.",
            Status::Failed => "Not scanned: the scan failed. This is not a clean result.",
            Status::Queued | Status::Running => "The scan has not finished.",
        };
        let _ = write!(b, "<p class=\"muted\" id=\"no-findings\">{why}</p>");
    } else {
        b.push_str("<table id=\"findings\"><thead><tr><th>Severity</th><th>ID</th><th>Package / object</th><th>Installed</th><th>Fixed</th><th>Title</th><th>Location</th></tr></thead><tbody>");
        for f in &report.findings {
            let refs: String = f
                .references
                .iter()
                .filter(|r| r.starts_with("https://") || r.starts_with("http://"))
                .take(3)
                .map(|r| format!(" <a href=\"{}\" rel=\"noreferrer\">link</a>", esc(r)))
                .collect();
            let _ = write!(
                b,
                "<tr><td>{}</td><td class=\"mono id\">{}{refs}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}{}</td><td class=\"mono\">{}</td></tr>",
                html::severity_badge(f.severity),
                esc(&f.id),
                esc(f.package.as_deref().unwrap_or("")),
                esc(f.installed_version.as_deref().unwrap_or("")),
                esc(f.fixed_version.as_deref().unwrap_or("")),
                esc(&f.title),
                f.remediation.as_deref().map(|r| format!("<div class=\"muted\">{}</div>", esc(r))).unwrap_or_default(),
                esc(f.location.as_deref().unwrap_or("")),
            );
        }
        b.push_str("</tbody></table>");
    }

    if !report.children.is_empty() {
        let _ = write!(b, "<h2>Children ({})</h2><table id=\"children\"><thead><tr><th>Platform</th><th>Type</th><th>Status</th><th>Findings</th></tr></thead><tbody>", report.children.len());
        for c in &report.children {
            let _ = write!(
                b,
                "<tr><td><a href=\"{}\">{}</a><div class=\"mono muted\">{}</div></td><td>{}</td><td>{}{}</td><td>{}</td></tr>",
                esc(&html::artifact_href(&c.registry, &c.repository, &c.digest)),
                esc(c.platform.as_deref().unwrap_or("(no platform)")),
                esc(&c.digest),
                html::kind_cell(config, c.kind.as_str(), c.artifact_type.as_deref()),
                html::status_badge(c.status),
                c.reason.as_deref().map(|r| format!("<div class=\"reason\">{}</div>", esc(r))).unwrap_or_default(),
                html::severity_counts(&c.summary),
            );
        }
        b.push_str("</tbody></table>");
    }
    if let Some(parent) = &artifact.parent_digest {
        let _ = write!(
            b,
            "<p>Part of the index <a href=\"{}\">{}</a>.</p>",
            esc(&html::artifact_href(registry, repository, parent)),
            esc(parent)
        );
    }

    let _ = write!(b, "<h2>Scan history ({})</h2>", history.len());
    if history.is_empty() {
        b.push_str("<p class=\"muted\">Never scanned yet.</p>");
    } else {
        b.push_str("<table id=\"history\"><thead><tr><th>#</th><th>Started</th><th>Finished</th><th>Scanner</th><th>Status</th><th>Findings</th></tr></thead><tbody>");
        for s in &history {
            let scanner = if s.scanner.is_empty() {
                "—".to_owned()
            } else {
                format!("{} {}", esc(&s.scanner), esc(&s.scanner_version))
            };
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{scanner}</td><td>{}{}</td><td>{}</td></tr>",
                s.id,
                s.started_at.map(crate::report::rfc3339).unwrap_or_default(),
                s.finished_at.map(crate::report::rfc3339).unwrap_or_default(),
                html::status_badge(s.status),
                s.reason
                    .as_deref()
                    .map(|r| format!("<div class=\"reason\">{}</div>", esc(r)))
                    .unwrap_or_default(),
                html::severity_counts(&s.summary),
            );
        }
        b.push_str("</tbody></table>");
    }
    Ok(page(&report.reference, &b))
}
