//! Embedded migrations, one list per backend (`migrations/{sqlite,postgres}/`), applied by
//! `regscan migrate` and automatically when the store opens.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::{Backend, Store, StoreError};

/// (version, description, SQLite SQL, PostgreSQL SQL)
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "results",
        include_str!("../../migrations/sqlite/0001_results.sql"),
        include_str!("../../migrations/postgres/0001_results.sql"),
    ),
    (
        2,
        "queue",
        include_str!("../../migrations/sqlite/0002_queue.sql"),
        include_str!("../../migrations/postgres/0002_queue.sql"),
    ),
    (
        3,
        "index_children",
        include_str!("../../migrations/sqlite/0003_index_children.sql"),
        include_str!("../../migrations/postgres/0003_index_children.sql"),
    ),
    (
        4,
        "retention",
        include_str!("../../migrations/sqlite/0004_retention.sql"),
        include_str!("../../migrations/postgres/0004_retention.sql"),
    ),
    (
        5,
        "abandoned_scans",
        include_str!("../../migrations/sqlite/0005_abandoned_scans.sql"),
        include_str!("../../migrations/postgres/0005_abandoned_scans.sql"),
    ),
    (
        6,
        "advisory_index",
        include_str!("../../migrations/sqlite/0006_advisory_index.sql"),
        include_str!("../../migrations/postgres/0006_advisory_index.sql"),
    ),
    (
        7,
        "incidents",
        include_str!("../../migrations/sqlite/0007_incidents.sql"),
        include_str!("../../migrations/postgres/0007_incidents.sql"),
    ),
    (
        8,
        "referrers",
        include_str!("../../migrations/sqlite/0008_referrers.sql"),
        include_str!("../../migrations/postgres/0008_referrers.sql"),
    ),
    (
        9,
        "package_dev",
        include_str!("../../migrations/sqlite/0009_package_dev.sql"),
        include_str!("../../migrations/postgres/0009_package_dev.sql"),
    ),
    (
        10,
        "advisory_scale",
        include_str!("../../migrations/sqlite/0010_advisory_scale.sql"),
        include_str!("../../migrations/postgres/0010_advisory_scale.sql"),
    ),
    (
        11,
        "summary_rollup",
        include_str!("../../migrations/sqlite/0011_summary_rollup.sql"),
        include_str!("../../migrations/postgres/0011_summary_rollup.sql"),
    ),
    (
        12,
        "rpm_stream_keys",
        include_str!("../../migrations/sqlite/0012_rpm_stream_keys.sql"),
        include_str!("../../migrations/postgres/0012_rpm_stream_keys.sql"),
    ),
];

impl Store {
    /// Apply pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrations: Vec<Migration> = MIGRATIONS
            .iter()
            .map(|(version, desc, sqlite, pg)| {
                let sql = match self.backend {
                    Backend::Sqlite => sqlite,
                    Backend::Postgres => pg,
                };
                Migration::new(
                    *version,
                    Cow::Borrowed(desc),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        let migrator = Migrator {
            migrations: Cow::Owned(migrations),
            ignore_missing: false,
            locking: true,
            no_tx: false,
        };
        migrator.run(&self.pool).await?;
        self.index_stored_advisories().await?;
        self.backfill_package_keys().await?;
        self.rekey_rpm_advisories().await?;
        self.build_incident_rollup_once().await?;
        Ok(())
    }
}
