//! Streaming layer walking: one pass over a layer blob, from compressed bytes to [`LayerFacts`].
//!
//! The blob is decompressed on the fly (gzip, zstd or plain tar, told apart by magic bytes rather
//! than trusted from the media type) and its tar entries are walked once. Only files the
//! analyzers want are read, each at most its analyzer's `max_bytes`; everything else is skipped
//! as it streams past, so memory stays flat whatever the layer's size. Nothing is written to
//! disk. Whiteouts and opaque-directory markers are recorded for the merge.
//!
//! Safety: uncompressed bytes and tar entries are counted against [`WalkLimits`]; GNU long-name
//! and PAX headers are read bounded (the tar crate would read them whole). Paths kept in the
//! facts are bounded too: an entry whose path (or symlink target) is longer than
//! [`MAX_PATH_BYTES`] (Linux's `PATH_MAX`, which no runtime can create) is skipped with a note,
//! and a layer that would keep more than [`MAX_RECORDED_PATHS`] paths or
//! [`MAX_RECORDED_PATH_BYTES`] bytes of them (whiteouts, opaque directories, analyzed, linked
//! and shadowed files together) fails with a limit error. After the tar's end
//! marker the rest of the stream is drained (still counted), so the blob source reaches the end
//! of the blob and verifies its digest.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, BufReader, Read};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use regscan_scanner_api::BlobReader;
use serde::{Deserialize, Serialize};
use tar::EntryType;

use crate::analyzers::{self, AnalyzerId, FileFacts};
use crate::error::LayerError;

/// Version of the walker's output; with [`analyzers::ANALYZERS_VERSION`] it keys the layer cache.
pub const WALKER_VERSION: &str = "2";

/// Largest GNU long-name / long-link entry read.
const MAX_LONG_NAME: u64 = 64 << 10;
/// Largest PAX extended header read.
const MAX_PAX_HEADER: u64 = 1 << 20;
/// Most not-analyzed files listed per layer (all are counted).
pub const MAX_SKIPPED_LISTED: usize = 50;
/// Longest path (or symlink target) kept from a tar entry, in bytes: Linux's `PATH_MAX`. A
/// runtime cannot create a longer path, so such an entry cannot change the container's files;
/// it is skipped with a note.
pub const MAX_PATH_BYTES: usize = 4096;
/// Most paths one layer may keep in its facts (whiteouts, opaque directories, analyzed, linked
/// and shadowed files). More fails the scan with a limit error.
pub const MAX_RECORDED_PATHS: u64 = 250_000;
/// Most bytes of paths one layer may keep in its facts. More fails the scan with a limit error.
pub const MAX_RECORDED_PATH_BYTES: u64 = 16 << 20;
/// Longest path shown in a "not analyzed" note.
const MAX_NOTE_PATH: usize = 256;
/// Read buffer over the blob stream (each fill is one async read through the bridge).
const RAW_BUFFER: usize = 256 << 10;
/// Read buffer over the decompressed stream (tar reads 512-byte headers).
const TAR_BUFFER: usize = 128 << 10;

/// The compression of a layer, as detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain tar.
    #[default]
    None,
    /// gzip (possibly several members).
    Gzip,
    /// zstd (possibly several frames).
    Zstd,
}

/// A file present in the layer that the analyzers would want but that was not analyzed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    /// Path in the layer.
    pub path: String,
    /// Why it was not analyzed (too large, malformed, unresolvable hard link).
    pub reason: String,
}

/// What one layer contributes, before merging. Cached per layer digest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerFacts {
    /// Facts per analyzed file path (relative, no leading `/`).
    pub files: BTreeMap<String, FileFacts>,
    /// Symbolic links at paths the analyzers care about: path -> link target as written.
    pub symlinks: BTreeMap<String, String>,
    /// Paths the analyzers care about that this layer replaces without facts (skipped files,
    /// special files); they hide lower layers' facts at the same path.
    pub shadowed: BTreeSet<String>,
    /// Paths deleted by `.wh.<name>` whiteouts (the deleted path, not the marker).
    pub whiteouts: BTreeSet<String>,
    /// Directories whose lower contents are hidden by a `.wh..wh..opq` marker (`""` is the root).
    pub opaque_dirs: BTreeSet<String>,
    /// Wanted files that were not analyzed, with the reason (the first [`MAX_SKIPPED_LISTED`]).
    pub skipped: Vec<SkippedFile>,
    /// How many wanted files were not analyzed in all.
    #[serde(default)]
    pub skipped_total: u64,
    /// Tar entries in the layer (metadata headers included).
    pub entries: u64,
    /// Uncompressed size of the layer stream.
    pub uncompressed_bytes: u64,
    /// Detected compression.
    pub compression: Compression,
}

impl LayerFacts {
    /// Packages found in this layer's files.
    pub fn package_count(&self) -> usize {
        self.files
            .values()
            .map(|f| match f {
                FileFacts::Packages(p) => p.len(),
                _ => 0,
            })
            .sum()
    }

    fn note_skipped(&mut self, path: &str, reason: String) {
        self.skipped_total += 1;
        if self.skipped.len() < MAX_SKIPPED_LISTED {
            self.skipped.push(SkippedFile {
                path: shorten(path, MAX_NOTE_PATH),
                reason: shorten(&reason, 2 * MAX_NOTE_PATH),
            });
        }
    }

    /// How many paths the facts keep.
    fn recorded(&self) -> usize {
        self.files.len() + self.symlinks.len() + self.shadowed.len() + self.whiteouts.len() + self.opaque_dirs.len()
    }

    fn set_file(&mut self, path: String, facts: FileFacts) {
        self.symlinks.remove(&path);
        self.shadowed.remove(&path);
        self.files.insert(path, facts);
    }

    fn set_symlink(&mut self, path: String, target: String) {
        self.files.remove(&path);
        self.shadowed.remove(&path);
        self.symlinks.insert(path, target);
    }

    fn set_shadowed(&mut self, path: String) {
        self.files.remove(&path);
        self.symlinks.remove(&path);
        self.shadowed.insert(path);
    }
}

/// Limits for walking one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkLimits {
    /// Most uncompressed bytes.
    pub max_bytes: u64,
    /// Which setting `max_bytes` comes from, for the error message (`max_layer_bytes`, or
    /// `max_image_bytes` when the image budget is the tighter one).
    pub max_bytes_setting: &'static str,
    /// Most tar entries.
    pub max_entries: u64,
}

impl Default for WalkLimits {
    fn default() -> Self {
        WalkLimits {
            max_bytes: 8 << 30,
            max_bytes_setting: "max_layer_bytes",
            max_entries: 1_000_000,
        }
    }
}

/// `s` cut to at most `max` bytes (on a character boundary), marked with `…` when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

/// Walk a layer blob on a blocking thread, bridging from the async blob stream. Dropping the
/// returned future stops the walk at its next read.
pub async fn walk_blob(blob: BlobReader, digest: &str, limits: WalkLimits) -> Result<LayerFacts, LayerError> {
    let cancel = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancel.clone());
    let bridge = tokio_util::io::SyncIoBridge::new(blob);
    let owned = digest.to_owned();
    tokio::task::spawn_blocking(move || walk(bridge, &owned, &limits, Some(cancel)))
        .await
        .map_err(|e| LayerError::Internal {
            layer: digest.to_owned(),
            message: e.to_string(),
        })?
}

/// Walk a layer blob (compressed or not) from a synchronous reader.
pub fn walk_layer(blob: impl Read, digest: &str, limits: &WalkLimits) -> Result<LayerFacts, LayerError> {
    walk(blob, digest, limits, None)
}

struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What went wrong below the tar reader, which only sees `io::Error`s.
#[derive(Default)]
struct Tracker {
    source_error: Option<io::Error>,
    over_bytes: bool,
    cancelled: bool,
}

type Shared = Rc<RefCell<Tracker>>;

/// The blob stream: remembers its own errors so they are not mistaken for a bad archive.
struct Source<R> {
    inner: R,
    tracker: Shared,
    cancel: Option<Arc<AtomicBool>>,
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
            self.tracker.borrow_mut().cancelled = true;
            return Err(io::Error::other("scan cancelled"));
        }
        self.inner.read(buf).inspect_err(|e| {
            let copy = io::Error::new(e.kind(), e.to_string());
            self.tracker.borrow_mut().source_error.get_or_insert(copy);
        })
    }
}

/// The decompressed stream: counts bytes against the limit.
struct Counting<R> {
    inner: R,
    count: u64,
    limit: u64,
    tracker: Shared,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            self.tracker.borrow_mut().over_bytes = true;
            return Err(io::Error::other("uncompressed size limit reached"));
        }
        Ok(n)
    }
}

type Raw<R> = BufReader<io::Chain<io::Cursor<Vec<u8>>, Source<R>>>;

/// The decompressor picked from the magic bytes.
enum Decoder<R: Read> {
    Plain(Raw<R>),
    Gzip(Box<flate2::bufread::MultiGzDecoder<Raw<R>>>),
    Zstd(zstd::stream::read::Decoder<'static, Raw<R>>),
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(r) => r.read(buf),
            Decoder::Zstd(r) => r.read(buf),
        }
    }
}

impl<R: Read> Decoder<R> {
    fn into_raw(self) -> Raw<R> {
        match self {
            Decoder::Plain(r) => r,
            Decoder::Gzip(r) => r.into_inner(),
            Decoder::Zstd(r) => r.finish(),
        }
    }
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

fn open_decoder<R: Read>(mut source: Source<R>, digest: &str) -> Result<(Decoder<R>, Compression), io::Error> {
    let mut head = vec![0u8; 6];
    let mut n = 0;
    while n < head.len() {
        match source.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(n);
    let compression = if head.starts_with(GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(ZSTD_MAGIC) {
        Compression::Zstd
    } else if head.starts_with(b"BZh") || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("layer {digest} is bzip2 or xz compressed, which OCI layers do not use"),
        ));
    } else {
        Compression::None
    };
    let raw = BufReader::with_capacity(RAW_BUFFER, io::Cursor::new(head).chain(source));
    let decoder = match compression {
        Compression::None => Decoder::Plain(raw),
        Compression::Gzip => Decoder::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(raw))),
        Compression::Zstd => Decoder::Zstd(zstd::stream::read::Decoder::with_buffer(raw)?),
    };
    Ok((decoder, compression))
}

fn walk<R: Read>(
    blob: R,
    digest: &str,
    limits: &WalkLimits,
    cancel: Option<Arc<AtomicBool>>,
) -> Result<LayerFacts, LayerError> {
    let tracker: Shared = Rc::default();
    let source = Source {
        inner: blob,
        tracker: tracker.clone(),
        cancel,
    };
    let fail = |e: io::Error, what: &str| classify(e, what, digest, limits, &tracker);
    let (decoder, compression) = open_decoder(source, digest).map_err(|e| fail(e, "reading the layer header"))?;
    let counting = Counting {
        inner: BufReader::with_capacity(TAR_BUFFER, decoder),
        count: 0,
        limit: limits.max_bytes,
        tracker: tracker.clone(),
    };
    let mut archive = tar::Archive::new(counting);
    let mut facts = LayerFacts {
        compression,
        ..Default::default()
    };
    walk_entries(&mut archive, digest, limits, &tracker, &mut facts)?;

    // Drain what follows the end-of-archive marker so the blob is read to its end (and its
    // digest verified by the source); the bytes still count against the limit.
    let mut counting = archive.into_inner();
    io::copy(&mut counting, &mut io::sink()).map_err(|e| fail(e, "reading past the end of the tar"))?;
    facts.uncompressed_bytes = counting.count;
    let mut raw = counting.inner.into_inner().into_raw();
    io::copy(&mut raw, &mut io::sink()).map_err(|e| fail(e, "reading the end of the blob"))?;
    Ok(facts)
}

/// Turn an `io::Error` seen by the tar reader into the error that really happened.
fn classify(e: io::Error, what: &str, digest: &str, limits: &WalkLimits, tracker: &Shared) -> LayerError {
    let mut t = tracker.borrow_mut();
    let layer = digest.to_owned();
    if t.cancelled {
        return LayerError::Cancelled { layer };
    }
    if let Some(source) = t.source_error.take() {
        return LayerError::Read { layer, source };
    }
    if t.over_bytes {
        return LayerError::Limit {
            layer,
            message: format!(
                "expands to more than {} uncompressed bytes ({})",
                limits.max_bytes, limits.max_bytes_setting
            ),
        };
    }
    LayerError::Invalid {
        layer,
        message: format!("{what}: {e}"),
    }
}

/// Metadata carried from GNU long-name and PAX headers to the entry they describe.
#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    pax_size: Option<u64>,
}

fn walk_entries<R: Read>(
    archive: &mut tar::Archive<R>,
    digest: &str,
    limits: &WalkLimits,
    tracker: &Shared,
    facts: &mut LayerFacts,
) -> Result<(), LayerError> {
    let fail = |e: io::Error, what: &str| classify(e, what, digest, limits, tracker);
    let invalid = |message: String| LayerError::Invalid {
        layer: digest.to_owned(),
        message,
    };
    let mut pending = Pending::default();
    // Paths kept in the facts so far, and their bytes.
    let mut kept = (0u64, 0u64);
    // Analyzed files of this layer, for resolving hard links: path -> (analyzer, size).
    let mut analyzed: HashMap<String, (AnalyzerId, u64)> = HashMap::new();
    let entries = archive.entries().map_err(|e| fail(e, "reading the tar"))?.raw(true);
    for entry in entries {
        let mut entry = entry.map_err(|e| fail(e, "reading a tar header"))?;
        facts.entries += 1;
        if facts.entries > limits.max_entries {
            return Err(LayerError::Limit {
                layer: digest.to_owned(),
                message: format!("has more than {} tar entries (max_layer_entries)", limits.max_entries),
            });
        }
        let kind = entry.header().entry_type();
        match kind {
            EntryType::GNULongName | EntryType::GNULongLink => {
                let value = read_meta(&mut entry, MAX_LONG_NAME, digest, "GNU long name").map_err(|e| match e {
                    MetaError::Io(e) => fail(e, "reading a GNU long name"),
                    MetaError::Layer(e) => e,
                })?;
                let value = trim_nul(value);
                if kind == EntryType::GNULongName {
                    pending.path = Some(value);
                } else {
                    pending.link = Some(value);
                }
                continue;
            }
            EntryType::XHeader => {
                let value = read_meta(&mut entry, MAX_PAX_HEADER, digest, "PAX header").map_err(|e| match e {
                    MetaError::Io(e) => fail(e, "reading a PAX header"),
                    MetaError::Layer(e) => e,
                })?;
                apply_pax(&value, &mut pending).map_err(|m| invalid(m.to_owned()))?;
                continue;
            }
            EntryType::XGlobalHeader => continue,
            _ => {}
        }
        let header_size = entry.header().size().map_err(|e| fail(e, "reading a tar header"))?;
        let pending = std::mem::take(&mut pending);
        if let Some(size) = pending.pax_size {
            if size != header_size {
                return Err(invalid(format!(
                    "a PAX header gives a size of {size} bytes where the tar header says {header_size}; \
                     such entries (files of 8 GiB or more) are not read"
                )));
            }
        }
        let raw_path = pending.path.unwrap_or_else(|| entry.header().path_bytes().into_owned());
        let Some(path) = normalize(&raw_path) else {
            continue;
        };
        if path.len() > MAX_PATH_BYTES {
            let reason = format!(
                "path of {} bytes, over the {MAX_PATH_BYTES}-byte path limit (PATH_MAX): entry not read",
                path.len()
            );
            facts.note_skipped(&path, reason);
            continue;
        }
        // What this entry adds to the facts is charged once it is handled (its path, and a
        // symlink's target with it).
        let before = facts.recorded();
        let path_len = path.len() as u64;
        let mut link_len = 0u64;
        if record_whiteout(&path, facts) {
            keep(facts, before, path_len, &mut kept, digest)?;
            continue;
        }
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                analyze_file(&mut entry, path, header_size, facts, &mut analyzed);
                let broken = {
                    let t = tracker.borrow();
                    t.source_error.is_some() || t.over_bytes || t.cancelled
                };
                if broken {
                    return Err(fail(io::Error::other("stream failed"), "reading a file"));
                }
            }
            EntryType::Link => {
                let raw_link = pending
                    .link
                    .or_else(|| entry.header().link_name_bytes().map(|c| c.into_owned()));
                let target = raw_link.as_deref().and_then(normalize);
                link_file(path, target, facts, &analyzed);
            }
            EntryType::Symlink => {
                if analyzers::interested(&path) {
                    let raw_link = pending
                        .link
                        .or_else(|| entry.header().link_name_bytes().map(|c| c.into_owned()));
                    let raw_link = raw_link.unwrap_or_default();
                    if raw_link.len() > MAX_PATH_BYTES {
                        let reason = format!(
                            "symbolic link target of {} bytes, over the {MAX_PATH_BYTES}-byte path limit (PATH_MAX)",
                            raw_link.len()
                        );
                        facts.note_skipped(&path, reason);
                        facts.set_shadowed(path);
                    } else {
                        let target = String::from_utf8_lossy(&raw_link).into_owned();
                        link_len = target.len() as u64;
                        facts.set_symlink(path, target);
                    }
                }
            }
            EntryType::Directory => {}
            _ => {
                if analyzers::interested(&path) {
                    facts.set_shadowed(path);
                }
            }
        }
        keep(facts, before, path_len + link_len, &mut kept, digest)?;
    }
    Ok(())
}

/// Count what an entry added to the facts (`before`: how many paths they held before it)
/// against the per-layer recorded-path limits.
fn keep(facts: &LayerFacts, before: usize, bytes: u64, kept: &mut (u64, u64), digest: &str) -> Result<(), LayerError> {
    if facts.recorded() > before {
        kept.0 += 1;
        kept.1 += bytes;
        if kept.0 > MAX_RECORDED_PATHS || kept.1 > MAX_RECORDED_PATH_BYTES {
            return Err(LayerError::Limit {
                layer: digest.to_owned(),
                message: format!(
                    "keeps more than {MAX_RECORDED_PATHS} paths or {MAX_RECORDED_PATH_BYTES} bytes of paths \
                     (whiteouts, opaque directories and files of interest: the per-layer recorded-path limit)"
                ),
            });
        }
    }
    Ok(())
}

enum MetaError {
    Io(io::Error),
    Layer(LayerError),
}

fn read_meta(entry: &mut impl Read, max: u64, digest: &str, what: &str) -> Result<Vec<u8>, MetaError> {
    let mut buf = Vec::new();
    entry.take(max + 1).read_to_end(&mut buf).map_err(MetaError::Io)?;
    if buf.len() as u64 > max {
        return Err(MetaError::Layer(LayerError::Limit {
            layer: digest.to_owned(),
            message: format!("has a {what} entry larger than {max} bytes"),
        }));
    }
    Ok(buf)
}

fn trim_nul(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// Parse PAX records (`<len> <key>=<value>\n`), keeping path, linkpath and size.
fn apply_pax(data: &[u8], pending: &mut Pending) -> Result<(), &'static str> {
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|b| *b == 0) {
            break;
        }
        let space = rest
            .iter()
            .position(|b| *b == b' ')
            .ok_or("malformed PAX record (no length)")?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("malformed PAX record length")?;
        if len <= space + 1 || len > rest.len() {
            return Err("PAX record length out of range");
        }
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").ok_or("PAX record not ended by a newline")?;
        let eq = record.iter().position(|b| *b == b'=').ok_or("PAX record without '='")?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => pending.path = Some(value.to_vec()),
            b"linkpath" => pending.link = Some(value.to_vec()),
            b"size" => {
                let size = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
                pending.pax_size = Some(size.ok_or("malformed PAX size")?);
            }
            _ => {}
        }
        rest = &rest[len..];
    }
    Ok(())
}

/// A tar path as the analyzers see it: relative, `/`-separated, no `.` or `..` components
/// (`..` never climbs above the root). `None` for the root itself.
pub fn normalize(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Record `.wh.` markers; true if `path` was one.
fn record_whiteout(path: &str, facts: &mut LayerFacts) -> bool {
    let (dir, name) = match path.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", path),
    };
    let Some(target) = name.strip_prefix(".wh.") else {
        return false;
    };
    if target == ".wh..opq" {
        facts.opaque_dirs.insert(dir.to_owned());
    } else if target.starts_with(".wh.") {
        // Other AUFS metadata (`.wh..wh.plnk`, `.wh..wh.aufs`): not content.
    } else if !target.is_empty() {
        let deleted = if dir.is_empty() {
            target.to_owned()
        } else {
            format!("{dir}/{target}")
        };
        facts.whiteouts.insert(deleted);
    }
    true
}

fn analyze_file(
    entry: &mut impl Read,
    path: String,
    size: u64,
    facts: &mut LayerFacts,
    analyzed: &mut HashMap<String, (AnalyzerId, u64)>,
) {
    let wanted = analyzers::wanted(&path, size);
    match wanted {
        Some(w) if size <= w.max_bytes => {
            let mut content = entry.take(w.max_bytes);
            match analyzers::analyze(w.analyzer, &path, &mut content) {
                Ok(file_facts) => {
                    analyzed.insert(path.clone(), (w.analyzer, size));
                    facts.set_file(path, file_facts);
                }
                Err(err) => {
                    // The analyzer's read may have failed because the stream did; the caller
                    // checks the tracker after this returns.
                    facts.note_skipped(&path, err.to_string());
                    facts.set_shadowed(path);
                }
            }
        }
        Some(w) => {
            let reason = format!(
                "{size} bytes, over the {}-byte limit of the {} analyzer",
                w.max_bytes,
                w.analyzer.name()
            );
            facts.note_skipped(&path, reason);
            facts.set_shadowed(path);
        }
        None => {
            if analyzers::interested(&path) {
                // A file where an analyzer would look, at a size it does not read (a small
                // script in usr/bin where a Go binary could be): it still hides a lower copy,
                // but is not worth a note (most of usr/bin is like this).
                facts.set_shadowed(path);
            } else {
                // Not analyzed: but a file replacing one that was (same path, earlier entry of
                // this layer) still hides it.
                if facts.files.contains_key(&path) || facts.symlinks.contains_key(&path) {
                    facts.set_shadowed(path);
                }
            }
        }
    }
    // The tar reader skips the unread rest of the entry itself when moving on.
}

/// A hard link: reuse the target's facts when the same analyzer would read it, else mark it.
fn link_file(
    path: String,
    target: Option<String>,
    facts: &mut LayerFacts,
    analyzed: &HashMap<String, (AnalyzerId, u64)>,
) {
    let found = target.as_ref().and_then(|t| analyzed.get(t).map(|a| (t, *a)));
    let size = found.map(|(_, (_, s))| s).unwrap_or(0);
    let Some(w) = analyzers::wanted(&path, size) else {
        // A hard link to a file no analyzer read still replaces whatever lower layers had at
        // this path (a Go binary swapped for a script).
        if analyzers::interested(&path) {
            facts.set_shadowed(path);
        }
        return;
    };
    match found {
        Some((t, (id, _))) if id == w.analyzer => {
            if let Some(f) = facts.files.get(t).cloned() {
                facts.set_file(path, f);
                return;
            }
            facts.set_shadowed(path);
        }
        _ => {
            let reason = match &target {
                Some(t) => {
                    format!("hard link to {t}, which was not analyzed as the same kind of file")
                }
                None => "hard link without a target".to_owned(),
            };
            facts.note_skipped(&path, reason);
            facts.set_shadowed(path);
        }
    }
}

#[cfg(test)]
mod tests;
