//! Importing OSV records: a directory of JSON files, an osv.dev `all.zip`, a JSON file (one
//! record or an array), or an http(s) URL to a zip or JSON file.
//!
//! The import streams: a blocking reader takes zip entries (or files) one at a time, parses
//! each and hands it over a bounded channel; the writer stores them 1,000 per transaction
//! (multi-row inserts), keeping the newest `modified` per id. Memory is bounded by a few
//! batches, whatever the size of the export.
//!
//! Re-importing is incremental: a record whose stored `modified` is the same or newer is left
//! alone (and its keys are not re-matched). When osv.dev's `modified_id.csv` (`<modified>,<id>`
//! per line, ids possibly prefixed `<ecosystem>/`) sits beside the export — in the same
//! directory, or as a member of the zip — the records it says are unchanged are skipped
//! without being read or parsed.

use std::collections::HashSet;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use regscan_osv::{AdvisoryIndex, ImportLimits, OsvError};
use tracing::{info, warn};

use super::{rematch, AdvisoryDb, ImportError, SourceError};
use crate::store::advisories::{AdvisoryRow, Derived, ImportChanges, ImportStats};
use crate::store::Store;
use crate::time::parse_rfc3339_ms;

/// Records stored per transaction.
pub const BATCH: usize = 1_000;

/// The name osv.dev gives its list of (modified, id) pairs.
pub const MODIFIED_ID_CSV: &str = "modified_id.csv";

/// Largest `modified_id.csv` read (osv.dev's whole-database list is about 30 MB).
const MAX_CSV_BYTES: u64 = 256 << 20;

/// Largest single JSON file (one record or an array) read whole.
const MAX_JSON_FILE_BYTES: u64 = 64 << 20;

/// One item from the reader: a record ready to store, or one that could not be read.
enum Item {
    Row(Box<(AdvisoryRow, Derived)>),
    Bad(String, SourceError),
}

/// A source made local: a path, and a temp file kept alive for a download.
struct Local {
    path: PathBuf,
    _download: Option<tempfile::TempPath>,
}

fn source_err(src: &str) -> impl Fn(SourceError) -> ImportError + '_ {
    move |source| ImportError::Source {
        source_name: src.to_owned(),
        source,
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io {
        path: path.to_owned(),
        source,
    }
}

async fn localize(src: &str) -> Result<Local, ImportError> {
    if src.starts_with("http://") || src.starts_with("https://") {
        let tmp = download(src).await.map_err(source_err(src))?;
        return Ok(Local {
            path: tmp.to_path_buf(),
            _download: Some(tmp),
        });
    }
    Ok(Local {
        path: PathBuf::from(src),
        _download: None,
    })
}

fn is_zip(path: &Path) -> Result<bool, SourceError> {
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(io_err(path))?;
    Ok(n == 4 && &magic == b"PK\x03\x04")
}

/// Read the records of a local source one at a time (blocking).
fn stream_local(
    path: &Path,
    skip: &dyn Fn(&str) -> bool,
    on: &mut regscan_osv::import::OnRecord<'_>,
) -> Result<regscan_osv::StreamStats, SourceError> {
    let limits = ImportLimits::default();
    if path.is_dir() {
        return Ok(regscan_osv::stream_dir(path, &limits, skip, on)?);
    }
    if is_zip(path)? {
        let f = std::fs::File::open(path).map_err(io_err(path))?;
        return Ok(regscan_osv::stream_zip(f, &limits, skip, on)?);
    }
    let name = path.to_string_lossy().into_owned();
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .map_err(io_err(path))?
        .take(MAX_JSON_FILE_BYTES)
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    let mut stats = regscan_osv::StreamStats {
        entries: 1,
        bytes: buf.len() as u64,
        ..Default::default()
    };
    // A single record, or a JSON array of records.
    if buf.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let values: Vec<serde_json::Value> = serde_json::from_slice(&buf).map_err(SourceError::JsonArray)?;
        stats.entries = values.len() as u64;
        for (i, v) in values.into_iter().enumerate() {
            if !on(
                format!("{name}[{i}]"),
                regscan_osv::parse_advisory(v.to_string().as_bytes()),
            ) {
                break;
            }
        }
    } else {
        on(name, regscan_osv::parse_advisory(&buf));
    }
    Ok(stats)
}

/// The `modified_id.csv` beside a local source: in the directory, beside the file, or in the zip.
fn find_modified_csv(path: &Path) -> Result<Option<Vec<u8>>, SourceError> {
    let beside = if path.is_dir() {
        Some(path.join(MODIFIED_ID_CSV))
    } else {
        path.parent().map(|p| p.join(MODIFIED_ID_CSV))
    };
    if let Some(csv) = beside.filter(|p| p.is_file()) {
        let mut buf = Vec::new();
        std::fs::File::open(&csv)
            .map_err(io_err(&csv))?
            .take(MAX_CSV_BYTES)
            .read_to_end(&mut buf)
            .map_err(io_err(&csv))?;
        return Ok(Some(buf));
    }
    if path.is_file() && is_zip(path)? {
        let mut f = std::fs::File::open(path).map_err(io_err(path))?;
        f.rewind().map_err(io_err(path))?;
        return Ok(regscan_osv::zip_member(f, MODIFIED_ID_CSV, MAX_CSV_BYTES)?);
    }
    Ok(None)
}

/// The (id, modified) pairs of a `modified_id.csv`: `<modified>,<id>` lines (either order is
/// accepted; an id's `<ecosystem>/` prefix is dropped). Lines that fit neither are ignored.
pub fn parse_modified_csv(csv: &[u8]) -> Vec<(String, String)> {
    modified_csv_pairs(csv).collect()
}

/// [`parse_modified_csv`], one line at a time.
fn modified_csv_pairs(csv: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    csv.split(|b| *b == b'\n').filter_map(|line| {
        let line = std::str::from_utf8(line).ok()?;
        let (a, b) = line.trim().split_once(',')?;
        let (a, b) = (a.trim(), b.trim());
        let (modified, id) = if parse_rfc3339_ms(a).is_some() {
            (a, b)
        } else if parse_rfc3339_ms(b).is_some() {
            (b, a)
        } else {
            return None;
        };
        let id = id.rsplit('/').next().unwrap_or(id);
        (!id.is_empty()).then(|| (id.to_owned(), modified.to_owned()))
    })
}

/// The ids `modified_id.csv` says are stored at their current version (stored `modified` the
/// same or newer), checked against the store 1,000 lines at a time. Returns them and the
/// number of lines read.
async fn unchanged_ids(store: &Store, csv: &[u8]) -> Result<(HashSet<String>, usize), ImportError> {
    let mut out = HashSet::new();
    let mut lines = modified_csv_pairs(csv);
    let mut n = 0;
    loop {
        let chunk: Vec<(String, String)> = lines.by_ref().take(BATCH).collect();
        if chunk.is_empty() {
            return Ok((out, n));
        }
        n += chunk.len();
        let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
        let stored = store.advisory_modified(&ids).await?;
        for (id, modified) in chunk {
            let Some(have) = stored.get(&id) else { continue };
            let have = parse_rfc3339_ms(have).unwrap_or(0);
            if have >= parse_rfc3339_ms(&modified).unwrap_or(0) {
                out.insert(id);
            }
        }
    }
}

/// Stream `src` into the store and record the import (see the module documentation). The
/// statistics' `changed_keys` are the keys to re-match.
pub async fn import_source(store: &Store, src: &str) -> Result<ImportStats, ImportError> {
    let err = source_err(src);
    let local = localize(src).await?;
    let path = local.path.clone();
    // Only worth reading when something is stored that could be unchanged.
    let skip: HashSet<String> = if store.has_advisories().await? {
        let p = path.clone();
        let csv = tokio::task::spawn_blocking(move || find_modified_csv(&p))
            .await
            .map_err(|e| err(SourceError::Reader(e)))?
            .map_err(&err)?;
        match csv {
            Some(csv) => {
                let (skip, n) = unchanged_ids(store, &csv).await?;
                info!(listed = n, unchanged = skip.len(), "read {MODIFIED_ID_CSV}");
                skip
            }
            None => HashSet::new(),
        }
    } else {
        HashSet::new()
    };

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Item>(2 * BATCH);
    let reader = tokio::task::spawn_blocking(move || {
        let skip_fn = |name: &str| !skip.is_empty() && skip.contains(regscan_osv::id_of_entry_name(name));
        let mut on = |name: String, parsed: Result<regscan_osv::Advisory, OsvError>| {
            let item = match parsed {
                Ok(adv) => match row_of(&adv) {
                    Ok(row) => {
                        // Aliases and CVSS score, derived here beside the parsing rather than
                        // on the writer.
                        let derived = Derived::of(&row.id, &row.raw);
                        Item::Row(Box::new((row, derived)))
                    }
                    Err(e) => Item::Bad(name, e),
                },
                Err(e) => Item::Bad(name, e.into()),
            };
            tx.blocking_send(item).is_ok()
        };
        stream_local(&path, &skip_fn, &mut on)
    });

    let mut stats = ImportStats::default();
    let mut changed = ImportChanges::default();
    let mut batch: Vec<AdvisoryRow> = Vec::with_capacity(BATCH);
    let mut derived: Vec<Derived> = Vec::with_capacity(BATCH);
    let mut read = 0u64;
    let mut write_result = Ok(());
    while let Some(item) = rx.recv().await {
        match item {
            Item::Row(row) => {
                read += 1;
                let (row, d) = *row;
                batch.push(row);
                derived.push(d);
            }
            Item::Bad(name, e) => {
                stats.invalid += 1;
                warn!(file = %name, error = %e, "skipping unreadable OSV record");
            }
        }
        if batch.len() >= BATCH {
            if let Err(e) = store_batch(store, src, (&mut batch, &mut derived), &mut stats, &mut changed).await {
                write_result = Err(e);
                break;
            }
        }
    }
    drop(rx); // stops the reader if the writer failed
    if write_result.is_ok() {
        write_result = store_batch(store, src, (&mut batch, &mut derived), &mut stats, &mut changed).await;
    }
    let read_result = reader.await.map_err(|e| err(SourceError::Reader(e)))?;
    let wrote = stats.added + stats.updated > 0;
    let failure = match (write_result, read_result) {
        (Err(e), _) => Some(ImportError::Store(e)),
        (Ok(()), Err(m)) => Some(err(m)),
        (Ok(()), Ok(s)) => {
            stats.records = s.entries;
            stats.unread = s.skipped;
            stats.skipped += s.skipped;
            None
        }
    };
    changed.finish(&mut stats);
    if let Some(failure) = failure {
        // Batches already committed changed the advisory set: name a new snapshot, so that
        // workers drop what they cached, before reporting the failure.
        if wrote {
            stats.records = read + stats.invalid;
            let mut partial = stats.clone();
            store
                .finish_advisory_import(&format!("{src} (interrupted)"), &mut partial)
                .await?;
        }
        return Err(failure);
    }
    if read == 0 && stats.invalid > 0 {
        return Err(err(SourceError::NoneReadable(stats.invalid)));
    }
    store.finish_advisory_import(src, &mut stats).await?;
    Ok(stats)
}

async fn store_batch(
    store: &Store,
    src: &str,
    (batch, derived): (&mut Vec<AdvisoryRow>, &mut Vec<Derived>),
    stats: &mut ImportStats,
    changed: &mut ImportChanges,
) -> Result<(), crate::store::StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let b = store.import_advisory_batch_derived(src, batch, Some(derived)).await?;
    changed.add(stats, b);
    batch.clear();
    derived.clear();
    Ok(())
}

/// Import `src` (streaming, see [`import_source`]) and re-match the artifacts it affects.
/// Returns the import statistics and the ids of the new scans re-matching created.
pub async fn import_source_and_rematch(
    store: &Store,
    db: &AdvisoryDb,
    src: &str,
) -> Result<(ImportStats, Vec<i64>), ImportError> {
    let stats = import_source(store, src).await?;
    let rescans = rematch(store, db, &stats.changed_keys, stats.changed_ids.as_deref()).await?;
    Ok((stats, rescans))
}

/// Read every record of `src` into memory (small sources and tests; imports stream instead,
/// see [`import_source`]).
pub async fn read_source(src: &str) -> Result<Vec<AdvisoryRow>, ImportError> {
    let err = source_err(src);
    let local = localize(src).await?;
    let path = local.path.clone();
    let (rows, bad) = tokio::task::spawn_blocking(move || {
        let mut rows = Vec::new();
        let mut bad = 0u64;
        stream_local(&path, &|_| false, &mut |name, parsed| {
            match parsed.map_err(SourceError::from).and_then(|a| row_of(&a)) {
                Ok(row) => rows.push(row),
                Err(e) => {
                    bad += 1;
                    warn!(file = %name, error = %e, "skipping unreadable OSV record");
                }
            }
            true
        })
        .map(|_| (rows, bad))
    })
    .await
    .map_err(|e| err(SourceError::Reader(e)))?
    .map_err(&err)?;
    if rows.is_empty() && bad > 0 {
        return Err(err(SourceError::NoneReadable(bad)));
    }
    Ok(rows)
}

/// Import records held in memory and re-match affected artifacts. Returns the import
/// statistics and the ids of the new scans re-matching created.
pub async fn import_and_rematch(
    store: &Store,
    db: &AdvisoryDb,
    source: &str,
    rows: &[AdvisoryRow],
) -> Result<(ImportStats, Vec<i64>), ImportError> {
    let stats = store.import_advisories(source, rows).await?;
    let rescans = rematch(store, db, &stats.changed_keys, stats.changed_ids.as_deref()).await?;
    Ok((stats, rescans))
}

async fn download(url: &str) -> Result<tempfile::TempPath, SourceError> {
    use futures_util::TryStreamExt;
    use std::io::Write;
    const MAX: u64 = 4 << 30;
    let resp = reqwest::Client::builder()
        .user_agent(concat!("regscan/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(SourceError::Download)?
        .get(url)
        .send()
        .await
        .map_err(SourceError::Download)?;
    if !resp.status().is_success() {
        return Err(SourceError::HttpStatus(resp.status().as_u16()));
    }
    let tmp = std::env::temp_dir();
    let mut file = tempfile::NamedTempFile::new().map_err(io_err(&tmp))?;
    let mut stream = resp.bytes_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.try_next().await.map_err(SourceError::Download)? {
        total += chunk.len() as u64;
        if total > MAX {
            return Err(SourceError::TooLarge { limit: MAX });
        }
        file.write_all(&chunk).map_err(io_err(file.path()))?;
    }
    file.flush().map_err(io_err(file.path()))?;
    Ok(file.into_temp_path())
}

/// The stored form of a parsed record: its JSON (re-serialised), `modified` and keys.
pub fn row_of(adv: &regscan_osv::Advisory) -> Result<AdvisoryRow, SourceError> {
    let raw = serde_json::to_string(adv).map_err(|source| SourceError::Serialize {
        id: adv.id.clone(),
        source,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modified_csv_lines() {
        let csv = b"2024-06-13T21:44:31Z,GHSA-aaaa-bbbb-cccc\n\
                    2024-06-12T00:00:00.123Z,PyPI/PYSEC-2024-1\n\
                    GO-2024-1,0001-01-01T00:00:00Z\n\
                    garbage line\n,\n";
        assert_eq!(
            parse_modified_csv(csv),
            vec![
                ("GHSA-aaaa-bbbb-cccc".to_owned(), "2024-06-13T21:44:31Z".to_owned()),
                ("PYSEC-2024-1".to_owned(), "2024-06-12T00:00:00.123Z".to_owned()),
                ("GO-2024-1".to_owned(), "0001-01-01T00:00:00Z".to_owned()),
            ]
        );
    }
}
