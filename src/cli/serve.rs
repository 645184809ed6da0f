//! `regscan serve`: webhook receiver + query API + health and metrics + worker(s), in one
//! process (the embedded default: SQLite and the queue table, nothing else to run).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tracing::info;

use crate::config::Config;
use crate::http::AppState;
use crate::scan::Pipeline;
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::worker::Worker;

/// Flags of `regscan serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Jobs run at once by the worker in this process (overrides worker.concurrency); 0 runs
    /// no worker here (receiver and API only, with `regscan worker` processes elsewhere).
    #[arg(long, value_name = "N")]
    pub workers: Option<u32>,
    /// Address to listen on (overrides `listen` and REGSCAN_LISTEN).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Seconds jobs in flight get to finish after SIGTERM/SIGINT before they are handed back to
    /// the queue.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub grace_secs: u64,
}

/// Run `regscan serve`.
pub async fn run(config: Arc<Config>, args: ServeArgs) -> anyhow::Result<()> {
    let stop = super::worker::shutdown_signal();
    let store = Store::open(&config.database_url)
        .await
        .context("opening the database")?;
    let queue = crate::queue::open(&config, &store).await.context("opening the queue")?;
    let metrics = Metrics::new();
    let addr = args.listen.unwrap_or(config.listen);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    info!(%addr, queue = queue.kind(), "regscan serving");

    let worker = if args.workers == Some(0) {
        None
    } else {
        let pipeline = Pipeline::new(config.clone(), store.clone())
            .await
            .context("building the scan pipeline")?;
        let notifier = crate::notify::Notifier::start(&config, store.clone()).context("starting scan notifications")?;
        notifier.export_metrics(metrics.clone());
        pipeline.add_listener(notifier);
        let opts = super::worker::options(&config, args.workers, args.grace_secs);
        let w = Worker::new(pipeline, queue.clone(), config.clone(), metrics.clone(), opts);
        let stop = stop.clone();
        Some(tokio::spawn(async move {
            let r = w.run(stop.clone()).await;
            // A worker that cannot consume takes the service down rather than accept webhooks
            // nobody will work on.
            stop.cancel();
            r
        }))
    };

    let retention = tokio::spawn(crate::store::retention::run(
        store.clone(),
        config.retention.clone(),
        stop.clone(),
    ));
    let state = AppState::new(config.clone(), store.clone(), queue.clone(), metrics);
    let events = state.events.clone();
    let served = crate::http::serve(listener, state, stop.clone())
        .await
        .context("serving HTTP");
    if let Err(e) = events.flush().await {
        tracing::warn!(error = %e, "could not write the last webhook events");
    }
    stop.cancel();
    let _ = retention.await;
    let worked = match worker {
        Some(handle) => handle
            .await
            .context("worker task panicked")?
            .context("consuming the queue"),
        None => Ok(()),
    };
    queue.close().await;
    store.close().await;
    served.and(worked)
}
