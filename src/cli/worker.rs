//! `regscan worker`: queue consumers only, no HTTP (scale these out on RabbitMQ + PostgreSQL).
//! Also home of the signal handling `serve` shares.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::scan::Pipeline;
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::worker::{Worker, WorkerOptions};

/// Flags of `regscan worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Jobs run at once by this process (overrides worker.concurrency; also RabbitMQ's prefetch).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: Option<u32>,
    /// Seconds jobs in flight get to finish after SIGTERM/SIGINT before they are handed back to
    /// the queue.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub grace_secs: u64,
    /// Serve `/healthz`, `/readyz` and `/metrics` (only those) on this address. Default: no HTTP.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// A token cancelled on the first SIGTERM or SIGINT (stop taking work, drain); a second signal
/// exits at once (jobs in flight come back through the queue).
pub(super) fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops regscan");
                let _ = tokio::signal::ctrl_c().await;
                t.cancel();
                return;
            }
        };
        for n in 0.. {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            if n == 0 {
                info!("shutdown requested: finishing jobs in flight (signal again to exit now)");
                t.cancel();
            } else {
                warn!("second signal: exiting now; jobs in flight return to the queue");
                std::process::exit(130);
            }
        }
    });
    token
}

/// Worker options from the config and flags.
pub(super) fn options(config: &Config, workers: Option<u32>, grace_secs: u64) -> WorkerOptions {
    let mut o = WorkerOptions::from_config(config);
    if let Some(n) = workers {
        o.concurrency = n as usize;
    }
    o.grace = Duration::from_secs(grace_secs);
    o
}

/// Run `regscan worker`.
pub async fn run(config: Arc<Config>, args: WorkerArgs) -> anyhow::Result<()> {
    let stop = shutdown_signal();
    let store = Store::open(&config.database_url)
        .await
        .context("opening the database")?;
    let queue = crate::queue::open(&config, &store).await.context("opening the queue")?;
    let pipeline = Pipeline::new(config.clone(), store.clone())
        .await
        .context("building the scan pipeline")?;
    let metrics = Metrics::new();
    let notifier = crate::notify::Notifier::start(&config, store.clone()).context("starting scan notifications")?;
    notifier.export_metrics(metrics.clone());
    pipeline.add_listener(notifier);
    let opts = options(&config, args.workers, args.grace_secs);
    let probes = match args.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr}"))?;
            info!(%addr, "serving /healthz, /readyz and /metrics");
            let state = crate::http::AppState::new(config.clone(), store.clone(), queue.clone(), metrics.clone());
            Some(tokio::spawn(crate::http::serve_probes(listener, state, stop.clone())))
        }
        None => None,
    };
    let worker = Worker::new(pipeline, queue.clone(), config.clone(), metrics, opts);
    let result = worker.run(stop.clone()).await.context("consuming the queue");
    stop.cancel();
    if let Some(p) = probes {
        let _ = p.await;
    }
    queue.close().await;
    store.close().await;
    result
}
