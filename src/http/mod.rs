//! The HTTP edge: webhooks, the query API, health and metrics (axum).
//!
//! [`router`] assembles every route over one [`AppState`]; [`serve`] runs it until shutdown.

use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::queue::Queue;
use crate::store::Store;
use crate::telemetry::Metrics;

pub mod api;
pub mod auth;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod web;
pub mod webhooks;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// Configuration.
    pub config: Arc<Config>,
    /// Results store.
    pub store: Store,
    /// The job queue webhooks (and on-demand scans) publish to.
    pub queue: Arc<dyn Queue>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The webhook event log (batched writes).
    pub events: webhooks::log::EventLog,
}

impl AppState {
    /// State over these parts; starts the event log's batching tasks (call inside a tokio
    /// runtime).
    pub fn new(config: Arc<Config>, store: Store, queue: Arc<dyn Queue>, metrics: Arc<Metrics>) -> Self {
        let events = webhooks::log::EventLog::with_limiter(
            store.clone(),
            config.http.dedup_in_database,
            webhooks::flood::RejectLimiter::new(config.http.rejected_log_burst, config.http.rejected_log_per_minute),
        );
        AppState {
            config,
            store,
            queue,
            metrics,
            events,
        }
    }
}

/// Every route: webhooks, query API, `/healthz`, `/readyz`, `/metrics`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(webhooks::routes())
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(api::routes())
        .merge(web::routes())
        .merge(openapi::routes())
        .with_state(state)
}

/// Serve only `/healthz`, `/readyz` and `/metrics` (for `regscan worker`) until `shutdown`.
pub async fn serve_probes(listener: TcpListener, state: AppState, shutdown: CancellationToken) -> std::io::Result<()> {
    let app = Router::new()
        .merge(health::routes())
        .merge(metrics::routes())
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// Serve [`router`] on `listener` until `shutdown` fires; requests in progress are finished.
/// Handlers see the peer address (`ConnectInfo<SocketAddr>`), which rate-limits the log of
/// rejected webhooks per source.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: CancellationToken) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
