//! The [`Scanner`] trait and what a scanner is given.
//!
//! A scanner is handed a [`ScanContext`]: the manifest it is to scan, a [`BlobSource`] that
//! streams (and verifies) blobs from the registry, and a [`ScanCache`] for results that can be
//! reused across artifacts (per-layer inventories). It returns a [`ScanOutput`]. It never talks to
//! the network, the database or the queue itself.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncRead;

use crate::manifest::{Descriptor, ImageManifest};
use crate::report::{Finding, Package};
use crate::types::TypeEntry;

/// A verified blob stream. Reading past the size limit given to [`BlobSource::open`], or reaching
/// the end with a digest that does not match the descriptor, yields an `io::Error`.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// Why a blob could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The descriptor's declared size is over the limit for this use.
    #[error("blob {digest} is {size} bytes, over the {limit}-byte limit for this use")]
    TooLarge {
        /// Blob digest.
        digest: String,
        /// Declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The blob could not be fetched; the message comes from the registry client.
    #[error("fetching blob {digest}: {message}")]
    Fetch {
        /// Blob digest.
        digest: String,
        /// What went wrong.
        message: String,
        /// Whether trying again later may succeed.
        retryable: bool,
    },
}

/// Where a scanner gets blobs from.
#[async_trait]
pub trait BlobSource: Send + Sync {
    /// Open `descriptor`'s blob as a stream of at most `max_bytes` bytes, verified against its
    /// digest as it is read.
    async fn open(&self, descriptor: &Descriptor, max_bytes: u64) -> Result<BlobReader, BlobError>;
}

/// A store for results worth reusing across artifacts, keyed by content (a layer digest) and the
/// version of the analysis that produced them.
#[async_trait]
pub trait ScanCache: Send + Sync {
    /// The cached value, if any.
    async fn get(&self, key: &str, analyzer_version: &str) -> Option<serde_json::Value>;
    /// Store a value. Failures are logged by the implementation and otherwise ignored: a cache
    /// miss costs time, never correctness.
    async fn put(&self, key: &str, analyzer_version: &str, value: serde_json::Value);
}

/// Everything a scanner needs to scan one manifest.
pub struct ScanContext<'a> {
    /// `registry/repository@digest` of the manifest, for messages.
    pub reference: &'a str,
    /// The manifest being scanned.
    pub manifest: &'a ImageManifest,
    /// The resolved artifact type (`artifactType`, else `config.mediaType`).
    pub artifact_type: &'a str,
    /// The type table row that routed this artifact here.
    pub entry: &'a TypeEntry,
    /// Blob access.
    pub blobs: &'a dyn BlobSource,
    /// Cross-artifact cache.
    pub cache: &'a dyn ScanCache,
}

impl ScanContext<'_> {
    /// Read a small blob (a chart, a bundle, a config) whole into memory, verified, refusing
    /// more than `max` bytes. `what` names it in errors ("chart layer", "config").
    pub async fn read_blob(&self, desc: &Descriptor, max: u64, what: &str) -> Result<Vec<u8>, ScanError> {
        use tokio::io::AsyncReadExt;
        if desc.size > max {
            return Err(ScanError::Limit(format!(
                "{what} {} is {} bytes, over the {max}-byte limit",
                desc.digest, desc.size
            )));
        }
        let reader = self.blobs.open(desc, max).await?;
        let mut buf = Vec::with_capacity(desc.size.min(max) as usize);
        reader
            .take(max + 1)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| ScanError::io(format!("{what} {}", desc.digest), e))?;
        if buf.len() as u64 > max {
            return Err(ScanError::Limit(format!(
                "{what} {} is over the {max}-byte limit",
                desc.digest
            )));
        }
        Ok(buf)
    }
}

/// What a scan produced.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScanOutput {
    /// Findings.
    pub findings: Vec<Finding>,
    /// Packages found (image scanner); stored so advisories can be re-matched without refetching.
    pub packages: Vec<Package>,
    /// Scanner-specific details for the report (OS, chart images, bundle packages, notes).
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// Why a scan failed. The variant decides whether the queue retries.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// Fetching a blob failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Reading the artifact failed midway (network, digest mismatch while streaming).
    #[error("reading {what}: {source}")]
    Io {
        /// What was being read.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The artifact is malformed: bad archive, bad JSON/YAML, missing required content.
    #[error("invalid artifact: {0}")]
    Invalid(String),
    /// A safety limit was hit (decompression bomb, too many files, file too large).
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// The scanner did not finish in time.
    #[error("scan timed out after {0:?}")]
    Timeout(Duration),
    /// A bug or an unexpected internal failure.
    #[error("internal scanner error: {0}")]
    Internal(String),
}

impl ScanError {
    /// Whether trying again later may succeed (network trouble), as opposed to a property of the
    /// artifact that will not change.
    pub fn is_retryable(&self) -> bool {
        match self {
            ScanError::Blob(BlobError::Fetch { retryable, .. }) => *retryable,
            ScanError::Io { source, .. } => !matches!(
                source.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
            ),
            ScanError::Timeout(_) => true,
            _ => false,
        }
    }

    /// An I/O error while reading `what`.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        ScanError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Resource limits a scanner works within. The trait's default suits most scanners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock time for one scan.
    pub timeout: Duration,
    /// Largest blob the scanner will open.
    pub max_blob_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(600),
            max_blob_bytes: 64 << 20,
        }
    }
}

/// A scanner plugin. A minimal scanner implements [`name`](Scanner::name),
/// [`version`](Scanner::version), [`accepts`](Scanner::accepts) and [`scan`](Scanner::scan).
#[async_trait]
pub trait Scanner: Send + Sync {
    /// Short stable name (`image`, `helm`, `opa`, or an external plugin's configured name),
    /// stored with every scan.
    fn name(&self) -> &str;

    /// Version of the scanner's analysis. A digest already scanned by the same name and version
    /// is not scanned again.
    fn version(&self) -> &str;

    /// The artifact types this scanner handles: media type, kind and a title for people.
    fn accepts(&self) -> Vec<TypeEntry>;

    /// Resource limits; the pipeline enforces the timeout.
    fn limits(&self) -> Limits {
        Limits::default()
    }

    /// Scan one manifest.
    async fn scan(&self, ctx: &ScanContext<'_>) -> Result<ScanOutput, ScanError>;

    /// Content sniffing, step one: for a manifest the type table routed to *another* scanner,
    /// the one layer whose content may show that the artifact is really this scanner's (an OPA
    /// bundle pushed as a one-layer image). Pure: looks at the manifest only. Default: none.
    fn sniff_layer(&self, manifest: &ImageManifest, artifact_type: &str) -> Option<Descriptor> {
        let _ = (manifest, artifact_type);
        None
    }

    /// Content sniffing, step two: read `layer` (through `ctx.blobs`, bounded) and say whether
    /// the artifact is this scanner's. Runs in the sandbox like a scan; the verdict is cached per
    /// layer digest and scanner version. Default: no.
    async fn sniff(&self, ctx: &ScanContext<'_>, layer: &Descriptor) -> Result<bool, ScanError> {
        let _ = (ctx, layer);
        Ok(false)
    }
}
