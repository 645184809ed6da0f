//! Stored OSV advisories: raw records keyed by id, the (ecosystem, package) keys each touches,
//! and the history of imports. Matching itself lives in the `regscan-osv` crate; the pipeline
//! loads the records from here into its in-memory index.

use sqlx::{Acquire, Row};

use super::incidents::derive_advisory_index;

use super::{now_ms, Store, StoreError};

/// One advisory to store.
#[derive(Debug, Clone)]
pub struct AdvisoryRow {
    /// OSV id.
    pub id: String,
    /// `modified` timestamp as Unix ms (used to keep the newest record).
    pub modified_ms: i64,
    /// `modified` as written in the record.
    pub modified: String,
    /// `withdrawn`, if set.
    pub withdrawn: Option<String>,
    /// The record's JSON.
    pub raw: String,
    /// Normalised (ecosystem, package) keys it affects.
    pub keys: Vec<(String, String)>,
}

/// What an import changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportStats {
    /// Records read.
    pub records: u64,
    /// New records.
    pub added: u64,
    /// Records replaced by a newer `modified`.
    pub updated: u64,
    /// Records already stored with the same or a newer `modified`.
    pub skipped: u64,
    /// The snapshot id naming the advisory set after this import.
    pub snapshot: String,
    /// (ecosystem, package) keys touched by added or updated records.
    #[serde(skip)]
    pub changed_keys: Vec<(String, String)>,
}

/// What is loaded, per ecosystem.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdvisoryStatus {
    /// Records per ecosystem (a record touching two ecosystems counts in both).
    pub ecosystems: Vec<(String, i64)>,
    /// Total records.
    pub total: i64,
    /// Latest import: (source, Unix ms, snapshot).
    pub last_import: Option<(String, i64, String)>,
    /// The newest `modified` among stored records.
    pub newest_modified: Option<String>,
}

impl Store {
    /// Store advisories, keeping for each id the record with the newest `modified`, and record
    /// the import.
    pub async fn import_advisories(&self, source: &str, rows: &[AdvisoryRow]) -> Result<ImportStats, StoreError> {
        let mut stats = ImportStats {
            records: rows.len() as u64,
            ..Default::default()
        };
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let now = now_ms();
        for chunk in rows.chunks(500) {
            for a in chunk {
                let existing = sqlx::query("SELECT modified, raw FROM advisories WHERE id = $1")
                    .bind(&a.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let newer = match &existing {
                    None => true,
                    Some(r) => {
                        let m: String = r.try_get("modified")?;
                        crate::scan::advisories::parse_rfc3339_ms(&m).unwrap_or(0) < a.modified_ms
                    }
                };
                if !newer {
                    stats.skipped += 1;
                    continue;
                }
                if existing.is_some() {
                    stats.updated += 1;
                    // Keys the old version touched may be gone in the new one: re-match those too.
                    let old = sqlx::query("SELECT ecosystem, name FROM advisory_packages WHERE advisory_id = $1")
                        .bind(&a.id)
                        .fetch_all(&mut *tx)
                        .await?;
                    for r in old {
                        stats.changed_keys.push((r.try_get("ecosystem")?, r.try_get("name")?));
                    }
                    sqlx::query("DELETE FROM advisory_packages WHERE advisory_id = $1")
                        .bind(&a.id)
                        .execute(&mut *tx)
                        .await?;
                } else {
                    stats.added += 1;
                }
                sqlx::query(
                    "INSERT INTO advisories (id, modified, withdrawn, raw, source, imported_at) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, withdrawn = excluded.withdrawn, raw = excluded.raw, source = excluded.source, imported_at = excluded.imported_at",
                )
                .bind(&a.id)
                .bind(&a.modified)
                .bind(a.withdrawn.as_deref())
                .bind(&a.raw)
                .bind(source)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                self.index_advisory(&mut tx, &a.id, &a.raw).await?;
                let mut keys = a.keys.clone();
                keys.sort();
                keys.dedup();
                for (eco, name) in keys {
                    sqlx::query("INSERT INTO advisory_packages (advisory_id, ecosystem, name) VALUES ($1, $2, $3)")
                        .bind(&a.id)
                        .bind(&eco)
                        .bind(&name)
                        .execute(&mut *tx)
                        .await?;
                    stats.changed_keys.push((eco, name));
                }
            }
        }
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM advisory_imports")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        stats.snapshot = format!("osv-{}-{}", count + 1, now);
        sqlx::query(
            "INSERT INTO advisory_imports (source, records, added, updated, skipped, snapshot, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(source)
        .bind(stats.records as i64)
        .bind(stats.added as i64)
        .bind(stats.updated as i64)
        .bind(stats.skipped as i64)
        .bind(&stats.snapshot)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        stats.changed_keys.sort();
        stats.changed_keys.dedup();
        Ok(stats)
    }

    /// The current snapshot id (the latest import), if any.
    pub async fn advisory_snapshot(&self) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT snapshot FROM advisory_imports ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("snapshot")).transpose()?)
    }

    /// Every stored advisory's JSON, in id order, `batch` at a time through `f`.
    pub async fn for_each_advisory(&self, mut f: impl FnMut(&str)) -> Result<u64, StoreError> {
        let mut last = String::new();
        let mut n = 0;
        loop {
            let rows = sqlx::query("SELECT id, raw FROM advisories WHERE id > $1 ORDER BY id LIMIT 2000")
                .bind(&last)
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                return Ok(n);
            }
            for r in &rows {
                let raw: String = r.try_get("raw")?;
                f(&raw);
                n += 1;
            }
            last = rows.last().map(|r| r.try_get("id")).transpose()?.unwrap_or_default();
        }
    }

    /// What is loaded and how fresh.
    pub async fn advisory_status(&self) -> Result<AdvisoryStatus, StoreError> {
        let rows = sqlx::query("SELECT ecosystem, COUNT(DISTINCT advisory_id) AS n FROM advisory_packages GROUP BY ecosystem ORDER BY ecosystem")
            .fetch_all(&self.pool)
            .await?;
        let ecosystems = rows
            .iter()
            .map(|r| Ok((r.try_get("ecosystem")?, r.try_get("n")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM advisories")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let last = sqlx::query("SELECT source, imported_at, snapshot FROM advisory_imports ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        let last_import = last
            .map(|r| -> Result<_, sqlx::Error> {
                Ok((r.try_get("source")?, r.try_get("imported_at")?, r.try_get("snapshot")?))
            })
            .transpose()?;
        let newest: Option<String> = sqlx::query("SELECT MAX(modified) AS m FROM advisories")
            .fetch_one(&self.pool)
            .await?
            .try_get("m")?;
        Ok(AdvisoryStatus {
            ecosystems,
            total,
            last_import,
            newest_modified: newest,
        })
    }

    /// Artifacts whose latest scan's inventory has a package under one of `keys`
    /// ((ecosystem, normalised name) pairs, as advisories name them). `keys_of` gives the keys a
    /// stored package is matched under (its own and its source package's).
    pub async fn artifacts_with_packages(
        &self,
        keys: &std::collections::BTreeSet<(String, String)>,
        keys_of: impl Fn(&regscan_scanner_api::Package) -> Vec<(String, String)>,
    ) -> Result<Vec<i64>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT DISTINCT a.id AS artifact_id, p.ecosystem AS ecosystem, p.name AS name, p.source_name AS source_name
             FROM artifacts a JOIN scans s ON s.id = a.latest_scan_id
             JOIN packages p ON p.scan_id = s.inventory_scan_id
             WHERE a.deleted_at IS NULL AND s.status = 'succeeded'",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = std::collections::BTreeSet::new();
        for r in rows {
            let pkg = regscan_scanner_api::Package {
                ecosystem: r.try_get("ecosystem")?,
                name: r.try_get("name")?,
                version: String::new(),
                source_name: r.try_get("source_name")?,
                source_version: None,
                path: String::new(),
                layer: None,
            };
            if keys_of(&pkg).iter().any(|k| keys.contains(k)) {
                out.insert(r.try_get::<i64, _>("artifact_id")?);
            }
        }
        Ok(out.into_iter().collect())
    }
}

impl Store {
    /// Record the aliases and CVSS score of one advisory (replacing what was derived before).
    async fn index_advisory(&self, conn: &mut sqlx::AnyConnection, id: &str, raw: &str) -> Result<(), StoreError> {
        let (aliases, cvss_x10) = derive_advisory_index(id, raw);
        sqlx::query("DELETE FROM advisory_aliases WHERE advisory_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        for alias in aliases {
            sqlx::query("INSERT INTO advisory_aliases (alias, advisory_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(alias)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query("UPDATE advisories SET cvss_x10 = $2, indexed = 1 WHERE id = $1")
            .bind(id)
            .bind(cvss_x10)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Derive aliases and CVSS scores of advisories stored before they were derived at import
    /// (databases migrated from before migration 7). A no-op once done.
    pub(crate) async fn index_stored_advisories(&self) -> Result<(), StoreError> {
        loop {
            let rows = sqlx::query("SELECT id, raw FROM advisories WHERE indexed = 0 ORDER BY id LIMIT 1000")
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                return Ok(());
            }
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin().await?;
            for r in &rows {
                let id: String = r.try_get("id")?;
                let raw: String = r.try_get("raw")?;
                self.index_advisory(&mut tx, &id, &raw).await?;
            }
            tx.commit().await?;
        }
    }
}
