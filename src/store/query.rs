//! Listing artifacts with filters and cursor pagination (CLI `artifacts`, `GET /v1/artifacts`).

use regscan_scanner_api::{Kind, ScannerRef, Severity, Status, Summary};
use sqlx::Row;

use super::results::{ArtifactRecord, ARTIFACT_COLUMNS};
use super::sql::{like_prefix, SqlBuilder};
use super::{Store, StoreError};

/// Filters for [`Store::list_artifacts`]. Empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct ArtifactFilter {
    /// Registry host, exact.
    pub registry: Option<String>,
    /// Repository prefix (`team/` matches `team/app`).
    pub repository: Option<String>,
    /// Kind, exact.
    pub kind: Option<Kind>,
    /// Status of the latest scan.
    pub status: Option<Status>,
    /// At least one finding at or above this severity.
    pub min_severity: Option<Severity>,
    /// First seen at or after this time, Unix ms.
    pub since_ms: Option<i64>,
    /// Include artifacts deleted from the registry.
    pub include_deleted: bool,
    /// Include the children of multi-platform indexes as rows of their own.
    pub include_children: bool,
    /// Return artifacts with id below this cursor (pagination, newest first).
    pub before_id: Option<i64>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Only artifacts with (`true`) or without (`false`) a signature referring to them.
    pub signed: Option<bool>,
    /// Only artifacts with (`true`) or without (`false`) an SBOM referring to them.
    pub has_sbom: Option<bool>,
}

/// An artifact with its latest scan, as listed.
#[derive(Debug, Clone)]
pub struct ArtifactSummary {
    /// The artifact.
    pub artifact: ArtifactRecord,
    /// Latest scan status (`queued` when none yet).
    pub status: Status,
    /// Reason of the latest scan.
    pub reason: Option<String>,
    /// Scanner of the latest scan (`None` when no scanner ran).
    pub scanner: Option<ScannerRef>,
    /// Findings per severity.
    pub summary: Summary,
    /// When the latest scan finished, Unix ms.
    pub scanned_at: Option<i64>,
    /// A signature refers to it.
    pub signed: bool,
    /// An SBOM refers to it.
    pub has_sbom: bool,
}

/// `EXISTS` of a referrer of `relation` (a constant of this module, not input) for the
/// artifact row `a`.
fn has_referrer(relation: &'static str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM referrers r WHERE r.registry = a.registry AND r.repository = a.repository
                 AND r.subject_digest = a.digest AND r.relation = '{relation}')"
    )
}

impl Store {
    /// List artifacts, newest first.
    pub async fn list_artifacts(&self, f: &ArtifactFilter) -> Result<Vec<ArtifactSummary>, StoreError> {
        let cols = ARTIFACT_COLUMNS
            .split(", ")
            .map(|c| format!("a.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut b = SqlBuilder::new(self.backend, format!(
            "SELECT {cols}, s.status AS scan_status, s.reason AS scan_reason, s.scanner AS scan_scanner, s.scanner_version AS scan_version,
                    s.critical AS s_critical, s.high AS s_high, s.medium AS s_medium, s.low AS s_low, s.negligible AS s_negligible, s.unknown AS s_unknown,
                    s.finished_at AS s_finished,
                    CAST(CASE WHEN {signed} THEN 1 ELSE 0 END AS BIGINT) AS signed,
                    CAST(CASE WHEN {sbom} THEN 1 ELSE 0 END AS BIGINT) AS has_sbom
             FROM artifacts a LEFT JOIN scans s ON s.id = a.latest_scan_id",
            signed = has_referrer("signature"),
            sbom = has_referrer("sbom"),
        ));
        // " WHERE " before the first condition, " AND " before the others.
        let mut joiner = " WHERE ";
        let mut and = |b: &mut SqlBuilder<'_>| {
            b.push(std::mem::replace(&mut joiner, " AND "));
        };
        if let Some(r) = &f.registry {
            and(&mut b);
            b.push("a.registry = ").push_bind(r.as_str());
        }
        if let Some(r) = &f.repository {
            and(&mut b);
            b.push("a.repository LIKE ")
                .push_bind(like_prefix(r))
                .push(" ESCAPE '\\'");
        }
        if let Some(k) = &f.kind {
            and(&mut b);
            b.push("a.kind = ").push_bind(k.as_str());
        }
        if let Some(s) = f.status {
            and(&mut b);
            if s == Status::Queued {
                b.push("COALESCE(s.status, 'queued') = 'queued'");
            } else {
                b.push("s.status = ").push_bind(s.as_str());
            }
        }
        if let Some(since) = f.since_ms {
            and(&mut b);
            b.push("a.created_at >= ").push_bind(since);
        }
        if let Some(before) = f.before_id {
            and(&mut b);
            b.push("a.id < ").push_bind(before);
        }
        if let Some(min) = f.min_severity {
            and(&mut b);
            b.push("(");
            let mut sum = b.separated(" + ");
            for sev in Severity::ALL.iter().filter(|s| **s >= min) {
                sum.push(format_args!("COALESCE(s.{}, 0)", sev.as_str()));
            }
            b.push(") > 0");
        }
        for (wanted, relation) in [(f.signed, "signature"), (f.has_sbom, "sbom")] {
            if let Some(wanted) = wanted {
                and(&mut b);
                b.push(if wanted { "" } else { "NOT " }).push(has_referrer(relation));
            }
        }
        if !f.include_deleted {
            and(&mut b);
            b.push("a.deleted_at IS NULL");
        }
        if !f.include_children {
            and(&mut b);
            b.push("a.parent_digest IS NULL");
        }
        let limit = f.limit.unwrap_or(100).clamp(1, 1000);
        b.push(" ORDER BY a.id DESC LIMIT ").push_bind(i64::from(limit));
        let rows = b.build()?.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let status: Option<String> = r.try_get("scan_status")?;
                let n =
                    |c: &str| -> Result<u64, StoreError> { Ok(r.try_get::<Option<i64>, _>(c)?.unwrap_or(0) as u64) };
                let scanner: Option<String> = r.try_get("scan_scanner")?;
                let version: Option<String> = r.try_get("scan_version")?;
                Ok(ArtifactSummary {
                    artifact: Store::artifact_from_row(r)?,
                    status: status.as_deref().unwrap_or("queued").parse()?,
                    reason: r.try_get("scan_reason")?,
                    scanner: scanner
                        .filter(|s| !s.is_empty())
                        .zip(version)
                        .map(|(name, version)| ScannerRef { name, version }),
                    summary: Summary {
                        critical: n("s_critical")?,
                        high: n("s_high")?,
                        medium: n("s_medium")?,
                        low: n("s_low")?,
                        negligible: n("s_negligible")?,
                        unknown: n("s_unknown")?,
                    },
                    scanned_at: r.try_get("s_finished")?,
                    signed: r.try_get::<i64, _>("signed")? != 0,
                    has_sbom: r.try_get::<i64, _>("has_sbom")? != 0,
                })
            })
            .collect()
    }

    /// Counts of artifacts by kind and latest status (for `/v1/summary`).
    pub async fn counts_by_kind_status(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.kind AS kind, COALESCE(s.status, 'queued') AS status, COUNT(*) AS n
             FROM artifacts a LEFT JOIN scans s ON s.id = a.latest_scan_id
             WHERE a.deleted_at IS NULL GROUP BY a.kind, COALESCE(s.status, 'queued') ORDER BY 1, 2",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("kind")?, r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }
}
