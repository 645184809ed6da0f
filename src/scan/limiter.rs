//! Per-kind concurrency limits: a flood of one artifact type cannot take every worker slot.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Semaphores per kind, from `worker.kind_concurrency`.
#[derive(Clone, Default)]
pub struct KindLimiter {
    limits: Arc<BTreeMap<String, Arc<Semaphore>>>,
}

impl KindLimiter {
    /// Limits per kind; kinds not listed are not limited beyond the worker's concurrency.
    pub fn new(limits: &BTreeMap<String, usize>) -> Self {
        KindLimiter {
            limits: Arc::new(
                limits
                    .iter()
                    .map(|(k, n)| (k.clone(), Arc::new(Semaphore::new(*n))))
                    .collect(),
            ),
        }
    }

    /// Wait for a slot for `kind`. `None` when the kind has no limit.
    pub async fn acquire(&self, kind: &str) -> Option<OwnedSemaphorePermit> {
        let sem = self.limits.get(kind)?.clone();
        sem.acquire_owned().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_only_listed_kinds() {
        let l = KindLimiter::new(&BTreeMap::from([("image".to_string(), 1)]));
        let p = l.acquire("image").await.unwrap();
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), l.acquire("image"))
                .await
                .is_err()
        );
        assert!(l.acquire("helm").await.is_none());
        drop(p);
        assert!(l.acquire("image").await.is_some());
    }
}
