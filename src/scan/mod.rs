//! The scan pipeline: job → fetch the manifest → resolve its type → route to a scanner (or record
//! it as unsupported) → match advisories → store.
//!
//! The same [`Pipeline`] serves queue workers and `regscan scan` in local mode. It is idempotent:
//! a digest already scanned by the same scanner version is skipped unless the job says `force`;
//! a claim in the database keeps two workers off one digest.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use regscan_scanner_api::manifest::{ImageManifest, ManifestDoc};
use regscan_scanner_api::types::{looks_like_opa_bundle, IndexChild, PEEK_MAX_BYTES};
use regscan_scanner_api::{media, Descriptor, Kind, Resolution, ScanContext, Scanner, Status, TypeEntry, TypeTable};
use tracing::{info, warn};

use crate::config::Config;
use crate::queue::Job;
use crate::registry::{Client, ClientOptions, FetchedManifest, RegistryError};
use crate::store::{Claim, NewArtifact, ScanResult, Store, StoreError};

pub mod advisories;
pub mod blobs;
pub mod limiter;

use advisories::AdvisoryDb;
use blobs::{RegistryBlobs, StoreCache};
use limiter::KindLimiter;

/// Why a job did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The registry refused or failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another worker holds the claim on this digest; try again later.
    #[error("another worker is scanning {0}")]
    Busy(String),
    /// The scanner failed in a way that may pass on retry (network while streaming a blob).
    #[error("scan failed: {0}")]
    Scan(String),
}

impl PipelineError {
    /// Whether the job should be retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            PipelineError::Registry(e) => e.is_retryable(),
            PipelineError::Store(_) | PipelineError::Busy(_) | PipelineError::Scan(_) => true,
        }
    }
}

/// What a job did.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    /// The manifest digest.
    pub digest: String,
    /// Its kind.
    pub kind: Kind,
    /// The status stored.
    pub status: Status,
    /// Jobs for the children of an index (fan-out).
    pub children: Vec<Job>,
    /// Already scanned by this scanner version: nothing was done.
    pub skipped: bool,
}

/// Called when a scan ends (notifications).
pub trait ScanListener: Send + Sync {
    /// A scan of `registry/repository@digest` ended with `status`.
    fn scan_finished(&self, registry: &str, repository: &str, digest: &str, status: Status);
}

struct Inner {
    config: Arc<Config>,
    store: Store,
    client: Client,
    table: TypeTable,
    scanners: BTreeMap<String, Arc<dyn Scanner>>,
    limiter: KindLimiter,
    advisories: AdvisoryDb,
    listeners: std::sync::RwLock<Vec<Arc<dyn ScanListener>>>,
}

/// The scan pipeline. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

impl Pipeline {
    /// Build the pipeline from the configuration.
    pub async fn new(config: Arc<Config>, store: Store) -> anyhow::Result<Self> {
        Self::with_client_options(config, store, ClientOptions::default()).await
    }

    /// [`Pipeline::new`] with registry client options (tests shorten retry delays).
    pub async fn with_client_options(config: Arc<Config>, store: Store, opts: ClientOptions) -> anyhow::Result<Self> {
        let scanners = crate::scanners::registered(&config)?;
        let table = crate::scanners::type_table(&scanners, &config)?;
        let client = Client::new(&config.registries, opts)?;
        Ok(Pipeline {
            inner: Arc::new(Inner {
                limiter: KindLimiter::new(&config.worker.kind_concurrency),
                scanners: crate::scanners::by_name(&scanners),
                config,
                store,
                client,
                table,
                advisories: AdvisoryDb::default(),
                listeners: Default::default(),
            }),
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The registry client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The type table.
    pub fn type_table(&self) -> &TypeTable {
        &self.inner.table
    }

    /// The advisory index.
    pub fn advisories(&self) -> &AdvisoryDb {
        &self.inner.advisories
    }

    /// Register a listener told about every finished scan.
    pub fn add_listener(&self, l: Arc<dyn ScanListener>) {
        self.inner.listeners.write().expect("listener lock poisoned").push(l);
    }

    fn notify(&self, registry: &str, repository: &str, digest: &str, status: Status) {
        let listeners = self.inner.listeners.read().expect("listener lock poisoned").clone();
        for l in listeners {
            l.scan_finished(registry, repository, digest, status);
        }
    }

    /// Run one job. See the module docs.
    pub async fn run_job(&self, job: &Job, worker: &str) -> Result<JobOutcome, PipelineError> {
        let registry = self.inner.client.canonical_host(&job.registry)?;
        let fetched = self
            .inner
            .client
            .fetch_manifest(&registry, &job.repository, &job.reference)
            .await?;
        self.record_tag(&registry, job, &fetched.digest).await?;
        let at = Target {
            registry: &registry,
            repository: &job.repository,
            fetched: &fetched,
        };
        let resolution = self.inner.table.resolve(&fetched.doc);
        match resolution {
            Resolution::Index { children } => self.index(&at, job, &children).await,
            Resolution::Unsupported {
                artifact_type,
                kind,
                reason,
            } => self.unsupported(&at, job, worker, &artifact_type, &kind, &reason).await,
            Resolution::Scan {
                artifact_type,
                entry,
                peek_for_bundle,
            } => {
                let ManifestDoc::Manifest(manifest) = &fetched.doc else {
                    unreachable!("only manifests resolve to a scanner")
                };
                let (is_bundle, peeked) = match &peek_for_bundle {
                    Some(layer) => self.peek_is_bundle(&registry, &job.repository, layer).await,
                    None => (false, None),
                };
                let entry = match self.inner.table.lookup(media::OPA_CONFIG) {
                    Some(opa) if is_bundle && opa.scanner.is_some() => opa.clone(),
                    _ => entry,
                };
                self.scan(&at, job, worker, manifest, &artifact_type, &entry, peeked)
                    .await
            }
        }
    }

    /// Take the claim on an artifact for `scanner` `version`. `Ok(None)`: a scan by that version
    /// finished meanwhile (another delivery of the same job got there first) and, unless
    /// `force`, there is nothing to do. The check after the claim is what makes concurrent
    /// duplicates write one result: claims are serialised by the database.
    async fn claim(
        &self,
        artifact_id: i64,
        scanner: &str,
        version: &str,
        worker: &str,
        force: bool,
        digest: &str,
    ) -> Result<Option<i64>, PipelineError> {
        let store = &self.inner.store;
        let lease_ms = (self.inner.config.worker.lease_secs.max(3) * 1000) as i64;
        match store
            .claim_scan(artifact_id, scanner, version, worker, lease_ms)
            .await?
        {
            Claim::Busy => Err(PipelineError::Busy(digest.to_owned())),
            Claim::Claimed(id) if !force && store.completed_scan(artifact_id, scanner, version).await?.is_some() => {
                store.release_claim(id).await?;
                Ok(None)
            }
            Claim::Claimed(id) => Ok(Some(id)),
        }
    }

    /// Point the job's tag at the digest it scans. A job by digest that names a tag (a webhook
    /// push) may run after a later push moved the tag: the registry is asked where the tag points
    /// now, and the tag is left alone when it has moved on.
    async fn record_tag(&self, registry: &str, job: &Job, digest: &str) -> Result<(), StoreError> {
        let by_digest = job.reference.contains(':');
        let Some(tag) = job.tag.clone().or_else(|| (!by_digest).then(|| job.reference.clone())) else {
            return Ok(());
        };
        if by_digest {
            if let Ok(now) = self.inner.client.fetch_manifest(registry, &job.repository, &tag).await {
                if now.digest != digest {
                    info!(registry, repository = %job.repository, %tag, digest, current = %now.digest, "tag has moved on since this push; not re-pointing it");
                    return Ok(());
                }
            }
        }
        self.inner.store.set_tag(registry, &job.repository, &tag, digest).await
    }

    async fn upsert(&self, at: &Target<'_>, artifact_type: Option<&str>, kind: &str) -> Result<i64, StoreError> {
        let size = match &at.fetched.doc {
            ManifestDoc::Manifest(m) => {
                at.fetched.body.len() as u64 + m.config.size + m.layers.iter().map(|l| l.size).sum::<u64>()
            }
            ManifestDoc::Index(_) => at.fetched.body.len() as u64,
        };
        self.inner
            .store
            .upsert_artifact(&NewArtifact {
                registry: at.registry,
                repository: at.repository,
                digest: &at.fetched.digest,
                manifest_media_type: &at.fetched.media_type,
                artifact_type,
                kind,
                size: size as i64,
                parent_digest: None,
                platform: None,
            })
            .await
    }

    async fn unsupported(
        &self,
        at: &Target<'_>,
        job: &Job,
        worker: &str,
        artifact_type: &str,
        kind: &Kind,
        reason: &str,
    ) -> Result<JobOutcome, PipelineError> {
        let artifact_id = self
            .upsert(at, Some(artifact_type).filter(|t| !t.is_empty()), kind.as_str())
            .await?;
        let outcome = |skipped| JobOutcome {
            digest: at.fetched.digest.clone(),
            kind: kind.clone(),
            status: Status::Unsupported,
            children: Vec::new(),
            skipped,
        };
        if !job.force && self.inner.store.completed_scan(artifact_id, "", "").await?.is_some() {
            return Ok(outcome(true));
        }
        let mut details = serde_json::Map::new();
        details.insert("media_type".into(), artifact_type.into());
        let result = ScanResult {
            details,
            ..Default::default()
        };
        let Some(scan_id) = self
            .claim(artifact_id, "", "", worker, job.force, &at.fetched.digest)
            .await?
        else {
            return Ok(outcome(true));
        };
        self.inner
            .store
            .finish_scan(scan_id, Status::Unsupported, Some(reason), &result)
            .await?;
        info!(registry = at.registry, repository = at.repository, digest = %at.fetched.digest, kind = %kind, media_type = artifact_type, "artifact type unsupported; recorded");
        self.notify(at.registry, at.repository, &at.fetched.digest, Status::Unsupported);
        Ok(outcome(false))
    }

    async fn index(&self, at: &Target<'_>, job: &Job, children: &[IndexChild]) -> Result<JobOutcome, PipelineError> {
        let artifact_id = self.upsert(at, None, Kind::INDEX).await?;
        let mut outcome = JobOutcome {
            digest: at.fetched.digest.clone(),
            kind: Kind::new(Kind::INDEX),
            status: Status::Succeeded,
            children: Vec::new(),
            skipped: false,
        };
        if !job.force && self.inner.store.completed_scan(artifact_id, "", "").await?.is_some() {
            outcome.skipped = true;
            return Ok(outcome);
        }
        let store = &self.inner.store;
        let mut attestations = 0;
        for (position, child) in children.iter().enumerate() {
            let d = &child.descriptor;
            let platform = d.platform.as_ref().map(ToString::to_string);
            let child_id = store
                .link_child(
                    at.registry,
                    at.repository,
                    &d.digest,
                    &d.media_type,
                    (artifact_id, &at.fetched.digest),
                    position,
                    platform.as_deref(),
                    child.attestation.then_some(Kind::ATTESTATION),
                )
                .await?;
            if child.attestation {
                attestations += 1;
                let of = d
                    .annotations
                    .get("vnd.docker.reference.digest")
                    .map(|s| format!(" for {s}"))
                    .unwrap_or_default();
                // Name the media type that makes it unsupported: read the (small) attestation
                // manifest for its layer type; the index entry alone says only "attestation".
                let layer_type = match self
                    .inner
                    .client
                    .fetch_manifest(at.registry, at.repository, &d.digest)
                    .await
                {
                    Ok(FetchedManifest {
                        doc: ManifestDoc::Manifest(m),
                        ..
                    }) => m.layers.first().map(|l| l.media_type.clone()).filter(|t| !t.is_empty()),
                    _ => None,
                };
                let artifact_type = layer_type.unwrap_or_else(|| media::IN_TOTO.to_owned());
                store
                    .set_artifact_type(at.registry, at.repository, &d.digest, &artifact_type)
                    .await?;
                let reason = format!(
                    "attestation manifest{of} in an index (BuildKit provenance/SBOM; layers {artifact_type}): recorded, not scanned as an image; no scanner handles {artifact_type}"
                );
                if job.force || store.completed_scan(child_id, "", "").await?.is_none() {
                    store
                        .record_scan(
                            child_id,
                            "",
                            "",
                            Status::Unsupported,
                            Some(&reason),
                            &ScanResult::default(),
                        )
                        .await?;
                }
                continue;
            }
            outcome.children.push(Job {
                id: format!("{}/{}", job.id, d.digest),
                registry: at.registry.to_owned(),
                repository: at.repository.to_owned(),
                reference: d.digest.clone(),
                tag: None,
                source: format!("index:{}", at.fetched.digest),
                force: job.force,
                attempt: 0,
            });
        }
        let mut details = serde_json::Map::new();
        details.insert("platforms".into(), (children.len() - attestations).into());
        details.insert("attestations".into(), attestations.into());
        store
            .record_scan(
                artifact_id,
                "",
                "",
                Status::Succeeded,
                None,
                &ScanResult {
                    details,
                    ..Default::default()
                },
            )
            .await?;
        self.notify(at.registry, at.repository, &at.fetched.digest, Status::Succeeded);
        Ok(outcome)
    }

    #[allow(clippy::too_many_arguments)]
    async fn scan(
        &self,
        at: &Target<'_>,
        job: &Job,
        worker: &str,
        manifest: &ImageManifest,
        artifact_type: &str,
        entry: &TypeEntry,
        peeked: Option<Peeked>,
    ) -> Result<JobOutcome, PipelineError> {
        let scanner_name = entry.scanner.as_deref().unwrap_or_default();
        let scanner = self.inner.scanners.get(scanner_name).cloned().ok_or_else(|| {
            PipelineError::Scan(format!(
                "type table routes {artifact_type} to scanner {scanner_name:?}, which is not registered"
            ))
        })?;
        let store = &self.inner.store;
        let artifact_id = self.upsert(at, Some(artifact_type), entry.kind.as_str()).await?;
        let mut outcome = JobOutcome {
            digest: at.fetched.digest.clone(),
            kind: entry.kind.clone(),
            status: Status::Succeeded,
            children: Vec::new(),
            skipped: false,
        };
        if !job.force
            && store
                .completed_scan(artifact_id, scanner.name(), scanner.version())
                .await?
                .is_some()
        {
            outcome.skipped = true;
            return Ok(outcome);
        }
        // Wait for a slot of this kind before taking the claim, so a queued-up kind never holds
        // claims it is not working on.
        let _permit = self.inner.limiter.acquire(entry.kind.as_str()).await;
        let lease_ms = (self.inner.config.worker.lease_secs.max(3) * 1000) as i64;
        let Some(scan_id) = self
            .claim(
                artifact_id,
                scanner.name(),
                scanner.version(),
                worker,
                job.force,
                &at.fetched.digest,
            )
            .await?
        else {
            outcome.skipped = true;
            return Ok(outcome);
        };
        // Dropped before the scan is settled (the worker handed the job back on SIGTERM, or its
        // future was cancelled): give the claim back at once instead of waiting for the lease.
        let mut claim = ClaimGuard {
            store: store.clone(),
            scan_id,
            settled: false,
        };
        let heartbeat = {
            let store = store.clone();
            tokio::spawn(async move {
                let every = Duration::from_millis((lease_ms / 3) as u64);
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = store.renew_claim(scan_id, lease_ms).await {
                        warn!(scan_id, error = %e, "could not renew the scan claim");
                    }
                }
            })
        };
        let started = std::time::Instant::now();
        let reference = format!("{}/{}@{}", at.registry, at.repository, at.fetched.digest);
        let blobs = RegistryBlobs {
            client: &self.inner.client,
            registry: at.registry,
            repository: at.repository,
            peeked: peeked.as_ref().map(|p| (p.digest.as_str(), p.bytes.clone())),
        };
        let cache = StoreCache { store };
        let ctx = ScanContext {
            reference: &reference,
            manifest,
            artifact_type,
            entry,
            blobs: &blobs,
            cache: &cache,
        };
        let timeout = scanner.limits().timeout;
        let result = tokio::time::timeout(timeout, AssertUnwindSafe(scanner.scan(&ctx)).catch_unwind()).await;
        heartbeat.abort();
        claim.settled = true;
        let result = match result {
            Err(_) => Err((
                format!("scanner {} did not finish within {timeout:?}", scanner.name()),
                true,
            )),
            Ok(Err(panic)) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Err((format!("scanner {} crashed: {msg}", scanner.name()), false))
            }
            Ok(Ok(Err(e))) => Err((e.to_string(), e.is_retryable())),
            Ok(Ok(Ok(out))) => Ok(out),
        };
        match result {
            Ok(out) => {
                let (snapshot, advisory_findings) = self.inner.advisories.match_packages(store, &out.packages).await?;
                let mut details = out.details;
                details.insert("duration_ms".into(), (started.elapsed().as_millis() as u64).into());
                let result = ScanResult {
                    checks: out.findings,
                    advisories: advisory_findings,
                    packages: out.packages,
                    details,
                    advisory_snapshot: snapshot,
                    inventory_scan_id: None,
                };
                store.finish_scan(scan_id, Status::Succeeded, None, &result).await?;
                info!(%reference, scanner = scanner.name(), findings = result.checks.len() + result.advisories.len(), packages = result.packages.len(), elapsed_ms = started.elapsed().as_millis() as u64, "scan succeeded");
                self.notify(at.registry, at.repository, &at.fetched.digest, Status::Succeeded);
                Ok(outcome)
            }
            Err((reason, true)) => {
                store.release_claim(scan_id).await?;
                warn!(%reference, scanner = scanner.name(), %reason, "scan failed; will retry");
                Err(PipelineError::Scan(reason))
            }
            Err((reason, false)) => {
                store
                    .finish_scan(scan_id, Status::Failed, Some(&reason), &ScanResult::default())
                    .await?;
                warn!(%reference, scanner = scanner.name(), %reason, "scan failed");
                self.notify(at.registry, at.repository, &at.fetched.digest, Status::Failed);
                outcome.status = Status::Failed;
                Ok(outcome)
            }
        }
    }

    /// Peek into the single small layer of an image-shaped manifest: is it an OPA bundle? The
    /// verdict is cached per layer digest; the bytes read (verified) are handed to the scanner so
    /// the layer is not downloaded twice.
    async fn peek_is_bundle(&self, registry: &str, repository: &str, layer: &Descriptor) -> (bool, Option<Peeked>) {
        use tokio::io::AsyncReadExt;
        const PEEK_CACHE: &str = "opa-bundle-peek/1";
        let store = &self.inner.store;
        if let Ok(Some(verdict)) = store.cache_get(&layer.digest, PEEK_CACHE).await {
            return (verdict == "true", None);
        }
        let Ok(mut reader) = self
            .inner
            .client
            .open_blob(registry, repository, layer, PEEK_MAX_BYTES)
            .await
        else {
            return (false, None);
        };
        let mut buf = Vec::with_capacity(layer.size as usize);
        if reader.read_to_end(&mut buf).await.is_err() {
            return (false, None);
        }
        let bytes = Arc::new(buf);
        let data = bytes.clone();
        let verdict = tokio::task::spawn_blocking(move || {
            let gz = flate2::read::GzDecoder::new(&data[..]);
            let mut archive = tar::Archive::new(std::io::Read::take(gz, 64 << 20));
            let Ok(entries) = archive.entries() else { return false };
            let mut names = Vec::new();
            for e in entries.take(10_000) {
                let Ok(e) = e else { return false };
                let Ok(p) = e.path() else { return false };
                names.push(p.to_string_lossy().into_owned());
            }
            looks_like_opa_bundle(names.iter().map(String::as_str))
        })
        .await
        .unwrap_or(false);
        if let Err(e) = store
            .cache_put(&layer.digest, PEEK_CACHE, if verdict { "true" } else { "false" })
            .await
        {
            warn!(digest = %layer.digest, error = %e, "could not cache the bundle peek");
        }
        (
            verdict,
            Some(Peeked {
                digest: layer.digest.clone(),
                bytes,
            }),
        )
    }

    /// Store the final failure of a job as a `failed` scan with its reason. A job whose tag
    /// never resolved is stored under `unresolved:<tag>` so the failure is not lost.
    pub async fn record_failure(&self, job: &Job, reason: &str) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let registry = self
            .inner
            .client
            .canonical_host(&job.registry)
            .unwrap_or_else(|_| job.registry.clone());
        let digest = if job.reference.contains(':') {
            job.reference.clone()
        } else {
            match store.resolve_tag(&registry, &job.repository, &job.reference).await? {
                Some(d) => d,
                None => format!("unresolved:{}", job.reference),
            }
        };
        let artifact_id = match store.artifact(&registry, &job.repository, &digest).await? {
            Some(a) => a.id,
            None => {
                store
                    .upsert_artifact(&NewArtifact {
                        registry: &registry,
                        repository: &job.repository,
                        digest: &digest,
                        manifest_media_type: "",
                        artifact_type: None,
                        kind: Kind::UNKNOWN,
                        size: 0,
                        parent_digest: None,
                        platform: None,
                    })
                    .await?
            }
        };
        store
            .record_scan(
                artifact_id,
                "",
                "",
                Status::Failed,
                Some(reason),
                &ScanResult::default(),
            )
            .await?;
        self.notify(&registry, &job.repository, &digest, Status::Failed);
        Ok(())
    }
}

/// Releases an unsettled claim when dropped.
struct ClaimGuard {
    store: Store,
    scan_id: i64,
    settled: bool,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (store, id) = (self.store.clone(), self.scan_id);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = store.release_claim(id).await {
                    warn!(scan_id = id, error = %e, "could not release an interrupted scan's claim; it expires with its lease");
                }
            });
        }
    }
}

/// A small blob already read (and verified) during resolution.
pub(crate) struct Peeked {
    pub(crate) digest: String,
    pub(crate) bytes: Arc<Vec<u8>>,
}

struct Target<'a> {
    registry: &'a str,
    repository: &'a str,
    fetched: &'a FetchedManifest,
}
