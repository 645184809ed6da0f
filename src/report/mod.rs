//! The report: one JSON object per scanned manifest, exactly as `SPEC.md` shows it, and its
//! terminal rendering.

use std::fmt::Write as _;

use regscan_scanner_api::{ArtifactRef, Finding, Kind, Severity, Status, Summary};
use serde::{Deserialize, Serialize};

use crate::store::{ArtifactRecord, Store, StoreError};

mod list;
pub mod sarif;
pub mod signatures;

/// Report times are RFC 3339 UTC; the one formatter lives in [`crate::time`].
pub use crate::time::rfc3339;
pub use list::{artifacts_table, ArtifactItem};

/// An artifact that refers to this one: a signature, an SBOM, an attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferrerRef {
    /// Its digest.
    pub digest: String,
    /// Its artifact type, when known.
    pub artifact_type: Option<String>,
    /// Its kind, when known.
    pub kind: Option<Kind>,
    /// The status of its latest scan; `null` when it has not been stored yet.
    pub status: Option<Status>,
}

pub use regscan_scanner_api::ScannerRef;

/// One scanned manifest. The struct *is* the JSON format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `registry/repository[:tag]@digest`.
    pub reference: String,
    /// Registry host.
    pub registry: String,
    /// Repository.
    pub repository: String,
    /// Manifest digest.
    pub digest: String,
    /// A tag pointing at the digest, if any.
    pub tag: Option<String>,
    /// Manifest media type.
    pub manifest_media_type: String,
    /// Resolved artifact type.
    pub artifact_type: Option<String>,
    /// Kind.
    pub kind: Kind,
    /// Status.
    pub status: Status,
    /// Why it failed or is unsupported.
    pub reason: Option<String>,
    /// The scanner that ran, if any.
    pub scanner: Option<ScannerRef>,
    /// Findings per severity (for an index: its children's, added up).
    pub summary: Summary,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// Per-platform reports of an index.
    pub children: Vec<Report>,
    /// Platform, for a child of an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Scanner details (OS, packages counted, chart images, bundle rules…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// When the scan finished (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanned_at: Option<String>,
    /// The advisory snapshot findings were matched against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisory_snapshot: Option<String>,
    /// Signatures, SBOMs and attestations that refer to this artifact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<ReferrerRef>,
    /// The digest this artifact refers to, when it is a referrer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Cosign signatures of this artifact, each judged against it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<signatures::SignatureRef>,
}

impl Report {
    /// The report of a stored artifact (its latest scan), with its children for an index.
    pub async fn load(store: &Store, artifact: &ArtifactRef, tag: Option<&str>) -> Result<Option<Report>, StoreError> {
        let Some(a) = store.artifact(artifact).await? else {
            return Ok(None);
        };
        Ok(Some(Self::of_artifact(store, &a, tag).await?))
    }

    /// The report of an artifact row.
    pub async fn of_artifact(store: &Store, a: &ArtifactRecord, tag: Option<&str>) -> Result<Report, StoreError> {
        let artifact = a.artifact_ref();
        let tag = match tag {
            Some(t) => Some(t.to_owned()),
            None => store.tags_of(&artifact).await?.into_iter().next(),
        };
        let scan = match a.latest_scan_id {
            Some(id) => store.scan(id).await?,
            None => None,
        };
        let findings = match &scan {
            Some(s) => store.findings(s.id, None).await?,
            None => Vec::new(),
        };
        let mut children = Vec::new();
        let mut summary = scan.as_ref().map(|s| s.summary).unwrap_or_default();
        if a.kind == Kind::Index {
            for c in store.children(&artifact).await? {
                let child = Box::pin(Self::of_artifact(store, &c, None)).await?;
                summary.merge(&child.summary);
                children.push(child);
            }
        }
        let referrers = store
            .referrers_of(&artifact)
            .await?
            .into_iter()
            .map(|r| ReferrerRef {
                digest: r.digest.into_string(),
                artifact_type: r.artifact_type,
                kind: r.kind,
                status: r.status,
            })
            .collect();
        let subject = store.subject_of(&artifact).await?.map(|s| s.digest.into_string());
        let signatures = signatures::signatures_of(store, &artifact).await?;
        let reference = match &tag {
            Some(t) => format!("{}/{}:{t}@{}", a.registry, a.repository, a.digest),
            None => format!("{}/{}@{}", a.registry, a.repository, a.digest),
        };
        Ok(Report {
            reference,
            registry: a.registry.clone(),
            repository: a.repository.clone(),
            digest: a.digest.as_str().to_owned(),
            tag,
            manifest_media_type: a.manifest_media_type.clone(),
            artifact_type: a.artifact_type.clone(),
            kind: a.kind.clone(),
            status: scan.as_ref().map_or(Status::Queued, |s| s.status),
            reason: scan.as_ref().and_then(|s| s.reason.clone()),
            scanner: scan.as_ref().and_then(|s| s.scanner_ref()),
            summary,
            findings,
            children,
            platform: a.platform.clone(),
            details: scan
                .as_ref()
                .map(|s| s.details.clone())
                .filter(|d| d.as_object().is_some_and(|o| !o.is_empty())),
            scanned_at: scan.as_ref().and_then(|s| s.finished_at).map(rfc3339),
            advisory_snapshot: scan.as_ref().and_then(|s| s.advisory_snapshot.clone()),
            referrers,
            subject,
            signatures,
        })
    }

    /// The most severe finding here or in a child.
    pub fn max_severity(&self) -> Option<Severity> {
        self.summary.max_severity()
    }

    /// Whether this report or a child is unsupported.
    pub fn any_unsupported(&self) -> bool {
        self.status == Status::Unsupported || self.children.iter().any(Report::any_unsupported)
    }

    /// Whether this report or a child failed.
    pub fn any_failed(&self) -> bool {
        self.status == Status::Failed || self.children.iter().any(Report::any_failed)
    }

    /// Render for a terminal.
    pub fn to_table(&self, color: bool) -> String {
        let mut out = String::new();
        self.write_table(&mut out, color, 0);
        out
    }

    fn write_table(&self, out: &mut String, color: bool, depth: usize) {
        let pad = "  ".repeat(depth);
        let status = paint(color, status_color(self.status), self.status.as_str());
        let _ = writeln!(
            out,
            "{pad}{}",
            self.platform
                .as_ref()
                .map_or(self.reference.clone(), |p| format!("{p}  {}", self.digest))
        );
        let _ = writeln!(out, "{pad}  kind: {}   status: {status}", self.kind);
        if let Some(t) = &self.artifact_type {
            let _ = writeln!(out, "{pad}  type: {t}");
        }
        if let Some(s) = &self.scanner {
            let _ = writeln!(out, "{pad}  scanner: {} {}", s.name, s.version);
        }
        if let Some(r) = &self.reason {
            let _ = writeln!(out, "{pad}  reason: {r}");
        }
        let s = &self.summary;
        let _ = writeln!(
            out,
            "{pad}  findings: {} critical, {} high, {} medium, {} low, {} negligible, {} unknown",
            s.critical, s.high, s.medium, s.low, s.negligible, s.unknown
        );
        if !self.findings.is_empty() {
            let rows: Vec<[String; 5]> = self
                .findings
                .iter()
                .map(|f| {
                    [
                        f.severity.as_str().to_owned(),
                        f.id.clone(),
                        f.package.clone().unwrap_or_default(),
                        match (&f.installed_version, &f.fixed_version) {
                            (Some(i), Some(x)) => format!("{i} -> {x}"),
                            (Some(i), None) => i.clone(),
                            _ => String::new(),
                        },
                        f.title.clone(),
                    ]
                })
                .collect();
            let headers = ["SEVERITY", "ID", "PACKAGE/OBJECT", "VERSION", "TITLE"];
            let mut widths = headers.map(str::len);
            for r in &rows {
                for (w, c) in widths.iter_mut().zip(r).take(4) {
                    *w = (*w).max(c.chars().count()).min(48);
                }
            }
            let _ = writeln!(out);
            let line = |cells: [&str; 5]| {
                let mut l = format!("{pad}  ");
                for (i, c) in cells.iter().enumerate().take(4) {
                    let _ = write!(l, "{:<w$}  ", truncate(c, widths[i]), w = widths[i]);
                }
                l.push_str(&truncate(cells[4], 80));
                l
            };
            let _ = writeln!(out, "{}", line(headers));
            for r in &rows {
                let sev = paint(color, severity_color(&r[0]), &format!("{:<w$}", r[0], w = widths[0]));
                let l = line([&r[0], &r[1], &r[2], &r[3], &r[4]]);
                let _ = writeln!(out, "{}", l.replacen(&format!("{:<w$}", r[0], w = widths[0]), &sev, 1));
            }
        }
        for c in &self.children {
            let _ = writeln!(out);
            c.write_table(out, color, depth + 1);
        }
    }
}

pub(crate) fn truncate(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

pub(crate) fn status_color(s: Status) -> &'static str {
    match s {
        Status::Succeeded => "32",
        Status::Failed => "31",
        Status::Unsupported => "33",
        Status::Queued | Status::Running => "36",
    }
}

fn severity_color(s: &str) -> &'static str {
    match s {
        "critical" => "1;31",
        "high" => "31",
        "medium" => "33",
        "low" => "36",
        _ => "2",
    }
}

pub(crate) fn paint(color: bool, code: &str, s: &str) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_owned()
    }
}

/// The package inventory behind a report: the latest scan's inventory of the artifact, and for an
/// index its children's together.
pub async fn inventory(store: &Store, report: &Report) -> Result<Vec<regscan_scanner_api::Package>, StoreError> {
    let mut out = Vec::new();
    // A report's digest is text (a queued report has none yet); a stored one parses.
    let Ok(digest) = regscan_scanner_api::Digest::from_stored(&report.digest) else {
        return Ok(out);
    };
    if let Some(a) = store
        .artifact(&ArtifactRef::new(&report.registry, &report.repository, digest))
        .await?
    {
        if let Some(scan) = match a.latest_scan_id {
            Some(id) => store.scan(id).await?,
            None => None,
        } {
            out.extend(store.packages(scan.inventory_scan_id.unwrap_or(scan.id)).await?);
        }
    }
    for c in &report.children {
        out.extend(Box::pin(inventory(store, c)).await?);
    }
    Ok(out)
}
