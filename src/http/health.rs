//! `GET /healthz` (the process answers) and `GET /readyz` (the database and the queue answer).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;

/// The health routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness of each dependency: `ok` or the error.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// The database.
    pub database: String,
    /// The queue (`embedded` or `rabbitmq`).
    pub queue: String,
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (db, queue) = tokio::join!(state.store.ping(), state.queue.ping());
    let ok = db.is_ok() && queue.is_ok();
    let body = Readiness {
        database: db.map(|()| "ok".to_owned()).unwrap_or_else(|e| e.to_string()),
        queue: queue.map(|()| "ok".to_owned()).unwrap_or_else(|e| e.to_string()),
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
