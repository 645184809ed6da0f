//! The scan pipeline: job → fetch the manifest → resolve its type → route to a scanner (or record
//! it as unsupported) → match advisories → store.
//!
//! The same [`Pipeline`] serves queue workers and `regscan scan` in local mode. It is a planner
//! and an executor: [`Pipeline::run_job`] gathers facts (the manifest, its resolution, what the
//! store holds), [`plan::plan`] decides with no I/O, and the executor carries the plan out. Scans
//! run through a [`runner::ScanRunner`] — the sandbox ([`crate::sandbox`]) everywhere but in
//! tests — so this process never parses artifact content. It is idempotent: a digest already
//! scanned by the same scanner version is skipped unless the job says `force`; a claim in the
//! database keeps two workers off one digest.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use regscan_scanner_api::manifest::{ImageManifest, ManifestDoc};
use regscan_scanner_api::types::IndexChild;
use regscan_scanner_api::{
    media, ArtifactRef, Descriptor, Digest, DigestError, Kind, Resolution, Scanner, ScannerRef, Status, TypeEntry,
    TypeTable,
};
use tracing::{info, warn};

use crate::config::Config;
use crate::queue::Job;
use crate::registry::{Client, ClientOptions, FetchedManifest, RegistryError};
use crate::report::signatures::{signatures_of, unsigned_finding, SIG_UNSIGNED};
use crate::store::referrers::{cosign_tag_subject, Via};
use crate::store::{Claim, FindingSource, NewArtifact, ScanResult, Store, StoreError};

pub mod advisories;
pub mod blobs;
pub mod limiter;
pub mod plan;
pub mod runner;

use advisories::AdvisoryDb;
use blobs::{RegistryBlobs, StoreCache};
use limiter::KindLimiter;
use plan::{Action, TagAction, TagFacts};
use runner::ScanRunner;

use crate::sandbox::protocol::TaskOutput;
use crate::sandbox::{KillCause, Request, Sandbox, SandboxError, Task};
use crate::telemetry::Metrics;

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
    Busy(Digest),
    /// The scan failed in a way that may pass on retry: the registry dropped a blob midway, or
    /// the sandbox could not be started.
    #[error("scan failed: {0}")]
    Scan(#[source] SandboxError),
    /// The type table routes a type to a scanner that is not registered (configuration).
    #[error("type table routes {artifact_type} to scanner {scanner:?}, which is not registered")]
    Unrouted {
        /// The artifact type.
        artifact_type: String,
        /// The scanner named.
        scanner: String,
    },
    /// The registry named a manifest by a digest regscan does not accept.
    #[error("the registry answered with an unusable digest: {0}")]
    Digest(#[source] DigestError),
    /// The pipeline itself panicked (a bug, caught by the worker).
    #[error("the scan panicked: {0}")]
    Panicked(String),
}

impl PipelineError {
    /// Whether the job should be retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            PipelineError::Registry(e) => e.is_retryable(),
            PipelineError::Unrouted { .. } | PipelineError::Digest(_) => false,
            PipelineError::Store(_) | PipelineError::Busy(_) | PipelineError::Scan(_) | PipelineError::Panicked(_) => {
                true
            }
        }
    }
}

/// What a job did.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    /// The manifest digest.
    pub digest: Digest,
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
    /// A scan of `artifact` ended with `status`.
    fn scan_finished(&self, artifact: &ArtifactRef, status: Status);
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
    runner: Arc<dyn ScanRunner>,
    metrics: OnceLock<Arc<Metrics>>,
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
        let sandbox = Sandbox::new(&config.sandbox, serde_json::to_value(&config.scanners)?)?;
        Self::with_runner(config, store, opts, Arc::new(sandbox)).await
    }

    /// [`Pipeline::with_client_options`] with scans run by `runner` instead of the sandbox
    /// (tests of the pipeline's rules).
    pub async fn with_runner(
        config: Arc<Config>,
        store: Store,
        opts: ClientOptions,
        runner: Arc<dyn ScanRunner>,
    ) -> anyhow::Result<Self> {
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
                runner,
                metrics: OnceLock::new(),
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

    /// Count sandbox kills in `metrics` (`regscan_sandbox_kills_total`).
    pub fn set_metrics(&self, metrics: Arc<Metrics>) {
        let _ = self.inner.metrics.set(metrics);
    }

    /// Register a listener told about every finished scan.
    pub fn add_listener(&self, l: Arc<dyn ScanListener>) {
        self.inner.listeners.write().expect("listener lock poisoned").push(l);
    }

    fn notify(&self, artifact: &ArtifactRef, status: Status) {
        let listeners = self.inner.listeners.read().expect("listener lock poisoned").clone();
        for l in listeners {
            l.scan_finished(artifact, status);
        }
    }

    /// Run one job: gather the facts, [`plan::plan`], carry the plan out.
    pub async fn run_job(&self, job: &Job, worker: &str) -> Result<JobOutcome, PipelineError> {
        let registry = self.inner.client.canonical_host(&job.registry)?;
        // A job names a manifest by digest or by tag; a digest is parsed here, once.
        let pinned = Digest::parse(&job.reference).ok();
        let by_digest = pinned.is_some();
        let fetched = match self
            .inner
            .client
            .fetch_manifest(&registry, &job.repository, &job.reference)
            .await
        {
            Ok(f) => f,
            Err(e) => {
                return match (e, pinned) {
                    (e @ RegistryError::NotFound { .. }, Some(digest)) => self.gone(&registry, job, digest, e).await,
                    (e, _) => Err(e.into()),
                }
            }
        };
        let artifact = ArtifactRef::new(
            registry.clone(),
            job.repository.clone(),
            Digest::parse(&fetched.digest).map_err(PipelineError::Digest)?,
        );
        let at = Target {
            artifact: &artifact,
            fetched: &fetched,
        };
        let resolution = match self.inner.table.resolve(&fetched.doc) {
            Resolution::Scan { artifact_type, entry } => {
                let ManifestDoc::Manifest(manifest) = &fetched.doc else {
                    unreachable!("only manifests resolve to a scanner")
                };
                let (entry, peeked) = self.sniff(&at, manifest, &artifact_type, entry).await;
                (Resolution::Scan { artifact_type, entry }, peeked)
            }
            other => (other, None),
        };
        let (resolution, peeked) = resolution;
        let (artifact_id, scanner) = match &resolution {
            Resolution::Index { .. } => (self.upsert(&at, None, &Kind::Index).await?, None),
            Resolution::Unsupported {
                artifact_type, kind, ..
            } => (
                self.upsert(&at, Some(artifact_type.as_str()).filter(|t| !t.is_empty()), kind)
                    .await?,
                None,
            ),
            Resolution::Scan { artifact_type, entry } => {
                let scanner = self.scanner_for(artifact_type, entry)?;
                (self.upsert(&at, Some(artifact_type), &entry.kind).await?, Some(scanner))
            }
        };
        let scanner_ref = scanner.as_ref().map(|s| ScannerRef::new(s.name(), s.version()));
        let completed_by_same_version = self
            .inner
            .store
            .completed_scan(artifact_id, scanner_ref.as_ref())
            .await?
            .is_some();
        let tag = self.tag_facts(&artifact, job, by_digest).await;
        let plan = plan::plan(
            &plan::Manifest::Found {
                resolution: &resolution,
                completed_by_same_version,
            },
            &tag,
            job.force,
        );
        match &plan.tag {
            TagAction::Leave => {}
            TagAction::Point(t) => self.inner.store.set_tag(&artifact, t).await?,
            TagAction::Moved { tag, now } => {
                info!(registry = %registry, repository = %job.repository, %tag, digest = %fetched.digest, current = %now, "tag has moved on since this push; not re-pointing it");
            }
        }
        self.link_as_referrer(&at, job, by_digest, &resolution).await?;
        let discover = matches!(&plan.action, Action::Scan { entry, .. } if entry.kind != Kind::Sbom)
            || matches!(plan.action, Action::FanOut { .. });
        let mut outcome = match plan.action {
            Action::Skip => Ok(JobOutcome {
                digest: artifact.digest.clone(),
                kind: resolution.kind(),
                status: if matches!(resolution, Resolution::Unsupported { .. }) {
                    Status::Unsupported
                } else {
                    Status::Succeeded
                },
                children: Vec::new(),
                skipped: true,
            }),
            Action::FanOut { children } => self.index(&at, job, artifact_id, &children).await,
            Action::RecordUnsupported {
                artifact_type,
                kind,
                reason,
            } => {
                self.unsupported(&at, job, worker, artifact_id, &artifact_type, &kind, &reason)
                    .await
            }
            Action::Scan { artifact_type, entry } => {
                let ManifestDoc::Manifest(manifest) = &fetched.doc else {
                    unreachable!("only manifests resolve to a scanner")
                };
                let scanner = scanner.expect("a scan plan has a scanner");
                let target = ScanTarget {
                    at: &at,
                    artifact_id,
                    manifest,
                    artifact_type: &artifact_type,
                    entry: &entry,
                };
                self.scan(&target, job, worker, scanner, peeked).await
            }
            Action::MarkDeleted | Action::FailGone => unreachable!("planned only for a gone manifest"),
        }?;
        if discover {
            outcome.children.extend(self.discover_referrers(&at, job).await?);
        }
        Ok(outcome)
    }

    /// Referrers as an index lists them (the referrers API, or the referrers tag schema), with
    /// the kind the type table gives their artifact type.
    fn listed_referrers(&self, list: Vec<Descriptor>) -> impl Iterator<Item = FoundReferrer> + '_ {
        list.into_iter().take(MAX_REFERRERS).map(|d| FoundReferrer {
            relation: d
                .artifact_type
                .as_deref()
                .and_then(|t| self.inner.table.lookup(t))
                .map(|e| e.kind.clone()),
            digest: d.digest,
            artifact_type: d.artifact_type,
            tag: None,
            via: Via::ReferrersApi,
        })
    }

    /// Record the links in which this artifact is the referrer: its OCI 1.1 `subject`, or the
    /// subject its cosign-scheme tag (`sha256-<hex>.sig|.att|.sbom`) names.
    async fn link_as_referrer(
        &self,
        at: &Target<'_>,
        job: &Job,
        by_digest: bool,
        resolution: &Resolution,
    ) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let kind = resolution.kind();
        let artifact_type = match resolution {
            Resolution::Scan { artifact_type, .. } | Resolution::Unsupported { artifact_type, .. } => {
                Some(artifact_type.as_str()).filter(|t| !t.is_empty())
            }
            Resolution::Index { .. } => None,
        };
        if let ManifestDoc::Manifest(ImageManifest {
            subject: Some(subject), ..
        }) = &at.fetched.doc
        {
            if let Ok(subject) = Digest::parse(&subject.digest) {
                store
                    .link_referrer(
                        &at.artifact.with_digest(subject),
                        at.digest(),
                        Some(&kind),
                        artifact_type,
                        Via::Subject,
                    )
                    .await?;
            }
        }
        let tag = job.tag.as_deref().or((!by_digest).then_some(job.reference.as_str()));
        if let Some((subject, suffix_relation)) = tag.and_then(cosign_tag_subject) {
            // The resolved kind says more than the tag's suffix, unless it is only "image".
            let relation = match kind {
                Kind::Image | Kind::Unknown => suffix_relation,
                _ => kind,
            };
            store
                .link_referrer(
                    &at.artifact.with_digest(subject),
                    at.digest(),
                    Some(&relation),
                    artifact_type,
                    Via::Tag,
                )
                .await?;
        }
        Ok(())
    }

    /// Find the signatures, SBOMs and attestations of an artifact being scanned: the registry's
    /// referrers API where it has one, else the OCI referrers tag schema (`sha256-<hex>`, an
    /// index) and cosign's tag scheme (`sha256-<hex>.sig|.att|.sbom`). Links are stored; referrers not
    /// stored yet are returned as jobs, so they are scanned too.
    async fn discover_referrers(&self, at: &Target<'_>, job: &Job) -> Result<Vec<Job>, StoreError> {
        let client = &self.inner.client;
        let digest = at.digest();
        let mut found: Vec<FoundReferrer> = Vec::new();
        match client.referrers(at.registry(), at.repository(), digest.as_str()).await {
            Ok(Some(list)) => found.extend(self.listed_referrers(list)),
            Ok(None) => {
                if digest.algorithm() == "sha256" {
                    let hex = digest.encoded();
                    // The OCI 1.1 referrers tag schema: clients of a registry without the API
                    // keep an index of the referrers under the tag `sha256-<hex>`.
                    if let Ok(FetchedManifest {
                        doc: ManifestDoc::Index(index),
                        ..
                    }) = client
                        .fetch_manifest(at.registry(), at.repository(), &format!("sha256-{hex}"))
                        .await
                    {
                        found.extend(self.listed_referrers(index.manifests));
                    }
                    // Cosign's tag scheme.
                    for suffix in ["sig", "att", "sbom"] {
                        let tag = format!("sha256-{hex}.{suffix}");
                        if let Ok(m) = client.fetch_manifest(at.registry(), at.repository(), &tag).await {
                            found.push(FoundReferrer {
                                digest: m.digest,
                                artifact_type: None,
                                relation: cosign_tag_subject(&tag).map(|(_, r)| r),
                                tag: Some(tag),
                                via: Via::Tag,
                            });
                        }
                    }
                }
            }
            Err(e) => {
                warn!(reference = %at.reference(), error = %e, "could not list referrers; signatures and SBOMs are linked when they are pushed");
            }
        }
        let store = &self.inner.store;
        let mut jobs = Vec::new();
        for f in found {
            let Ok(referrer) = Digest::parse(&f.digest) else {
                continue;
            };
            if referrer == *digest {
                continue;
            }
            store
                .link_referrer(
                    at.artifact,
                    &referrer,
                    f.relation.as_ref(),
                    f.artifact_type.as_deref(),
                    f.via,
                )
                .await?;
            if store.artifact(&at.artifact.with_digest(referrer)).await?.is_none() {
                jobs.push(Job {
                    id: format!("{}/referrer/{}", job.id, f.digest),
                    registry: at.registry().to_owned(),
                    repository: at.repository().to_owned(),
                    reference: f.digest,
                    tag: f.tag,
                    source: format!("referrer:{digest}"),
                    force: false,
                    attempt: 0,
                });
            }
        }
        Ok(jobs)
    }

    /// The registry answered 404 for the job's digest. A digest with a result is marked deleted
    /// and keeps it (a late job never turns a good result into `failed`); one never scanned is
    /// a final failure.
    async fn gone(
        &self,
        registry: &str,
        job: &Job,
        digest: Digest,
        error: RegistryError,
    ) -> Result<JobOutcome, PipelineError> {
        let store = &self.inner.store;
        let artifact = store
            .artifact(&ArtifactRef::new(registry, &job.repository, digest))
            .await?;
        let has_completed_scan = match &artifact {
            Some(a) => store.has_completed_scan(a.id).await?,
            None => false,
        };
        let plan = plan::plan(&plan::Manifest::Gone { has_completed_scan }, &TagFacts::None, job.force);
        match (plan.action, artifact) {
            (Action::MarkDeleted, Some(a)) => {
                store
                    .mark_deleted(registry, &job.repository, Some(&job.reference), None)
                    .await?;
                info!(registry, repository = %job.repository, digest = %job.reference, "manifest is gone from the registry; artifact marked deleted, its last result kept");
                let status = match a.latest_scan_id {
                    Some(id) => store.scan(id).await?.map(|s| s.status).unwrap_or(Status::Succeeded),
                    None => Status::Succeeded,
                };
                Ok(JobOutcome {
                    digest: a.digest,
                    kind: a.kind,
                    status,
                    children: Vec::new(),
                    skipped: true,
                })
            }
            _ => Err(error.into()),
        }
    }

    /// Where the job's tag points, as the planner needs it.
    async fn tag_facts(&self, artifact: &ArtifactRef, job: &Job, by_digest: bool) -> TagFacts {
        if !by_digest {
            return TagFacts::ByTag(job.reference.clone());
        }
        let Some(tag) = job.tag.clone() else {
            return TagFacts::None;
        };
        let now = self
            .inner
            .client
            .fetch_manifest(&artifact.registry, &artifact.repository, &tag)
            .await
            .ok()
            .map(|m| m.digest);
        TagFacts::Pushed {
            tag,
            digest: artifact.digest.as_str().to_owned(),
            now,
        }
    }

    /// The registered scanner a row routes to.
    fn scanner_for(&self, artifact_type: &str, entry: &TypeEntry) -> Result<Arc<dyn Scanner>, PipelineError> {
        let name = entry.scanner.as_deref().unwrap_or_default();
        self.inner
            .scanners
            .get(name)
            .cloned()
            .ok_or_else(|| PipelineError::Unrouted {
                artifact_type: artifact_type.to_owned(),
                scanner: name.to_owned(),
            })
    }

    /// Content sniffing: a scanner other than the one the type table chose may claim the
    /// artifact by a layer's content (an OPA bundle pushed as a one-layer image). The layer is
    /// read by the registry client (verified, not parsed), judged by the scanner in the sandbox,
    /// and the verdict cached per layer digest and scanner version. The bytes read are handed to
    /// the scan so the layer is not downloaded twice.
    async fn sniff(
        &self,
        at: &Target<'_>,
        manifest: &ImageManifest,
        artifact_type: &str,
        entry: TypeEntry,
    ) -> (TypeEntry, Option<Peeked>) {
        let store = &self.inner.store;
        for candidate in self.inner.scanners.values() {
            if Some(candidate.name()) == entry.scanner.as_deref() {
                continue;
            }
            let Some(layer) = candidate.sniff_layer(manifest, artifact_type) else {
                continue;
            };
            let Some(claimed) = candidate
                .accepts()
                .into_iter()
                .find_map(|row| self.inner.table.lookup(&row.media_type).cloned())
                .filter(|row| row.scanner.as_deref() == Some(candidate.name()))
            else {
                continue;
            };
            let cache_key = format!("sniff/{}/{}", candidate.name(), candidate.version());
            if let Ok(Some(verdict)) = store.cache_get(&layer.digest, &cache_key).await {
                if verdict == "true" {
                    return (claimed, None);
                }
                continue;
            }
            let peeked = self.read_small(at, &layer).await;
            let blobs = RegistryBlobs {
                client: &self.inner.client,
                registry: at.registry(),
                repository: at.repository(),
                peeked: peeked.as_ref().map(|p| (p.digest.as_str(), p.bytes.clone())),
            };
            let reference = at.reference();
            let req = Request {
                task: Task::Sniff {
                    layer: Box::new(layer.clone()),
                },
                scanner: candidate.name(),
                reference: &reference,
                manifest,
                artifact_type,
                entry: &claimed,
                timeout: candidate.limits().timeout,
            };
            let verdict = match self.inner.runner.run(req, &blobs, &StoreCache { store }).await {
                Ok(TaskOutput::Sniffed(v)) => v,
                Ok(TaskOutput::Scanned(_)) => false,
                Err(e) => {
                    warn!(%reference, scanner = candidate.name(), error = %e, "content sniffing failed; routing by type");
                    if let SandboxError::Killed { cause, .. } = &e {
                        self.count_kill(candidate.name(), *cause);
                    }
                    continue;
                }
            };
            if let Err(e) = store
                .cache_put(&layer.digest, &cache_key, if verdict { "true" } else { "false" })
                .await
            {
                warn!(digest = %layer.digest, error = %e, "could not cache the sniffing verdict");
            }
            if verdict {
                return (claimed, peeked);
            }
            return (entry, peeked);
        }
        (entry, None)
    }

    /// Read a small blob into memory, verified and unparsed, to serve it to more than one
    /// sandboxed task. `None` when it is large or cannot be read now (the task then streams it).
    async fn read_small(&self, at: &Target<'_>, layer: &Descriptor) -> Option<Peeked> {
        use tokio::io::AsyncReadExt;
        if layer.size > PEEK_MAX_BYTES {
            return None;
        }
        let mut reader = self
            .inner
            .client
            .open_blob(at.registry(), at.repository(), layer, PEEK_MAX_BYTES)
            .await
            .ok()?;
        let mut buf = Vec::with_capacity(usize::try_from(layer.size).ok()?);
        reader.read_to_end(&mut buf).await.ok()?;
        Some(Peeked {
            digest: layer.digest.clone(),
            bytes: Arc::new(buf),
        })
    }

    fn count_kill(&self, scanner: &str, cause: KillCause) {
        if let Some(m) = self.inner.metrics.get() {
            m.sandbox_kill(scanner, cause.as_str());
        }
    }

    /// Take the claim on an artifact for `scanner` `version`. `Ok(None)`: a scan by that version
    /// finished meanwhile (another delivery of the same job got there first) and, unless
    /// `force`, there is nothing to do. The check after the claim is what makes concurrent
    /// duplicates write one result: claims are serialised by the database.
    ///
    /// Another worker's live claim is waited for, not retried: its holder renews a short lease
    /// while it works, so a claim whose worker died expires within `worker.lease_secs` and is
    /// taken over. Waiting spends none of the job's attempts; only a claim held longer than a
    /// scan may take gives up with [`PipelineError::Busy`].
    async fn claim(
        &self,
        artifact_id: i64,
        scanner: Option<&ScannerRef>,
        worker: &str,
        force: bool,
        digest: &Digest,
    ) -> Result<Option<i64>, PipelineError> {
        let store = &self.inner.store;
        let lease = self.lease();
        let patience = Duration::from_secs(self.inner.config.sandbox.wall_secs) + lease * 2;
        let started = std::time::Instant::now();
        loop {
            match store
                .claim_scan(artifact_id, scanner, worker, lease.as_millis() as i64)
                .await?
            {
                Claim::Claimed(id) if !force && store.completed_scan(artifact_id, scanner).await?.is_some() => {
                    store.release_claim(id).await?;
                    return Ok(None);
                }
                Claim::Claimed(id) => return Ok(Some(id)),
                Claim::Busy => {
                    if !force && store.completed_scan(artifact_id, scanner).await?.is_some() {
                        return Ok(None);
                    }
                    if started.elapsed() > patience {
                        return Err(PipelineError::Busy(digest.clone()));
                    }
                    tokio::time::sleep(CLAIM_POLL.min(lease / 3)).await;
                }
            }
        }
    }

    fn lease(&self) -> Duration {
        Duration::from_secs(self.inner.config.worker.lease_secs)
    }

    async fn upsert(&self, at: &Target<'_>, artifact_type: Option<&str>, kind: &Kind) -> Result<i64, StoreError> {
        let size = match &at.fetched.doc {
            ManifestDoc::Manifest(m) => {
                at.fetched.body.len() as u64 + m.config.size + m.layers.iter().map(|l| l.size).sum::<u64>()
            }
            ManifestDoc::Index(_) => at.fetched.body.len() as u64,
        };
        self.inner
            .store
            .upsert_artifact(&NewArtifact {
                artifact: at.artifact,
                manifest_media_type: &at.fetched.media_type,
                artifact_type,
                kind,
                size: size as i64,
                parent_digest: None,
                platform: None,
            })
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn unsupported(
        &self,
        at: &Target<'_>,
        job: &Job,
        worker: &str,
        artifact_id: i64,
        artifact_type: &str,
        kind: &Kind,
        reason: &str,
    ) -> Result<JobOutcome, PipelineError> {
        let outcome = |skipped| JobOutcome {
            digest: at.digest().clone(),
            kind: kind.clone(),
            status: Status::Unsupported,
            children: Vec::new(),
            skipped,
        };
        let mut details = serde_json::Map::new();
        details.insert("media_type".into(), artifact_type.into());
        let result = ScanResult {
            details,
            ..Default::default()
        };
        let Some(scan_id) = self.claim(artifact_id, None, worker, job.force, at.digest()).await? else {
            return Ok(outcome(true));
        };
        self.inner
            .store
            .finish_scan(scan_id, Status::Unsupported, Some(reason), &result)
            .await?;
        info!(registry = at.registry(), repository = at.repository(), digest = %at.digest(), kind = %kind, media_type = artifact_type, "artifact type unsupported; recorded");
        self.notify(at.artifact, Status::Unsupported);
        Ok(outcome(false))
    }

    async fn index(
        &self,
        at: &Target<'_>,
        job: &Job,
        artifact_id: i64,
        children: &[IndexChild],
    ) -> Result<JobOutcome, PipelineError> {
        let mut outcome = JobOutcome {
            digest: at.digest().clone(),
            kind: Kind::Index,
            status: Status::Succeeded,
            children: Vec::new(),
            skipped: false,
        };
        let store = &self.inner.store;
        let mut attestations = 0;
        let attestation = Kind::Attestation;
        for (position, child) in children.iter().enumerate() {
            let d = &child.descriptor;
            let child_digest = match Digest::parse(&d.digest) {
                Ok(c) => c,
                Err(e) => {
                    warn!(index = %at.reference(), error = %e, "index entry skipped: not a manifest digest");
                    continue;
                }
            };
            let child_ref = at.artifact.with_digest(child_digest);
            let platform = d.platform.as_ref().map(ToString::to_string);
            let child_id = store
                .link_child(
                    &child_ref,
                    &d.media_type,
                    (artifact_id, at.digest()),
                    position,
                    platform.as_deref(),
                    child.attestation.then_some(&attestation),
                )
                .await?;
            if child.attestation {
                attestations += 1;
                let of = d
                    .annotations
                    .get("vnd.docker.reference.digest")
                    .map(|s| format!(" for {s}"))
                    .unwrap_or_default();
                // Read the (small) attestation manifest: the type table may route it to a
                // scanner (an SBOM attestation), and otherwise its layer type names what makes
                // it unsupported; the index entry alone says only "attestation".
                let fetched = self
                    .inner
                    .client
                    .fetch_manifest(at.registry(), at.repository(), &d.digest)
                    .await
                    .ok();
                if let Some(f) = &fetched {
                    if let Resolution::Scan { artifact_type, entry } = self.inner.table.resolve(&f.doc) {
                        let subject = d.annotations.get("vnd.docker.reference.digest");
                        if let Some(subject) = subject.and_then(|s| Digest::parse(s).ok()) {
                            store
                                .link_referrer(
                                    &at.artifact.with_digest(subject),
                                    &child_ref.digest,
                                    Some(&entry.kind),
                                    Some(&artifact_type),
                                    Via::Subject,
                                )
                                .await?;
                        }
                        outcome.children.push(self.child_job(at, job, &child_ref.digest));
                        continue;
                    }
                }
                let layer_type = match fetched {
                    Some(FetchedManifest {
                        doc: ManifestDoc::Manifest(m),
                        ..
                    }) => m.layers.first().map(|l| l.media_type.clone()).filter(|t| !t.is_empty()),
                    _ => None,
                };
                let artifact_type = layer_type.unwrap_or_else(|| media::IN_TOTO.to_owned());
                store.set_artifact_type(&child_ref, &artifact_type).await?;
                let reason = format!(
                    "attestation manifest{of} in an index (BuildKit provenance/SBOM; layers {artifact_type}): recorded, not scanned as an image; no scanner handles {artifact_type}"
                );
                if job.force || store.completed_scan(child_id, None).await?.is_none() {
                    store
                        .record_scan(
                            child_id,
                            None,
                            Status::Unsupported,
                            Some(&reason),
                            &ScanResult::default(),
                        )
                        .await?;
                }
                continue;
            }
            outcome.children.push(self.child_job(at, job, &child_ref.digest));
        }
        let mut details = serde_json::Map::new();
        details.insert("platforms".into(), (children.len() - attestations).into());
        details.insert("attestations".into(), attestations.into());
        store
            .record_scan(
                artifact_id,
                None,
                Status::Succeeded,
                None,
                &ScanResult {
                    details,
                    ..Default::default()
                },
            )
            .await?;
        self.notify(at.artifact, Status::Succeeded);
        Ok(outcome)
    }

    /// A signature was scanned: if the image it signs carries `SIG-UNSIGNED` and is now signed
    /// by a configured key, record a new scan of it without that finding (same inventory and
    /// findings otherwise, nothing fetched).
    async fn signed_subject(&self, at: &Target<'_>) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let Some(subject) = store.subject_of(at.artifact).await? else {
            return Ok(());
        };
        let Some(artifact) = store.artifact(&subject).await? else {
            return Ok(());
        };
        let Some(prev) = artifact.latest_scan_id else {
            return Ok(());
        };
        let Some(prev) = store.scan(prev).await? else {
            return Ok(());
        };
        let checks = store.findings(prev.id, Some(FindingSource::Check)).await?;
        if prev.status != Status::Succeeded || !checks.iter().any(|f| f.id == SIG_UNSIGNED) {
            return Ok(());
        }
        let sigs = signatures_of(store, &subject).await?;
        if unsigned_finding(&sigs).is_some() {
            return Ok(());
        }
        let scanner = prev.scanner_ref();
        let mut details = match prev.details {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        details.insert("signed_since_scan".into(), prev.id.into());
        let result = ScanResult {
            checks: checks.into_iter().filter(|f| f.id != SIG_UNSIGNED).collect(),
            advisories: store.findings(prev.id, Some(FindingSource::Advisory)).await?,
            packages: Vec::new(),
            details,
            advisory_snapshot: prev.advisory_snapshot.clone(),
            inventory_scan_id: Some(prev.inventory_scan_id.unwrap_or(prev.id)),
        };
        store
            .record_scan(artifact.id, scanner.as_ref(), Status::Succeeded, None, &result)
            .await?;
        info!(%subject, signature = %at.digest(), "image now signed by a configured key; SIG-UNSIGNED withdrawn");
        self.notify(&subject, Status::Succeeded);
        Ok(())
    }

    /// The job for a child of the index `at`.
    fn child_job(&self, at: &Target<'_>, job: &Job, digest: &Digest) -> Job {
        Job {
            id: format!("{}/{digest}", job.id),
            registry: at.registry().to_owned(),
            repository: at.repository().to_owned(),
            reference: digest.as_str().to_owned(),
            tag: None,
            source: format!("index:{}", at.digest()),
            force: job.force,
            attempt: 0,
        }
    }

    /// Scan in the sandbox and store the result. A scan that exceeds a sandbox limit or
    /// crashes ends `failed` at once: the same bytes would do the same again.
    async fn scan(
        &self,
        t: &ScanTarget<'_>,
        job: &Job,
        worker: &str,
        scanner: Arc<dyn Scanner>,
        peeked: Option<Peeked>,
    ) -> Result<JobOutcome, PipelineError> {
        let store = &self.inner.store;
        let at = t.at;
        let mut outcome = JobOutcome {
            digest: at.digest().clone(),
            kind: t.entry.kind.clone(),
            status: Status::Succeeded,
            children: Vec::new(),
            skipped: false,
        };
        // Wait for a slot of this kind before taking the claim, so a queued-up kind never holds
        // claims it is not working on.
        let _permit = self.inner.limiter.acquire(t.entry.kind.as_str()).await;
        let scanner_ref = ScannerRef::new(scanner.name(), scanner.version());
        let Some(scan_id) = self
            .claim(t.artifact_id, Some(&scanner_ref), worker, job.force, at.digest())
            .await?
        else {
            outcome.skipped = true;
            return Ok(outcome);
        };
        // Workers died twice while scanning this artifact: something kills whatever runs it
        // (outside what the sandbox contains). Store that instead of feeding it to a third.
        let abandoned = store.abandoned_scans(t.artifact_id).await?;
        if abandoned >= MAX_ABANDONED_SCANS {
            let reason = format!(
                "the worker scanning this artifact died {abandoned} times mid-scan; not scanning it again (scan again with force to retry)"
            );
            store
                .finish_scan(scan_id, Status::Failed, Some(&reason), &ScanResult::default())
                .await?;
            store.reset_abandoned_scans(t.artifact_id).await?;
            warn!(reference = %at.reference(), %reason, "scan given up");
            self.notify(at.artifact, Status::Failed);
            outcome.status = Status::Failed;
            return Ok(outcome);
        }
        // Dropped before the scan is settled (the worker handed the job back on SIGTERM, or its
        // future was cancelled): give the claim back at once instead of waiting for the lease.
        let mut claim = ClaimGuard {
            store: store.clone(),
            scan_id,
            settled: false,
        };
        let lease = self.lease();
        let heartbeat = {
            let store = store.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    if let Err(e) = store.renew_claim(scan_id, lease.as_millis() as i64).await {
                        warn!(scan_id, error = %e, "could not renew the scan claim");
                    }
                }
            })
        };
        let started = std::time::Instant::now();
        let reference = at.reference();
        let blobs = RegistryBlobs {
            client: &self.inner.client,
            registry: at.registry(),
            repository: at.repository(),
            peeked: peeked.as_ref().map(|p| (p.digest.as_str(), p.bytes.clone())),
        };
        let req = Request {
            task: Task::Scan,
            scanner: scanner.name(),
            reference: &reference,
            manifest: t.manifest,
            artifact_type: t.artifact_type,
            entry: t.entry,
            timeout: scanner.limits().timeout,
        };
        let result = self.inner.runner.run(req, &blobs, &StoreCache { store }).await;
        heartbeat.abort();
        claim.settled = true;
        let result = match result {
            Ok(TaskOutput::Scanned(out)) => Ok(*out),
            Ok(TaskOutput::Sniffed(_)) => Err(Unsettled::Final(
                "the sandbox answered a scan with a sniff verdict".to_owned(),
            )),
            Err(SandboxError::Scan(e)) if !e.is_retryable() => Err(Unsettled::Final(e.to_string())),
            Err(SandboxError::Killed { cause, reason }) => {
                self.count_kill(scanner.name(), cause);
                Err(Unsettled::Final(reason))
            }
            Err(e @ (SandboxError::Scan(_) | SandboxError::Start { .. })) => Err(Unsettled::Retry(e)),
        };
        match result {
            Ok(mut out) => {
                let (snapshot, advisory_findings) = self.inner.advisories.match_packages(store, &out.packages).await?;
                if self.inner.config.signatures.required && t.entry.kind == Kind::Image {
                    let sigs = signatures_of(store, at.artifact).await?;
                    out.findings.extend(unsigned_finding(&sigs));
                }
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
                if abandoned > 0 {
                    store.reset_abandoned_scans(t.artifact_id).await?;
                }
                info!(%reference, scanner = scanner.name(), findings = result.checks.len() + result.advisories.len(), packages = result.packages.len(), elapsed_ms = started.elapsed().as_millis() as u64, "scan succeeded");
                self.notify(at.artifact, Status::Succeeded);
                if t.entry.kind == Kind::Signature {
                    self.signed_subject(at).await?;
                }
                Ok(outcome)
            }
            Err(Unsettled::Retry(retryable)) => {
                store.release_claim(scan_id).await?;
                warn!(%reference, scanner = scanner.name(), error = %retryable, "scan failed; will retry");
                Err(PipelineError::Scan(retryable))
            }
            Err(Unsettled::Final(reason)) => {
                store
                    .finish_scan(scan_id, Status::Failed, Some(&reason), &ScanResult::default())
                    .await?;
                warn!(%reference, scanner = scanner.name(), %reason, "scan failed");
                self.notify(at.artifact, Status::Failed);
                outcome.status = Status::Failed;
                Ok(outcome)
            }
        }
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
        let digest = match Digest::parse(&job.reference) {
            Ok(d) => d,
            Err(_) => match store.resolve_tag(&registry, &job.repository, &job.reference).await? {
                Some(d) => d,
                None => Digest::unresolved(&job.reference),
            },
        };
        let artifact = ArtifactRef::new(registry, job.repository.clone(), digest);
        let artifact_id = match store.artifact(&artifact).await? {
            Some(a) => a.id,
            None => {
                store
                    .upsert_artifact(&NewArtifact {
                        artifact: &artifact,
                        manifest_media_type: "",
                        artifact_type: None,
                        kind: &Kind::Unknown,
                        size: 0,
                        parent_digest: None,
                        platform: None,
                    })
                    .await?
            }
        };
        store
            .record_scan(artifact_id, None, Status::Failed, Some(reason), &ScanResult::default())
            .await?;
        self.notify(&artifact, Status::Failed);
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

/// The manifest a job fetched, and which artifact it is.
struct Target<'a> {
    artifact: &'a ArtifactRef,
    fetched: &'a FetchedManifest,
}

impl Target<'_> {
    fn reference(&self) -> String {
        self.artifact.to_string()
    }

    fn registry(&self) -> &str {
        &self.artifact.registry
    }

    fn repository(&self) -> &str {
        &self.artifact.repository
    }

    fn digest(&self) -> &Digest {
        &self.artifact.digest
    }
}

/// A scan that produced no result.
enum Unsettled {
    /// It may pass on retry (the registry, the machine): the claim is released, the job retried.
    Retry(SandboxError),
    /// It will fail the same way again (the artifact, a sandbox limit): stored `failed`.
    Final(String),
}

/// What a scan is of.
struct ScanTarget<'a> {
    at: &'a Target<'a>,
    artifact_id: i64,
    manifest: &'a ImageManifest,
    artifact_type: &'a str,
    entry: &'a TypeEntry,
}

/// Scans of one artifact whose worker died mid-scan before the artifact is stored `failed`.
pub const MAX_ABANDONED_SCANS: i64 = 2;

/// A referrer found while scanning its subject.
struct FoundReferrer {
    digest: String,
    artifact_type: Option<String>,
    tag: Option<String>,
    relation: Option<Kind>,
    via: Via,
}

/// Most referrers of one artifact taken from a registry's answer.
const MAX_REFERRERS: usize = 256;

/// How often a job waiting for another worker's claim looks again.
const CLAIM_POLL: Duration = Duration::from_secs(1);

/// Largest blob read into memory to serve both a sniff and a scan.
const PEEK_MAX_BYTES: u64 = 8 << 20;

/// The text of a panic's payload. Pass the payload itself (`payload.as_ref()`), not a
/// reference to its `Box`, which would hide the text behind one more `Any`.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The error of a scanner that panicked (in the sandboxed child or in process).
pub fn scanner_crashed(scanner: &str, panic: Box<dyn std::any::Any + Send>) -> regscan_scanner_api::ScanError {
    regscan_scanner_api::ScanError::Internal(format!("scanner {scanner} crashed: {}", panic_message(panic.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crashed_scanner_is_reported_with_its_name_and_the_panic_text() {
        let payload = std::panic::catch_unwind(|| panic!("index out of bounds")).unwrap_err();
        let e = scanner_crashed("helm", payload).to_string();
        assert!(e.contains("scanner helm crashed: index out of bounds"), "{e}");
        let payload = std::panic::catch_unwind(|| panic!("{} of {}", 3, 4)).unwrap_err();
        assert!(scanner_crashed("opa", payload).to_string().contains("crashed: 3 of 4"));
        let payload = std::panic::catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
        assert!(scanner_crashed("x", payload).to_string().contains("unknown panic"));
    }

    #[test]
    fn which_pipeline_failures_are_retried() {
        let url = || "https://r.example/v2/a/manifests/latest".to_owned();
        let gone = PipelineError::Registry(RegistryError::NotFound {
            url: url(),
            message: String::new(),
        });
        assert!(
            !gone.is_retryable(),
            "a manifest that is not there will not appear on retry"
        );
        let down = PipelineError::Registry(RegistryError::Unavailable {
            url: url(),
            message: "HTTP 503".into(),
            attempts: 4,
        });
        assert!(down.is_retryable());
        let unrouted = PipelineError::Unrouted {
            artifact_type: "application/x".into(),
            scanner: "nope".into(),
        };
        assert!(
            !unrouted.is_retryable(),
            "configuration does not change between attempts"
        );
        assert!(PipelineError::Busy(Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap()).is_retryable());
        assert!(PipelineError::Panicked("bug".into()).is_retryable());
    }
}
