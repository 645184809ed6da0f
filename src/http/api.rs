//! The query API: artifacts, scans and summaries, for security teams and the CLI's `--server`.
//!
//! | endpoint | role |
//! |---|---|
//! | `GET /v1/artifacts` | read |
//! | `GET /v1/artifacts/{registry}/{repository}@{digest}` (or `:{tag}`) | read |
//! | `GET /v1/summary` | read |
//! | `GET /v1/vulnerabilities` | read |
//! | `GET /v1/packages` | read |
//! | `POST /v1/scans` | scan |
//!
//! Errors are JSON `{"error": "…"}` with 400 (bad parameter, named), 401 (no or unknown token),
//! 403 (token lacks the role), 404, 503 (queue or database unavailable); anything else is a
//! logged generic 500.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use regscan_scanner_api::{ArtifactRef, Digest, Kind, Severity, Status, Summary};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::error;

use super::auth::{require, Role};
use super::AppState;
use crate::queue::Job;
use crate::registry::Reference;
use crate::report::{ArtifactItem, Report};
use crate::store::{ArtifactFilter, Store};

pub mod formats;
pub mod incidents;

/// The API routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/artifacts", get(list_artifacts))
        .route("/v1/artifacts/{*path}", get(get_artifact))
        .route("/v1/summary", get(summary))
        .route("/v1/vulnerabilities", get(incidents::vulnerabilities))
        .route("/v1/packages", get(incidents::packages))
        .route("/v1/scans", post(request_scans))
}

/// An API error rendered as JSON.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// 400 with a message naming the problem.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
        }
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }
    /// 503: a dependency is down; try again.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
        }
    }
    /// The HTTP status (for other renderings, e.g. the web pages).
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The message shown to the client.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// 500: logged with its cause, answered generically.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        error!(error = %e, "internal error answering an API request");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "internal error; see the server log".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(json!({"error": self.message}))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Db(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => {
                ApiError::unavailable(format!("database unavailable: {e}"))
            }
            other => ApiError::internal(other),
        }
    }
}

/// Query parameters of `GET /v1/artifacts`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Registry host.
    pub registry: Option<String>,
    /// Repository prefix.
    pub repository: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// Latest scan status.
    pub status: Option<String>,
    /// Minimum severity of at least one finding.
    pub min_severity: Option<String>,
    /// First seen at or after (RFC 3339 or Unix ms).
    pub since: Option<String>,
    /// Cursor from a previous page's `next_cursor`.
    pub before: Option<i64>,
    /// Page size, 1–1000 (default 100).
    pub limit: Option<u32>,
    /// Include children of indexes.
    pub children: Option<bool>,
    /// Include deleted artifacts.
    pub deleted: Option<bool>,
    /// Only signed (`true`) or unsigned (`false`) artifacts.
    pub signed: Option<bool>,
    /// Only artifacts with (`true`) or without (`false`) an SBOM.
    pub has_sbom: Option<bool>,
}

impl ListParams {
    fn to_filter(&self) -> Result<ArtifactFilter, ApiError> {
        let status = self
            .status
            .as_deref()
            .map(str::parse::<Status>)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("status: {e}")))?;
        let min_severity = self
            .min_severity
            .as_deref()
            .map(str::parse::<Severity>)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("min_severity: {e}")))?;
        let since_ms = match self.since.as_deref() {
            None => None,
            Some(s) => Some(
                s.parse::<i64>()
                    .ok()
                    .or_else(|| crate::time::parse_rfc3339_ms(s))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "since: {s:?} is neither an RFC 3339 time nor Unix milliseconds"
                        ))
                    })?,
            ),
        };
        if let Some(l) = self.limit {
            if !(1..=1000).contains(&l) {
                return Err(ApiError::bad_request(format!("limit: {l} is outside 1..=1000")));
            }
        }
        Ok(ArtifactFilter {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            kind: self.kind.as_deref().map(Kind::new),
            status,
            min_severity,
            since_ms,
            include_deleted: self.deleted.unwrap_or(false),
            include_children: self.children.unwrap_or(false),
            before_id: self.before,
            limit: self.limit,
            signed: self.signed,
            has_sbom: self.has_sbom,
        })
    }
}

/// A page of artifacts.
#[derive(Debug, Serialize, Deserialize)]
pub struct ArtifactPage {
    /// The artifacts, newest first.
    pub items: Vec<ArtifactItem>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_cursor: Option<i64>,
}

async fn list_artifacts(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ArtifactPage>, ApiError> {
    require(&state, &headers, Role::Read)?;
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let filter = params.to_filter()?;
    let page = list_page(&state.store, &filter).await?;
    Ok(Json(page))
}

/// One page of the listing (also used by the web pages).
pub async fn list_page(store: &Store, filter: &ArtifactFilter) -> Result<ArtifactPage, ApiError> {
    let limit = filter.limit.unwrap_or(100) as usize;
    let rows = store.list_artifacts(filter).await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let tags = store.tags_of(&r.artifact.artifact_ref()).await?;
        items.push(ArtifactItem::new(r, tags));
    }
    let next_cursor = (items.len() == limit).then(|| items.last().map(|i| i.cursor)).flatten();
    Ok(ArtifactPage { items, next_cursor })
}

/// Query parameters of `GET /v1/artifacts/{…}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetailParams {
    /// Only findings at or above this severity.
    pub severity: Option<String>,
    /// Only findings about this package (or object).
    pub package: Option<String>,
    /// Only the finding with this id.
    pub id: Option<String>,
    /// `report` (default), `harbor` (Harbor's vulnerability report 1.1) or `cyclonedx` (the
    /// package inventory as a CycloneDX 1.5 SBOM).
    pub format: Option<String>,
}

/// An artifact with its tags and scan history.
#[derive(Debug, Serialize, Deserialize)]
pub struct ArtifactDetail {
    /// The report of the latest scan.
    #[serde(flatten)]
    pub report: Report,
    /// Every live tag pointing at the digest.
    pub tags: Vec<String>,
    /// Every scan, newest first.
    pub history: Vec<ScanHistoryItem>,
}

/// One past scan.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScanHistoryItem {
    /// Scan id.
    pub id: i64,
    /// Scanner name (empty when none ran).
    pub scanner: String,
    /// Scanner version.
    pub scanner_version: String,
    /// Status.
    pub status: Status,
    /// Reason.
    pub reason: Option<String>,
    /// Findings per severity.
    pub summary: Summary,
    /// Advisory snapshot.
    pub advisory_snapshot: Option<String>,
    /// Started (RFC 3339).
    pub started_at: Option<String>,
    /// Finished (RFC 3339).
    pub finished_at: Option<String>,
}

/// Split `{registry}/{repository}@{digest}` or `{registry}/{repository}:{tag}`.
pub fn parse_artifact_path(path: &str) -> Result<(String, String, Option<Digest>, Option<String>), ApiError> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned();
    let r = Reference::parse(&decoded)
        .map_err(|e| ApiError::bad_request(format!("{e}; expected {{registry}}/{{repository}}@{{digest}}")))?;
    if r.digest.is_none() && r.tag.is_none() {
        return Err(ApiError::bad_request(format!(
            "{decoded:?} names neither @digest nor :tag"
        )));
    }
    Ok((r.registry, r.repository, r.digest, r.tag))
}

async fn get_artifact(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(path): Path<String>,
    params: Result<Query<DetailParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    require(&state, &headers, Role::Read)?;
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (registry, repository, digest, tag) = parse_artifact_path(&path)?;
    let registry = state.config.registry(&registry).map_or(registry, |r| r.host.clone());
    let store = &state.store;
    let digest = match digest {
        Some(d) => d,
        None => {
            let t = tag.clone().unwrap_or_default();
            store
                .resolve_tag(&registry, &repository, &t)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("no artifact is tagged {registry}/{repository}:{t}")))?
        }
    };
    let at = ArtifactRef::new(registry, repository, digest);
    let Some(artifact) = store.artifact(&at).await? else {
        return Err(ApiError::not_found(format!("{at} is not in the results database")));
    };
    let mut report = Report::of_artifact(store, &artifact, tag.as_deref()).await?;
    let min = params
        .severity
        .as_deref()
        .map(str::parse::<Severity>)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("severity: {e}")))?;
    report.findings.retain(|f| {
        min.is_none_or(|m| f.severity >= m)
            && params
                .package
                .as_ref()
                .is_none_or(|p| f.package.as_deref() == Some(p.as_str()))
            && params
                .id
                .as_ref()
                .is_none_or(|id| &f.id == id || f.references.contains(id))
    });
    let accept = headers.get("accept").and_then(|v| v.to_str().ok()).unwrap_or("");
    let format = params
        .format
        .as_deref()
        .unwrap_or(if accept.contains(formats::HARBOR_REPORT_MIME) {
            "harbor"
        } else {
            "report"
        });
    match format {
        "report" => {}
        "harbor" => return Ok(formats::harbor(&report).into_response()),
        "cyclonedx" => {
            let scan = match artifact.latest_scan_id {
                Some(id) => store.scan(id).await?,
                None => None,
            };
            let packages = match scan {
                Some(s) => store.packages(s.inventory_scan_id.unwrap_or(s.id)).await?,
                None => Vec::new(),
            };
            return Ok(formats::cyclonedx(&report, &packages).into_response());
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "format: {other:?} is not report, harbor or cyclonedx"
            )))
        }
    }
    let tags = store.tags_of(&at).await?;
    let history = store
        .scans_of(artifact.id)
        .await?
        .into_iter()
        .map(|s| ScanHistoryItem {
            id: s.id,
            scanner: s.scanner,
            scanner_version: s.scanner_version,
            status: s.status,
            reason: s.reason,
            summary: s.summary,
            advisory_snapshot: s.advisory_snapshot,
            started_at: s.started_at.map(crate::report::rfc3339),
            finished_at: s.finished_at.map(crate::report::rfc3339),
        })
        .collect();
    Ok(Json(ArtifactDetail { report, tags, history }).into_response())
}

async fn summary(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    require(&state, &headers, Role::Read)?;
    let counts = state.store.counts_by_kind_status().await?;
    let mut by_kind: std::collections::BTreeMap<String, std::collections::BTreeMap<String, i64>> = Default::default();
    for (kind, status, n) in counts {
        by_kind.entry(kind).or_default().insert(status, n);
    }
    // Kept current on write with the top lists (see `store::incidents::summary`).
    let severity = state.store.severity_totals().await?;
    let most_dangerous = state.store.most_dangerous(10).await?;
    let top_vulnerabilities = state.store.top_vulnerabilities(10).await?;
    let fixable = state.store.fixable_split().await?;
    Ok(Json(json!({
        "by_kind": by_kind,
        "by_severity": severity,
        "most_dangerous": most_dangerous,
        "top_vulnerabilities": top_vulnerabilities,
        "fixable": fixable,
    })))
}

/// Body of `POST /v1/scans`: one reference, or a filter selecting stored artifacts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// `host[:port]/repository[:tag|@digest]`.
    pub reference: Option<String>,
    /// Rescan every stored artifact matching this filter (same fields as `GET /v1/artifacts`).
    pub filter: Option<ListParams>,
    /// Scan again even if already scanned by the same scanner version (default true for
    /// filter rescans, false for a single reference).
    pub force: Option<bool>,
}

async fn request_scans(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<ScanRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    require(&state, &headers, Role::Scan)?;
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let id = || format!("api-{:016x}", rand::random::<u64>());
    match (req.reference, req.filter) {
        (Some(reference), None) => {
            let r = Reference::parse(&reference).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let Some(reg) = state.config.registry(&r.registry) else {
                return Err(ApiError::bad_request(format!("registry {} is not configured; regscan only contacts registries listed as [[registry]] in its config", r.registry)));
            };
            // Pin a tag to the digest it names now, so the caller can wait for exactly that
            // manifest (a tag may move before a worker gets to it). If the registry does not
            // answer, the job keeps the tag and the worker resolves it.
            let mut digest = r.digest.clone();
            if digest.is_none() {
                let opts = crate::registry::ClientOptions {
                    max_attempts: 1,
                    response_timeout: std::time::Duration::from_secs(10),
                    ..Default::default()
                };
                if let Ok(client) = crate::registry::Client::new(std::slice::from_ref(reg), opts) {
                    match client
                        .fetch_manifest(&reg.host, &r.repository, r.manifest_reference())
                        .await
                    {
                        Ok(m) => digest = Digest::parse(&m.digest).ok(),
                        Err(e) => tracing::debug!(error = %e, "could not resolve the tag now; the worker will"),
                    }
                }
            }
            let job = Job {
                id: id(),
                registry: reg.host.clone(),
                repository: r.repository.clone(),
                reference: digest
                    .as_ref()
                    .map_or_else(|| r.manifest_reference().to_owned(), Digest::to_string),
                tag: r
                    .tag
                    .clone()
                    .or_else(|| r.digest.is_none().then(|| "latest".to_owned())),
                source: "api".into(),
                force: req.force.unwrap_or(false),
                attempt: 0,
            };
            state
                .queue
                .publish(std::slice::from_ref(&job))
                .await
                .map_err(|e| ApiError::unavailable(format!("could not queue the scan: {e}")))?;
            let report = Report {
                reference: r.to_string(),
                registry: reg.host.clone(),
                repository: r.repository,
                digest: digest.map(Digest::into_string).unwrap_or_default(),
                tag: r.tag,
                manifest_media_type: String::new(),
                artifact_type: None,
                kind: "unknown".into(),
                status: Status::Queued,
                reason: None,
                scanner: None,
                summary: Summary::default(),
                findings: Vec::new(),
                children: Vec::new(),
                platform: None,
                details: Some(json!({"job": job.id})),
                scanned_at: None,
                advisory_snapshot: None,
                referrers: Vec::new(),
                subject: None,
                signatures: Vec::new(),
            };
            Ok((StatusCode::ACCEPTED, Json(report)).into_response())
        }
        (None, Some(filter)) => {
            let mut f = filter.to_filter()?;
            f.include_children = false;
            f.limit = Some(1000);
            let mut jobs = Vec::new();
            loop {
                let rows = state.store.list_artifacts(&f).await?;
                for r in &rows {
                    let a = &r.artifact;
                    if a.digest.is_unresolved() {
                        continue;
                    }
                    jobs.push(Job {
                        id: id(),
                        registry: a.registry.clone(),
                        repository: a.repository.clone(),
                        reference: a.digest.to_string(),
                        tag: None,
                        source: "api:rescan".into(),
                        force: req.force.unwrap_or(true),
                        attempt: 0,
                    });
                }
                match rows.last() {
                    Some(last) if rows.len() == 1000 => f.before_id = Some(last.artifact.id),
                    _ => break,
                }
            }
            for chunk in jobs.chunks(500) {
                state
                    .queue
                    .publish(chunk)
                    .await
                    .map_err(|e| ApiError::unavailable(format!("could not queue the rescans: {e}")))?;
            }
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"queued": jobs.len(), "jobs": jobs.iter().map(|j| &j.id).collect::<Vec<_>>()})),
            )
                .into_response())
        }
        _ => Err(ApiError::bad_request("give exactly one of reference or filter")),
    }
}
