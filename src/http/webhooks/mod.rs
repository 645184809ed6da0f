//! The webhook receiver: `POST /v1/webhooks/{distribution,harbor,acr,quay,zot}`.
//!
//! Every request goes through the same steps:
//! 1. **Token**: when `webhook_token` is set, `Authorization: Bearer TOKEN` (or HTTP Basic with
//!    the token as password, which is all zot can send) is required, compared in constant time;
//!    401 otherwise.
//! 2. **Body**: at most `http.max_body_bytes` (413 beyond); malformed payloads get 400 with a
//!    message; a distribution request with a foreign Content-Type gets 415.
//! 3. **Events**: each event is parsed into a [`event::RegistryEvent`] and validated
//!    ([`event::validate`]: repository, tag and digest by the distribution spec's grammar, event
//!    ids at most 256 bytes; a bad event is `rejected` with its reason, and if every event of the
//!    request is rejected or refused the answer is 400); blob pushes, pulls,
//!    mounts and unknown actions are ignored; an event naming a registry that is not configured
//!    is refused (the SSRF guard); an event id already queued is a duplicate.
//! 4. **Queue**: all pushes of the request are published at once; only when the queue says they
//!    are durable is the request answered 202. Otherwise 503, and the registry retries.
//!    `delete` events mark the artifact or tag deleted.
//!
//! Every event is recorded in the `webhook_events` table with its outcome and reason (through
//! the batched [`log::EventLog`]), and counted in `regscan_webhook_events_total`. Requests
//! rejected as a whole are always counted, but recorded rate-limited per source address, with a
//! summary row for what was held back ([`flood`]), so a flood cannot grow the table.

use std::collections::HashSet;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use super::AppState;
use crate::config::ExposeSecret;
use crate::store::events::{EventOutcome, EventRecord};

pub mod acr;
pub mod cloudevents;
pub mod distribution;
pub mod event;
pub mod flood;
pub mod harbor;
pub mod log;
pub mod quay;
pub mod zot;

use event::{Action, RegistryEvent};

/// The registry products regscan takes webhooks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// CNCF distribution / Docker registry notifications.
    Distribution,
    /// Harbor (default JSON and CloudEvents).
    Harbor,
    /// Azure Container Registry.
    Acr,
    /// Quay `repo_push`.
    Quay,
    /// zot (CloudEvents).
    Zot,
}

impl Flavour {
    /// The endpoint name (`/v1/webhooks/{name}`).
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Distribution => "distribution",
            Flavour::Harbor => "harbor",
            Flavour::Acr => "acr",
            Flavour::Quay => "quay",
            Flavour::Zot => "zot",
        }
    }

    /// Parse a request body of this flavour into events.
    /// Every event is checked with [`event::validate`]: names and references outside the
    /// distribution spec's grammar, and ids over 256 bytes, come back as [`Action::Reject`].
    pub fn parse(self, headers: &HeaderMap, body: &[u8]) -> Result<Vec<RegistryEvent>, PayloadError> {
        let events = match self {
            Flavour::Distribution => {
                let ct = content_type(headers);
                if !ct.is_empty() && !distribution::CONTENT_TYPES.contains(&ct.as_str()) {
                    return Err(PayloadError::ContentType(ct));
                }
                distribution::parse(body)
            }
            Flavour::Harbor => harbor::parse(headers, body),
            Flavour::Acr => acr::parse(body),
            Flavour::Quay => quay::parse(body),
            Flavour::Zot => zot::parse(headers, body),
        }?;
        Ok(events.into_iter().map(event::validate).collect())
    }
}

/// A payload regscan cannot use.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON, or not the expected shape.
    #[error("malformed payload: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON of the right shape with something missing or wrong.
    #[error("invalid payload: {0}")]
    Invalid(String),
    /// A Content-Type the endpoint does not take.
    #[error("unsupported Content-Type {0:?} (expected one of the distribution event types or application/json)")]
    ContentType(String),
}

impl PayloadError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            PayloadError::ContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Query parameters of every webhook endpoint.
#[derive(Debug, Default, Deserialize)]
pub struct WebhookQuery {
    /// The registry host, for payloads that name none (zot, ACR chart events). It must be a
    /// configured registry, and it cannot override a host the payload does name.
    pub registry: Option<String>,
}

/// The webhook routes.
pub fn routes() -> Router<AppState> {
    fn endpoint(f: Flavour) -> axum::routing::MethodRouter<AppState> {
        post(
            move |State(state): State<AppState>,
                  Peer(peer): Peer,
                  Query(q): Query<WebhookQuery>,
                  headers: HeaderMap,
                  body: Body| { receive(state, f, peer, q, headers, body) },
        )
    }
    Router::new()
        .route("/v1/webhooks/distribution", endpoint(Flavour::Distribution))
        .route("/v1/webhooks/harbor", endpoint(Flavour::Harbor))
        .route("/v1/webhooks/acr", endpoint(Flavour::Acr))
        .route("/v1/webhooks/quay", endpoint(Flavour::Quay))
        .route("/v1/webhooks/zot", endpoint(Flavour::Zot))
}

/// The peer's address, when the server runs with `ConnectInfo<SocketAddr>` (as
/// [`crate::http::serve`] does); None otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// What a webhook request is answered with.
#[derive(Debug, Serialize)]
pub struct WebhookResponse {
    /// Events whose jobs are durably queued.
    pub queued: usize,
    /// Each event with its outcome.
    pub events: Vec<EventSummary>,
}

/// One event in a [`WebhookResponse`].
#[derive(Debug, Serialize)]
pub struct EventSummary {
    /// Event id, if the payload had one.
    pub id: Option<String>,
    /// Outcome.
    pub outcome: EventOutcome,
    /// Why, for everything but `queued`.
    pub reason: Option<String>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

/// Whether `headers` carry the webhook token: `Bearer TOKEN`, or Basic auth whose password is
/// the token. Constant-time comparison.
pub fn authorized(headers: &HeaderMap, token: &str) -> bool {
    use base64::Engine;
    use subtle::ConstantTimeEq;
    let eq = |a: &[u8], b: &[u8]| a.len() == b.len() && bool::from(a.ct_eq(b));
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        return eq(rest.trim().as_bytes(), token.as_bytes());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) {
            if let Some(pos) = decoded.iter().position(|&b| b == b':') {
                return eq(&decoded[pos + 1..], token.as_bytes());
            }
        }
    }
    false
}

/// Refuse a whole request: count it, record it (rate-limited per source address, see
/// [`flood`]), answer `status` with the reason.
async fn reject(
    state: &AppState,
    endpoint: &str,
    peer: Option<std::net::IpAddr>,
    status: StatusCode,
    reason: String,
) -> Response {
    debug!(endpoint, status = status.as_u16(), %reason, "webhook rejected");
    state.metrics.webhook_event(endpoint, EventOutcome::Rejected.as_str());
    state
        .events
        .record_rejected(peer, EventRecord::rejected(endpoint, status.as_u16(), &reason))
        .await;
    (status, Json(ErrorBody { error: &reason })).into_response()
}

/// Handle one webhook request (see the module docs).
pub async fn receive(
    state: AppState,
    flavour: Flavour,
    peer: Option<std::net::IpAddr>,
    query: WebhookQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let endpoint = flavour.name();
    if let Some(token) = state
        .config
        .webhook_token
        .as_ref()
        .filter(|t| !t.expose_secret().is_empty())
    {
        if !authorized(&headers, token.expose_secret()) {
            let reason = if headers.contains_key(header::AUTHORIZATION) {
                "wrong webhook token"
            } else {
                "missing Authorization header (Bearer token required)"
            };
            return reject(&state, endpoint, peer, StatusCode::UNAUTHORIZED, reason.into()).await;
        }
    }
    let max = state.config.http.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || format!("body larger than the limit of {max} bytes (http.max_body_bytes)");
    if declared.is_some_and(|n| n > max as u64) {
        return reject(&state, endpoint, peer, StatusCode::PAYLOAD_TOO_LARGE, too_large()).await;
    }
    let bytes = match axum::body::to_bytes(body, max).await {
        Ok(b) => b,
        Err(e) => {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.downcast_ref::<http_body_util::LengthLimitError>().is_some());
            return if over {
                reject(&state, endpoint, peer, StatusCode::PAYLOAD_TOO_LARGE, too_large()).await
            } else {
                reject(
                    &state,
                    endpoint,
                    peer,
                    StatusCode::BAD_REQUEST,
                    format!("could not read the body: {e}"),
                )
                .await
            };
        }
    };
    let events = match flavour.parse(&headers, &bytes) {
        Ok(ev) => ev,
        Err(e) => return reject(&state, endpoint, peer, e.status(), e.to_string()).await,
    };
    process(&state, flavour, query.registry.as_deref(), events).await
}

/// Decide, queue and record the events of one accepted request.
async fn process(state: &AppState, flavour: Flavour, fallback: Option<&str>, events: Vec<RegistryEvent>) -> Response {
    let endpoint = flavour.name();
    let ids: Vec<&str> = events
        .iter()
        .filter(|e| !matches!(e.action, Action::Reject(_)))
        .filter_map(|e| e.id.as_deref())
        .collect();
    let seen = if ids.is_empty() {
        HashSet::new()
    } else {
        match state.events.seen(endpoint, &ids).await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "webhook: database unavailable");
                let body = ErrorBody {
                    error: &format!("database unavailable, retry later: {e}"),
                };
                return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
            }
        }
    };
    let mut records = Vec::with_capacity(events.len());
    let mut jobs = Vec::new();
    let mut deletes = Vec::new();
    let mut this_request = HashSet::new();
    for ev in &events {
        let mut rec = EventRecord {
            endpoint: endpoint.to_owned(),
            event_id: ev.id.clone(),
            outcome: EventOutcome::Ignored,
            status_code: 0,
            reason: None,
            action: Some(ev.raw_action.clone()),
            registry: ev.hosts.first().cloned().or_else(|| fallback.map(str::to_owned)),
            repository: Some(ev.repository.clone()).filter(|r| !r.is_empty()),
            reference: ev.reference().map(str::to_owned),
        };
        match &ev.action {
            Action::Ignore(reason) => rec.reason = Some(reason.clone()),
            Action::Reject(reason) => {
                // The bad values are quoted safely in the reason; the columns stay empty.
                rec.outcome = EventOutcome::Rejected;
                rec.reason = Some(reason.clone());
                rec.repository = None;
                rec.reference = None;
                rec.registry = rec.registry.map(|r| event::excerpt(&r).trim_matches('"').to_owned());
            }
            Action::Push | Action::Delete => match event::resolve_registry(&state.config, &ev.hosts, fallback) {
                Err(reason) => {
                    rec.outcome = EventOutcome::Refused;
                    rec.reason = Some(reason);
                }
                Ok(registry) => {
                    rec.registry = Some(registry.clone());
                    let dup = ev
                        .id
                        .as_deref()
                        .is_some_and(|id| seen.contains(id) || !this_request.insert(id.to_owned()));
                    if dup {
                        rec.outcome = EventOutcome::Duplicate;
                        rec.reason = Some("event id already received; not queued again".into());
                    } else if ev.action == Action::Push {
                        let id = ev.id.clone().unwrap_or_else(|| event::fresh_id(endpoint));
                        if let Some(job) = event::job_for(ev, &registry, endpoint, id) {
                            jobs.push(job);
                            rec.outcome = EventOutcome::Queued;
                        }
                    } else {
                        deletes.push((registry, ev.repository.clone(), ev.digest.clone(), ev.tag.clone()));
                        rec.outcome = EventOutcome::Deleted;
                    }
                }
            },
        }
        records.push(rec);
    }

    let mut status = if jobs.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let mut failure: Option<String> = None;
    if !jobs.is_empty() {
        let started = Instant::now();
        match state.queue.publish(&jobs).await {
            Ok(()) => state.metrics.publish_latency(state.queue.kind(), started.elapsed()),
            Err(e) => {
                warn!(endpoint, jobs = jobs.len(), error = %e, "webhook: could not queue; answering 503 so the registry retries");
                failure = Some(format!("queue unavailable, retry later: {e}"));
            }
        }
    }
    if failure.is_none() {
        for (registry, repository, digest, tag) in &deletes {
            if let Err(e) = state
                .store
                .mark_deleted(registry, repository, digest.as_deref(), tag.as_deref())
                .await
            {
                warn!(error = %e, "webhook: could not mark deleted");
                failure = Some(format!("database unavailable, retry later: {e}"));
                break;
            }
        }
    }
    if let Some(reason) = &failure {
        status = StatusCode::SERVICE_UNAVAILABLE;
        for r in records
            .iter_mut()
            .filter(|r| matches!(r.outcome, EventOutcome::Queued | EventOutcome::Deleted))
        {
            r.outcome = EventOutcome::Failed;
            r.reason = Some(reason.clone());
        }
    } else if !records.is_empty() && records.iter().all(|r| r.outcome == EventOutcome::Refused) {
        status = StatusCode::FORBIDDEN;
    } else if !records.is_empty()
        && records
            .iter()
            .all(|r| matches!(r.outcome, EventOutcome::Refused | EventOutcome::Rejected))
    {
        status = StatusCode::BAD_REQUEST;
    }
    for r in &mut records {
        r.status_code = status.as_u16();
        state.metrics.webhook_event(endpoint, r.outcome.as_str());
    }
    let response = match &failure {
        Some(reason) => (status, Json(ErrorBody { error: reason })).into_response(),
        None => {
            let body = WebhookResponse {
                queued: records.iter().filter(|r| r.outcome == EventOutcome::Queued).count(),
                events: records
                    .iter()
                    .map(|r| EventSummary {
                        id: r.event_id.clone(),
                        outcome: r.outcome,
                        reason: r.reason.clone(),
                    })
                    .collect(),
            };
            (status, Json(body)).into_response()
        }
    };
    // Written after the answer is decided; see `log` for why that is safe.
    state.events.record_later(records).await;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_as_bearer_or_basic_password() {
        use base64::Engine;
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, "s3cret"));
        h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(authorized(&h, "s3cret"));
        h.insert(header::AUTHORIZATION, "bearer s3cre".parse().unwrap());
        assert!(!authorized(&h, "s3cret"));
        let basic = base64::engine::general_purpose::STANDARD.encode("zot:s3cret");
        h.insert(header::AUTHORIZATION, format!("Basic {basic}").parse().unwrap());
        assert!(authorized(&h, "s3cret"));
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert!(!authorized(&h, "s3cret"));
    }

    #[test]
    fn distribution_refuses_foreign_content_types() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        let err = Flavour::Distribution.parse(&h, br#"{"events":[]}"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        h.insert(
            header::CONTENT_TYPE,
            "application/vnd.docker.distribution.events.v2+json; charset=utf-8"
                .parse()
                .unwrap(),
        );
        assert!(Flavour::Distribution.parse(&h, br#"{"events":[]}"#).unwrap().is_empty());
    }
}
