//! Databases and queues per test: a fresh PostgreSQL database (dropped on drop), a temp SQLite
//! URL, a unique RabbitMQ queue name.
//!
//! PostgreSQL is reached at `REGSCAN_TEST_PG` (default `postgres://postgres@127.0.0.1/postgres`,
//! trust auth); RabbitMQ at `REGSCAN_TEST_AMQP` (default `amqp://guest:guest@127.0.0.1:5672/%2f`).

use std::process::Command;

/// The admin URL of the test PostgreSQL server.
pub fn pg_admin_url() -> String {
    std::env::var("REGSCAN_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1/postgres".into())
}

/// The test RabbitMQ URL.
pub fn amqp_url() -> String {
    std::env::var("REGSCAN_TEST_AMQP").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A unique RabbitMQ queue name (`regscan.test.<random>`); the queue and its retry/dead queues
/// are deleted on drop of [`RabbitQueue`].
pub struct RabbitQueue {
    /// The queue name to put in `rabbitmq.queue`.
    pub name: String,
}

impl RabbitQueue {
    /// A fresh name.
    pub fn new() -> Self {
        RabbitQueue {
            name: format!("regscan.test.{}", super::random_suffix()),
        }
    }
}

impl Drop for RabbitQueue {
    fn drop(&mut self) {
        // Best effort: list and delete this test's queues (main, retry.N, dead).
        let Ok(out) = Command::new("rabbitmqctl")
            .args(["list_queues", "-q", "--no-table-headers", "name"])
            .output()
        else {
            return;
        };
        for q in String::from_utf8_lossy(&out.stdout).lines().map(str::trim) {
            if q == self.name || q.starts_with(&format!("{}.", self.name)) {
                let _ = Command::new("rabbitmqctl").args(["delete_queue", q]).output();
            }
        }
    }
}

/// A fresh, empty PostgreSQL database; dropped (WITH FORCE) on drop.
pub struct PgDb {
    /// `postgres://…/regscan_test_<random>`.
    pub url: String,
    /// The database name.
    pub name: String,
}

impl PgDb {
    /// `CREATE DATABASE regscan_test_<random>`.
    pub fn create() -> PgDb {
        let name = format!("regscan_test_{}", super::random_suffix());
        psql(&format!("CREATE DATABASE {name}"));
        let admin = pg_admin_url();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        PgDb {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-q", "-v", "ON_ERROR_STOP=1", &pg_admin_url(), "-c"])
            .arg(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
            .output();
    }
}

fn psql(sql: &str) {
    let out = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", &pg_admin_url(), "-c", sql])
        .output()
        .expect("psql is installed");
    assert!(
        out.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A SQLite database URL in a temp dir (kept alive by the returned guard).
pub fn sqlite_url() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("regscan.db").display());
    (url, dir)
}
