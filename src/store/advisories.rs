//! Stored OSV advisories: raw records keyed by id, the (ecosystem, package) keys each touches,
//! the history of imports (whose latest row names the current snapshot), and the lookups
//! matching and re-matching make: a scan's keys to the records under them, and an import's
//! changed keys to the artifacts whose stored inventory has a package under one of them.
//!
//! Imports are written in bounded batches, one transaction each ([`Store::import_advisory_batch`]);
//! [`Store::finish_advisory_import`] records the import, which is what workers notice.

use std::collections::{BTreeSet, HashMap};

use sqlx::{Acquire, Row};

use super::incidents::derive_advisory_index;
use super::sql::SqlBuilder;
use super::{Backend, Store, StoreError};
use crate::time::now_ms;

/// A lookup key: (normalised ecosystem, normalised package name).
pub type Key = (String, String);

/// Most keys in one lookup statement (two parameters each).
pub(crate) const KEYS_PER_QUERY: usize = 400;

/// SQLite page cache of a connection that imports, in KiB.
const IMPORT_CACHE_KIB: u32 = 65_536;

/// Most rows in one multi-row `INSERT` (parameters stay far below both backends' limits).
const ROWS_PER_INSERT: usize = 1_000;

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
    /// Records seen (read, or skipped unread).
    pub records: u64,
    /// New records.
    pub added: u64,
    /// Records replaced by a newer `modified`.
    pub updated: u64,
    /// Records already stored with the same or a newer `modified` (includes `unread`).
    pub skipped: u64,
    /// Of `skipped`: records not even read, because osv.dev's `modified_id.csv` said the stored
    /// version is current.
    pub unread: u64,
    /// Records that could not be parsed (logged and left out).
    pub invalid: u64,
    /// The snapshot id naming the advisory set after this import.
    pub snapshot: String,
    /// (ecosystem, package) keys touched by added or updated records.
    #[serde(skip)]
    pub changed_keys: Vec<(String, String)>,
    /// The added and updated records, as (key, id) for every key each named before the
    /// import or names now, sorted; `None` when more than [`MAX_DELTA_IDS`] records changed
    /// (re-matching then replaces every advisory finding of the artifacts it affects).
    /// Re-matching an artifact rewrites the findings of the ids under its packages' keys.
    #[serde(skip)]
    pub changed_ids: Option<Vec<(Key, String)>>,
}

/// Most changed ids an import lists for re-matching by delta (see
/// [`ImportStats::changed_ids`]): 20,000 ids are a few MiB, and past that re-deriving every
/// advisory finding of an affected artifact costs about as much as deleting by id.
pub const MAX_DELTA_IDS: usize = 20_000;

/// What the batches of one import changed, gathered as they are written.
#[derive(Debug)]
pub struct ImportChanges {
    keys: BTreeSet<Key>,
    /// (key, id) pairs; `None` once over [`MAX_DELTA_IDS`] ids.
    pairs: Option<BTreeSet<(Key, String)>>,
    ids: BTreeSet<String>,
}

impl Default for ImportChanges {
    fn default() -> Self {
        ImportChanges {
            keys: BTreeSet::new(),
            pairs: Some(BTreeSet::new()),
            ids: BTreeSet::new(),
        }
    }
}

impl ImportChanges {
    /// Count one batch's outcome into `stats` and gather its changed keys and ids.
    pub fn add(&mut self, stats: &mut ImportStats, b: BatchOutcome) {
        stats.added += b.added;
        stats.updated += b.updated;
        stats.skipped += b.skipped;
        if self.pairs.is_some() {
            self.ids.extend(b.changed.iter().map(|(_, id)| id.clone()));
            if self.ids.len() > MAX_DELTA_IDS {
                self.pairs = None;
                self.ids.clear();
            }
        }
        for (key, id) in b.changed {
            if let Some(pairs) = &mut self.pairs {
                pairs.insert((key.clone(), id));
            }
            self.keys.insert(key);
        }
    }

    /// Put the gathered keys and ids into `stats`.
    pub fn finish(&self, stats: &mut ImportStats) {
        stats.changed_keys = self.keys.iter().cloned().collect();
        stats.changed_ids = self.pairs.as_ref().map(|p| p.iter().cloned().collect());
    }
}

/// The aliases and highest CVSS score (× 10) of a record, as cross-artifact queries look them
/// up (see [`derive_advisory_index`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Derived {
    /// Other ids the record is known by.
    pub aliases: Vec<String>,
    /// Highest CVSS base score × 10.
    pub cvss_x10: Option<i64>,
}

impl Derived {
    /// Derive them from a record's stored JSON.
    pub fn of(id: &str, raw: &str) -> Self {
        let (aliases, cvss_x10) = derive_advisory_index(id, raw);
        Derived { aliases, cvss_x10 }
    }
}

/// What one batch changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// New records.
    pub added: u64,
    /// Records replaced by a newer `modified`.
    pub updated: u64,
    /// Records not newer than the stored one (or than an earlier row of the same batch).
    pub skipped: u64,
    /// The added and updated records under each of their keys, old and new: (key, id),
    /// sorted and deduplicated.
    pub changed: Vec<(Key, String)>,
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

/// `modified` as Unix ms, as imports compare it (unparseable: 0).
fn modified_ms(m: &str) -> i64 {
    crate::time::parse_rfc3339_ms(m).unwrap_or(0)
}

impl Store {
    /// Store one batch of advisories in one transaction, keeping for each id the record with the
    /// newest `modified` (an equal `modified` keeps the stored record). Rows of the same id in
    /// one batch are decided in order, as if imported one after another.
    pub async fn import_advisory_batch(&self, source: &str, rows: &[AdvisoryRow]) -> Result<BatchOutcome, StoreError> {
        self.import_advisory_batch_derived(source, rows, None).await
    }

    /// [`Store::import_advisory_batch`], with each row's aliases and CVSS score derived already
    /// (`derived[i]` of `rows[i]`, see [`derive_advisory_index`]; the streaming import derives
    /// them on its reader thread). Without them, they are derived when the import finishes.
    pub async fn import_advisory_batch_derived(
        &self,
        source: &str,
        rows: &[AdvisoryRow],
        derived: Option<&[Derived]>,
    ) -> Result<BatchOutcome, StoreError> {
        let mut out = BatchOutcome::default();
        if rows.is_empty() {
            return Ok(out);
        }
        let derived = derived.filter(|d| d.len() == rows.len());
        let ids: Vec<String> = rows
            .iter()
            .map(|r| r.id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut conn = self.pool.acquire().await?;
        if self.backend == super::Backend::Sqlite {
            // Bulk writes into growing indexes: a page cache of 64 MiB for this connection
            // (SQLite's default is 2 MiB) instead of spilling and re-reading index pages, and a
            // checkpoint every 64 MiB of WAL rather than every 4 MiB (each one syncs; commits
            // stay durable in the WAL either way).
            sqlx::query(&format!("PRAGMA cache_size = -{IMPORT_CACHE_KIB}"))
                .execute(&mut *conn)
                .await?;
            sqlx::query("PRAGMA wal_autocheckpoint = 16384")
                .execute(&mut *conn)
                .await?;
        }
        let mut tx = conn.begin().await?;
        // The stored `modified` of each id, as ms.
        let mut current: HashMap<String, i64> = HashMap::new();
        for chunk in ids.chunks(ROWS_PER_INSERT) {
            let mut b = SqlBuilder::new(self.backend, "SELECT id, modified FROM advisories WHERE id IN (");
            b.push_bind_list(chunk.iter().map(String::as_str)).push(")");
            for r in b.build()?.fetch_all(&mut *tx).await? {
                let m: String = r.try_get("modified")?;
                current.insert(r.try_get("id")?, modified_ms(&m));
            }
        }
        // Decide row by row; the last winning row of an id is written.
        let stored: BTreeSet<String> = current.keys().cloned().collect();
        let mut winners: HashMap<&str, (&AdvisoryRow, Option<&Derived>)> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            let newer = current.get(&row.id).is_none_or(|&ms| ms < row.modified_ms);
            if !newer {
                out.skipped += 1;
                continue;
            }
            if stored.contains(&row.id) || winners.contains_key(row.id.as_str()) {
                out.updated += 1;
            } else {
                out.added += 1;
            }
            current.insert(row.id.clone(), row.modified_ms);
            winners.insert(row.id.as_str(), (row, derived.map(|d| &d[i])));
        }
        let mut winners: Vec<(&AdvisoryRow, Option<&Derived>)> = winners.into_values().collect();
        winners.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        let mut changed: BTreeSet<(Key, String)> = BTreeSet::new();
        // Replaced records: the keys the old version touched may be gone in the new one, so
        // they are re-matched too; then their key rows are rewritten.
        let replaced: Vec<&str> = winners
            .iter()
            .map(|r| r.0.id.as_str())
            .filter(|id| stored.contains(*id))
            .collect();
        for chunk in replaced.chunks(ROWS_PER_INSERT) {
            let mut b = SqlBuilder::new(
                self.backend,
                "SELECT advisory_id, ecosystem, name FROM advisory_packages WHERE advisory_id IN (",
            );
            b.push_bind_list(chunk.iter().copied()).push(")");
            for r in b.build()?.fetch_all(&mut *tx).await? {
                changed.insert(((r.try_get("ecosystem")?, r.try_get("name")?), r.try_get("advisory_id")?));
            }
            for table in ["advisory_packages", "advisory_aliases"] {
                let mut b = SqlBuilder::new(self.backend, format!("DELETE FROM {table} WHERE advisory_id IN ("));
                b.push_bind_list(chunk.iter().copied()).push(")");
                b.build()?.execute(&mut *tx).await?;
            }
        }
        let now = now_ms();
        for chunk in winners.chunks(ROWS_PER_INSERT) {
            let mut b = SqlBuilder::new(
                self.backend,
                "INSERT INTO advisories (id, modified, withdrawn, raw, source, imported_at, cvss_x10, indexed) ",
            );
            b.push_values(chunk, |mut row, (a, d)| {
                row.push_bind(a.id.as_str())
                    .push_bind(a.modified.as_str())
                    .push_bind(a.withdrawn.as_deref())
                    .push_bind(a.raw.as_str())
                    .push_bind(source)
                    .push_bind(now)
                    .push_bind(d.and_then(|d| d.cvss_x10))
                    .push_bind(i64::from(d.is_some()));
            });
            b.push(
                "
                 ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, withdrawn = excluded.withdrawn,
                 raw = excluded.raw, source = excluded.source, imported_at = excluded.imported_at,
                 cvss_x10 = excluded.cvss_x10, indexed = excluded.indexed",
            );
            b.build()?.execute(&mut *tx).await?;
        }
        let alias_rows: Vec<(&str, &str)> = winners
            .iter()
            .filter_map(|(a, d)| Some((a, (*d)?)))
            .flat_map(|(a, d)| d.aliases.iter().map(|alias| (alias.as_str(), a.id.as_str())))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for chunk in alias_rows.chunks(ROWS_PER_INSERT) {
            let mut b = SqlBuilder::new(self.backend, "INSERT INTO advisory_aliases (alias, advisory_id) ");
            b.push_values(chunk, |mut row, (alias, id)| {
                row.push_bind(*alias).push_bind(*id);
            });
            b.push(" ON CONFLICT DO NOTHING");
            b.build()?.execute(&mut *tx).await?;
        }
        let mut key_rows: Vec<(&str, &str, &str)> = Vec::new();
        for (a, _) in &winners {
            let keys: BTreeSet<&Key> = a.keys.iter().collect();
            for (eco, name) in keys {
                key_rows.push((&a.id, eco, name));
                changed.insert(((eco.clone(), name.clone()), a.id.clone()));
            }
        }
        for chunk in key_rows.chunks(ROWS_PER_INSERT) {
            let mut b = SqlBuilder::new(
                self.backend,
                "INSERT INTO advisory_packages (advisory_id, ecosystem, name) ",
            );
            b.push_values(chunk, |mut row, (id, eco, name)| {
                row.push_bind(*id).push_bind(*eco).push_bind(*name);
            });
            b.build()?.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        out.changed = changed.into_iter().collect();
        Ok(out)
    }

    /// Record a finished import (its counts) and name the new snapshot; workers notice it and
    /// drop what they cached.
    pub async fn finish_advisory_import(&self, source: &str, stats: &mut ImportStats) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let now = now_ms();
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
        // Aliases and CVSS scores of what this import wrote (cross-artifact queries).
        self.index_stored_advisories().await?;
        Ok(())
    }

    /// Store advisories held in memory (in batches, see [`Store::import_advisory_batch`]) and
    /// record the import.
    pub async fn import_advisories(&self, source: &str, rows: &[AdvisoryRow]) -> Result<ImportStats, StoreError> {
        let mut stats = ImportStats {
            records: rows.len() as u64,
            ..Default::default()
        };
        let mut changes = ImportChanges::default();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let b = self.import_advisory_batch(source, chunk).await?;
            changes.add(&mut stats, b);
        }
        changes.finish(&mut stats);
        self.finish_advisory_import(source, &mut stats).await?;
        Ok(stats)
    }

    /// The stored `modified` of each of `ids` that is stored.
    pub async fn advisory_modified(&self, ids: &[String]) -> Result<HashMap<String, String>, StoreError> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(ROWS_PER_INSERT) {
            let mut b = SqlBuilder::new(self.backend, "SELECT id, modified FROM advisories WHERE id IN (");
            b.push_bind_list(chunk.iter().map(String::as_str)).push(")");
            for r in b.build()?.fetch_all(&self.pool).await? {
                out.insert(r.try_get("id")?, r.try_get("modified")?);
            }
        }
        Ok(out)
    }

    /// Whether any advisory is stored.
    pub async fn has_advisories(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT id FROM advisories LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// The latest import's row id (a counter that only grows) and snapshot, if any.
    pub async fn advisory_snapshot_id(&self) -> Result<Option<(i64, String)>, StoreError> {
        let row = sqlx::query("SELECT id, snapshot FROM advisory_imports ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| -> Result<_, sqlx::Error> { Ok((r.try_get("id")?, r.try_get("snapshot")?)) })
            .transpose()?)
    }

    /// The current snapshot id (the latest import), if any.
    pub async fn advisory_snapshot(&self) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT snapshot FROM advisory_imports ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("snapshot")).transpose()?)
    }

    /// The records stored under `keys`: (key, id, JSON) rows, by key then id, a few hundred
    /// keys per statement through the `advisory_packages` index. A record under two of the keys
    /// comes once per key.
    pub async fn advisories_for_keys(&self, keys: &[Key]) -> Result<Vec<(Key, String, String)>, StoreError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let mut b = SqlBuilder::new(
                self.backend,
                "SELECT ap.ecosystem AS ecosystem, ap.name AS name, a.id AS id, a.raw AS raw
                 FROM (",
            );
            b.push_values(chunk, |mut row, (eco, name)| {
                row.push_bind(eco.as_str()).push_bind(name.as_str());
            });
            b.push(
                ") k
                 JOIN advisory_packages ap ON ap.ecosystem = k.column1 AND ap.name = k.column2
                 JOIN advisories a ON a.id = ap.advisory_id
                 ORDER BY ap.ecosystem, ap.name, a.id",
            );
            for r in b.build()?.fetch_all(&self.pool).await? {
                out.push((
                    (r.try_get("ecosystem")?, r.try_get("name")?),
                    r.try_get("id")?,
                    r.try_get("raw")?,
                ));
            }
        }
        Ok(out)
    }

    /// Every stored advisory's JSON, in id order, through `f` (read 2,000 at a time).
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

    /// Artifacts (not deleted) whose latest scan succeeded and used an inventory with a package
    /// under one of `keys`, found by index: the keys are joined with `package_keys`, then to the
    /// scans using that inventory and the artifacts those scans are the latest of.
    pub async fn artifacts_with_keys(&self, keys: &[Key]) -> Result<Vec<i64>, StoreError> {
        Ok(self
            .rematch_targets(keys)
            .await?
            .into_iter()
            .map(|t| t.artifact_id)
            .collect())
    }

    /// Fill `package_keys` for inventories stored before it existed, once per database (the
    /// store calls this after migrating). Idempotent: two processes doing it at once insert the
    /// same rows.
    pub(crate) async fn backfill_package_keys(&self) -> Result<(), StoreError> {
        let done = sqlx::query("SELECT done_at FROM package_keys_backfill LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        if done.is_some() {
            return Ok(());
        }
        let mut last = 0i64;
        loop {
            let rows = sqlx::query(
                "SELECT scan_id, ecosystem, name, source_name FROM packages
                 WHERE scan_id IN (SELECT DISTINCT scan_id FROM packages WHERE scan_id > $1 ORDER BY scan_id LIMIT 200)
                 ORDER BY scan_id",
            )
            .bind(last)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                break;
            }
            let mut keys: BTreeSet<(i64, String, String)> = BTreeSet::new();
            for r in &rows {
                let scan_id: i64 = r.try_get("scan_id")?;
                last = last.max(scan_id);
                let pkg = regscan_scanner_api::Package {
                    ecosystem: r.try_get("ecosystem")?,
                    name: r.try_get("name")?,
                    version: String::new(),
                    source_name: r.try_get("source_name")?,
                    source_version: None,
                    path: String::new(),
                    layer: None,
                    dev: false,
                };
                for (eco, name) in regscan_osv::AdvisoryIndex::package_keys(&pkg) {
                    keys.insert((scan_id, eco, name));
                }
            }
            let keys: Vec<_> = keys.into_iter().collect();
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin().await?;
            insert_package_key_rows(self.backend, &mut tx, &keys).await?;
            tx.commit().await?;
        }
        sqlx::query("INSERT INTO package_keys_backfill (done_at) VALUES ($1)")
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Record the lookup keys of an inventory's packages (inside the transaction storing them).
pub(crate) async fn insert_package_keys(
    backend: Backend,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    scan_id: i64,
    packages: &[regscan_scanner_api::Package],
) -> Result<(), StoreError> {
    let keys: BTreeSet<(i64, String, String)> = packages
        .iter()
        .flat_map(regscan_osv::AdvisoryIndex::package_keys)
        .map(|(eco, name)| (scan_id, eco, name))
        .collect();
    let keys: Vec<_> = keys.into_iter().collect();
    insert_package_key_rows(backend, tx, &keys).await
}

async fn insert_package_key_rows(
    backend: Backend,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    keys: &[(i64, String, String)],
) -> Result<(), StoreError> {
    for chunk in keys.chunks(ROWS_PER_INSERT) {
        let mut b = SqlBuilder::new(backend, "INSERT INTO package_keys (scan_id, ecosystem, name) ");
        b.push_values(chunk, |mut row, (scan_id, eco, name)| {
            row.push_bind(*scan_id).push_bind(eco.as_str()).push_bind(name.as_str());
        });
        b.push(" ON CONFLICT DO NOTHING");
        b.build()?.execute(&mut **tx).await?;
    }
    Ok(())
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

    /// Derive aliases and CVSS scores of advisories stored without them (databases migrated
    /// from before migration 7, records imported from memory). A no-op once done. Walks the ids
    /// once, 1,000 at a time.
    pub(crate) async fn index_stored_advisories(&self) -> Result<(), StoreError> {
        let mut last = String::new();
        loop {
            let rows =
                sqlx::query("SELECT id, raw FROM advisories WHERE indexed = 0 AND id > $1 ORDER BY id LIMIT 1000")
                    .bind(&last)
                    .fetch_all(&self.pool)
                    .await?;
            let Some(end) = rows.last() else {
                return Ok(());
            };
            last = end.try_get("id")?;
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
