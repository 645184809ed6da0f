//! The results store: artifacts, tags, scans, findings, packages, advisories and the embedded
//! queue, in SQLite (default) or PostgreSQL, through sqlx's `Any` driver.
//!
//! Queries use `$1`-style placeholders, which both backends accept; the few statements that
//! differ per backend branch on [`Backend`]. Timestamps are Unix milliseconds (`BIGINT`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

pub mod advisories;
pub mod events;
pub mod incidents;
mod migrate;
pub mod query;
pub mod referrers;
pub mod results;
pub mod retention;

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
        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    /// The pool, for modules that keep their own queries (the embedded queue).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
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

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
