//! Artifact listings (`regscan artifacts`, `GET /v1/artifacts`).

use std::fmt::Write as _;

use regscan_scanner_api::{Digest, Kind, Status, Summary};
use serde::{Deserialize, Serialize};

use super::{paint, rfc3339, status_color, truncate, ScannerRef};
use crate::store::ArtifactSummary;

/// One row of an artifact listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactItem {
    /// `registry/repository@digest`.
    pub reference: String,
    /// Registry host.
    pub registry: String,
    /// Repository.
    pub repository: String,
    /// Manifest digest.
    pub digest: Digest,
    /// Tags pointing at it.
    pub tags: Vec<String>,
    /// Manifest media type.
    pub manifest_media_type: String,
    /// Resolved artifact type.
    pub artifact_type: Option<String>,
    /// Kind.
    pub kind: Kind,
    /// Latest scan status.
    pub status: Status,
    /// Why it failed or is unsupported.
    pub reason: Option<String>,
    /// Scanner of the latest scan.
    pub scanner: Option<ScannerRef>,
    /// Findings per severity.
    pub summary: Summary,
    /// Platform, for children of an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// When first seen (RFC 3339).
    pub created_at: String,
    /// When the latest scan finished (RFC 3339).
    pub scanned_at: Option<String>,
    /// When it was deleted from the registry (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// A signature refers to it.
    #[serde(default)]
    pub signed: bool,
    /// An SBOM refers to it.
    #[serde(default)]
    pub has_sbom: bool,
    /// Cursor to pass as `before` for the next page.
    pub cursor: i64,
}

impl ArtifactItem {
    /// Build a row from a stored summary and its tags.
    pub fn new(s: &ArtifactSummary, tags: Vec<String>) -> Self {
        let a = &s.artifact;
        ArtifactItem {
            reference: format!("{}/{}@{}", a.registry, a.repository, a.digest),
            registry: a.registry.clone(),
            repository: a.repository.clone(),
            digest: a.digest.clone(),
            tags,
            manifest_media_type: a.manifest_media_type.clone(),
            artifact_type: a.artifact_type.clone(),
            kind: a.kind.clone(),
            status: s.status,
            reason: s.reason.clone(),
            scanner: s.scanner.clone(),
            summary: s.summary,
            platform: a.platform.clone(),
            created_at: rfc3339(a.created_at),
            scanned_at: s.scanned_at.map(rfc3339),
            deleted_at: a.deleted_at.map(rfc3339),
            signed: s.signed,
            has_sbom: s.has_sbom,
            cursor: a.id,
        }
    }
}

/// A terminal table of artifacts.
pub fn artifacts_table(items: &[ArtifactItem], color: bool) -> String {
    let mut out = String::new();
    if items.is_empty() {
        out.push_str("no artifacts match\n");
        return out;
    }
    let rows: Vec<[String; 5]> = items
        .iter()
        .map(|i| {
            let name = match i.tags.first() {
                Some(t) => format!("{}/{}:{t}", i.registry, i.repository),
                None => format!(
                    "{}/{}@{}",
                    i.registry,
                    i.repository,
                    i.digest.as_str().chars().take(19).collect::<String>()
                ),
            };
            let s = &i.summary;
            let findings = format!("C{} H{} M{} L{}", s.critical, s.high, s.medium, s.low);
            let note = i.reason.clone().or_else(|| i.artifact_type.clone()).unwrap_or_default();
            let marks: String = [(i.signed, " signed"), (i.has_sbom, " sbom")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, m)| *m)
                .collect();
            [name, format!("{}{marks}", i.kind), i.status.to_string(), findings, note]
        })
        .collect();
    let headers = ["ARTIFACT", "KIND", "STATUS", "FINDINGS", "TYPE / REASON"];
    let mut w = headers.map(str::len);
    for r in &rows {
        for (wi, c) in w.iter_mut().zip(r).take(4) {
            *wi = (*wi).max(c.chars().count()).min(60);
        }
    }
    let _ = writeln!(
        out,
        "{:<a$}  {:<b$}  {:<c$}  {:<d$}  {}",
        headers[0],
        headers[1],
        headers[2],
        headers[3],
        headers[4],
        a = w[0],
        b = w[1],
        c = w[2],
        d = w[3]
    );
    for (r, i) in rows.iter().zip(items) {
        let status = paint(color, status_color(i.status), &format!("{:<c$}", r[2], c = w[2]));
        let _ = writeln!(
            out,
            "{:<a$}  {:<b$}  {status}  {:<d$}  {}",
            truncate(&r[0], w[0]),
            r[1],
            r[3],
            truncate(&r[4], 90),
            a = w[0],
            b = w[1],
            d = w[3]
        );
    }
    out
}
