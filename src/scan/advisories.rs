//! Advisories in the pipeline: matching a scan's packages against the advisories stored in the
//! database, importing OSV records into the store ([`import`]), and re-matching stored
//! inventories after an import (no blob is fetched).
//!
//! Nothing loads the whole advisory table. A scan collects the distinct (ecosystem, package)
//! keys its packages are looked up under and asks the store for the records under those keys,
//! a few hundred keys per query; the records are parsed and prepared once and kept in a bounded
//! LRU cache of hot keys ([`AdvisoryDb`]), so memory does not grow with the number of
//! advisories. Every match first reads the latest import's id (one indexed row): when an import
//! has landed since, the cache is dropped and refilled from the new data — no stop-the-world
//! reload. Matching itself is `regscan_osv::match_packages_in`, the same code the in-memory
//! `AdvisoryIndex` runs.

pub mod import;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use regscan_osv::{match_packages_in, prepare_advisory, AdvisoryIndex, EntrySource, PreparedEntry};
use regscan_scanner_api::{Finding, Package, Status};
use tracing::{info, warn};

pub use import::{import_and_rematch, import_source, import_source_and_rematch, parse_rfc3339_ms, read_source};

use crate::store::advisories::Key;
use crate::store::{FindingSource, ScanResult, Store, StoreError};

/// Errors importing advisories.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The source could not be read.
    #[error("reading {source_name}: {message}")]
    Source {
        /// The source as given.
        source_name: String,
        /// What went wrong.
        message: String,
    },
    /// Storing failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Default budget of the hot-key cache, in bytes of record JSON held (a record under two keys
/// counts twice; each key, even one with no record, counts 256 bytes more).
pub const DEFAULT_CACHE_BYTES: usize = 16 << 20;

/// What one key costs in the cache besides its records.
const KEY_OVERHEAD: usize = 256;

/// The prepared entries under each key of one scan.
struct ScanEntries(HashMap<Key, Arc<Vec<PreparedEntry>>>);

impl EntrySource for ScanEntries {
    fn entries(&self, key: &Key) -> &[PreparedEntry] {
        self.0.get(key).map(|v| v.as_slice()).unwrap_or(&[])
    }
}

struct Cached {
    entries: Arc<Vec<PreparedEntry>>,
    weight: usize,
    tick: u64,
}

/// An LRU of prepared entries per key, valid for one import (`import_id`).
struct Cache {
    /// The import the cached entries were read after (`Some(None)`: no import yet; `None`:
    /// nothing checked yet).
    import_id: Option<Option<i64>>,
    map: HashMap<Key, Cached>,
    lru: BTreeMap<u64, Key>,
    tick: u64,
    weight: usize,
    budget: usize,
    stats: CacheStats,
}

/// Counters of the hot-key cache (for tests and logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Keys answered from the cache.
    pub hits: u64,
    /// Keys read from the database.
    pub misses: u64,
    /// Lookup rounds that went to the database (one per scan with a miss).
    pub fetches: u64,
    /// Times the cache was dropped because a new import landed.
    pub invalidations: u64,
    /// Keys evicted to stay within the budget.
    pub evictions: u64,
    /// Keys held now.
    pub keys: u64,
    /// Weight held now (bytes, see [`DEFAULT_CACHE_BYTES`]).
    pub weight: u64,
}

impl Cache {
    fn new(budget: usize) -> Self {
        Cache {
            import_id: None,
            map: HashMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
            weight: 0,
            budget,
            stats: CacheStats::default(),
        }
    }

    fn reset(&mut self, import_id: Option<i64>) {
        if self.import_id.is_some() {
            self.stats.invalidations += 1;
        }
        self.import_id = Some(import_id);
        self.map.clear();
        self.lru.clear();
        self.weight = 0;
    }

    fn get(&mut self, key: &Key) -> Option<Arc<Vec<PreparedEntry>>> {
        let c = self.map.get_mut(key)?;
        self.lru.remove(&c.tick);
        self.tick += 1;
        c.tick = self.tick;
        self.lru.insert(self.tick, key.clone());
        Some(c.entries.clone())
    }

    fn insert(&mut self, key: Key, entries: Arc<Vec<PreparedEntry>>, weight: usize) {
        if weight > self.budget {
            return;
        }
        if let Some(old) = self.map.remove(&key) {
            self.lru.remove(&old.tick);
            self.weight -= old.weight;
        }
        while self.weight + weight > self.budget {
            let Some((_, k)) = self.lru.pop_first() else { break };
            if let Some(old) = self.map.remove(&k) {
                self.weight -= old.weight;
                self.stats.evictions += 1;
            }
        }
        self.tick += 1;
        self.lru.insert(self.tick, key.clone());
        self.map.insert(
            key,
            Cached {
                entries,
                weight,
                tick: self.tick,
            },
        );
        self.weight += weight;
    }
}

/// Advisory matching against the store, with a bounded cache of hot keys shared by the clones
/// of one `AdvisoryDb` (a worker's scans).
#[derive(Clone)]
pub struct AdvisoryDb {
    cache: Arc<Mutex<Cache>>,
}

impl Default for AdvisoryDb {
    fn default() -> Self {
        AdvisoryDb::with_cache_budget(DEFAULT_CACHE_BYTES)
    }
}

impl AdvisoryDb {
    /// A matcher whose cache holds at most `bytes` (see [`DEFAULT_CACHE_BYTES`]); 0 disables it.
    pub fn with_cache_budget(bytes: usize) -> Self {
        AdvisoryDb {
            cache: Arc::new(Mutex::new(Cache::new(bytes))),
        }
    }

    /// The cache's counters.
    pub fn cache_stats(&self) -> CacheStats {
        let c = self.cache.lock().expect("advisory cache lock poisoned");
        CacheStats {
            keys: c.map.len() as u64,
            weight: c.weight as u64,
            ..c.stats
        }
    }

    /// Match packages: (snapshot, findings). Looks up the packages' distinct keys, from the
    /// cache or in the database, and matches as `AdvisoryIndex::match_packages` does.
    pub async fn match_packages(
        &self,
        store: &Store,
        packages: &[Package],
    ) -> Result<(Option<String>, Vec<Finding>), StoreError> {
        let latest = store.advisory_snapshot_id().await?;
        let (import_id, snapshot) = match latest {
            Some((id, s)) => (Some(id), Some(s)),
            None => (None, None),
        };
        if packages.is_empty() {
            return Ok((snapshot, Vec::new()));
        }
        let keys: BTreeSet<Key> = packages.iter().flat_map(AdvisoryIndex::package_keys).collect();
        let mut found: HashMap<Key, Arc<Vec<PreparedEntry>>> = HashMap::with_capacity(keys.len());
        let mut missing: Vec<Key> = Vec::new();
        let use_cache = {
            let mut c = self.cache.lock().expect("advisory cache lock poisoned");
            // A newer import drops the cache; a scan that read an older one than the cache's
            // (it raced an import) bypasses the cache.
            let newer = match c.import_id {
                None => true,
                Some(cached) => import_id > cached,
            };
            if newer {
                c.reset(import_id);
            }
            let use_cache = c.import_id == Some(import_id);
            for k in keys {
                match use_cache.then(|| c.get(&k)).flatten() {
                    Some(e) => {
                        c.stats.hits += 1;
                        found.insert(k, e);
                    }
                    None => missing.push(k),
                }
            }
            if !missing.is_empty() {
                c.stats.misses += missing.len() as u64;
                c.stats.fetches += 1;
            }
            use_cache
        };
        if !missing.is_empty() {
            let rows = store.advisories_for_keys(&missing).await?;
            let fetched = prepare_rows(missing, rows);
            let mut c = self.cache.lock().expect("advisory cache lock poisoned");
            let still_current = use_cache && c.import_id == Some(import_id);
            for (k, (entries, weight)) in fetched {
                if still_current {
                    c.insert(k.clone(), entries.clone(), weight);
                }
                found.insert(k, entries);
            }
        }
        Ok((snapshot, match_packages_in(&ScanEntries(found), packages)))
    }
}

/// Parse and prepare the records fetched for `keys` (rows by key, then id): each record once,
/// its entries put under the keys they belong to. Every key gets a list (maybe empty, which is
/// cached too: most packages have no advisory) and its cache weight.
fn prepare_rows(keys: Vec<Key>, rows: Vec<(Key, String, String)>) -> HashMap<Key, (Arc<Vec<PreparedEntry>>, usize)> {
    let mut by_id: HashMap<String, Vec<(Key, PreparedEntry)>> = HashMap::new();
    let mut lists: HashMap<Key, (Vec<PreparedEntry>, usize)> =
        keys.into_iter().map(|k| (k, (Vec::new(), KEY_OVERHEAD))).collect();
    for (key, id, raw) in rows {
        if !by_id.contains_key(&id) {
            let prepared = match regscan_osv::parse_advisory(raw.as_bytes()) {
                Ok(adv) => prepare_advisory(&Arc::new(adv)),
                Err(e) => {
                    warn!(advisory = %id, error = %e, "stored advisory is unreadable; left out of matching");
                    Vec::new()
                }
            };
            by_id.insert(id.clone(), prepared);
        }
        let Some((list, weight)) = lists.get_mut(&key) else {
            continue;
        };
        *weight += raw.len();
        for (k, entry) in &by_id[&id] {
            if *k == key {
                list.push(entry.clone());
            }
        }
    }
    lists
        .into_iter()
        .map(|(k, (list, w))| (k, (Arc::new(list), w)))
        .collect()
}

/// The old way, for comparison and tools: every stored record in one in-memory index (memory
/// grows with the advisory count; the pipeline never does this).
pub async fn load_full_index(store: &Store) -> Result<AdvisoryIndex, StoreError> {
    let mut advisories = Vec::new();
    store
        .for_each_advisory(|raw| {
            if let Ok(a) = regscan_osv::parse_advisory(raw.as_bytes()) {
                advisories.push(a);
            }
        })
        .await?;
    Ok(AdvisoryIndex::new(advisories))
}

/// Re-evaluate, from stored inventories, the artifacts with a package under one of `keys`
/// (found by index, see `Store::artifacts_with_keys`). Each gets a new scan record naming the
/// snapshot used; no blob is fetched.
pub async fn rematch(store: &Store, db: &AdvisoryDb, keys: &[(String, String)]) -> Result<Vec<i64>, StoreError> {
    let keys: Vec<Key> = keys.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let artifacts = store.artifacts_with_keys(&keys).await?;
    let mut created = Vec::new();
    for artifact_id in artifacts {
        let Some(artifact) = store.artifact_by_id(artifact_id).await? else {
            continue;
        };
        let Some(prev_id) = artifact.latest_scan_id else {
            continue;
        };
        let Some(prev) = store.scan(prev_id).await? else {
            continue;
        };
        if prev.status != Status::Succeeded {
            continue;
        }
        let inventory_id = prev.inventory_scan_id.unwrap_or(prev.id);
        let packages = store.packages(inventory_id).await?;
        let checks = store.findings(prev.id, Some(FindingSource::Check)).await?;
        let (snapshot, advisories) = db.match_packages(store, &packages).await?;
        let mut details = match prev.details {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        details.insert("rematched_from_scan".into(), prev.id.into());
        let result = ScanResult {
            checks,
            advisories,
            packages: Vec::new(),
            details,
            advisory_snapshot: snapshot,
            inventory_scan_id: Some(inventory_id),
        };
        let id = store
            .record_scan(
                artifact_id,
                crate::store::results::stored_scanner(&prev.scanner, &prev.scanner_version).as_ref(),
                Status::Succeeded,
                None,
                &result,
            )
            .await?;
        info!(artifact = %format!("{}/{}@{}", artifact.registry, artifact.repository, artifact.digest), scan = id, "re-matched stored inventory against new advisories");
        created.push(id);
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &str) -> Key {
        ("npm".into(), n.into())
    }

    #[test]
    fn cache_evicts_least_recently_used_within_budget() {
        let mut c = Cache::new(1000);
        c.reset(Some(1));
        c.insert(key("a"), Arc::new(Vec::new()), 400);
        c.insert(key("b"), Arc::new(Vec::new()), 400);
        assert!(c.get(&key("a")).is_some()); // a is now more recent than b
        c.insert(key("c"), Arc::new(Vec::new()), 400);
        assert!(c.get(&key("b")).is_none(), "b was least recently used");
        assert!(c.get(&key("a")).is_some() && c.get(&key("c")).is_some());
        assert_eq!(c.weight, 800);
        assert_eq!(c.stats.evictions, 1);
        c.insert(key("huge"), Arc::new(Vec::new()), 5000);
        assert!(
            c.get(&key("huge")).is_none(),
            "an entry over the whole budget is not cached"
        );
        c.reset(Some(2));
        assert!(c.map.is_empty() && c.lru.is_empty() && c.weight == 0);
        assert_eq!(c.stats.invalidations, 1);
    }
}
