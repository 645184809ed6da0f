//! Re-matching stored inventories after an advisory import, as a delta written in batches.
//!
//! An import changes a set of advisory ids. For an artifact whose inventory has a package under
//! one of the changed keys, only the findings of those ids can change: re-matching deletes the
//! artifact's advisory findings of the changed ids and inserts the new matches of those ids,
//! adjusts the scan's severity counts by what was deleted and inserted, and names the new
//! snapshot. Findings of other ids are not touched. Many artifacts are written per transaction.
//!
//! The artifact's latest scan is updated in place (the findings that cross-artifact queries
//! read stay where they are); its former state — status, counts, snapshot, times — is kept as a
//! history row (`details.rematched_into_scan` names the scan it became), so the scan history
//! reads as before: the state before the re-match, then the re-matched one. The summary
//! rollups move in the same transaction by what the rewritten findings change: per advisory
//! id, each scan's highest severity of it is read before and after (through the
//! `(scan_id, finding_id)` index), and the totals follow from the deleted and inserted rows.

use std::collections::{BTreeMap, HashMap, HashSet};

use regscan_scanner_api::{Finding, Package, Severity, Summary};
use sqlx::{Acquire, Row};

use super::advisories::{Key, KEYS_PER_QUERY};
use super::results::{insert_findings, package_from_row, scan_from_row, FindingSource, ScanRecord, SCAN_COLUMNS};
use super::sql::SqlBuilder;
use super::{Backend, Store, StoreError};
use crate::time::now_ms;

/// Most ids in one `IN` list of a delete.
const IDS_PER_DELETE: usize = 1_000;

/// Most rows in one multi-row statement.
const ROWS_PER_STATEMENT: usize = 250;

/// Most inventories read in one statement.
const SCANS_PER_QUERY: usize = 1_000;

/// A latest scan to re-match: its artifact and the scan whose inventory it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RematchTarget {
    /// Artifact row id.
    pub artifact_id: i64,
    /// The artifact's latest scan (succeeded), re-matched in place.
    pub scan_id: i64,
    /// The scan holding the inventory it uses.
    pub inventory_scan_id: i64,
}

/// The new matches of one re-matched scan.
#[derive(Debug, Clone)]
pub struct RematchUpdate {
    /// The scan (see [`RematchTarget::scan_id`]).
    pub scan_id: i64,
    /// Its new advisory findings of the re-matched ids (all of its advisory findings when every
    /// id is re-matched).
    pub findings: Vec<Finding>,
}

/// Which advisory findings a re-match replaces.
#[derive(Debug, Clone, Copy)]
pub enum RematchIds<'a> {
    /// Only the findings of these advisory ids.
    Only(&'a [String]),
    /// Every advisory finding.
    All,
}

impl Store {
    /// On PostgreSQL, refresh the planner's statistics of the tables a re-match reads when
    /// they are stale (more rows changed since the last `ANALYZE` than a tenth of the table):
    /// right after many scans were stored, before autovacuum caught up, the planner took the
    /// inventories for a few rows and read whole tables per batch (36 s instead of 3 s for
    /// 10,000 artifacts). SQLite plans without statistics.
    pub async fn refresh_rematch_statistics(&self) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let stale = sqlx::query(
            "SELECT CAST(relname AS TEXT) AS relname FROM pg_stat_user_tables
             WHERE relname IN ('artifacts', 'scans', 'packages', 'package_keys', 'findings')
               AND n_mod_since_analyze > 1000 + n_live_tup / 10
             ORDER BY relname",
        )
        .fetch_all(&self.pool)
        .await?;
        for r in stale {
            let table: String = r.try_get("relname")?;
            // One of the five names above, never input.
            sqlx::query(&format!("ANALYZE {table}")).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// The latest scans to re-match for `keys`: those of artifacts (not deleted) whose latest
    /// scan succeeded and used an inventory with a package under one of the keys, found by
    /// index (`package_keys`, then the scans using the inventory, then the artifacts they are
    /// the latest of). Ordered by artifact id.
    pub async fn rematch_targets(&self, keys: &[Key]) -> Result<Vec<RematchTarget>, StoreError> {
        let mut out: BTreeMap<i64, RematchTarget> = BTreeMap::new();
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            // The join order is spelled out (CROSS JOIN fixes it on SQLite; PostgreSQL plans
            // as it likes): from the keys through their index, never from the scans. Left to
            // choose with a few hundred keys, SQLite walked every succeeded scan per key.
            let mut b = SqlBuilder::new(
                self.backend,
                "SELECT DISTINCT a.id AS artifact_id, s.id AS scan_id, s.inventory_scan_id AS inventory_scan_id
                 FROM (",
            );
            b.push_values(chunk, |mut row, (eco, name)| {
                row.push_bind(eco.as_str()).push_bind(name.as_str());
            });
            b.push(
                ") k
                 CROSS JOIN package_keys pk CROSS JOIN scans s CROSS JOIN artifacts a
                 WHERE pk.ecosystem = k.column1 AND pk.name = k.column2
                   AND s.inventory_scan_id = pk.scan_id AND a.latest_scan_id = s.id
                   AND a.deleted_at IS NULL AND s.status = 'succeeded'",
            );
            for r in b.build()?.fetch_all(&self.pool).await? {
                let t = RematchTarget {
                    artifact_id: r.try_get("artifact_id")?,
                    scan_id: r.try_get("scan_id")?,
                    inventory_scan_id: r.try_get("inventory_scan_id")?,
                };
                out.insert(t.artifact_id, t);
            }
        }
        Ok(out.into_values().collect())
    }

    /// The distinct packages of the inventories stored with `scan_ids`, each with the
    /// inventories holding it (ordered as [`Store::packages`] orders one inventory). A package
    /// many inventories share (a common base image) comes back once, so that a re-match reads
    /// and matches it once, not once per artifact.
    pub async fn inventory_packages(&self, scan_ids: &[i64]) -> Result<Vec<(Package, Vec<i64>)>, StoreError> {
        let holders = match self.backend {
            Backend::Sqlite => "group_concat(scan_id)",
            Backend::Postgres => "string_agg(CAST(scan_id AS TEXT), ',')",
        };
        let mut out = Vec::new();
        for chunk in scan_ids.chunks(SCANS_PER_QUERY) {
            let mut b = SqlBuilder::new(
                self.backend,
                format!(
                    "SELECT ecosystem, name, version, source_name, source_version, path, layer, dev, {holders} AS holders
                     FROM packages WHERE scan_id IN ("
                ),
            );
            b.push_bind_list(chunk.iter().copied()).push(
                ") GROUP BY ecosystem, name, version, source_name, source_version, path, layer, dev
                 ORDER BY ecosystem, name, version, path",
            );
            for r in b.build()?.fetch_all(&self.pool).await? {
                let holders: String = r.try_get("holders")?;
                let scans = holders
                    .split(',')
                    .map(|id| id.trim().parse::<i64>())
                    .collect::<Result<Vec<i64>, _>>()
                    .map_err(|_| StoreError::Corrupt(format!("package holders {holders:?}")))?;
                out.push((package_from_row(&r)?, scans));
            }
        }
        Ok(out)
    }

    /// Write the re-match of many scans in one transaction (see the module documentation):
    /// delete their advisory findings of `ids`, insert `updates`' findings, keep each scan's
    /// former state as a history row, update its counts, snapshot, details and times, and move
    /// the summary rollups by what changed. A scan that is no longer its artifact's latest (a
    /// scan finished meanwhile) is left alone. Returns the scans updated.
    pub async fn apply_rematch(
        &self,
        updates: &[RematchUpdate],
        ids: RematchIds<'_>,
        snapshot: Option<&str>,
    ) -> Result<Vec<i64>, StoreError> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let scan_ids: Vec<i64> = updates.iter().map(|u| u.scan_id).collect();
        // The artifacts the scans are still the latest of, locked on PostgreSQL so that a
        // deletion (whose trigger reads these findings) waits for this transaction; `counted`:
        // the scans of live artifacts, which the summary rollups count.
        let mut b = SqlBuilder::new(
            self.backend,
            "SELECT latest_scan_id, deleted_at FROM artifacts WHERE latest_scan_id IN (",
        );
        b.push_bind_list(scan_ids.iter().copied()).push(")");
        if self.backend == Backend::Postgres {
            b.push(" FOR UPDATE");
        }
        let mut latest: HashSet<i64> = HashSet::new();
        let mut counted: HashSet<i64> = HashSet::new();
        for r in b.build()?.fetch_all(&mut *tx).await? {
            let id: i64 = r.try_get("latest_scan_id")?;
            latest.insert(id);
            if r.try_get::<Option<i64>, _>("deleted_at")?.is_none() {
                counted.insert(id);
            }
        }
        let mut b = SqlBuilder::new(self.backend, format!("SELECT {SCAN_COLUMNS} FROM scans WHERE id IN ("));
        b.push_bind_list(latest.iter().copied())
            .push(") AND status = 'succeeded'");
        let mut before: HashMap<i64, ScanRecord> = HashMap::new();
        for r in b.build()?.fetch_all(&mut *tx).await? {
            let s = scan_from_row(&r)?;
            before.insert(s.id, s);
        }
        let live: Vec<i64> = scan_ids.iter().copied().filter(|id| before.contains_key(id)).collect();
        if live.is_empty() {
            return Ok(Vec::new());
        }
        counted.retain(|id| before.contains_key(id));
        let counted_ids: Vec<i64> = counted.iter().copied().collect();
        let id_chunks: Vec<Option<&[String]>> = match ids {
            RematchIds::Only([]) => Vec::new(),
            RematchIds::Only(ids) => ids.chunks(IDS_PER_DELETE).map(Some).collect(),
            RematchIds::All => vec![None],
        };
        let mut rollup = RollupDelta::default();
        rollup.count_reach(self, &mut tx, &counted_ids, &id_chunks, -1).await?;
        let fixable_before = fixable_scans(self.backend, &mut tx, &counted_ids).await?;

        // Delete the replaced findings, counting them per scan and severity.
        let mut deleted: HashMap<i64, Summary> = HashMap::new();
        for chunk in &id_chunks {
            let mut b = SqlBuilder::new(self.backend, "DELETE FROM findings WHERE scan_id IN (");
            b.push_bind_list(live.iter().copied()).push(") AND source = 'advisory'");
            if let Some(chunk) = chunk {
                b.push(" AND finding_id IN (")
                    .push_bind_list(chunk.iter().map(String::as_str))
                    .push(")");
            }
            b.push(" RETURNING scan_id, severity, package, fixed_version");
            for r in b.build()?.fetch_all(&mut *tx).await? {
                let scan_id: i64 = r.try_get("scan_id")?;
                let sev: String = r.try_get("severity")?;
                let sev: Severity = sev.parse()?;
                deleted.entry(scan_id).or_default().add(sev, 1);
                if counted.contains(&scan_id) {
                    let package: Option<String> = r.try_get("package")?;
                    let fixed: Option<String> = r.try_get("fixed_version")?;
                    rollup.count_finding(package.is_some(), fixed.as_deref(), -1);
                }
            }
        }

        // Insert the new matches.
        let rows: Vec<(i64, FindingSource, &Finding)> = updates
            .iter()
            .filter(|u| before.contains_key(&u.scan_id))
            .flat_map(|u| u.findings.iter().map(move |f| (u.scan_id, FindingSource::Advisory, f)))
            .collect();
        insert_findings(self.backend, &mut tx, &rows).await?;
        for (scan_id, _, f) in &rows {
            if counted.contains(scan_id) {
                rollup.count_finding(f.package.is_some(), f.fixed_version.as_deref(), 1);
            }
        }

        let now = now_ms();
        // The former states, as history rows.
        let former: Vec<&ScanRecord> = live.iter().map(|id| &before[id]).collect();
        for chunk in former.chunks(ROWS_PER_STATEMENT) {
            let mut b = SqlBuilder::new(
                self.backend,
                "INSERT INTO scans (artifact_id, scanner, scanner_version, status, reason, advisory_snapshot, inventory_scan_id,
                    critical, high, medium, low, negligible, unknown, details, created_at, started_at, finished_at)
                 ",
            );
            b.push_values(chunk, |mut row, s| {
                let mut details = match &s.details {
                    serde_json::Value::Object(m) => m.clone(),
                    _ => serde_json::Map::new(),
                };
                details.insert("rematched_into_scan".into(), s.id.into());
                row.push_bind(s.artifact_id)
                    .push_bind(s.scanner.as_str())
                    .push_bind(s.scanner_version.as_str())
                    .push_bind(s.status.as_str())
                    .push_bind(s.reason.as_deref())
                    .push_bind(s.advisory_snapshot.as_deref())
                    .push_bind(s.inventory_scan_id);
                for n in counts(&s.summary) {
                    row.push_bind(n);
                }
                row.push_bind(serde_json::Value::Object(details).to_string())
                    .push_bind(s.created_at)
                    .push_bind(s.started_at)
                    .push_bind(s.finished_at);
            });
            b.build()?.execute(&mut *tx).await?;
        }

        // The re-matched states, a few hundred scans per statement.
        let mut states: Vec<(i64, [i64; 6], String)> = Vec::with_capacity(live.len());
        for u in updates {
            let Some(s) = before.get(&u.scan_id) else { continue };
            let mut summary = s.summary;
            if let Some(d) = deleted.get(&u.scan_id) {
                summary = subtract(summary, d);
            }
            for f in &u.findings {
                summary.add(f.severity, 1);
            }
            if counted.contains(&u.scan_id) {
                rollup.count_severities(&s.summary, -1);
                rollup.count_severities(&summary, 1);
            }
            let mut details = match &s.details {
                serde_json::Value::Object(m) => m.clone(),
                _ => serde_json::Map::new(),
            };
            details.insert("rematched_at".into(), now.into());
            states.push((
                u.scan_id,
                counts(&summary),
                serde_json::Value::Object(details).to_string(),
            ));
        }
        for chunk in states.chunks(ROWS_PER_STATEMENT) {
            let mut b = SqlBuilder::new(
                self.backend,
                "UPDATE scans SET advisory_snapshot = v.column2, critical = v.column3, high = v.column4,
                    medium = v.column5, low = v.column6, negligible = v.column7, unknown = v.column8,
                    details = v.column9, started_at = v.column10, finished_at = v.column10
                 FROM (",
            );
            b.push_values(chunk, |mut row, (id, counts, details)| {
                row.push_bind(*id).push_bind(snapshot);
                for n in counts {
                    row.push_bind(*n);
                }
                row.push_bind(details.as_str()).push_bind(now);
            });
            b.push(") AS v WHERE scans.id = v.column1");
            b.build()?.execute(&mut *tx).await?;
        }

        rollup.count_reach(self, &mut tx, &counted_ids, &id_chunks, 1).await?;
        let fixable_after = fixable_scans(self.backend, &mut tx, &counted_ids).await?;
        rollup.fixable_artifacts = fixable_after - fixable_before;
        rollup.apply(self.backend, &mut tx).await?;

        let mut b = SqlBuilder::new(self.backend, "UPDATE artifacts SET updated_at = ");
        b.push_bind(now)
            .push(" WHERE latest_scan_id IN (")
            .push_bind_list(live.iter().copied())
            .push(")");
        b.build()?.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(live)
    }
}

/// How a re-match moves the summary rollups (`advisory_reach`, `incident_totals`; see
/// `crate::store::incidents::summary`), from the findings it deletes and inserts in the latest
/// scans of live artifacts — the triggers' arithmetic, applied to the rows that changed.
#[derive(Default)]
struct RollupDelta {
    /// Per advisory id: the change of its `advisory_reach` row (artifacts, then critical …
    /// unknown by the artifact's highest severity of it).
    reach: HashMap<String, [i64; 7]>,
    findings: i64,
    fixable: i64,
    fixable_artifacts: i64,
    /// Critical … unknown.
    severities: [i64; 6],
}

impl RollupDelta {
    fn count_finding(&mut self, about_package: bool, fixed: Option<&str>, d: i64) {
        if about_package {
            self.findings += d;
            if fixed.is_some_and(|f| !f.is_empty()) {
                self.fixable += d;
            }
        }
    }

    fn count_severities(&mut self, s: &Summary, d: i64) {
        for (total, n) in self.severities.iter_mut().zip(counts(s)) {
            *total += d * n;
        }
    }

    /// Count, with sign `d` (-1 before the re-match, 1 after), each (scan, id) of `scans` among
    /// `ids` that has a finding about a package, under its highest severity rank (as
    /// `advisory_reach` counts an artifact).
    async fn count_reach(
        &mut self,
        store: &Store,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        scans: &[i64],
        ids: &[Option<&[String]>],
        d: i64,
    ) -> Result<(), StoreError> {
        if scans.is_empty() {
            return Ok(());
        }
        for chunk in ids {
            let mut b = SqlBuilder::new(
                store.backend,
                "SELECT finding_id, MAX(severity_rank) AS rank FROM findings WHERE scan_id IN (",
            );
            b.push_bind_list(scans.iter().copied())
                .push(") AND package IS NOT NULL");
            if let Some(chunk) = chunk {
                b.push(" AND finding_id IN (")
                    .push_bind_list(chunk.iter().map(String::as_str))
                    .push(")");
            }
            b.push(" GROUP BY scan_id, finding_id");
            for r in b.build()?.fetch_all(&mut **tx).await? {
                let rank: i64 = r.try_get("rank")?;
                let row = self.reach.entry(r.try_get("finding_id")?).or_default();
                row[0] += d;
                row[1 + (5 - rank.clamp(0, 5)) as usize] += d;
            }
        }
        Ok(())
    }

    /// Add the deltas to the rollup tables (ids in order, as the triggers write them).
    async fn apply(&self, backend: Backend, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<(), StoreError> {
        let mut reach: Vec<(&String, &[i64; 7])> =
            self.reach.iter().filter(|(_, d)| d.iter().any(|&n| n != 0)).collect();
        reach.sort();
        for chunk in reach.chunks(ROWS_PER_STATEMENT) {
            let mut b = SqlBuilder::new(
                backend,
                "INSERT INTO advisory_reach (finding_id, artifacts, critical, high, medium, low, negligible, unknown) ",
            );
            b.push_values(chunk, |mut row, (id, d)| {
                row.push_bind(id.as_str());
                for n in d.iter() {
                    row.push_bind(*n);
                }
            });
            b.push(
                " ON CONFLICT (finding_id) DO UPDATE SET artifacts = advisory_reach.artifacts + excluded.artifacts,
                  critical = advisory_reach.critical + excluded.critical, high = advisory_reach.high + excluded.high,
                  medium = advisory_reach.medium + excluded.medium, low = advisory_reach.low + excluded.low,
                  negligible = advisory_reach.negligible + excluded.negligible, unknown = advisory_reach.unknown + excluded.unknown",
            );
            b.build()?.execute(&mut **tx).await?;
        }
        let totals = [self.findings, self.fixable, self.fixable_artifacts];
        if totals.iter().chain(&self.severities).any(|&n| n != 0) {
            let mut q = sqlx::query(
                "UPDATE incident_totals SET findings = findings + $1, fixable = fixable + $2,
                    fixable_artifacts = fixable_artifacts + $3, critical = critical + $4, high = high + $5,
                    medium = medium + $6, low = low + $7, negligible = negligible + $8, unknown = unknown + $9
                 WHERE id = 1",
            );
            for n in totals.iter().chain(&self.severities) {
                q = q.bind(*n);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// How many of `scans` have a finding about a package that has a fixed version (as
/// `incident_totals.fixable_artifacts` counts them).
async fn fixable_scans(
    backend: Backend,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    scans: &[i64],
) -> Result<i64, StoreError> {
    if scans.is_empty() {
        return Ok(0);
    }
    let mut b = SqlBuilder::new(backend, "SELECT COUNT(*) AS n FROM scans s WHERE s.id IN (");
    b.push_bind_list(scans.iter().copied()).push(
        ") AND EXISTS (SELECT 1 FROM findings f WHERE f.scan_id = s.id AND f.package IS NOT NULL AND f.fixed_version <> '')",
    );
    Ok(b.build()?.fetch_one(&mut **tx).await?.try_get("n")?)
}

/// The six counts of a summary, most severe first (as the `scans` columns store them).
fn counts(s: &Summary) -> [i64; 6] {
    [s.critical, s.high, s.medium, s.low, s.negligible, s.unknown].map(|n| n as i64)
}

/// `a - b`, per severity (never below zero).
fn subtract(a: Summary, b: &Summary) -> Summary {
    Summary {
        critical: a.critical.saturating_sub(b.critical),
        high: a.high.saturating_sub(b.high),
        medium: a.medium.saturating_sub(b.medium),
        low: a.low.saturating_sub(b.low),
        negligible: a.negligible.saturating_sub(b.negligible),
        unknown: a.unknown.saturating_sub(b.unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtract_never_goes_below_zero() {
        let a = Summary {
            high: 3,
            low: 1,
            ..Default::default()
        };
        let b = Summary {
            high: 1,
            low: 2,
            ..Default::default()
        };
        let d = subtract(a, &b);
        assert_eq!((d.high, d.low), (2, 0));
    }
}
