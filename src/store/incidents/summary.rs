//! The summary's top lists and totals (`GET /v1/summary`, the Vulnerabilities page), read from
//! rollups kept current on write (migration 11) instead of from every latest finding.
//!
//! `advisory_reach` counts, per advisory id, the live artifacts whose latest scan has a finding
//! of it about a package; `incident_totals` (row 1) holds the fixable split and the findings per
//! severity of the latest scans of live artifacts. Triggers on `artifacts` move an artifact's
//! contribution from its old latest scan to its new one whenever `latest_scan_id` or
//! `deleted_at` changes, in the same transaction. The rule that keeps them exact: a scan's
//! findings and severity counts are written before an artifact points at it, and not changed
//! while one does (`finish_scan` detaches a claimed scan first). The one writer that changes
//! the findings of a latest scan in place, re-matching after an advisory import, moves the
//! rollups itself by what it changed (`crate::store::rematch`).

use regscan_scanner_api::{Severity, Summary};
use sqlx::any::AnyRow;
use sqlx::{Acquire, Row};

use super::{artifact_ref, DangerousArtifact, FixableSplit, TopVuln, ARTIFACT_COLS};
use crate::store::{Backend, Store, StoreError};

/// The rollups recomputed from the stored rows (the triggers' definition, set-based).
const REBUILD: [&str; 4] = [
    "DELETE FROM advisory_reach",
    "DELETE FROM incident_totals",
    "INSERT INTO advisory_reach (finding_id, artifacts, critical, high, medium, low, negligible, unknown)
     SELECT finding_id, COUNT(*), SUM(CASE WHEN rank = 5 THEN 1 ELSE 0 END), SUM(CASE WHEN rank = 4 THEN 1 ELSE 0 END),
            SUM(CASE WHEN rank = 3 THEN 1 ELSE 0 END), SUM(CASE WHEN rank = 2 THEN 1 ELSE 0 END),
            SUM(CASE WHEN rank = 1 THEN 1 ELSE 0 END), SUM(CASE WHEN rank = 0 THEN 1 ELSE 0 END)
     FROM (SELECT f.finding_id AS finding_id, MAX(f.severity_rank) AS rank
           FROM artifacts a JOIN findings f ON f.scan_id = a.latest_scan_id
           WHERE a.deleted_at IS NULL AND f.package IS NOT NULL GROUP BY f.finding_id, a.id) AS per_artifact
     GROUP BY finding_id",
    "INSERT INTO incident_totals (id, findings, fixable, fixable_artifacts, critical, high, medium, low, negligible, unknown)
     SELECT 1,
            (SELECT COUNT(*) FROM artifacts a JOIN findings f ON f.scan_id = a.latest_scan_id
             WHERE a.deleted_at IS NULL AND f.package IS NOT NULL),
            (SELECT COUNT(*) FROM artifacts a JOIN findings f ON f.scan_id = a.latest_scan_id
             WHERE a.deleted_at IS NULL AND f.package IS NOT NULL AND f.fixed_version <> ''),
            (SELECT COUNT(*) FROM artifacts a WHERE a.deleted_at IS NULL AND EXISTS
                (SELECT 1 FROM findings f WHERE f.scan_id = a.latest_scan_id AND f.package IS NOT NULL AND f.fixed_version <> '')),
            COALESCE(SUM(s.critical), 0), COALESCE(SUM(s.high), 0), COALESCE(SUM(s.medium), 0),
            COALESCE(SUM(s.low), 0), COALESCE(SUM(s.negligible), 0), COALESCE(SUM(s.unknown), 0)
     FROM artifacts a JOIN scans s ON s.id = a.latest_scan_id WHERE a.deleted_at IS NULL",
];

fn severity_of_rank(rank: i64) -> Severity {
    Severity::ALL
        .iter()
        .copied()
        .find(|s| i64::from(s.rank()) == rank)
        .unwrap_or(Severity::Unknown)
}

fn summary_of(r: &AnyRow) -> Result<Summary, sqlx::Error> {
    let n = |c: &str| -> Result<u64, sqlx::Error> { Ok(r.try_get::<i64, _>(c)?.max(0) as u64) };
    Ok(Summary {
        critical: n("critical")?,
        high: n("high")?,
        medium: n("medium")?,
        low: n("low")?,
        negligible: n("negligible")?,
        unknown: n("unknown")?,
    })
}

impl Store {
    /// Recompute the summary rollups from the stored rows, in one transaction (writers that
    /// would move an artifact's contribution meanwhile wait for it on PostgreSQL; SQLite has one
    /// writer). Reads every latest finding: seconds at 100,000 artifacts. The store runs it
    /// once when migration 11 is new; call it after changing findings of a scan that is an
    /// artifact's latest in place.
    pub async fn rebuild_incident_rollup(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("LOCK TABLE advisory_reach, incident_totals IN EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
        }
        for sql in REBUILD {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Build the rollups if migration 11 asked for it (its row 0 of `incident_totals`).
    pub(crate) async fn build_incident_rollup_once(&self) -> Result<(), StoreError> {
        let pending = sqlx::query("SELECT id FROM incident_totals WHERE id = 0")
            .fetch_optional(&self.pool)
            .await?;
        if pending.is_some() {
            self.rebuild_incident_rollup().await?;
        }
        Ok(())
    }

    /// The `limit` live artifacts with the most critical, then high findings in their latest
    /// scan: a walk down `scans_danger` (backwards) that skips scans no live artifact points at
    /// (history, deleted artifacts), so it reads about `limit` scans plus the history among them.
    pub async fn most_dangerous(&self, limit: u32) -> Result<Vec<DangerousArtifact>, StoreError> {
        let counts = "s.critical AS critical, s.high AS high, s.medium AS medium, s.low AS low, s.negligible AS negligible, s.unknown AS unknown";
        let live = "a.id = s.artifact_id AND a.latest_scan_id = s.id AND a.deleted_at IS NULL";
        let order = format!(
            "(s.critical > 0 OR s.high > 0) ORDER BY s.critical DESC, s.high DESC, s.artifact_id DESC LIMIT {}",
            limit.clamp(1, 1000)
        );
        // Each backend told to walk the index and look the artifact up per scan: left to
        // themselves, both join every scan with every artifact and sort.
        let sql = match self.backend {
            // A lateral subquery that cannot be flattened (OFFSET 0) keeps the nested loop.
            Backend::Postgres => format!(
                "SELECT la.*, {counts} FROM scans s CROSS JOIN LATERAL
                 (SELECT {ARTIFACT_COLS} FROM artifacts a WHERE {live} OFFSET 0) la WHERE {order}"
            ),
            Backend::Sqlite => format!(
                "SELECT {ARTIFACT_COLS}, {counts} FROM scans s INDEXED BY scans_danger CROSS JOIN artifacts a
                 WHERE {live} AND {order}"
            ),
        };
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(DangerousArtifact {
                    artifact: artifact_ref(r)?,
                    summary: summary_of(r)?,
                })
            })
            .collect()
    }

    /// The `limit` advisories (findings about a package) affecting the most live artifacts now.
    pub async fn top_vulnerabilities(&self, limit: u32) -> Result<Vec<TopVuln>, StoreError> {
        let sql = format!(
            "SELECT finding_id AS id, artifacts AS n,
                    CASE WHEN critical > 0 THEN 5 WHEN high > 0 THEN 4 WHEN medium > 0 THEN 3
                         WHEN low > 0 THEN 2 WHEN negligible > 0 THEN 1 ELSE 0 END AS rank
             FROM advisory_reach WHERE artifacts > 0 ORDER BY n DESC, rank DESC, id LIMIT {}",
            limit.clamp(1, 1000)
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(TopVuln {
                    id: r.try_get("id")?,
                    severity: severity_of_rank(r.try_get::<i64, _>("rank")?),
                    artifacts: r.try_get("n")?,
                })
            })
            .collect()
    }

    async fn incident_totals(&self) -> Result<Option<AnyRow>, StoreError> {
        Ok(sqlx::query(
            "SELECT findings, fixable, fixable_artifacts, critical, high, medium, low, negligible, unknown
             FROM incident_totals WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Findings about packages in the latest scans of live artifacts, fixable or not.
    pub async fn fixable_split(&self) -> Result<FixableSplit, StoreError> {
        let Some(r) = self.incident_totals().await? else {
            return Ok(FixableSplit::default());
        };
        let total: i64 = r.try_get("findings")?;
        let fixable: i64 = r.try_get("fixable")?;
        Ok(FixableSplit {
            fixable,
            unfixable: total - fixable,
            fixable_artifacts: r.try_get("fixable_artifacts")?,
        })
    }

    /// Findings per severity of the latest scans of live artifacts (the summary's
    /// `by_severity`).
    pub async fn severity_totals(&self) -> Result<Summary, StoreError> {
        match self.incident_totals().await? {
            Some(r) => Ok(summary_of(&r)?),
            None => Ok(Summary::default()),
        }
    }
}
