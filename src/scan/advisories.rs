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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use regscan_osv::{
    match_package_in, match_packages_in, order_findings, prepare_advisory, AdvisoryIndex, EntrySource, PreparedEntry,
};
use regscan_scanner_api::{Finding, Package};
use tracing::{info, warn};

pub use import::{import_and_rematch, import_source, import_source_and_rematch, read_source};

use crate::store::advisories::Key;
use crate::store::rematch::{RematchIds, RematchUpdate};
use crate::store::{Store, StoreError};

/// Errors importing advisories.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The source could not be read.
    #[error("reading {source_name}: {source}")]
    Source {
        /// The source as given.
        source_name: String,
        /// What went wrong.
        #[source]
        source: SourceError,
    },
    /// Storing failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an advisory source (or one record of it) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The zip, a directory entry or a record is not what OSV requires.
    #[error(transparent)]
    Osv(#[from] regscan_osv::OsvError),
    /// A JSON file starting with `[` is not an array of records.
    #[error("not a JSON array of OSV records: {0}")]
    JsonArray(#[source] serde_json::Error),
    /// A parsed record could not be serialised again for storing.
    #[error("record {id}: {source}")]
    Serialize {
        /// The record id.
        id: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// Downloading failed (connection, TLS, a body cut short).
    #[error("downloading: {0}")]
    Download(#[source] reqwest::Error),
    /// The server answered with an error status.
    #[error("downloading: HTTP {0}")]
    HttpStatus(u16),
    /// The download is larger than regscan reads.
    #[error("download is over the {limit}-byte limit")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// Every record of the source was unreadable.
    #[error("none of the {0} records could be read")]
    NoneReadable(u64),
    /// The blocking task reading the source panicked or was cancelled.
    #[error("the reader task failed: {0}")]
    Reader(#[source] tokio::task::JoinError),
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
        let keys: BTreeSet<Key> = packages.iter().flat_map(AdvisoryIndex::package_keys).collect();
        let (snapshot, found) = self.entries(store, keys).await?;
        Ok((snapshot, match_packages_in(&ScanEntries(found), packages)))
    }

    /// The current snapshot and the prepared entries under `keys`, from the cache or the
    /// database.
    async fn entries(
        &self,
        store: &Store,
        keys: BTreeSet<Key>,
    ) -> Result<(Option<String>, HashMap<Key, Arc<Vec<PreparedEntry>>>), StoreError> {
        let latest = store.advisory_snapshot_id().await?;
        let (import_id, snapshot) = match latest {
            Some((id, s)) => (Some(id), Some(s)),
            None => (None, None),
        };
        if keys.is_empty() {
            return Ok((snapshot, HashMap::new()));
        }
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
        Ok((snapshot, found))
    }
}

/// Parse and prepare the records fetched for `keys` (rows by key, then id): each record once,
/// its entries put under the keys they belong to. Every key gets a list (maybe empty, which is
/// cached too: most packages have no advisory) and its cache weight. Many records are parsed
/// on two threads (a cold scan parses hundreds; parsing is most of its matching time).
fn prepare_rows(keys: Vec<Key>, rows: Vec<(Key, String, String)>) -> HashMap<Key, (Arc<Vec<PreparedEntry>>, usize)> {
    let mut records: Vec<(&str, &str)> = rows.iter().map(|(_, id, raw)| (id.as_str(), raw.as_str())).collect();
    records.sort_unstable();
    records.dedup_by_key(|(id, _)| *id);
    let by_id: HashMap<&str, Vec<(Key, PreparedEntry)>> = if records.len() >= PARALLEL_PARSE {
        let (first, second) = records.split_at(records.len() / 2);
        std::thread::scope(|s| {
            let other = s.spawn(|| prepare_records(second));
            let mut by_id = prepare_records(first);
            // A panic while parsing is a bug; it surfaces as one here too.
            by_id.extend(other.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
            by_id
        })
    } else {
        prepare_records(&records)
    };
    let mut lists: HashMap<Key, (Vec<PreparedEntry>, usize)> =
        keys.into_iter().map(|k| (k, (Vec::new(), KEY_OVERHEAD))).collect();
    for (key, id, raw) in &rows {
        let Some((list, weight)) = lists.get_mut(key) else {
            continue;
        };
        *weight += raw.len();
        for (k, entry) in by_id.get(id.as_str()).into_iter().flatten() {
            if k == key {
                list.push(entry.clone());
            }
        }
    }
    lists
        .into_iter()
        .map(|(k, (list, w))| (k, (Arc::new(list), w)))
        .collect()
}

/// Records parsed on a second thread from this many on.
const PARALLEL_PARSE: usize = 64;

/// Parse and prepare (id, JSON) records; an unreadable one is logged and prepares to nothing.
fn prepare_records<'a>(records: &[(&'a str, &str)]) -> HashMap<&'a str, Vec<(Key, PreparedEntry)>> {
    records
        .iter()
        .map(|&(id, raw)| {
            let prepared = match regscan_osv::parse_advisory(raw.as_bytes()) {
                Ok(adv) => prepare_advisory(&Arc::new(adv)),
                Err(e) => {
                    warn!(advisory = %id, error = %e, "stored advisory is unreadable; left out of matching");
                    Vec::new()
                }
            };
            (id, prepared)
        })
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

/// Time spent per phase of a re-match (logged).
#[derive(Default)]
struct RematchPhases {
    read: Duration,
    lookup: Duration,
    matching: Duration,
    write: Duration,
}

/// Artifacts re-matched per transaction.
const REMATCH_BATCH: usize = 250;

/// Re-evaluate, from stored inventories, the artifacts with a package under one of `keys`
/// (found by index, see `Store::rematch_targets`); no blob is fetched. Only the findings of the
/// changed records `ids` can change — (key, id) for the records an import added or updated,
/// under each key they named before or name now (the import's
/// [`ImportStats::changed_ids`](crate::store::advisories::ImportStats::changed_ids)): an
/// artifact's findings of the ids under its packages' keys are deleted and their new matches
/// inserted, a few hundred artifacts per transaction (see `crate::store::rematch`). `None`
/// re-derives every advisory finding of the affected artifacts. Each distinct package of the
/// artifacts is read and matched once per batch, however many artifacts hold it. Returns the
/// scans re-matched (each artifact's latest, updated in place; its former state is kept in the
/// scan history).
pub async fn rematch(
    store: &Store,
    db: &AdvisoryDb,
    keys: &[Key],
    ids: Option<&[(Key, String)]>,
) -> Result<Vec<i64>, StoreError> {
    let keys: BTreeSet<Key> = keys.iter().cloned().collect();
    if keys.is_empty() || ids.is_some_and(<[(Key, String)]>::is_empty) {
        return Ok(Vec::new());
    }
    let t = Instant::now();
    store.refresh_rematch_statistics().await?;
    let targets = store.rematch_targets(&keys.iter().cloned().collect::<Vec<_>>()).await?;
    let targets_time = t.elapsed();
    // The changed ids under each key.
    let ids_of: Option<HashMap<&Key, Vec<&str>>> = ids.map(|ids| {
        let mut m: HashMap<&Key, Vec<&str>> = HashMap::new();
        for (k, id) in ids {
            m.entry(k).or_default().push(id.as_str());
        }
        m
    });
    let mut done = Vec::with_capacity(targets.len());
    let mut phase = RematchPhases::default();
    for batch in targets.chunks(REMATCH_BATCH) {
        let t = Instant::now();
        let inventory_ids: Vec<i64> = batch
            .iter()
            .map(|t| t.inventory_scan_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Each distinct package once, with the inventories holding it.
        let packages = store.inventory_packages(&inventory_ids).await?;
        phase.read += t.elapsed();
        let t = Instant::now();
        // The packages whose findings can change: a changed record's findings come from its
        // keys, which are all in `keys`; a full re-match matches every package, under every key.
        let mut relevant: Vec<(&Package, &[i64])> = Vec::new();
        let mut lookup: BTreeSet<Key> = BTreeSet::new();
        for (package, holders) in packages.iter().filter(|(p, _)| !p.dev) {
            let mut any = false;
            for k in AdvisoryIndex::package_keys(package) {
                if ids_of.is_none() || keys.contains(&k) {
                    lookup.insert(k);
                    any = true;
                }
            }
            if any {
                relevant.push((package, holders));
            }
        }
        // The ids whose findings this batch rewrites: those under its packages' keys.
        let batch_ids: Option<Vec<String>> = ids_of.as_ref().map(|ids_of| {
            lookup
                .iter()
                .filter_map(|k| ids_of.get(k))
                .flatten()
                .map(|id| (*id).to_owned())
                .collect::<BTreeSet<String>>()
                .into_iter()
                .collect()
        });
        let wanted: Option<HashSet<&str>> = batch_ids.as_ref().map(|ids| ids.iter().map(String::as_str).collect());
        let (snapshot, entries) = db.entries(store, lookup).await?;
        let source: Box<dyn EntrySource + Send + Sync> = match &wanted {
            None => Box::new(ScanEntries(entries)),
            Some(wanted) => Box::new(
                entries
                    .into_iter()
                    .map(|(k, list)| {
                        let kept: Vec<PreparedEntry> = list
                            .iter()
                            .filter(|e| wanted.contains(e.advisory().id.as_str()))
                            .cloned()
                            .collect();
                        (k, kept)
                    })
                    .collect::<HashMap<Key, Vec<PreparedEntry>>>(),
            ),
        };
        phase.lookup += t.elapsed();
        let t = Instant::now();
        // Match each package once and hand its findings to every inventory holding it, in
        // package order; then each inventory's findings in `match_packages_in`'s order.
        let mut by_inventory: HashMap<i64, Vec<Finding>> = HashMap::new();
        for (package, holders) in relevant {
            let found = match_package_in(source.as_ref(), package);
            if found.is_empty() {
                continue;
            }
            for inventory in holders {
                by_inventory
                    .entry(*inventory)
                    .or_default()
                    .extend(found.iter().cloned());
            }
        }
        for findings in by_inventory.values_mut() {
            order_findings(findings);
        }
        let updates: Vec<RematchUpdate> = batch
            .iter()
            .map(|t| RematchUpdate {
                scan_id: t.scan_id,
                findings: by_inventory.get(&t.inventory_scan_id).cloned().unwrap_or_default(),
            })
            .collect();
        phase.matching += t.elapsed();
        let t = Instant::now();
        let which = batch_ids.as_deref().map_or(RematchIds::All, RematchIds::Only);
        done.extend(store.apply_rematch(&updates, which, snapshot.as_deref()).await?);
        phase.write += t.elapsed();
    }
    info!(
        artifacts = done.len(),
        keys = keys.len(),
        ids = ids.map_or(-1, |i| i.len() as i64),
        targets_ms = targets_time.as_millis() as u64,
        read_ms = phase.read.as_millis() as u64,
        lookup_ms = phase.lookup.as_millis() as u64,
        match_ms = phase.matching.as_millis() as u64,
        write_ms = phase.write.as_millis() as u64,
        "re-matched stored inventories against new advisories"
    );
    Ok(done)
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
