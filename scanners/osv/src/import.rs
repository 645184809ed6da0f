//! Reading many OSV records at once: an `all.zip` as osv.dev publishes per ecosystem, or a
//! directory of `*.json` files. Every read is bounded by [`ImportLimits`]; nothing is written to
//! disk, and archive entry names are only ever returned as strings.
//!
//! A record that fails to parse does not stop the import: it is returned as an `Err` beside its
//! file name. Only problems with the container itself (unreadable zip, limit exceeded, I/O
//! error) fail the whole call.

use std::io::{Read, Seek};
use std::path::Path;

use crate::{parse_advisory, Advisory, OsvError};

/// Bounds on an import. Defaults fit osv.dev's largest per-ecosystem `all.zip` with room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLimits {
    /// Most records (zip entries or files) read; default 2,000,000.
    pub max_entries: u64,
    /// Largest single record, uncompressed, in bytes; default 32 MiB.
    pub max_entry_bytes: u64,
    /// Largest total of all records, uncompressed, in bytes; default 8 GiB.
    pub max_total_bytes: u64,
    /// Deepest directory nesting [`read_dir`] descends; default 16.
    pub max_depth: usize,
}

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits {
            max_entries: 2_000_000,
            max_entry_bytes: 32 << 20,
            max_total_bytes: 8 << 30,
            max_depth: 16,
        }
    }
}

/// One loaded record: the file (or entry) name and the parse outcome.
pub type Loaded = (String, Result<Advisory, OsvError>);

struct Budget<'a> {
    limits: &'a ImportLimits,
    entries: u64,
    total: u64,
}

impl<'a> Budget<'a> {
    fn new(limits: &'a ImportLimits) -> Self {
        Budget {
            limits,
            entries: 0,
            total: 0,
        }
    }

    fn count_entry(&mut self, name: &str) -> Result<(), OsvError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(OsvError::Limit {
                what: "entry count",
                limit: self.limits.max_entries,
                detail: format!("at {name}"),
            });
        }
        Ok(())
    }

    /// Read `r` fully, bounded by the per-entry and total limits.
    fn read(&mut self, name: &str, r: impl Read) -> Result<Vec<u8>, OsvError> {
        let cap = self
            .limits
            .max_entry_bytes
            .min(self.limits.max_total_bytes - self.total);
        let mut buf = Vec::new();
        r.take(cap.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|source| OsvError::Io {
                path: name.to_owned(),
                source,
            })?;
        let n = buf.len() as u64;
        if n > self.limits.max_entry_bytes {
            return Err(OsvError::Limit {
                what: "entry size",
                limit: self.limits.max_entry_bytes,
                detail: name.to_owned(),
            });
        }
        if n > cap {
            return Err(OsvError::Limit {
                what: "total size",
                limit: self.limits.max_total_bytes,
                detail: format!("reached at {name}"),
            });
        }
        self.total += n;
        Ok(buf)
    }
}

fn is_json_name(name: &str) -> bool {
    name.len() > 5 && name.to_ascii_lowercase().ends_with(".json")
}

/// What streaming readers hand their callback: the entry (file) name and the parse outcome.
/// The callback returns `false` to stop the read early.
pub type OnRecord<'a> = dyn FnMut(String, Result<Advisory, OsvError>) -> bool + 'a;

/// Counts of a streaming read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// `*.json` entries seen (read or skipped).
    pub entries: u64,
    /// Entries skipped unread because `skip` said so.
    pub skipped: u64,
    /// Bytes of JSON read (uncompressed).
    pub bytes: u64,
}

/// The record id a file or zip entry name stands for (osv.dev names each `<id>.json`): the
/// last path segment without its `.json` suffix.
pub fn id_of_entry_name(name: &str) -> &str {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    if is_json_name(last) {
        &last[..last.len() - 5]
    } else {
        last
    }
}

/// Stream the `*.json` entries of a zip archive (osv.dev's `all.zip`) one at a time, in
/// archive order: each is inflated, parsed and handed to `on_record`, then dropped, so memory
/// does not grow with the archive. Entries for which `skip(name)` is true are passed over
/// without being inflated.
///
/// Entries are read from their local headers, front to back. From the first entry that only
/// states its sizes after the data (a "data descriptor", written by streaming zip writers), the
/// archive is read through its central directory instead, which keeps the directory's metadata
/// (a few hundred bytes per entry) in memory.
pub fn stream_zip<R: Read + Seek>(
    mut r: R,
    limits: &ImportLimits,
    skip: &dyn Fn(&str) -> bool,
    on_record: &mut OnRecord<'_>,
) -> Result<StreamStats, OsvError> {
    let start = r.stream_position().map_err(|source| OsvError::Io {
        path: "zip archive".into(),
        source,
    })?;
    let mut budget = Budget::new(limits);
    let mut stats = StreamStats::default();
    // Entries handled from their local headers (JSON or not), in archive order.
    let mut seen = 0usize;
    let mut reader = std::io::BufReader::with_capacity(256 << 10, &mut r);
    loop {
        let entry = match zip::read::read_zipfile_from_stream(&mut reader) {
            Ok(Some(e)) => e,
            Ok(None) => return Ok(stats),
            // Sizes only in a data descriptor (or, before any entry, a prefixed archive).
            Err(zip::result::ZipError::UnsupportedArchive(_)) => break,
            Err(_) if seen == 0 => break,
            Err(source) => return Err(OsvError::Zip { source }),
        };
        seen += 1;
        if !on_entry(entry, limits, &mut budget, &mut stats, skip, on_record)? {
            return Ok(stats);
        }
    }
    // Go on through the central directory, past the entries already handled.
    drop(reader);
    r.seek(std::io::SeekFrom::Start(start)).map_err(|source| OsvError::Io {
        path: "zip archive".into(),
        source,
    })?;
    let mut archive = zip::ZipArchive::new(r).map_err(|source| OsvError::Zip { source })?;
    for i in seen..archive.len() {
        let entry = archive.by_index(i).map_err(|source| OsvError::Zip { source })?;
        if !on_entry(entry, limits, &mut budget, &mut stats, skip, on_record)? {
            break;
        }
    }
    Ok(stats)
}

fn on_entry<R: Read + ?Sized>(
    entry: zip::read::ZipFile<'_, R>,
    limits: &ImportLimits,
    budget: &mut Budget<'_>,
    stats: &mut StreamStats,
    skip: &dyn Fn(&str) -> bool,
    on_record: &mut OnRecord<'_>,
) -> Result<bool, OsvError> {
    let name = entry.name().to_owned();
    if entry.is_dir() || !is_json_name(&name) {
        return Ok(true);
    }
    budget.count_entry(&name)?;
    stats.entries += 1;
    if skip(&name) {
        stats.skipped += 1;
        return Ok(true);
    }
    // The declared size may lie; `Budget::read` enforces the limits on what is inflated.
    if entry.size() > limits.max_entry_bytes {
        return Err(OsvError::Limit {
            what: "entry size",
            limit: limits.max_entry_bytes,
            detail: name,
        });
    }
    let bytes = budget.read(&name, entry)?;
    stats.bytes += bytes.len() as u64;
    let parsed = parse_advisory(&bytes);
    Ok(on_record(name, parsed))
}

/// The bytes of one member of a zip archive (e.g. `modified_id.csv`), found by walking the
/// local headers (other entries are passed over without being inflated); `None` when absent.
/// At most `max_bytes` are read.
pub fn zip_member<R: Read + Seek>(mut r: R, member: &str, max_bytes: u64) -> Result<Option<Vec<u8>>, OsvError> {
    let io = |source| OsvError::Io {
        path: member.to_owned(),
        source,
    };
    let start = r.stream_position().map_err(io)?;
    let mut reader = std::io::BufReader::with_capacity(256 << 10, &mut r);
    let mut streamed = true;
    loop {
        match zip::read::read_zipfile_from_stream(&mut reader) {
            Ok(Some(e)) if e.name() == member || e.name().ends_with(&format!("/{member}")) => {
                return read_member(e, member, max_bytes).map(Some);
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(zip::result::ZipError::UnsupportedArchive(_)) => {
                streamed = false;
                break;
            }
            Err(source) => return Err(OsvError::Zip { source }),
        }
    }
    if streamed {
        return Ok(None);
    }
    drop(reader);
    r.seek(std::io::SeekFrom::Start(start)).map_err(io)?;
    let mut archive = zip::ZipArchive::new(r).map_err(|source| OsvError::Zip { source })?;
    let Some(i) = archive.index_for_name(member) else {
        return Ok(None);
    };
    let e = archive.by_index(i).map_err(|source| OsvError::Zip { source })?;
    read_member(e, member, max_bytes).map(Some)
}

fn read_member<R: Read + ?Sized>(e: zip::read::ZipFile<'_, R>, member: &str, max: u64) -> Result<Vec<u8>, OsvError> {
    let mut buf = Vec::new();
    e.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|source| OsvError::Io {
            path: member.to_owned(),
            source,
        })?;
    if buf.len() as u64 > max {
        return Err(OsvError::Limit {
            what: "member size",
            limit: max,
            detail: member.to_owned(),
        });
    }
    Ok(buf)
}

/// Read every `*.json` entry of a zip archive (osv.dev's `all.zip`), in archive order.
///
/// Directories and other entries are skipped. Fails as a whole only when the archive itself is
/// unreadable or a limit of `limits` is exceeded. Holds every record in memory: use
/// [`stream_zip`] for large archives.
pub fn read_zip<R: Read + Seek>(r: R, limits: &ImportLimits) -> Result<Vec<Loaded>, OsvError> {
    let mut out = Vec::new();
    stream_zip(r, limits, &|_| false, &mut |name, parsed| {
        out.push((name, parsed));
        true
    })?;
    Ok(out)
}

/// Stream every `*.json` file under `path`, recursively, sorted by relative path, one at a
/// time (see [`stream_zip`]); files for which `skip(relative path)` is true are not opened.
pub fn stream_dir(
    path: &Path,
    limits: &ImportLimits,
    skip: &dyn Fn(&str) -> bool,
    on_record: &mut OnRecord<'_>,
) -> Result<StreamStats, OsvError> {
    let mut files = Vec::new();
    collect(path, "", 0, limits, &mut files)?;
    files.sort();
    let mut budget = Budget::new(limits);
    let mut stats = StreamStats::default();
    for rel in files {
        budget.count_entry(&rel)?;
        stats.entries += 1;
        if skip(&rel) {
            stats.skipped += 1;
            continue;
        }
        let full = path.join(&rel);
        let file = std::fs::File::open(&full).map_err(|source| OsvError::Io {
            path: full.display().to_string(),
            source,
        })?;
        let bytes = budget.read(&rel, file)?;
        stats.bytes += bytes.len() as u64;
        if !on_record(rel, parse_advisory(&bytes)) {
            break;
        }
    }
    Ok(stats)
}

/// Read every `*.json` file under `path`, recursively, sorted by relative path.
///
/// Symbolic links are not followed. The names returned are paths relative to `path`, with `/`
/// separators. Holds every record in memory: use [`stream_dir`] for large trees.
pub fn read_dir(path: &Path, limits: &ImportLimits) -> Result<Vec<Loaded>, OsvError> {
    let mut out = Vec::new();
    stream_dir(path, limits, &|_| false, &mut |name, parsed| {
        out.push((name, parsed));
        true
    })?;
    Ok(out)
}

fn collect(
    dir: &Path,
    prefix: &str,
    depth: usize,
    limits: &ImportLimits,
    out: &mut Vec<String>,
) -> Result<(), OsvError> {
    if depth > limits.max_depth {
        return Err(OsvError::Limit {
            what: "directory depth",
            limit: limits.max_depth as u64,
            detail: dir.display().to_string(),
        });
    }
    let io = |source| OsvError::Io {
        path: dir.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let ty = entry.file_type().map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if ty.is_dir() {
            collect(&entry.path(), &rel, depth + 1, limits, out)?;
        } else if ty.is_file() && is_json_name(&name) {
            if out.len() as u64 >= limits.max_entries {
                return Err(OsvError::Limit {
                    what: "entry count",
                    limit: limits.max_entries,
                    detail: rel,
                });
            }
            out.push(rel);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refuses_oversized_entry() {
        let limits = ImportLimits {
            max_entry_bytes: 4,
            ..Default::default()
        };
        let mut b = Budget::new(&limits);
        assert!(b.read("a", &b"1234"[..]).is_ok());
        let err = b.read("b.json", &b"12345"[..]).unwrap_err().to_string();
        assert!(err.contains("entry size") && err.contains("b.json"), "{err}");
    }

    #[test]
    fn budget_refuses_total_over_limit() {
        let limits = ImportLimits {
            max_entry_bytes: 10,
            max_total_bytes: 12,
            ..Default::default()
        };
        let mut b = Budget::new(&limits);
        b.read("a", &b"12345678"[..]).unwrap();
        let err = b.read("b", &b"12345"[..]).unwrap_err().to_string();
        assert!(err.contains("total size"), "{err}");
    }

    #[test]
    fn ids_of_entry_names() {
        assert_eq!(id_of_entry_name("GHSA-xxxx-yyyy.json"), "GHSA-xxxx-yyyy");
        assert_eq!(id_of_entry_name("PyPI/PYSEC-2024-1.json"), "PYSEC-2024-1");
        assert_eq!(id_of_entry_name("README"), "README");
    }

    #[test]
    fn json_names() {
        assert!(is_json_name("GHSA-x.json"));
        assert!(is_json_name("a/B.JSON"));
        assert!(!is_json_name(".json"));
        assert!(!is_json_name("README.md"));
    }
}
