//! The web listing: server-rendered HTML pages for people, readable without JavaScript.
//!
//! | page | shows |
//! |---|---|
//! | `GET /` | a row per artifact — reference, type (icon, kind, title), scan status, findings per severity, and the action that fits its type (`docker run`, `helm install`, `opa run`; the reason for unsupported types) — with a GET form filtering by kind, status, registry and repository prefix, and cursor pagination (`before`, `limit`) |
//! | `GET /vulnerabilities` | advisory search (id with aliases, package, severity, CVSS, repository, kind) listing the artifacts each affects now; the most dangerous artifacts, the most widespread advisories and the fixable split ([`incidents`]) |
//! | `GET /packages` | where a package (name, version range or glob, ecosystem, purl) is installed, with path and layer |
//! | `GET /artifacts/{registry}/{repository}@{digest}` (or `:{tag}`) | one artifact: facts, the reason when failed or unsupported, tags, findings, children of an index, scan history, links to the JSON, Harbor and CycloneDX forms |
//!
//! Authentication is the query API's rule (read role, `Authorization: Bearer`): with an API
//! token configured, browsers need a reverse proxy that adds the header. Errors are HTML pages
//! with the API's status codes and messages.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use regscan_scanner_api::{ArtifactRef, Kind, Severity, Status};
use serde::Deserialize;

use super::api::{list_page, parse_artifact_path, ApiError};
use super::auth::{require, Role};
use super::AppState;
use crate::store::ArtifactFilter;

mod artifact;
pub mod html;
mod incidents;

use html::{esc, page};

/// The web routes: `/`, `/artifacts/{…}`, `/vulnerabilities` and `/packages`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(listing))
        .route("/artifacts/{*path}", get(artifact_page))
        .route("/vulnerabilities", get(incidents::vulnerabilities_page))
        .route("/packages", get(incidents::packages_page))
}

/// An error shown as an HTML page with the API's status and message.
#[derive(Debug)]
pub struct WebError(ApiError);

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        WebError(e)
    }
}

impl From<crate::store::StoreError> for WebError {
    fn from(e: crate::store::StoreError) -> Self {
        WebError(e.into())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let title = status.canonical_reason().unwrap_or("Error");
        let body = format!(
            "<h1>{} {}</h1><p class=\"error\">{}</p><p><a href=\"/\">Back to the listing</a></p>",
            status.as_u16(),
            esc(title),
            esc(self.0.message())
        );
        let mut resp = (status, Html(page(title, &body))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// Query parameters of `/`. Empty values (as a GET form sends them) do not filter.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingParams {
    /// Kind, exact.
    pub kind: Option<String>,
    /// Latest scan status.
    pub status: Option<String>,
    /// Registry host, exact.
    pub registry: Option<String>,
    /// Repository prefix.
    pub repository: Option<String>,
    /// Minimum severity of at least one finding.
    pub min_severity: Option<String>,
    /// Cursor from the previous page.
    pub before: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<String>,
    /// `true`: only signed artifacts; `false`: only unsigned ones.
    pub signed: Option<String>,
    /// `true`: only artifacts with an SBOM; `false`: only those without.
    pub has_sbom: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl ListingParams {
    fn to_filter(&self) -> Result<ArtifactFilter, ApiError> {
        let status = nonempty(&self.status)
            .map(str::parse::<Status>)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("status: {e}")))?;
        let min_severity = nonempty(&self.min_severity)
            .map(str::parse::<Severity>)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("min_severity: {e}")))?;
        let before = nonempty(&self.before)
            .map(|b| {
                b.parse::<i64>()
                    .map_err(|_| ApiError::bad_request(format!("before: {b:?} is not a cursor (an integer)")))
            })
            .transpose()?;
        let limit = match nonempty(&self.limit) {
            None => 50,
            Some(l) => match l.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "limit: {l:?} is not a number in 1..=1000"
                    )))
                }
            },
        };
        let flag = |name: &str, v: &Option<String>| match nonempty(v) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::bad_request(format!(
                "{name}: {other:?} is neither true nor false"
            ))),
        };
        Ok(ArtifactFilter {
            registry: nonempty(&self.registry).map(str::to_owned),
            repository: nonempty(&self.repository).map(str::to_owned),
            kind: nonempty(&self.kind).map(Kind::new),
            status,
            min_severity,
            before_id: before,
            limit: Some(limit),
            signed: flag("signed", &self.signed)?,
            has_sbom: flag("has_sbom", &self.has_sbom)?,
            ..Default::default()
        })
    }

    /// The query string of these filters with `before` set to `cursor`.
    fn next_page(&self, cursor: i64) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("kind", &self.kind),
            ("status", &self.status),
            ("registry", &self.registry),
            ("repository", &self.repository),
            ("min_severity", &self.min_severity),
            ("limit", &self.limit),
            ("signed", &self.signed),
            ("has_sbom", &self.has_sbom),
        ] {
            if let Some(v) = nonempty(v) {
                q.append_pair(k, v);
            }
        }
        q.append_pair("before", &cursor.to_string());
        q.finish()
    }
}

const KINDS: &[&str] = &[
    "image",
    "index",
    "helm",
    "opa",
    "signature",
    "attestation",
    "sbom",
    "wasm",
    "unknown",
];

fn select(name: &str, label: &str, options: &[&str], current: Option<&str>) -> String {
    let mut s = format!("<label>{label}<select name=\"{name}\"><option value=\"\">any</option>");
    for o in options {
        let sel = if current == Some(*o) { " selected" } else { "" };
        s.push_str(&format!("<option value=\"{0}\"{sel}>{0}</option>", esc(o)));
    }
    if let Some(c) = current.filter(|c| !options.contains(c)) {
        s.push_str(&format!("<option value=\"{0}\" selected>{0}</option>", esc(c)));
    }
    s.push_str("</select></label>");
    s
}

async fn listing(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<ListingParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Html<String>, WebError> {
    require(&state, &headers, Role::Read)?;
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let filter = params.to_filter()?;
    let result = list_page(&state.store, &filter).await?;
    let statuses: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    let severities: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
    let mut body = String::from("<h1>Artifacts</h1>");
    body.push_str(&overview(&state.config, &state.store.counts_by_kind_status().await?));
    body.push_str("<form class=\"filters\" method=\"get\" action=\"/\">");
    body.push_str(&select("kind", "Kind", KINDS, nonempty(&params.kind)));
    body.push_str(&select("status", "Status", &statuses, nonempty(&params.status)));
    body.push_str(&select(
        "min_severity",
        "Findings at least",
        &severities,
        nonempty(&params.min_severity),
    ));
    body.push_str(&select(
        "signed",
        "Signed",
        &["true", "false"],
        nonempty(&params.signed),
    ));
    body.push_str(&select(
        "has_sbom",
        "SBOM",
        &["true", "false"],
        nonempty(&params.has_sbom),
    ));
    body.push_str(&format!(
        "<label>Registry<input name=\"registry\" value=\"{}\" placeholder=\"host:port\"></label><label>Repository prefix<input name=\"repository\" value=\"{}\" placeholder=\"team/\"></label><button type=\"submit\">Filter</button> <a href=\"/\">clear</a></form>",
        esc(nonempty(&params.registry).unwrap_or("")),
        esc(nonempty(&params.repository).unwrap_or(""))
    ));
    if result.items.is_empty() {
        body.push_str("<p class=\"muted\" id=\"empty\">No artifacts match.</p>");
    } else {
        body.push_str("<table id=\"artifacts\"><thead><tr><th>Artifact</th><th>Type</th><th>Status</th><th>Findings</th><th>Use it</th></tr></thead><tbody>");
        for i in &result.items {
            let href = html::artifact_href(&i.registry, &i.repository, i.digest.as_str());
            let name = match i.tags.first() {
                Some(t) => format!("{}/{}:{t}", i.registry, i.repository),
                None => format!("{}/{}", i.registry, i.repository),
            };
            let short: String = i.digest.as_str().chars().take(19).collect();
            let action = html::action_text(
                &state.config,
                &i.kind,
                i.status,
                i.reason.as_deref(),
                &ArtifactRef::new(&i.registry, &i.repository, i.digest.clone()),
                i.tags.first().map(String::as_str),
            );
            let reason = match (&i.reason, i.status) {
                (Some(r), Status::Failed) => format!("<div class=\"reason\">{}</div>", esc(r)),
                _ => String::new(),
            };
            let marks: String = [(i.signed, "signed"), (i.has_sbom, "sbom")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, m)| format!(" <span class=\"mark mark-{m}\">{m}</span>"))
                .collect();
            body.push_str(&format!(
                "<tr class=\"row {status}\" data-kind=\"{kind}\" data-status=\"{status}\"><td><a href=\"{href}\">{name}</a>{marks}<div class=\"mono muted\">{short}…</div></td><td>{kindcell}</td><td>{badge}{reason}</td><td>{sev}</td><td>{action}</td></tr>",
                status = i.status.as_str(),
                kind = esc(i.kind.as_str()),
                href = esc(&href),
                name = esc(&name),
                short = esc(&short),
                kindcell = html::kind_cell(&state.config, i.kind.as_str(), i.artifact_type.as_deref()),
                badge = html::status_badge(i.status),
                sev = html::severity_counts(&i.summary),
                action = action.to_html(),
            ));
        }
        body.push_str("</tbody></table>");
    }
    if let Some(cursor) = result.next_cursor {
        body.push_str(&format!(
            "<p class=\"pager\"><a id=\"next\" href=\"/?{}\">Next page →</a></p>",
            esc(&params.next_page(cursor))
        ));
    }
    Ok(Html(page("Artifacts", &body)))
}

/// Counts by kind × status, each linking to the filtered listing.
fn overview(config: &crate::config::Config, counts: &[(String, String, i64)]) -> String {
    if counts.is_empty() {
        return String::new();
    }
    let mut kinds: Vec<&str> = counts.iter().map(|c| c.0.as_str()).collect();
    kinds.dedup();
    let mut s = String::from("<table id=\"overview\" class=\"overview\"><thead><tr><th>Type</th>");
    for st in Status::ALL {
        s.push_str(&format!("<th>{}</th>", st.as_str()));
    }
    s.push_str("<th>total</th></tr></thead><tbody>");
    for k in kinds {
        let mut total = 0;
        s.push_str(&format!(
            "<tr><td><a href=\"/?kind={0}\">{1}</a></td>",
            esc(&url_component(k)),
            html::kind_cell(config, k, None)
        ));
        for st in Status::ALL {
            let n: i64 = counts
                .iter()
                .filter(|c| c.0 == k && c.1 == st.as_str())
                .map(|c| c.2)
                .sum();
            total += n;
            if n == 0 {
                s.push_str("<td class=\"muted\">0</td>");
            } else {
                s.push_str(&format!(
                    "<td><a class=\"badge st-{1}\" href=\"/?kind={0}&amp;status={1}\">{n}</a></td>",
                    esc(&url_component(k)),
                    st.as_str()
                ));
            }
        }
        s.push_str(&format!("<td>{total}</td></tr>"));
    }
    s.push_str("</tbody></table>");
    s
}

fn url_component(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn artifact_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Result<Html<String>, WebError> {
    require(&state, &headers, Role::Read)?;
    let (registry, repository, digest, tag) = parse_artifact_path(&path)?;
    let registry = state.config.registry(&registry).map_or(registry, |r| r.host.clone());
    let body = artifact::render(&state, &registry, &repository, digest, tag).await?;
    Ok(Html(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    async fn state_with_hostile_rows() -> (AppState, tempfile::TempDir) {
        use crate::store::{NewArtifact, ScanResult, Store};
        use regscan_scanner_api::Digest;
        let dir = tempfile::tempdir().unwrap();
        let config = std::sync::Arc::new(crate::config::Config::default());
        let store = Store::open(&format!("sqlite://{}", dir.path().join("w.db").display()))
            .await
            .unwrap();
        let queue = crate::queue::open(&config, &store).await.unwrap();
        for (repo, digest, kind, status, reason) in [
            (
                "evil/<script>x</script>",
                D1,
                "unknown",
                Status::Unsupported,
                "media type <img src=x onerror=alert(1)> is \"odd\"",
            ),
            ("charts/web", D2, "helm", Status::Succeeded, ""),
        ] {
            let artifact = ArtifactRef::new("r.example", repo, Digest::parse(digest).unwrap());
            let id = store
                .upsert_artifact(&NewArtifact {
                    artifact: &artifact,
                    manifest_media_type: "m",
                    artifact_type: Some("t/<b>"),
                    kind: &Kind::new(kind),
                    size: 1,
                    parent_digest: None,
                    platform: None,
                })
                .await
                .unwrap();
            let reason = Some(reason).filter(|r| !r.is_empty());
            store
                .record_scan(id, None, status, reason, &ScanResult::default())
                .await
                .unwrap();
        }
        let state = AppState::new(config, store, queue, crate::telemetry::Metrics::new());
        (state, dir)
    }

    #[tokio::test]
    async fn stored_values_are_escaped_and_tagless_charts_get_a_pull_command() {
        let (state, _dir) = state_with_hostile_rows().await;
        let Html(page) = listing(
            State(state.clone()),
            HeaderMap::new(),
            Ok(Query(ListingParams::default())),
        )
        .await
        .unwrap();
        assert!(!page.contains("<script>x") && !page.contains("<img src=x"), "{page}");
        assert!(
            page.contains("evil/&lt;script&gt;x&lt;/script&gt;")
                && page.contains("&lt;img src=x onerror=alert(1)&gt; is &quot;odd&quot;"),
            "{page}"
        );
        assert!(
            page.contains(&format!("helm pull oci://r.example/charts/web@{D2}")),
            "{page}"
        );
        let Html(chart) = artifact_page(
            State(state.clone()),
            HeaderMap::new(),
            Path(format!("r.example/charts/web@{D2}")),
        )
        .await
        .unwrap();
        assert!(
            chart.contains("<code id=\"artifact-type\">t/&lt;b&gt;</code>"),
            "{chart}"
        );
        let err = artifact_page(
            State(state),
            HeaderMap::new(),
            Path(format!("r.example/charts/web@sha256:{}", "9".repeat(64))),
        )
        .await
        .unwrap_err();
        assert_eq!(err.0.status(), StatusCode::NOT_FOUND);
        let resp = err.into_response();
        assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    }

    #[tokio::test]
    async fn an_api_token_guards_the_pages() {
        let (mut state, _dir) = state_with_hostile_rows().await;
        let mut config = (*state.config).clone();
        config.api_token = Some(crate::config::Secret::new("t0ken"));
        state.config = std::sync::Arc::new(config);
        let err = listing(
            State(state.clone()),
            HeaderMap::new(),
            Ok(Query(ListingParams::default())),
        )
        .await
        .unwrap_err();
        assert_eq!(err.0.status(), StatusCode::UNAUTHORIZED);
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer t0ken".parse().unwrap());
        assert!(listing(State(state), h, Ok(Query(ListingParams::default())))
            .await
            .is_ok());
    }

    #[test]
    fn listing_params_ignore_empty_form_values_and_name_bad_ones() {
        let p = ListingParams {
            kind: Some("".into()),
            status: Some("unsupported".into()),
            repository: Some(" team/ ".into()),
            ..Default::default()
        };
        let f = p.to_filter().unwrap();
        assert_eq!(
            (f.kind, f.status, f.repository.as_deref(), f.limit),
            (None, Some(Status::Unsupported), Some("team/"), Some(50))
        );
        let err = ListingParams {
            status: Some("done".into()),
            ..Default::default()
        }
        .to_filter()
        .unwrap_err();
        assert!(err.message().starts_with("status:"), "{}", err.message());
        let err = ListingParams {
            limit: Some("0".into()),
            ..Default::default()
        }
        .to_filter()
        .unwrap_err();
        assert!(err.message().starts_with("limit:"), "{}", err.message());
        let err = ListingParams {
            before: Some("x".into()),
            ..Default::default()
        }
        .to_filter()
        .unwrap_err();
        assert!(err.message().starts_with("before:"), "{}", err.message());
        let q = ListingParams {
            kind: Some("helm".into()),
            repository: Some("a b&c".into()),
            ..Default::default()
        }
        .next_page(42);
        assert_eq!(q, "kind=helm&repository=a+b%26c&before=42");
    }
}
