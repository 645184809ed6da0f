//! In-memory unpacking of a chart archive (`.tgz`) with limits.
//!
//! Nothing is written to disk. Every read is bounded: the decompressed stream as a whole, each
//! file, and the number of entries. Entries that could escape the chart or alias other files
//! (absolute paths, `..`, symlinks, hard links, devices) make the whole archive invalid: a chart
//! never needs them, and a scanner that skipped them would scan something other than what Helm
//! would install.

use std::io::Read;
use std::path::Component;

/// Limits on one archive (and, shared, on the archives nested inside it).
#[derive(Debug, Clone, Copy)]
pub struct ArchiveLimits {
    /// Total decompressed bytes of file contents.
    pub max_total_bytes: u64,
    /// Bytes of one file.
    pub max_file_bytes: u64,
    /// Number of entries (files and directories).
    pub max_entries: usize,
}

/// Why an archive was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArchiveError {
    /// The bytes are not a gzip-compressed tar stream.
    #[error("chart archive is not a valid gzip tar stream: {0}")]
    Malformed(String),
    /// An entry's path leaves the archive root.
    #[error("chart archive entry {path:?} escapes the chart directory (absolute path or ..)")]
    Traversal {
        /// The offending path.
        path: String,
    },
    /// A link, device or other special entry.
    #[error("chart archive entry {path:?} is a {kind}; charts may only hold regular files and directories")]
    SpecialEntry {
        /// The offending path.
        path: String,
        /// What it is.
        kind: String,
    },
    /// One file is over the size limit.
    #[error("chart archive entry {path:?} is over the {limit}-byte file size limit")]
    FileTooLarge {
        /// The offending path.
        path: String,
        /// The limit.
        limit: u64,
    },
    /// The archive decompresses to more than the limit.
    #[error("chart archive decompresses to more than the {limit}-byte limit")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Too many entries.
    #[error("chart archive has more than {limit} entries")]
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// Two entries with one path.
    #[error("chart archive holds {path:?} twice")]
    Duplicate {
        /// The path.
        path: String,
    },
}

/// A budget shared by an archive and the archives nested in it.
#[derive(Debug)]
pub struct Budget {
    limits: ArchiveLimits,
    bytes: u64,
    entries: usize,
}

impl Budget {
    /// A fresh budget.
    pub fn new(limits: ArchiveLimits) -> Self {
        Budget {
            limits,
            bytes: 0,
            entries: 0,
        }
    }
}

/// One regular file of an archive: its normalised relative path and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFile {
    /// Path with `/` separators, no leading `./`.
    pub path: String,
    /// Contents.
    pub data: Vec<u8>,
}

/// Unpack a gzip-compressed tar archive in memory.
pub fn unpack_tgz(bytes: &[u8], budget: &mut Budget) -> Result<Vec<ArchiveFile>, ArchiveError> {
    let limits = budget.limits;
    // Bound the decompressed stream itself: tar headers and padding count too.
    let stream_limit = limits.max_total_bytes.saturating_mul(2).saturating_add(1 << 20);
    let gz = flate2::read::GzDecoder::new(bytes).take(stream_limit);
    let mut archive = tar::Archive::new(gz);
    let entries = archive.entries().map_err(|e| ArchiveError::Malformed(e.to_string()))?;
    let mut files: Vec<ArchiveFile> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| malformed(e, limits))?;
        budget.entries += 1;
        if budget.entries > limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let kind = entry.header().entry_type();
        // PAX metadata records (a `pax_global_header` written by git archive and others) carry
        // no file.
        if matches!(kind, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader) {
            continue;
        }
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = normalise(&raw_path)?;
        if kind.is_dir() {
            continue;
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            let what = match kind {
                tar::EntryType::Symlink => "symbolic link".to_owned(),
                tar::EntryType::Link => "hard link".to_owned(),
                tar::EntryType::Char => "character device".to_owned(),
                tar::EntryType::Block => "block device".to_owned(),
                tar::EntryType::Fifo => "named pipe".to_owned(),
                other => format!("special entry ({other:?})"),
            };
            return Err(ArchiveError::SpecialEntry {
                path: raw_path,
                kind: what,
            });
        }
        let declared = entry.header().size().unwrap_or(u64::MAX);
        if declared > limits.max_file_bytes {
            return Err(ArchiveError::FileTooLarge {
                path: raw_path,
                limit: limits.max_file_bytes,
            });
        }
        if budget.bytes.saturating_add(declared) > limits.max_total_bytes {
            return Err(ArchiveError::TooLarge {
                limit: limits.max_total_bytes,
            });
        }
        let mut data = Vec::with_capacity(declared.min(1 << 20) as usize);
        (&mut entry)
            .take(limits.max_file_bytes + 1)
            .read_to_end(&mut data)
            .map_err(|e| malformed(e, limits))?;
        if data.len() as u64 > limits.max_file_bytes {
            return Err(ArchiveError::FileTooLarge {
                path: raw_path,
                limit: limits.max_file_bytes,
            });
        }
        budget.bytes += data.len() as u64;
        if budget.bytes > limits.max_total_bytes {
            return Err(ArchiveError::TooLarge {
                limit: limits.max_total_bytes,
            });
        }
        if !seen.insert(path.clone()) {
            return Err(ArchiveError::Duplicate { path });
        }
        files.push(ArchiveFile { path, data });
    }
    Ok(files)
}

fn malformed(e: std::io::Error, limits: ArchiveLimits) -> ArchiveError {
    // The stream limit surfaces as an unexpected end of the tar stream.
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        return ArchiveError::Malformed(format!(
            "{e} (truncated, or over the decompression limit of about {} bytes)",
            limits.max_total_bytes
        ));
    }
    ArchiveError::Malformed(e.to_string())
}

/// Normalise an entry path, refusing anything that leaves the root.
fn normalise(raw: &str) -> Result<String, ArchiveError> {
    let traversal = || ArchiveError::Traversal { path: raw.to_owned() };
    if raw.starts_with('/') || raw.starts_with('\\') || raw.contains('\\') || raw.contains('\0') {
        return Err(traversal());
    }
    let mut parts = Vec::new();
    for c in std::path::Path::new(raw).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return Err(traversal()),
        }
    }
    if parts.is_empty() {
        return Err(traversal());
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_refuses_escapes() {
        assert_eq!(normalise("./a/b.yaml").unwrap(), "a/b.yaml");
        assert!(normalise("/etc/passwd").is_err());
        assert!(normalise("a/../../x").is_err());
        assert!(normalise("a\\..\\x").is_err());
    }

    #[test]
    fn garbage_is_malformed() {
        let mut b = Budget::new(ArchiveLimits {
            max_total_bytes: 100,
            max_file_bytes: 100,
            max_entries: 10,
        });
        assert!(matches!(
            unpack_tgz(b"not gzip", &mut b),
            Err(ArchiveError::Malformed(_))
        ));
    }
}
