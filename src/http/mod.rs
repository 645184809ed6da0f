//! The HTTP edge: webhooks, the query API, health and metrics (axum).

use std::sync::Arc;

use crate::config::Config;
use crate::store::Store;

pub mod api;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// Configuration.
    pub config: Arc<Config>,
    /// Results store.
    pub store: Store,
}
