//! Artifacts, tags, scans, findings and package inventories.
//!
//! A digest in a repository is one artifact, whatever tags point at it. Each scan is a row in
//! `scans`; `artifacts.latest_scan_id` points at the one reports show. A scan in progress holds
//! the artifact's claim (the `scans_one_running` unique index), so two workers never scan one
//! digest at once; a claim whose lease expired is taken over.

use regscan_scanner_api::{ArtifactRef, Digest, Finding, Kind, Package, ScannerRef, Severity, Status, Summary};
use sqlx::any::AnyRow;
use sqlx::{Acquire, Row};

use super::sql::SqlBuilder;
use super::{Backend, Store, StoreError};
use crate::time::now_ms;

/// Findings per multi-row `INSERT` (12 values a row: 4,800 bound values, below SQLite's 32,766
/// and PostgreSQL's 65,535).
const FINDING_ROWS: usize = 400;
/// Packages per multi-row `INSERT` (9 values a row: 4,500 bound values).
const PACKAGE_ROWS: usize = 500;

/// An artifact row.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactRecord {
    /// Row id.
    pub id: i64,
    /// Registry host.
    pub registry: String,
    /// Repository.
    pub repository: String,
    /// Manifest digest (or the placeholder of a tag that never resolved).
    pub digest: Digest,
    /// Manifest media type.
    pub manifest_media_type: String,
    /// Resolved artifact type.
    pub artifact_type: Option<String>,
    /// Kind.
    pub kind: Kind,
    /// Manifest size plus the sizes it references.
    pub size: i64,
    /// Parent index digest, for children of a multi-platform index.
    pub parent_digest: Option<String>,
    /// Platform, for children.
    pub platform: Option<String>,
    /// The scan reports show.
    pub latest_scan_id: Option<i64>,
    /// First seen, Unix ms.
    pub created_at: i64,
    /// Last updated, Unix ms.
    pub updated_at: i64,
    /// Deleted from the registry, Unix ms (history is kept).
    pub deleted_at: Option<i64>,
}

impl ArtifactRecord {
    /// Which artifact this is.
    pub fn artifact_ref(&self) -> ArtifactRef {
        ArtifactRef::new(&self.registry, &self.repository, self.digest.clone())
    }
}

/// What is known of an artifact before it is scanned.
#[derive(Debug, Clone)]
pub struct NewArtifact<'a> {
    /// Which artifact.
    pub artifact: &'a ArtifactRef,
    /// Manifest media type.
    pub manifest_media_type: &'a str,
    /// Resolved artifact type.
    pub artifact_type: Option<&'a str>,
    /// Kind.
    pub kind: &'a Kind,
    /// Size.
    pub size: i64,
    /// Parent index digest.
    pub parent_digest: Option<&'a str>,
    /// Platform.
    pub platform: Option<&'a str>,
}

/// A scan row.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRecord {
    /// Row id.
    pub id: i64,
    /// Artifact row id.
    pub artifact_id: i64,
    /// Scanner name (empty when no scanner ran; [`ScanRecord::scanner_ref`] says `None`).
    pub scanner: String,
    /// Scanner version.
    pub scanner_version: String,
    /// Status.
    pub status: Status,
    /// Why it failed or is unsupported.
    pub reason: Option<String>,
    /// Advisory snapshot used.
    pub advisory_snapshot: Option<String>,
    /// Scan whose inventory this scan used.
    pub inventory_scan_id: Option<i64>,
    /// Findings per severity.
    pub summary: Summary,
    /// Scanner details (JSON object).
    pub details: serde_json::Value,
    /// Created, Unix ms.
    pub created_at: i64,
    /// Started, Unix ms.
    pub started_at: Option<i64>,
    /// Finished, Unix ms.
    pub finished_at: Option<i64>,
}

impl ScanRecord {
    /// The scanner that ran, `None` for a scan no scanner did (index, unsupported type, failure
    /// before any scanner).
    pub fn scanner_ref(&self) -> Option<ScannerRef> {
        stored_scanner(&self.scanner, &self.scanner_version)
    }
}

/// The scanner of a scan row's `scanner` and `scanner_version` columns: `None` when empty.
pub fn stored_scanner(name: &str, version: &str) -> Option<ScannerRef> {
    (!name.is_empty()).then(|| ScannerRef::new(name, version))
}

/// Where a finding came from; re-matching replaces `Advisory` findings and keeps `Check` ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingSource {
    /// Matched from the package inventory against advisories.
    Advisory,
    /// Found by the scanner itself (misconfiguration, policy, secret).
    Check,
}

impl FindingSource {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FindingSource::Advisory => "advisory",
            FindingSource::Check => "check",
        }
    }
}

/// The result of a scan, to store.
#[derive(Debug, Clone, Default)]
pub struct ScanResult {
    /// Findings from the scanner's own checks.
    pub checks: Vec<Finding>,
    /// Findings from advisory matching.
    pub advisories: Vec<Finding>,
    /// Package inventory (stored with this scan unless `inventory_scan_id` points elsewhere).
    pub packages: Vec<Package>,
    /// Scanner details.
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Advisory snapshot used for matching.
    pub advisory_snapshot: Option<String>,
    /// Reuse this scan's inventory instead of storing `packages` (re-match).
    pub inventory_scan_id: Option<i64>,
}

/// Outcome of [`Store::claim_scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This worker holds the claim on scan row `id`.
    Claimed(i64),
    /// Another worker is scanning this artifact (lease not expired).
    Busy,
}

/// A digest column, checked as it is read.
pub(crate) fn stored_digest(r: &AnyRow, column: &str) -> Result<Digest, sqlx::Error> {
    let s: String = r.try_get(column)?;
    Digest::from_stored(&s).map_err(|e| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(e),
    })
}

fn artifact_from_row(r: &AnyRow) -> Result<ArtifactRecord, sqlx::Error> {
    Ok(ArtifactRecord {
        id: r.try_get("id")?,
        registry: r.try_get("registry")?,
        repository: r.try_get("repository")?,
        digest: stored_digest(r, "digest")?,
        manifest_media_type: r.try_get("manifest_media_type")?,
        artifact_type: r.try_get("artifact_type")?,
        kind: Kind::new(r.try_get::<String, _>("kind")?),
        size: r.try_get("size")?,
        parent_digest: r.try_get("parent_digest")?,
        platform: r.try_get("platform")?,
        latest_scan_id: r.try_get("latest_scan_id")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        deleted_at: r.try_get("deleted_at")?,
    })
}

pub(crate) const ARTIFACT_COLUMNS: &str = "id, registry, repository, digest, manifest_media_type, artifact_type, kind, size, parent_digest, platform, latest_scan_id, created_at, updated_at, deleted_at";
pub(crate) const SCAN_COLUMNS: &str = "id, artifact_id, scanner, scanner_version, status, reason, advisory_snapshot, inventory_scan_id, critical, high, medium, low, negligible, unknown, details, created_at, started_at, finished_at";

/// A `packages` row as a package.
pub(crate) fn package_from_row(r: &AnyRow) -> Result<Package, sqlx::Error> {
    Ok(Package {
        ecosystem: r.try_get("ecosystem")?,
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        source_name: r.try_get("source_name")?,
        source_version: r.try_get("source_version")?,
        path: r.try_get("path")?,
        layer: r.try_get("layer")?,
        dev: r.try_get::<i64, _>("dev")? != 0,
    })
}

pub(crate) fn scan_from_row(r: &AnyRow) -> Result<ScanRecord, StoreError> {
    let status: String = r.try_get("status")?;
    let details: String = r.try_get("details")?;
    Ok(ScanRecord {
        id: r.try_get("id")?,
        artifact_id: r.try_get("artifact_id")?,
        scanner: r.try_get("scanner")?,
        scanner_version: r.try_get("scanner_version")?,
        status: status.parse()?,
        reason: r.try_get("reason")?,
        advisory_snapshot: r.try_get("advisory_snapshot")?,
        inventory_scan_id: r.try_get("inventory_scan_id")?,
        summary: Summary {
            critical: r.try_get::<i64, _>("critical")? as u64,
            high: r.try_get::<i64, _>("high")? as u64,
            medium: r.try_get::<i64, _>("medium")? as u64,
            low: r.try_get::<i64, _>("low")? as u64,
            negligible: r.try_get::<i64, _>("negligible")? as u64,
            unknown: r.try_get::<i64, _>("unknown")? as u64,
        },
        details: serde_json::from_str(&details).map_err(|e| StoreError::Corrupt(format!("scan details: {e}")))?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

impl Store {
    /// Insert or update an artifact; returns its id. A deleted artifact pushed again is undeleted.
    pub async fn upsert_artifact(&self, a: &NewArtifact<'_>) -> Result<i64, StoreError> {
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO artifacts (registry, repository, digest, manifest_media_type, artifact_type, kind, size, parent_digest, platform, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
             ON CONFLICT (registry, repository, digest) DO UPDATE SET
                manifest_media_type = excluded.manifest_media_type,
                artifact_type = excluded.artifact_type,
                kind = excluded.kind,
                size = excluded.size,
                parent_digest = COALESCE(excluded.parent_digest, artifacts.parent_digest),
                platform = COALESCE(excluded.platform, artifacts.platform),
                updated_at = excluded.updated_at,
                deleted_at = NULL
             RETURNING id",
        )
        .bind(&a.artifact.registry)
        .bind(&a.artifact.repository)
        .bind(a.artifact.digest.as_str())
        .bind(a.manifest_media_type)
        .bind(a.artifact_type)
        .bind(a.kind.as_str())
        .bind(a.size)
        .bind(a.parent_digest)
        .bind(a.platform)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    /// Point `tag` at the artifact.
    pub async fn set_tag(&self, artifact: &ArtifactRef, tag: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tags (registry, repository, tag, digest, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (registry, repository, tag) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at, deleted_at = NULL",
        )
        .bind(&artifact.registry)
        .bind(&artifact.repository)
        .bind(tag)
        .bind(artifact.digest.as_str())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The digest a stored tag points at.
    pub async fn resolve_tag(&self, registry: &str, repository: &str, tag: &str) -> Result<Option<Digest>, StoreError> {
        let row = sqlx::query(
            "SELECT digest FROM tags WHERE registry = $1 AND repository = $2 AND tag = $3 AND deleted_at IS NULL",
        )
        .bind(registry)
        .bind(repository)
        .bind(tag)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| stored_digest(&r, "digest")).transpose()?)
    }

    /// Live tags pointing at an artifact, most recently pushed first.
    pub async fn tags_of(&self, artifact: &ArtifactRef) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT tag FROM tags WHERE registry = $1 AND repository = $2 AND digest = $3 AND deleted_at IS NULL ORDER BY updated_at DESC, tag")
            .bind(&artifact.registry)
            .bind(&artifact.repository)
            .bind(artifact.digest.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("tag")?)).collect()
    }

    /// One artifact.
    pub async fn artifact(&self, artifact: &ArtifactRef) -> Result<Option<ArtifactRecord>, StoreError> {
        let sql =
            format!("SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE registry = $1 AND repository = $2 AND digest = $3");
        let row = sqlx::query(&sql)
            .bind(&artifact.registry)
            .bind(&artifact.repository)
            .bind(artifact.digest.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(artifact_from_row).transpose()?)
    }

    /// Artifact by row id.
    pub async fn artifact_by_id(&self, id: i64) -> Result<Option<ArtifactRecord>, StoreError> {
        let sql = format!("SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(artifact_from_row).transpose()?)
    }

    /// The children of an index, in index order, each with the platform the index gives it.
    pub async fn children(&self, parent: &ArtifactRef) -> Result<Vec<ArtifactRecord>, StoreError> {
        let cols = ARTIFACT_COLUMNS
            .split(", ")
            .map(|c| format!("c.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols}, l.platform AS link_platform FROM artifacts p
             JOIN index_children l ON l.parent_id = p.id
             JOIN artifacts c ON c.id = l.child_id
             WHERE p.registry = $1 AND p.repository = $2 AND p.digest = $3 ORDER BY l.position, c.id"
        );
        let rows = sqlx::query(&sql)
            .bind(&parent.registry)
            .bind(&parent.repository)
            .bind(parent.digest.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let mut a = artifact_from_row(r)?;
                a.platform = r.try_get::<Option<String>, _>("link_platform")?.or(a.platform);
                a.parent_digest = Some(parent.digest.as_str().to_owned());
                Ok(a)
            })
            .collect()
    }

    /// Rows of `artifacts` matching a raw WHERE clause, for the listing queries in [`super::query`].
    pub(crate) fn artifact_from_row(r: &AnyRow) -> Result<ArtifactRecord, StoreError> {
        Ok(artifact_from_row(r)?)
    }

    /// A scan.
    pub async fn scan(&self, id: i64) -> Result<Option<ScanRecord>, StoreError> {
        let sql = format!("SELECT {SCAN_COLUMNS} FROM scans WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(scan_from_row).transpose()
    }

    /// All scans of an artifact, newest first: unfinished ones, then by the time they finished
    /// (a re-match updates the latest scan in place and keeps its former state as a history row
    /// with a higher id but the earlier time, see `Store::apply_rematch`).
    pub async fn scans_of(&self, artifact_id: i64) -> Result<Vec<ScanRecord>, StoreError> {
        let sql = format!(
            "SELECT {SCAN_COLUMNS} FROM scans WHERE artifact_id = $1
             ORDER BY CASE WHEN finished_at IS NULL THEN 1 ELSE 0 END DESC, finished_at DESC, id DESC"
        );
        let rows = sqlx::query(&sql).bind(artifact_id).fetch_all(&self.pool).await?;
        rows.iter().map(scan_from_row).collect()
    }

    /// A finished scan of this artifact by this scanner version (succeeded or unsupported), if any.
    pub async fn completed_scan(
        &self,
        artifact_id: i64,
        scanner: Option<&ScannerRef>,
    ) -> Result<Option<i64>, StoreError> {
        let (scanner, version) = columns(scanner);
        let row = sqlx::query(
            "SELECT id FROM scans WHERE artifact_id = $1 AND scanner = $2 AND scanner_version = $3 AND status IN ('succeeded', 'unsupported') ORDER BY id DESC LIMIT 1",
        )
        .bind(artifact_id)
        .bind(scanner)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    /// Scans of the artifact whose worker died mid-scan since the count was last reset.
    pub async fn abandoned_scans(&self, artifact_id: i64) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT abandoned_scans FROM artifacts WHERE id = $1")
            .bind(artifact_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("abandoned_scans")).transpose()?.unwrap_or(0))
    }

    /// Start counting abandoned scans of the artifact afresh.
    pub async fn reset_abandoned_scans(&self, artifact_id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE artifacts SET abandoned_scans = 0 WHERE id = $1 AND abandoned_scans <> 0")
            .bind(artifact_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether the artifact has any finished result (succeeded or unsupported), by any scanner.
    pub async fn has_completed_scan(&self, artifact_id: i64) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT id FROM scans WHERE artifact_id = $1 AND status IN ('succeeded', 'unsupported') LIMIT 1",
        )
        .bind(artifact_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Take the claim on an artifact for a scan: a `running` scan row with a lease. A running
    /// scan whose lease has expired (its worker died) produced nothing and is removed, and its
    /// claim taken over.
    pub async fn claim_scan(
        &self,
        artifact_id: i64,
        scanner: Option<&ScannerRef>,
        worker: &str,
        lease_ms: i64,
    ) -> Result<Claim, StoreError> {
        let (scanner, version) = columns(scanner);
        let now = self.now_ms();
        let abandoned =
            sqlx::query("DELETE FROM scans WHERE artifact_id = $1 AND status = 'running' AND lease_until < $2")
                .bind(artifact_id)
                .bind(now)
                .execute(&self.pool)
                .await?;
        if abandoned.rows_affected() > 0 {
            sqlx::query("UPDATE artifacts SET abandoned_scans = abandoned_scans + $2 WHERE id = $1")
                .bind(artifact_id)
                .bind(abandoned.rows_affected() as i64)
                .execute(&self.pool)
                .await?;
            tracing::warn!(
                artifact_id,
                "a scan's worker stopped before finishing (lease expired); scanning again"
            );
        }
        let inserted = sqlx::query(
            "INSERT INTO scans (artifact_id, scanner, scanner_version, status, worker, lease_until, created_at, started_at)
             VALUES ($1, $2, $3, 'running', $4, $5, $6, $6) RETURNING id",
        )
        .bind(artifact_id)
        .bind(scanner)
        .bind(version)
        .bind(worker)
        .bind(now + lease_ms)
        .bind(now)
        .fetch_one(&self.pool)
        .await;
        match inserted {
            Ok(row) => {
                let id: i64 = row.try_get("id")?;
                // Show the scan in progress when there is no result yet (or the latest was the
                // abandoned attempt just removed).
                sqlx::query(
                    "UPDATE artifacts SET latest_scan_id = $2 WHERE id = $1
                     AND (latest_scan_id IS NULL OR NOT EXISTS (SELECT 1 FROM scans WHERE scans.id = artifacts.latest_scan_id))",
                )
                .bind(artifact_id)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(Claim::Claimed(id))
            }
            Err(sqlx::Error::Database(e)) if e.kind() == sqlx::error::ErrorKind::UniqueViolation => Ok(Claim::Busy),
            Err(e) => Err(e.into()),
        }
    }

    /// Extend a claim's lease (heartbeat of a long scan).
    pub async fn renew_claim(&self, scan_id: i64, lease_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE scans SET lease_until = $2 WHERE id = $1 AND status = 'running'")
            .bind(scan_id)
            .bind(self.now_ms() + lease_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Finish a claimed scan with its status, reason and result, in one transaction; the scan
    /// becomes the artifact's latest.
    pub async fn finish_scan(
        &self,
        scan_id: i64,
        status: Status,
        reason: Option<&str>,
        result: &ScanResult,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        // The summary rollups follow `latest_scan_id` (see `store::incidents::summary`): a claimed
        // scan the artifact already points at is detached while its counts and findings are
        // written, and attached again below.
        sqlx::query("UPDATE artifacts SET latest_scan_id = NULL WHERE latest_scan_id = $1")
            .bind(scan_id)
            .execute(&mut *tx)
            .await?;
        let summary = Summary::of(result.checks.iter().chain(&result.advisories));
        let details = serde_json::Value::Object(result.details.clone()).to_string();
        let inventory = result.inventory_scan_id.unwrap_or(scan_id);
        let row = sqlx::query(
            "UPDATE scans SET status = $2, reason = $3, advisory_snapshot = $4, inventory_scan_id = $5,
                critical = $6, high = $7, medium = $8, low = $9, negligible = $10, unknown = $11,
                details = $12, finished_at = $13, lease_until = NULL
             WHERE id = $1 RETURNING artifact_id",
        )
        .bind(scan_id)
        .bind(status.as_str())
        .bind(reason)
        .bind(result.advisory_snapshot.as_deref())
        .bind(inventory)
        .bind(summary.critical as i64)
        .bind(summary.high as i64)
        .bind(summary.medium as i64)
        .bind(summary.low as i64)
        .bind(summary.negligible as i64)
        .bind(summary.unknown as i64)
        .bind(details)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        let artifact_id: i64 = row.try_get("artifact_id")?;
        // Multi-row inserts, a few hundred rows per statement (one round trip each): a scan or
        // re-match writes hundreds of findings and thousands of packages per artifact.
        let findings: Vec<(i64, FindingSource, &Finding)> = [
            (FindingSource::Check, &result.checks),
            (FindingSource::Advisory, &result.advisories),
        ]
        .into_iter()
        .flat_map(|(source, fs)| fs.iter().map(move |f| (scan_id, source, f)))
        .collect();
        insert_findings(self.backend, &mut tx, &findings).await?;
        if result.inventory_scan_id.is_none() {
            for chunk in result.packages.chunks(PACKAGE_ROWS) {
                let mut b = SqlBuilder::new(
                self.backend,
                    "INSERT INTO packages (scan_id, ecosystem, name, version, source_name, source_version, path, layer, dev) ",
                );
                b.push_values(chunk, |mut row, p| {
                    row.push_bind(scan_id)
                        .push_bind(p.ecosystem.as_str())
                        .push_bind(p.name.as_str())
                        .push_bind(p.version.as_str())
                        .push_bind(p.source_name.as_deref())
                        .push_bind(p.source_version.as_deref())
                        .push_bind(p.path.as_str())
                        .push_bind(p.layer.as_deref())
                        .push_bind(i64::from(p.dev));
                });
                b.build()?.execute(&mut *tx).await?;
            }
            super::advisories::insert_package_keys(self.backend, &mut tx, scan_id, &result.packages).await?;
        }
        sqlx::query("UPDATE artifacts SET latest_scan_id = $2, updated_at = $3 WHERE id = $1")
            .bind(artifact_id)
            .bind(scan_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Record a scan that ends at once (unsupported type, index, failure before any claim) as
    /// the artifact's latest.
    pub async fn record_scan(
        &self,
        artifact_id: i64,
        scanner: Option<&ScannerRef>,
        status: Status,
        reason: Option<&str>,
        result: &ScanResult,
    ) -> Result<i64, StoreError> {
        let (scanner, version) = columns(scanner);
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO scans (artifact_id, scanner, scanner_version, status, created_at, started_at) VALUES ($1, $2, $3, 'queued', $4, $4) RETURNING id",
        )
        .bind(artifact_id)
        .bind(scanner)
        .bind(version)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let id: i64 = row.try_get("id")?;
        self.finish_scan(id, status, reason, result).await?;
        Ok(id)
    }

    /// Findings of a scan, most severe first. `source` filters by origin.
    pub async fn findings(&self, scan_id: i64, source: Option<FindingSource>) -> Result<Vec<Finding>, StoreError> {
        let rows = sqlx::query(
            "SELECT finding_id, severity, title, package, installed_version, fixed_version, location, refs, remediation FROM findings
             WHERE scan_id = $1 AND ($2 = '' OR source = $2) ORDER BY severity_rank DESC, finding_id, package",
        )
        .bind(scan_id)
        .bind(source.map_or("", FindingSource::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let sev: String = r.try_get("severity")?;
                let refs: String = r.try_get("refs")?;
                Ok(Finding {
                    id: r.try_get("finding_id")?,
                    severity: sev.parse::<Severity>()?,
                    title: r.try_get("title")?,
                    package: r.try_get("package")?,
                    installed_version: r.try_get("installed_version")?,
                    fixed_version: r.try_get("fixed_version")?,
                    location: r.try_get("location")?,
                    references: serde_json::from_str(&refs)
                        .map_err(|e| StoreError::Corrupt(format!("finding refs: {e}")))?,
                    remediation: r.try_get("remediation")?,
                })
            })
            .collect()
    }

    /// The package inventory stored with a scan.
    pub async fn packages(&self, scan_id: i64) -> Result<Vec<Package>, StoreError> {
        let rows = sqlx::query(
            "SELECT ecosystem, name, version, source_name, source_version, path, layer, dev FROM packages WHERE scan_id = $1 ORDER BY ecosystem, name, version, path",
        )
        .bind(scan_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(package_from_row(r)?)).collect()
    }

    /// Record a child of an index at `position`: insert it (kind `kind`, or `unknown` until
    /// scanned) or, when it exists, set its latest parent and platform; and link it to the index
    /// `parent_id`. Returns the child's id.
    pub async fn link_child(
        &self,
        child: &ArtifactRef,
        media_type: &str,
        parent: (i64, &Digest),
        position: usize,
        platform: Option<&str>,
        kind: Option<&Kind>,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        let (parent_id, parent_digest) = parent;
        let row = sqlx::query(
            "INSERT INTO artifacts (registry, repository, digest, manifest_media_type, kind, parent_digest, platform, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
             ON CONFLICT (registry, repository, digest) DO UPDATE SET
                parent_digest = excluded.parent_digest, platform = excluded.platform, updated_at = excluded.updated_at, deleted_at = NULL
             RETURNING id",
        )
        .bind(&child.registry)
        .bind(&child.repository)
        .bind(child.digest.as_str())
        .bind(media_type)
        .bind(kind.unwrap_or(&Kind::Unknown).as_str())
        .bind(parent_digest.as_str())
        .bind(platform)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let child_id: i64 = row.try_get("id")?;
        sqlx::query(
            "INSERT INTO index_children (parent_id, child_id, position, platform) VALUES ($1, $2, $3, $4)
             ON CONFLICT (parent_id, child_id) DO UPDATE SET position = excluded.position, platform = excluded.platform",
        )
        .bind(parent_id)
        .bind(child_id)
        .bind(position as i64)
        .bind(platform)
        .execute(&self.pool)
        .await?;
        Ok(child_id)
    }

    /// Set an artifact's resolved type.
    pub async fn set_artifact_type(&self, artifact: &ArtifactRef, artifact_type: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE artifacts SET artifact_type = $4 WHERE registry = $1 AND repository = $2 AND digest = $3")
            .bind(&artifact.registry)
            .bind(&artifact.repository)
            .bind(artifact.digest.as_str())
            .bind(artifact_type)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Give up a claim without recording a result (the job will be retried).
    pub async fn release_claim(&self, scan_id: i64) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let row = sqlx::query("DELETE FROM scans WHERE id = $1 AND status = 'running' RETURNING artifact_id")
            .bind(scan_id)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = row {
            let artifact_id: i64 = row.try_get("artifact_id")?;
            sqlx::query(
                "UPDATE artifacts SET latest_scan_id = (SELECT MAX(id) FROM scans WHERE artifact_id = $1) WHERE id = $1 AND latest_scan_id = $2",
            )
            .bind(artifact_id)
            .bind(scan_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A cached value (the per-layer inventory cache).
    pub async fn cache_get(&self, key: &str, analyzer_version: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM scan_cache WHERE cache_key = $1 AND analyzer_version = $2")
            .bind(key)
            .bind(analyzer_version)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    /// Store a cached value.
    pub async fn cache_put(&self, key: &str, analyzer_version: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO scan_cache (cache_key, analyzer_version, value, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (cache_key, analyzer_version) DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
        )
        .bind(key)
        .bind(analyzer_version)
        .bind(value)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Insert findings, (scan id, source, finding) rows, with multi-row inserts of a few hundred
/// rows per statement (a scan or a re-match writes hundreds).
pub(crate) async fn insert_findings(
    backend: Backend,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    findings: &[(i64, FindingSource, &Finding)],
) -> Result<(), StoreError> {
    for chunk in findings.chunks(FINDING_ROWS) {
        let mut b = SqlBuilder::new(
            backend,
            "INSERT INTO findings (scan_id, source, finding_id, severity, severity_rank, title, package, installed_version, fixed_version, location, refs, remediation) ",
        );
        b.push_values(chunk, |mut row, (scan_id, source, f)| {
            row.push_bind(*scan_id)
                .push_bind(source.as_str())
                .push_bind(f.id.as_str())
                .push_bind(f.severity.as_str())
                .push_bind(f.severity.rank() as i64)
                .push_bind(f.title.as_str())
                .push_bind(f.package.as_deref())
                .push_bind(f.installed_version.as_deref())
                .push_bind(f.fixed_version.as_deref())
                .push_bind(f.location.as_deref())
                .push_bind(serde_json::to_string(&f.references).unwrap_or_else(|_| "[]".into()))
                .push_bind(f.remediation.as_deref());
        });
        b.build()?.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The `scanner` and `scanner_version` columns of a scan: empty for a scan no scanner did.
fn columns(scanner: Option<&ScannerRef>) -> (&str, &str) {
    scanner.map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()))
}
