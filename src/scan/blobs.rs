//! The registry and the store seen through the scanner interface: [`RegistryBlobs`] is the
//! [`BlobSource`] scanners read blobs from, [`StoreCache`] the [`ScanCache`] they reuse
//! per-layer results through.

use async_trait::async_trait;
use regscan_scanner_api::{BlobError, BlobReader, BlobSource, Descriptor, ScanCache};
use tracing::warn;

use crate::registry::{Client, RegistryError};
use crate::store::Store;

/// Blobs of one repository, streamed and verified by the registry client. Counts opens, for
/// metrics and tests.
pub struct RegistryBlobs<'a> {
    /// The client.
    pub client: &'a Client,
    /// Registry host.
    pub registry: &'a str,
    /// Repository.
    pub repository: &'a str,
    /// A blob already read and verified while resolving the type (the single small layer
    /// peeked for an OPA bundle): served from memory instead of downloaded again.
    pub peeked: Option<(&'a str, std::sync::Arc<Vec<u8>>)>,
}

#[async_trait]
impl BlobSource for RegistryBlobs<'_> {
    async fn open(&self, descriptor: &Descriptor, max_bytes: u64) -> Result<BlobReader, BlobError> {
        if let Some((digest, bytes)) = &self.peeked {
            if *digest == descriptor.digest && bytes.len() as u64 <= max_bytes {
                return Ok(Box::pin(std::io::Cursor::new(bytes.as_ref().clone())));
            }
        }
        if descriptor.size > max_bytes {
            return Err(BlobError::TooLarge {
                digest: descriptor.digest.clone(),
                size: descriptor.size,
                limit: max_bytes,
            });
        }
        self.client
            .open_blob(self.registry, self.repository, descriptor, max_bytes)
            .await
            .map_err(|e: RegistryError| BlobError::Fetch {
                digest: descriptor.digest.clone(),
                retryable: e.is_retryable(),
                message: e.to_string(),
            })
    }
}

/// The cross-artifact cache, in the results database.
pub struct StoreCache<'a> {
    /// The store.
    pub store: &'a Store,
}

#[async_trait]
impl ScanCache for StoreCache<'_> {
    async fn get(&self, key: &str, analyzer_version: &str) -> Option<serde_json::Value> {
        match self.store.cache_get(key, analyzer_version).await {
            Ok(Some(text)) => serde_json::from_str(&text).ok(),
            Ok(None) => None,
            Err(e) => {
                warn!(key, error = %e, "scan cache read failed; scanning without it");
                None
            }
        }
    }

    async fn put(&self, key: &str, analyzer_version: &str, value: serde_json::Value) {
        if let Err(e) = self.store.cache_put(key, analyzer_version, &value.to_string()).await {
            warn!(key, error = %e, "scan cache write failed");
        }
    }
}
