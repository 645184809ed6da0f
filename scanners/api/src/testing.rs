//! In-memory stand-ins for a scanner's I/O, for scanner crates' tests and benchmarks
//! (feature `testing`): blobs served from a map, and a cache that keeps nothing.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sha2::Digest as _;

use crate::manifest::Descriptor;
use crate::scanner::{BlobError, BlobReader, BlobSource, ScanCache};

/// Blobs served from memory by digest, refused past the size limit the scanner asks for.
#[derive(Debug, Default, Clone)]
pub struct MemBlobs(pub BTreeMap<String, Vec<u8>>);

impl MemBlobs {
    /// Add a blob; returns its descriptor (sha256 digest, size, `media_type`).
    pub fn add(&mut self, media_type: &str, data: Vec<u8>) -> Descriptor {
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&data)));
        let d = Descriptor {
            media_type: media_type.into(),
            digest: digest.clone(),
            size: data.len() as u64,
            ..Default::default()
        };
        self.0.insert(digest, data);
        d
    }
}

#[async_trait]
impl BlobSource for MemBlobs {
    async fn open(&self, d: &Descriptor, max_bytes: u64) -> Result<BlobReader, BlobError> {
        let data = self.0.get(&d.digest).cloned().ok_or_else(|| BlobError::Fetch {
            digest: d.digest.clone(),
            message: "not found".into(),
            retryable: false,
        })?;
        if data.len() as u64 > max_bytes {
            return Err(BlobError::TooLarge {
                digest: d.digest.clone(),
                size: data.len() as u64,
                limit: max_bytes,
            });
        }
        Ok(Box::pin(std::io::Cursor::new(data)))
    }
}

/// A cache that stores nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCache;

#[async_trait]
impl ScanCache for NoCache {
    async fn get(&self, _key: &str, _analyzer_version: &str) -> Option<serde_json::Value> {
        None
    }
    async fn put(&self, _key: &str, _analyzer_version: &str, _value: serde_json::Value) {}
}
