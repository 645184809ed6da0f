//! Turning layer blobs into the bundle's file set, in memory and within limits.
//!
//! A bundle tarball (OPA's `.tar.gz`, in either the OPA artifact shape or the image shape) is
//! gunzipped and untarred with every byte counted; conftest's per-file layers become one file each,
//! named by their `org.opencontainers.image.title` annotation. Nothing is written to disk. Entries
//! a bundle must not contain (paths escaping the root, links, duplicates) are skipped and reported
//! as findings; broken archives and blown limits fail the scan.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};

use regscan_scanner_api::{Finding, Severity};

use crate::config::BundleLimits;

/// Annotation naming a file layer (ORAS, conftest).
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// The bundle's files, keyed by normalised path (no leading `/` or `./`).
#[derive(Debug, Default)]
pub struct BundleFiles {
    /// Path → content.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Findings about the archive itself (unsafe paths, links, duplicates).
    pub findings: Vec<Finding>,
    /// Data files mounted at the root of `data` whatever their name (conftest data layers).
    pub root_data: BTreeSet<String>,
    /// Entries read so far, over all layers.
    entries: usize,
    /// Bytes of file content kept so far, over all layers.
    unpacked: u64,
}

/// Why a layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The archive or compression is broken.
    #[error("layer {layer}: {message}")]
    Malformed {
        /// Layer digest.
        layer: String,
        /// What is wrong.
        message: String,
    },
    /// A limit was exceeded.
    #[error("layer {layer}: {message}")]
    Limit {
        /// Layer digest.
        layer: String,
        /// Which limit.
        message: String,
    },
}

/// Normalise an archive path: strip leading `/` and `./`, drop `.` components. `None` when the
/// path is empty or climbs out with `..`.
pub fn normalize_path(raw: &str) -> Option<String> {
    let mut parts = Vec::new();
    for comp in raw.split('/') {
        match comp {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

const CAP_MESSAGE: &str = "decompressed size limit reached";

/// A reader that fails once more than `limit` bytes have come through it.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::other(CAP_MESSAGE));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

impl BundleFiles {
    /// Add one file, enforcing the per-file and total limits. A second file at the same path is
    /// reported and replaces the first (as extracting the tarball would).
    pub fn add(
        &mut self,
        layer: &str,
        path: String,
        content: Vec<u8>,
        limits: &BundleLimits,
    ) -> Result<(), UnpackError> {
        let size = content.len() as u64;
        if size > limits.max_file_bytes {
            return Err(UnpackError::Limit {
                layer: layer.into(),
                message: format!(
                    "file {path} is {size} bytes, over the {}-byte file limit",
                    limits.max_file_bytes
                ),
            });
        }
        self.unpacked += size;
        if self.unpacked > limits.max_unpacked_bytes {
            return Err(UnpackError::Limit {
                layer: layer.into(),
                message: format!("bundle unpacks to more than {} bytes", limits.max_unpacked_bytes),
            });
        }
        if self.files.contains_key(&path) {
            self.findings.push(
                Finding::new(
                    "OPA-BUNDLE-DUPLICATE",
                    Severity::High,
                    format!("bundle holds {path} more than once; the last copy hides the others"),
                )
                .at(path.clone())
                .fix("Rebuild the bundle so every path appears once."),
            );
        }
        self.files.insert(path, content);
        Ok(())
    }

    fn count_entry(&mut self, layer: &str, limits: &BundleLimits) -> Result<(), UnpackError> {
        self.entries += 1;
        if self.entries > limits.max_entries {
            return Err(UnpackError::Limit {
                layer: layer.into(),
                message: format!("more than {} archive entries", limits.max_entries),
            });
        }
        Ok(())
    }

    /// Unpack a bundle tarball (gzip-compressed when `gzip`).
    pub fn add_tarball(
        &mut self,
        layer: &str,
        blob: &[u8],
        gzip: bool,
        limits: &BundleLimits,
    ) -> Result<(), UnpackError> {
        let malformed = |message: String| UnpackError::Malformed {
            layer: layer.into(),
            message,
        };
        let is_gzip = blob.starts_with(&[0x1f, 0x8b]);
        if gzip && !is_gzip {
            return Err(malformed("declared gzip-compressed but is not gzip data".into()));
        }
        // Room for tar headers and padding on top of the file contents.
        let cap = limits.max_unpacked_bytes.saturating_sub(self.unpacked)
            + (limits.max_entries as u64 + 2) * 1024
            + (1 << 20);
        let source: Box<dyn Read + '_> = if is_gzip {
            Box::new(flate2::read::GzDecoder::new(blob))
        } else {
            Box::new(blob)
        };
        let mut archive = tar::Archive::new(Capped {
            inner: source,
            left: cap,
        });
        let entries = match archive.entries() {
            Ok(e) => e,
            Err(e) => return Err(malformed(format!("not a tar archive: {e}"))),
        };
        let mut pending: Vec<(String, Vec<u8>)> = Vec::new();
        let mut seen_any = false;
        for entry in entries {
            let mut entry = entry.map_err(|e| read_error(layer, cap, e, "broken tar archive"))?;
            seen_any = true;
            self.count_entry(layer, limits)?;
            let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let kind = entry.header().entry_type();
            if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
                continue;
            }
            let Some(path) = normalize_path(&raw_path) else {
                self.findings.push(
                    Finding::new(
                        "OPA-BUNDLE-PATH",
                        Severity::High,
                        format!("archive entry {raw_path:?} escapes the bundle root; it was ignored"),
                    )
                    .at(raw_path.clone())
                    .fix("Rebuild the bundle with `opa build`; entries must be relative paths inside the bundle."),
                );
                continue;
            };
            if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                self.findings.push(
                    Finding::new(
                        "OPA-BUNDLE-LINK",
                        Severity::Medium,
                        format!("archive entry {path} is a link to {target:?}; OPA ignores links and so did the scan"),
                    )
                    .at(path)
                    .fix("Replace links with the files themselves."),
                );
                continue;
            }
            if !(kind.is_file() || kind.is_contiguous()) {
                continue;
            }
            let declared = entry.header().size().unwrap_or(0);
            if declared > limits.max_file_bytes {
                return Err(UnpackError::Limit {
                    layer: layer.into(),
                    message: format!(
                        "file {path} is {declared} bytes, over the {}-byte file limit",
                        limits.max_file_bytes
                    ),
                });
            }
            let mut content = Vec::with_capacity(declared.min(1 << 20) as usize);
            (&mut entry)
                .take(limits.max_file_bytes + 1)
                .read_to_end(&mut content)
                .map_err(|e| read_error(layer, cap, e, &format!("reading {path}")))?;
            pending.push((path, content));
        }
        if !seen_any {
            return Err(malformed("the archive holds no entries".into()));
        }
        for (path, content) in pending {
            self.add(layer, path, content, limits)?;
        }
        Ok(())
    }
}

/// Map a read error inside an archive: the decompression cap is a limit, anything else a broken
/// archive.
fn read_error(layer: &str, cap: u64, e: io::Error, what: &str) -> UnpackError {
    if e.to_string().contains(CAP_MESSAGE) {
        UnpackError::Limit {
            layer: layer.into(),
            message: format!("layer decompresses to more than {cap} bytes"),
        }
    } else {
        UnpackError::Malformed {
            layer: layer.into(),
            message: format!("{what}: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, c) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(c.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // Raw name: OPA writes absolute paths (`/data.json`), which the builder refuses.
            h.as_old_mut().name[..p.len()].copy_from_slice(p.as_bytes());
            h.set_cksum();
            b.append(&h, *c).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize_path("/a/./b.rego").as_deref(), Some("a/b.rego"));
        assert_eq!(normalize_path("./.manifest").as_deref(), Some(".manifest"));
        assert_eq!(normalize_path("a/../../etc"), None);
        assert_eq!(normalize_path("/"), None);
    }

    #[test]
    fn unpacks_and_limits() {
        let blob = tarball(&[("/x/p.rego", b"package x"), ("data.json", b"{}")]);
        let mut f = BundleFiles::default();
        f.add_tarball("sha256:l", &blob, true, &BundleLimits::default())
            .unwrap();
        assert_eq!(f.files.keys().collect::<Vec<_>>(), ["data.json", "x/p.rego"]);

        let limits = BundleLimits {
            max_file_bytes: 4,
            ..Default::default()
        };
        let err = BundleFiles::default()
            .add_tarball("sha256:l", &blob, true, &limits)
            .unwrap_err();
        assert!(matches!(err, UnpackError::Limit { .. }), "{err}");
        let limits = BundleLimits {
            max_entries: 1,
            ..Default::default()
        };
        let err = BundleFiles::default()
            .add_tarball("sha256:l", &blob, true, &limits)
            .unwrap_err();
        assert!(err.to_string().contains("entries"), "{err}");
    }

    #[test]
    fn bomb_is_stopped_by_total_limit() {
        let big = vec![0u8; 4 << 20];
        let blob = tarball(&[("data.json", &big)]);
        assert!(blob.len() < 64 << 10, "compresses well");
        let limits = BundleLimits {
            max_unpacked_bytes: 1 << 20,
            max_entries: 10,
            ..Default::default()
        };
        let err = BundleFiles::default()
            .add_tarball("sha256:l", &blob, true, &limits)
            .unwrap_err();
        assert!(matches!(err, UnpackError::Limit { .. }), "{err}");
    }

    #[test]
    fn garbage_is_malformed() {
        let err = BundleFiles::default()
            .add_tarball("sha256:l", b"hello", true, &BundleLimits::default())
            .unwrap_err();
        assert!(err.to_string().contains("not gzip"), "{err}");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &[7u8; 1000]).unwrap();
        let blob = gz.finish().unwrap();
        let err = BundleFiles::default()
            .add_tarball("sha256:l", &blob, true, &BundleLimits::default())
            .unwrap_err();
        assert!(matches!(err, UnpackError::Malformed { .. }), "{err}");
        let truncated = &tarball(&[("a.rego", &[b'x'; 5000])])[..40];
        let err = BundleFiles::default()
            .add_tarball("sha256:l", truncated, true, &BundleLimits::default())
            .unwrap_err();
        assert!(matches!(err, UnpackError::Malformed { .. }), "{err}");
    }
}

/// The entry paths of a (possibly gzip-compressed) tarball, for telling a bundle from a root
/// filesystem: at most `max_entries` entries, 64 MiB of decompressed input and 4 KiB per path
/// (longer paths are cut). `None` when the bytes are not a readable tar archive.
pub fn tarball_paths(blob: &[u8], max_entries: usize) -> Option<Vec<String>> {
    const MAX_INPUT: u64 = 64 << 20;
    const MAX_PATH: usize = 4096;
    let source: Box<dyn Read + '_> = if blob.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(blob))
    } else {
        Box::new(blob)
    };
    let mut archive = tar::Archive::new(source.take(MAX_INPUT));
    let mut paths = Vec::new();
    for entry in archive.entries().ok()?.take(max_entries) {
        let entry = entry.ok()?;
        let bytes = entry.path_bytes();
        let cut = &bytes[..bytes.len().min(MAX_PATH)];
        paths.push(String::from_utf8_lossy(cut).into_owned());
    }
    Some(paths)
}
