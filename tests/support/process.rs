//! Runs the `regscan` binary as a child process (`serve`, `worker`, …) with a config file the test
//! wrote; killed (SIGKILL) on drop, or stopped gracefully with [`RegscanProcess::terminate`].

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A config for a test regscan: database, queue, one registry (`insecure`), and extra TOML.
#[derive(Debug, Clone)]
pub struct TestConfig {
    /// `database_url`.
    pub database_url: String,
    /// `queue_url` (empty: embedded).
    pub queue_url: String,
    /// `rabbitmq.queue` when `queue_url` is set.
    pub rabbit_queue: Option<String>,
    /// Registry hosts to configure (each `insecure = true`).
    pub registries: Vec<String>,
    /// Webhook token (`webhook_token`).
    pub webhook_token: Option<String>,
    /// Extra TOML appended verbatim (e.g. `[worker]` settings).
    pub extra: String,
}

impl TestConfig {
    /// Embedded queue on `database_url`, trusting `registries`.
    pub fn new(database_url: &str, registries: &[&str]) -> Self {
        TestConfig {
            database_url: database_url.into(),
            queue_url: String::new(),
            rabbit_queue: None,
            registries: registries.iter().map(|s| s.to_string()).collect(),
            webhook_token: None,
            extra: String::new(),
        }
    }

    /// The TOML text.
    pub fn to_toml(&self, listen: &str) -> String {
        let mut s = format!(
            "database_url = {:?}\nqueue_url = {:?}\nlisten = {:?}\n",
            self.database_url, self.queue_url, listen
        );
        if let Some(t) = &self.webhook_token {
            s.push_str(&format!("webhook_token = {t:?}\n"));
        }
        s.push_str(&self.extra);
        s.push('\n');
        for r in &self.registries {
            s.push_str(&format!("[[registry]]\nhost = {r:?}\ninsecure = true\n"));
        }
        if let Some(q) = &self.rabbit_queue {
            s.push_str(&format!("[rabbitmq]\nqueue = {q:?}\n"));
        }
        s
    }
}

/// Path of the built `regscan` binary.
pub fn regscan_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_regscan"))
}

/// A running `regscan` child process.
pub struct RegscanProcess {
    /// `127.0.0.1:PORT` it listens on (for `serve`).
    pub addr: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl RegscanProcess {
    /// Start `regscan <args…> --config <file>` with `config`, listening on a free port.
    /// For `serve`, waits until `/healthz` answers.
    pub async fn start(config: &TestConfig, args: &[&str]) -> RegscanProcess {
        Self::start_on(config, args, &format!("127.0.0.1:{}", super::free_port())).await
    }

    /// [`RegscanProcess::start`] listening on `addr` (chosen beforehand, e.g. to point a
    /// registry's notifications at it before regscan runs).
    pub async fn start_on(config: &TestConfig, args: &[&str], addr: &str) -> RegscanProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = addr.to_owned();
        let cfg = dir.path().join("regscan.toml");
        std::fs::write(&cfg, config.to_toml(&addr)).expect("write config");
        let log = std::fs::File::create(dir.path().join("regscan.log")).expect("log file");
        let child = Command::new(regscan_bin())
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .current_dir(dir.path())
            .env(
                "REGSCAN_LOG",
                std::env::var("REGSCAN_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env_remove("REGSCAN_DATABASE_URL")
            .env_remove("REGSCAN_QUEUE_URL")
            .env_remove("REGSCAN_WEBHOOK_TOKEN")
            .env_remove("REGSCAN_API_TOKEN")
            .env_remove("REGSCAN_LISTEN")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn regscan");
        let mut p = RegscanProcess { addr, child, dir };
        if args.first() == Some(&"serve") {
            p.wait_healthy().await;
        }
        p
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("regscan.log")).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_healthy(&mut self) {
        let http = reqwest::Client::new();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("regscan exited early ({status}):\n{}", self.log());
            }
            if let Ok(r) = http.get(format!("{}/healthz", self.url())).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "regscan did not become healthy:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL now (a crash, not a graceful stop) and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait up to `timeout` for exit; returns whether it exited successfully.
    pub async fn terminate(&mut self, timeout: Duration) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for RegscanProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- regscan log ---\n{}", self.log());
        }
    }
}
