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
//! reads as before: the state before the re-match, then the re-matched one.

use std::collections::{BTreeMap, HashMap};

use regscan_scanner_api::{Finding, Package, Severity, Summary};
use sqlx::{Acquire, Row};

use super::advisories::{Key, KEYS_PER_QUERY};
use super::results::{insert_findings, package_from_row, scan_from_row, FindingSource, ScanRecord, SCAN_COLUMNS};
use super::sql::SqlBuilder;
use super::{Store, StoreError};
use crate::time::now_ms;

/// Most ids in one `IN` list of a delete.
const IDS_PER_DELETE: usize = 1_000;

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
    /// The latest scans to re-match for `keys`: those of artifacts (not deleted) whose latest
    /// scan succeeded and used an inventory with a package under one of the keys, found by
    /// index (`package_keys`, then the scans using the inventory, then the artifacts they are
    /// the latest of). Ordered by artifact id.
    pub async fn rematch_targets(&self, keys: &[Key]) -> Result<Vec<RematchTarget>, StoreError> {
        let mut out: BTreeMap<i64, RematchTarget> = BTreeMap::new();
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let mut b = SqlBuilder::new(
                "SELECT DISTINCT a.id AS artifact_id, s.id AS scan_id, s.inventory_scan_id AS inventory_scan_id
                 FROM (",
            );
            b.push_values(chunk, |mut row, (eco, name)| {
                row.push_bind(eco.as_str()).push_bind(name.as_str());
            });
            b.push(
                ") k
                 JOIN package_keys pk ON pk.ecosystem = k.column1 AND pk.name = k.column2
                 JOIN scans s ON s.inventory_scan_id = pk.scan_id
                 JOIN artifacts a ON a.latest_scan_id = s.id
                 WHERE a.deleted_at IS NULL AND s.status = 'succeeded'",
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

    /// The package inventories stored with `scan_ids`, in one query per few hundred scans
    /// (each inventory in the order [`Store::packages`] gives).
    pub async fn inventories(&self, scan_ids: &[i64]) -> Result<HashMap<i64, Vec<Package>>, StoreError> {
        let mut out: HashMap<i64, Vec<Package>> = HashMap::new();
        for chunk in scan_ids.chunks(KEYS_PER_QUERY) {
            let mut b = SqlBuilder::new(
                "SELECT scan_id, ecosystem, name, version, source_name, source_version, path, layer, dev FROM packages
                 WHERE scan_id IN (",
            );
            b.push_bind_list(chunk.iter().copied())
                .push(") ORDER BY scan_id, ecosystem, name, version, path");
            for r in b.build()?.fetch_all(&self.pool).await? {
                out.entry(r.try_get("scan_id")?)
                    .or_default()
                    .push(package_from_row(&r)?);
            }
        }
        Ok(out)
    }

    /// Write the re-match of many scans in one transaction (see the module documentation):
    /// delete their advisory findings of `ids`, insert `updates`' findings, keep each scan's
    /// former state as a history row, and update its counts, snapshot, details and times. A
    /// scan that is no longer its artifact's latest (a scan finished meanwhile) is left alone.
    /// Returns the scans updated.
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
        // The scans still latest, as they are before this re-match.
        let mut b = SqlBuilder::new(format!("SELECT {SCAN_COLUMNS} FROM scans WHERE id IN ("));
        b.push_bind_list(scan_ids.iter().copied()).push(
            ") AND status = 'succeeded'
             AND EXISTS (SELECT 1 FROM artifacts a WHERE a.latest_scan_id = scans.id)",
        );
        let mut before: HashMap<i64, ScanRecord> = HashMap::new();
        for r in b.build()?.fetch_all(&mut *tx).await? {
            let s = scan_from_row(&r)?;
            before.insert(s.id, s);
        }
        let live: Vec<i64> = scan_ids.iter().copied().filter(|id| before.contains_key(id)).collect();
        if live.is_empty() {
            return Ok(Vec::new());
        }

        // Delete the replaced findings, counting them per scan and severity.
        let mut deleted: HashMap<i64, Summary> = HashMap::new();
        let id_chunks: Vec<Option<&[String]>> = match ids {
            RematchIds::Only(ids) => ids.chunks(IDS_PER_DELETE).map(Some).collect(),
            RematchIds::All => vec![None],
        };
        for chunk in id_chunks {
            let mut b = SqlBuilder::new("DELETE FROM findings WHERE scan_id IN (");
            b.push_bind_list(live.iter().copied()).push(") AND source = 'advisory'");
            if let Some(chunk) = chunk {
                b.push(" AND finding_id IN (")
                    .push_bind_list(chunk.iter().map(String::as_str))
                    .push(")");
            }
            b.push(" RETURNING scan_id, severity");
            for r in b.build()?.fetch_all(&mut *tx).await? {
                let sev: String = r.try_get("severity")?;
                let sev: Severity = sev.parse()?;
                deleted.entry(r.try_get("scan_id")?).or_default().add(sev, 1);
            }
        }

        // Insert the new matches.
        let rows: Vec<(i64, FindingSource, &Finding)> = updates
            .iter()
            .filter(|u| before.contains_key(&u.scan_id))
            .flat_map(|u| u.findings.iter().map(move |f| (u.scan_id, FindingSource::Advisory, f)))
            .collect();
        insert_findings(&mut tx, &rows).await?;

        let now = now_ms();
        // The former states, as history rows.
        let former: Vec<&ScanRecord> = live.iter().map(|id| &before[id]).collect();
        for chunk in former.chunks(200) {
            let mut b = SqlBuilder::new(
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

        // The re-matched states.
        for u in updates {
            let Some(s) = before.get(&u.scan_id) else { continue };
            let mut summary = s.summary;
            if let Some(d) = deleted.get(&u.scan_id) {
                summary = subtract(summary, d);
            }
            for f in &u.findings {
                summary.add(f.severity, 1);
            }
            let mut details = match &s.details {
                serde_json::Value::Object(m) => m.clone(),
                _ => serde_json::Map::new(),
            };
            details.insert("rematched_at".into(), now.into());
            let mut q = sqlx::query(
                "UPDATE scans SET advisory_snapshot = $2, critical = $3, high = $4, medium = $5, low = $6,
                    negligible = $7, unknown = $8, details = $9, started_at = $10, finished_at = $10
                 WHERE id = $1",
            )
            .bind(u.scan_id)
            .bind(snapshot);
            for n in counts(&summary) {
                q = q.bind(n);
            }
            q.bind(serde_json::Value::Object(details).to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        let mut b = SqlBuilder::new("UPDATE artifacts SET updated_at = ");
        b.push_bind(now)
            .push(" WHERE latest_scan_id IN (")
            .push_bind_list(live.iter().copied())
            .push(")");
        b.build()?.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(live)
    }
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
