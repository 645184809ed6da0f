//! Where a scanner runs: [`ScanRunner`]. The service runs every scan in the sandbox
//! ([`crate::sandbox::Sandbox`]); [`InProcess`] runs scanners in the calling process and exists
//! for tests of the pipeline's rules only.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::FutureExt;
use regscan_scanner_api::{BlobSource, ScanCache, ScanContext, ScanError, Scanner};

use crate::sandbox::protocol::TaskOutput;
use crate::sandbox::{Request, Sandbox, SandboxError, Task};

/// Runs one scanner task.
#[async_trait]
pub trait ScanRunner: Send + Sync {
    /// Run `req`, reading blobs from `blobs` and reusing results through `cache`.
    async fn run(
        &self,
        req: Request<'_>,
        blobs: &dyn BlobSource,
        cache: &dyn ScanCache,
    ) -> Result<TaskOutput, SandboxError>;
}

#[async_trait]
impl ScanRunner for Sandbox {
    async fn run(
        &self,
        req: Request<'_>,
        blobs: &dyn BlobSource,
        cache: &dyn ScanCache,
    ) -> Result<TaskOutput, SandboxError> {
        Sandbox::run(self, req, blobs, cache).await
    }
}

/// Scanners run in the calling process, with a timeout and panics caught. **Not a sandbox**: a
/// hostile artifact can exhaust the process. For tests of the pipeline's rules.
pub struct InProcess {
    scanners: BTreeMap<String, Arc<dyn Scanner>>,
}

impl InProcess {
    /// Run these scanners.
    pub fn new(scanners: &[Arc<dyn Scanner>]) -> Self {
        InProcess {
            scanners: crate::scanners::by_name(scanners),
        }
    }
}

#[async_trait]
impl ScanRunner for InProcess {
    async fn run(
        &self,
        req: Request<'_>,
        blobs: &dyn BlobSource,
        cache: &dyn ScanCache,
    ) -> Result<TaskOutput, SandboxError> {
        let scanner = self
            .scanners
            .get(req.scanner)
            .ok_or_else(|| ScanError::Internal(format!("no scanner named {:?}", req.scanner)))?;
        let ctx = ScanContext {
            reference: req.reference,
            manifest: req.manifest,
            artifact_type: req.artifact_type,
            entry: req.entry,
            blobs,
            cache,
        };
        let work = async {
            match &req.task {
                Task::Scan => scanner.scan(&ctx).await.map(|o| TaskOutput::Scanned(Box::new(o))),
                Task::Sniff { layer } => scanner.sniff(&ctx, layer).await.map(TaskOutput::Sniffed),
            }
        };
        match tokio::time::timeout(req.timeout, AssertUnwindSafe(work).catch_unwind()).await {
            Ok(Ok(result)) => result.map_err(SandboxError::Scan),
            Ok(Err(panic)) => Err(super::scanner_crashed(req.scanner, panic).into()),
            Err(_) => Err(ScanError::Timeout(req.timeout).into()),
        }
    }
}
