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

/// Read every `*.json` entry of a zip archive (osv.dev's `all.zip`), in archive order.
///
/// Directories and other entries are skipped. Fails as a whole only when the archive itself is
/// unreadable or a limit of `limits` is exceeded.
pub fn read_zip<R: Read + Seek>(r: R, limits: &ImportLimits) -> Result<Vec<Loaded>, OsvError> {
    let mut archive = zip::ZipArchive::new(r).map_err(|source| OsvError::Zip { source })?;
    let mut budget = Budget::new(limits);
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|source| OsvError::Zip { source })?;
        let name = entry.name().to_owned();
        if entry.is_dir() || !is_json_name(&name) {
            continue;
        }
        budget.count_entry(&name)?;
        // The declared size may lie; `Budget::read` enforces the limits on what is inflated.
        if entry.size() > limits.max_entry_bytes {
            return Err(OsvError::Limit {
                what: "entry size",
                limit: limits.max_entry_bytes,
                detail: name,
            });
        }
        let bytes = budget.read(&name, entry)?;
        let parsed = parse_advisory(&bytes);
        out.push((name, parsed));
    }
    Ok(out)
}

/// Read every `*.json` file under `path`, recursively, sorted by relative path.
///
/// Symbolic links are not followed. The names returned are paths relative to `path`, with `/`
/// separators.
pub fn read_dir(path: &Path, limits: &ImportLimits) -> Result<Vec<Loaded>, OsvError> {
    let mut files = Vec::new();
    collect(path, "", 0, limits, &mut files)?;
    files.sort();
    let mut budget = Budget::new(limits);
    let mut out = Vec::with_capacity(files.len());
    for rel in files {
        budget.count_entry(&rel)?;
        let full = path.join(&rel);
        let file = std::fs::File::open(&full).map_err(|source| OsvError::Io {
            path: full.display().to_string(),
            source,
        })?;
        let bytes = budget.read(&rel, file)?;
        let parsed = parse_advisory(&bytes);
        out.push((rel, parsed));
    }
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
    fn json_names() {
        assert!(is_json_name("GHSA-x.json"));
        assert!(is_json_name("a/B.JSON"));
        assert!(!is_json_name(".json"));
        assert!(!is_json_name("README.md"));
    }
}
