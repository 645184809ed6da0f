//! The results store: artifacts, tags, scans, findings, packages, advisories and the embedded
//! queue, in SQLite (default) or PostgreSQL, through sqlx's `Any` driver.
//!
//! Queries use `$1`-style placeholders, which both backends accept; a statement whose shape
//! depends on its input is assembled by [`sql::SqlBuilder`], which numbers them. The few
//! statements that differ per backend branch on [`Backend`]. Timestamps are Unix milliseconds
//! (`BIGINT`); the leases of scan claims and of the embedded queue read the store's [`Clock`]
//! (the system clock unless [`Store::with_clock`] says otherwise).

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

use crate::time::SharedClock;

pub mod advisories;
mod advisory_rekey;
pub mod events;
pub mod incidents;
mod migrate;
pub mod query;
pub mod referrers;
pub mod rematch;
pub mod results;
pub mod retention;
pub(crate) mod sql;
#[cfg(test)]
pub(crate) mod tests;

pub use query::{ArtifactFilter, ArtifactSummary};
pub use results::{ArtifactRecord, Claim, FindingSource, NewArtifact, ScanRecord, ScanResult};

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one regscan supports.
    #[error("unsupported database URL {0:?} (expected sqlite:… or postgres://…)")]
    Url(String),
    /// A database error.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("applying migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A stored status or severity is not one.
    #[error("stored data is corrupt: {0}")]
    Value(#[from] regscan_scanner_api::UnknownValue),
    /// A stored digest is not one.
    #[error("stored data is corrupt: {0}")]
    Digest(#[from] regscan_scanner_api::DigestError),
}

/// A handle on the results database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    clock: SharedClock,
}

impl Store {
    /// Connect to `url` (creating a SQLite file if missing) and apply migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(crate::config::redact_url(url)));
        };
        let pool = match backend {
            Backend::Sqlite => {
                // Create the file if missing; WAL for concurrent readers; wait on locks.
                let url = if url.contains("mode=") || url.contains(":memory:") {
                    url.to_owned()
                } else if url.contains('?') {
                    format!("{url}&mode=rwc")
                } else {
                    format!("{url}?mode=rwc")
                };
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            use sqlx::Executor;
                            conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON;").await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?
            }
        };
        let store = Store {
            pool,
            backend,
            clock: crate::time::system(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The pool, for modules that keep their own queries (the embedded queue).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// This store with leases and claims timed by `clock` (tests move a
    /// [`crate::time::ManualClock`] instead of sleeping).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Now, in Unix ms, by the store's clock: what lease and claim expiry is measured against.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Close the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
