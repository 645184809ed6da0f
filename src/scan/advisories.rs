//! Advisories in the pipeline: importing OSV records into the store, the in-memory index scans
//! match against, and re-matching stored inventories after an import (no blob is fetched).

use std::collections::BTreeSet;
use std::io::{Read, Seek};
use std::path::Path;
use std::sync::{Arc, RwLock};

use regscan_osv::{AdvisoryIndex, ImportLimits};
use regscan_scanner_api::{Finding, Package, Status};
use tracing::{info, warn};

use crate::store::advisories::{AdvisoryRow, ImportStats};
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

/// The loaded advisory set and the snapshot it came from.
struct Loaded {
    snapshot: Option<String>,
    index: Arc<AdvisoryIndex>,
}

/// The in-memory advisory index, reloaded from the store when a new import lands.
#[derive(Clone)]
pub struct AdvisoryDb {
    loaded: Arc<RwLock<Arc<Loaded>>>,
    reload: Arc<tokio::sync::Mutex<()>>,
}

impl Default for AdvisoryDb {
    fn default() -> Self {
        AdvisoryDb {
            loaded: Arc::new(RwLock::new(Arc::new(Loaded {
                snapshot: None,
                index: Arc::new(AdvisoryIndex::new(Vec::new())),
            }))),
            reload: Arc::new(tokio::sync::Mutex::new(())),
        }
    }
}

impl AdvisoryDb {
    /// The current index and snapshot, reloading first if the store has a newer snapshot.
    pub async fn current(&self, store: &Store) -> Result<(Option<String>, Arc<AdvisoryIndex>), StoreError> {
        let latest = store.advisory_snapshot().await?;
        let cur = self.loaded.read().expect("advisory lock poisoned").clone();
        if cur.snapshot == latest {
            return Ok((cur.snapshot.clone(), cur.index.clone()));
        }
        let _guard = self.reload.lock().await;
        let cur = self.loaded.read().expect("advisory lock poisoned").clone();
        if cur.snapshot == latest {
            return Ok((cur.snapshot.clone(), cur.index.clone()));
        }
        let started = std::time::Instant::now();
        let mut advisories = Vec::new();
        let mut bad = 0u64;
        store
            .for_each_advisory(|raw| match regscan_osv::parse_advisory(raw.as_bytes()) {
                Ok(a) => advisories.push(a),
                Err(_) => bad += 1,
            })
            .await?;
        let n = advisories.len();
        let index = Arc::new(
            tokio::task::spawn_blocking(move || AdvisoryIndex::new(advisories))
                .await
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        );
        info!(advisories = n, unreadable = bad, snapshot = ?latest, elapsed_ms = started.elapsed().as_millis() as u64, "advisory index loaded");
        let loaded = Arc::new(Loaded {
            snapshot: latest.clone(),
            index: index.clone(),
        });
        *self.loaded.write().expect("advisory lock poisoned") = loaded;
        Ok((latest, index))
    }

    /// Match packages: (snapshot, findings).
    pub async fn match_packages(
        &self,
        store: &Store,
        packages: &[Package],
    ) -> Result<(Option<String>, Vec<Finding>), StoreError> {
        let (snapshot, index) = self.current(store).await?;
        if packages.is_empty() {
            return Ok((snapshot, Vec::new()));
        }
        Ok((snapshot, index.match_packages(packages)))
    }
}

/// Read OSV records from `src`: a directory of JSON files, a `.zip` (as osv.dev publishes per
/// ecosystem), a single `.json` file, or an http(s) URL to a zip or JSON file.
pub async fn read_source(src: &str) -> Result<Vec<AdvisoryRow>, ImportError> {
    let err = |m: String| ImportError::Source {
        source_name: src.to_owned(),
        message: m,
    };
    let limits = ImportLimits::default();
    let entries = if src.starts_with("http://") || src.starts_with("https://") {
        let file = download(src).await.map_err(err)?;
        let src_owned = src.to_owned();
        tokio::task::spawn_blocking(move || read_file_like(file, &src_owned, &limits))
            .await
            .map_err(|e| err(e.to_string()))?
            .map_err(err)?
    } else {
        let path = Path::new(src).to_owned();
        tokio::task::spawn_blocking(move || -> Result<_, String> {
            if path.is_dir() {
                regscan_osv::read_dir(&path, &limits).map_err(|e| e.to_string())
            } else {
                let f = std::fs::File::open(&path).map_err(|e| e.to_string())?;
                read_file_like(f, &path.to_string_lossy(), &limits)
            }
        })
        .await
        .map_err(|e| err(e.to_string()))?
        .map_err(err)?
    };
    let mut rows = Vec::with_capacity(entries.len());
    let mut bad = 0;
    for (name, parsed) in entries {
        match parsed {
            Ok(adv) => rows.push(row_of(&adv)?),
            Err(e) => {
                bad += 1;
                warn!(file = %name, error = %e, "skipping unreadable OSV record");
            }
        }
    }
    if rows.is_empty() && bad > 0 {
        return Err(err(format!("none of the {bad} records could be read")));
    }
    Ok(rows)
}

type Entries = Vec<(String, Result<regscan_osv::Advisory, regscan_osv::OsvError>)>;

fn read_file_like<R: Read + Seek>(mut f: R, name: &str, limits: &ImportLimits) -> Result<Entries, String> {
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(|e| e.to_string())?;
    f.rewind().map_err(|e| e.to_string())?;
    if n == 4 && &magic == b"PK\x03\x04" {
        return regscan_osv::read_zip(f, limits).map_err(|e| e.to_string());
    }
    let mut buf = Vec::new();
    f.take(64 << 20).read_to_end(&mut buf).map_err(|e| e.to_string())?;
    // A single record, or a JSON array of records.
    if buf.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let values: Vec<serde_json::Value> =
            serde_json::from_slice(&buf).map_err(|e| format!("not a JSON array of OSV records: {e}"))?;
        return Ok(values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                (
                    format!("{name}[{i}]"),
                    regscan_osv::parse_advisory(v.to_string().as_bytes()),
                )
            })
            .collect());
    }
    Ok(vec![(name.to_owned(), regscan_osv::parse_advisory(&buf))])
}

async fn download(url: &str) -> Result<std::fs::File, String> {
    use futures_util::TryStreamExt;
    use std::io::Write;
    const MAX: u64 = 4 << 30;
    let resp = reqwest::Client::builder()
        .user_agent(concat!("regscan/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?
        .get(url)
        .send()
        .await
        .map_err(|e| format!("downloading: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("downloading: HTTP {}", resp.status()));
    }
    let mut file = tempfile::tempfile().map_err(|e| e.to_string())?;
    let mut stream = resp.bytes_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.try_next().await.map_err(|e| format!("downloading: {e}"))? {
        total += chunk.len() as u64;
        if total > MAX {
            return Err(format!("download is over the {MAX}-byte limit"));
        }
        file.write_all(&chunk).map_err(|e| e.to_string())?;
    }
    file.rewind().map_err(|e| e.to_string())?;
    Ok(file)
}

fn row_of(adv: &regscan_osv::Advisory) -> Result<AdvisoryRow, ImportError> {
    let raw = serde_json::to_string(adv).map_err(|e| ImportError::Source {
        source_name: adv.id.clone(),
        message: e.to_string(),
    })?;
    Ok(AdvisoryRow {
        id: adv.id.clone(),
        modified_ms: parse_rfc3339_ms(&adv.modified).unwrap_or(0),
        modified: adv.modified.clone(),
        withdrawn: adv.withdrawn.clone(),
        raw,
        keys: AdvisoryIndex::affected_keys(adv),
    })
}

/// Parse an RFC 3339 UTC timestamp (`2024-01-02T03:04:05.678Z`, offsets allowed) to Unix ms.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (clock, offset_min) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(pos) = time.rfind(['+', '-']) {
        let (c, off) = time.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        (c, sign * (oh.parse::<i64>().ok()? * 60 + om.parse::<i64>().ok()?))
    } else {
        (time, 0)
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, "0"));
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut t = hms.split(':');
    let (hh, mm, ss): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    let ms: i64 = format!("{:0<3}", frac.chars().take(3).collect::<String>())
        .parse()
        .ok()?;
    let days = crate::time::days_from_civil(y, m, day);
    Some(((days * 86400 + hh * 3600 + mm * 60 + ss) - offset_min * 60) * 1000 + ms)
}

/// Import advisories and re-match affected artifacts. Returns the import statistics and the
/// ids of the new scans re-matching created.
pub async fn import_and_rematch(
    store: &Store,
    db: &AdvisoryDb,
    source: &str,
    rows: &[AdvisoryRow],
) -> Result<(ImportStats, Vec<i64>), ImportError> {
    let stats = store.import_advisories(source, rows).await?;
    let rescans = rematch(store, db, &stats.changed_keys).await?;
    Ok((stats, rescans))
}

/// Re-evaluate, from stored inventories, the artifacts with a package under one of `keys`.
/// Each gets a new scan record naming the snapshot used; no blob is fetched.
pub async fn rematch(store: &Store, db: &AdvisoryDb, keys: &[(String, String)]) -> Result<Vec<i64>, StoreError> {
    let keys: BTreeSet<(String, String)> = keys.iter().cloned().collect();
    let artifacts = store
        .artifacts_with_packages(&keys, AdvisoryIndex::package_keys)
        .await?;
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
                &prev.scanner,
                &prev.scanner_version,
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

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("2026-03-09T02:11:37.555571Z"), Some(1_773_022_297_555));
        assert_eq!(parse_rfc3339_ms("2026-03-09T04:11:37+02:00"), Some(1_773_022_297_000));
        assert!(parse_rfc3339_ms("yesterday").is_none());
        assert!(
            parse_rfc3339_ms("2026-03-09T02:11:37.éé5Z").is_none(),
            "non-ASCII never panics"
        );
        assert!(
            parse_rfc3339_ms("2026-03-09T02:11:37.5Z").unwrap() > parse_rfc3339_ms("2026-03-09T02:11:37Z").unwrap()
        );
    }
}
