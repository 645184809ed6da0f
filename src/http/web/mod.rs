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

use html::page;
use maud::{html, Markup};

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
        let body = html! {
            h1 { (status.as_u16()) " " (title) }
            p class="error" { (self.0.message()) }
            p { a href="/" { "Back to the listing" } }
        };
        let mut resp = (status, Html(page(title, body))).into_response();
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

fn select(name: &str, label: &str, options: &[&str], current: Option<&str>) -> Markup {
    html! {
        label {
            (label)
            select name=(name) {
                option value="" { "any" }
                @for o in options {
                    option value=(o) selected[current == Some(*o)] { (o) }
                }
                @if let Some(c) = current.filter(|c| !options.contains(c)) {
                    option value=(c) selected { (c) }
                }
            }
        }
    }
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
    let counts = state.store.counts_by_kind_status().await?;
    let statuses: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    let severities: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
    let config = &state.config;
    let body = html! {
        h1 { "Artifacts" }
        (overview(config, &counts))
        form class="filters" method="get" action="/" {
            (select("kind", "Kind", KINDS, nonempty(&params.kind)))
            (select("status", "Status", &statuses, nonempty(&params.status)))
            (select("min_severity", "Findings at least", &severities, nonempty(&params.min_severity)))
            (select("signed", "Signed", &["true", "false"], nonempty(&params.signed)))
            (select("has_sbom", "SBOM", &["true", "false"], nonempty(&params.has_sbom)))
            label {
                "Registry"
                input name="registry" value=(nonempty(&params.registry).unwrap_or("")) placeholder="host:port";
            }
            label {
                "Repository prefix"
                input name="repository" value=(nonempty(&params.repository).unwrap_or("")) placeholder="team/";
            }
            button type="submit" { "Filter" }
            " "
            a href="/" { "clear" }
        }
        @if result.items.is_empty() {
            p class="muted" id="empty" { "No artifacts match." }
        } @else {
            table id="artifacts" {
                thead { tr { th { "Artifact" } th { "Type" } th { "Status" } th { "Findings" } th { "Use it" } } }
                tbody {
                    @for i in &result.items {
                        @let name = match i.tags.first() {
                            Some(t) => format!("{}/{}:{t}", i.registry, i.repository),
                            None => format!("{}/{}", i.registry, i.repository),
                        };
                        @let short: String = i.digest.as_str().chars().take(19).collect();
                        @let action = html::action_text(
                            config,
                            &i.kind,
                            i.status,
                            i.reason.as_deref(),
                            &ArtifactRef::new(&i.registry, &i.repository, i.digest.clone()),
                            i.tags.first().map(String::as_str),
                        );
                        tr class={ "row " (i.status.as_str()) } data-kind=(i.kind.as_str()) data-status=(i.status.as_str()) {
                            td {
                                a href=(html::artifact_href(&i.registry, &i.repository, i.digest.as_str())) { (name) }
                                @for (on, mark) in [(i.signed, "signed"), (i.has_sbom, "sbom")] {
                                    @if on { " " span class={ "mark mark-" (mark) } { (mark) } }
                                }
                                div class="mono muted" { (short) "…" }
                            }
                            td { (html::kind_cell(config, i.kind.as_str(), i.artifact_type.as_deref())) }
                            td {
                                (html::status_badge(i.status))
                                @if let (Some(r), Status::Failed) = (&i.reason, i.status) {
                                    div class="reason" { (r) }
                                }
                            }
                            td { (html::severity_counts(&i.summary)) }
                            td { (action.to_html()) }
                        }
                    }
                }
            }
        }
        @if let Some(cursor) = result.next_cursor {
            p class="pager" { a id="next" href={ "/?" (params.next_page(cursor)) } { "Next page →" } }
        }
    };
    Ok(Html(page("Artifacts", body)))
}

/// Counts by kind × status, each linking to the filtered listing.
fn overview(config: &crate::config::Config, counts: &[(String, String, i64)]) -> Markup {
    let mut kinds: Vec<&str> = counts.iter().map(|c| c.0.as_str()).collect();
    kinds.dedup();
    let count = |k: &str, st: Status| -> i64 {
        counts
            .iter()
            .filter(|c| c.0 == k && c.1 == st.as_str())
            .map(|c| c.2)
            .sum()
    };
    html! {
        @if !counts.is_empty() {
            table id="overview" class="overview" {
                thead { tr { th { "Type" } @for st in Status::ALL { th { (st.as_str()) } } th { "total" } } }
                tbody {
                    @for k in kinds {
                        @let kind_href = format!("/?kind={}", url_component(k));
                        tr {
                            td { a href=(kind_href) { (html::kind_cell(config, k, None)) } }
                            @for st in Status::ALL {
                                @let n = count(k, st);
                                @if n == 0 {
                                    td class="muted" { "0" }
                                } @else {
                                    td {
                                        a class={ "badge st-" (st.as_str()) }
                                            href={ (kind_href) "&status=" (st.as_str()) } { (n) }
                                    }
                                }
                            }
                            td { (Status::ALL.iter().map(|st| count(k, *st)).sum::<i64>()) }
                        }
                    }
                }
            }
        }
    }
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
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

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

    async fn listing_of(state: &AppState, params: ListingParams) -> String {
        let Html(page) = listing(State(state.clone()), HeaderMap::new(), Ok(Query(params)))
            .await
            .unwrap();
        page
    }

    #[tokio::test]
    async fn stored_values_are_escaped_and_tagless_charts_get_a_pull_command() {
        let (state, _dir) = state_with_hostile_rows().await;
        let page = listing_of(&state, ListingParams::default()).await;
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

    /// Markup, both quotes, an ampersand and a right-to-left override.
    const EVIL: &str = "<script>alert(\"x\")</script>'&\u{202E}txt.exe";
    /// [`EVIL`] as every page must show it, in text and attribute values alike.
    const EVIL_SHOWN: &str = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'&amp;&lt;U+202E&gt;txt.exe";

    fn assert_shown_not_obeyed(page: &str, what: &str) {
        assert!(
            !page.contains("<script"),
            "{what}: raw markup reached the page:\n{page}"
        );
        assert!(
            !page.contains('\u{202E}'),
            "{what}: a raw bidi override reached the page:\n{page}"
        );
        assert!(
            page.contains(EVIL_SHOWN),
            "{what}: the hostile value is not shown escaped:\n{page}"
        );
    }

    #[tokio::test]
    async fn hostile_values_come_out_escaped_on_every_page() {
        use crate::http::api::incidents::{PackageParams, VulnParams};
        use crate::store::{NewArtifact, ScanResult};
        use regscan_scanner_api::{Finding, Package, ScannerRef};
        let (state, _dir) = state_with_hostile_rows().await;
        let store = &state.store;
        let repo = format!("evil/{EVIL}");
        let at = ArtifactRef::parse("r.example", repo.as_str(), D3).unwrap();
        let id = store
            .upsert_artifact(&NewArtifact {
                artifact: &at,
                manifest_media_type: EVIL,
                artifact_type: Some(EVIL),
                kind: &Kind::Image,
                size: 1,
                parent_digest: None,
                platform: Some(EVIL),
            })
            .await
            .unwrap();
        store.set_tag(&at, EVIL).await.unwrap();
        let mut finding = Finding::new("GHSA-evil-0001", Severity::High, EVIL).on(EVIL).at(EVIL);
        finding.installed_version = Some(EVIL.into());
        finding.fixed_version = Some(EVIL.into());
        finding.remediation = Some(EVIL.into());
        finding.references = vec![format!("https://x.example/{EVIL}")];
        let package = Package {
            ecosystem: "npm".into(),
            name: EVIL.into(),
            version: EVIL.into(),
            source_name: None,
            source_version: None,
            path: EVIL.into(),
            layer: Some(EVIL.into()),
            dev: false,
        };
        let result = ScanResult {
            advisories: vec![finding],
            packages: vec![package],
            ..Default::default()
        };
        store
            .record_scan(id, Some(&ScannerRef::new(EVIL, EVIL)), Status::Succeeded, None, &result)
            .await
            .unwrap();

        let page = listing_of(&state, ListingParams::default()).await;
        assert_shown_not_obeyed(&page, "listing");
        let echo = ListingParams {
            registry: Some(EVIL.into()),
            repository: Some(EVIL.into()),
            kind: Some(EVIL.into()),
            ..Default::default()
        };
        let page = listing_of(&state, echo).await;
        assert_shown_not_obeyed(&page, "listing form");
        assert!(page.contains(&format!("value=\"{EVIL_SHOWN}\"")), "{page}");

        let page = artifact::render(&state, "r.example", &repo, Some(at.digest.clone()), None)
            .await
            .unwrap();
        assert_shown_not_obeyed(&page, "artifact page");
        for id in ["reference", "artifact-type", "tags", "findings", "history"] {
            assert!(page.contains(&format!("id=\"{id}\"")), "{id}: {page}");
        }

        let vulns =
            |p: VulnParams| incidents::vulnerabilities_page(State(state.clone()), HeaderMap::new(), Ok(Query(p)));
        let packages =
            |p: PackageParams| incidents::packages_page(State(state.clone()), HeaderMap::new(), Ok(Query(p)));
        for (what, page) in [
            (
                "vulnerabilities",
                vulns(VulnParams {
                    id: Some("GHSA-evil-0001".into()),
                    ..Default::default()
                })
                .await,
            ),
            (
                "vulnerabilities by package",
                vulns(VulnParams {
                    package: Some(EVIL.into()),
                    ..Default::default()
                })
                .await,
            ),
            (
                "packages",
                packages(PackageParams {
                    name: Some(EVIL.into()),
                    ..Default::default()
                })
                .await,
            ),
        ] {
            let Html(page) = page.unwrap();
            assert_shown_not_obeyed(&page, what);
            let row = match what {
                "packages" => format!("<tr class=\"package\" data-name=\"{EVIL_SHOWN}\">"),
                _ => "<tr class=\"vuln\" data-id=\"GHSA-evil-0001\">".into(),
            };
            assert!(page.contains(&row), "{what}: {page}");
        }

        let err = artifact_page(State(state), HeaderMap::new(), Path(format!("r.example/{EVIL}@{D3}")))
            .await
            .unwrap_err();
        let resp = err.into_response();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let page = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            !page.contains("<script") && !page.contains('\u{202E}'),
            "error page: {page}"
        );
        // The message quotes the path (Rust debug form: `\"` and `\u{202e}`), escaped.
        assert!(
            page.contains("&lt;script&gt;alert(\\&quot;x\\&quot;)&lt;/script&gt;"),
            "error page: {page}"
        );
    }

    #[tokio::test]
    async fn an_api_token_guards_the_pages() {
        let (mut state, _dir) = state_with_hostile_rows().await;
        let mut config = (*state.config).clone();
        config.api_token = Some(crate::config::SecretString::from("t0ken"));
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
