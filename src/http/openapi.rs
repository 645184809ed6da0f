//! `GET /openapi.json`: the OpenAPI 3.1 document of regscan's HTTP interface — the query API,
//! the webhook receivers, health, metrics, the web pages, and (as an OpenAPI `webhooks` entry)
//! the scan-completed CloudEvent regscan sends.
//!
//! The document is built here in code rather than derived by a macro crate: the report types
//! live partly in `regscan-scanner-api`, which carries no schema derives. The tests keep it
//! honest: every route the router serves must be in `paths`, every query parameter documented
//! must be accepted by the handler's parameter struct, and real values of the response types,
//! serialised, must match their schemas (every key declared, every required key present).

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::AppState;

/// The `/openapi.json` route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

async fn openapi_json() -> Response {
    Json(document()).into_response()
}

fn s(t: &str) -> Value {
    json!({"type": t})
}

fn opt(t: &str) -> Value {
    json!({"type": [t, "null"]})
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn object(required: &[&str], props: Value) -> Value {
    json!({"type": "object", "required": required, "properties": props})
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

fn err(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": r("Error")}}})
}

fn severity_enum() -> Value {
    json!({"type": "string", "enum": ["critical", "high", "medium", "low", "negligible", "unknown"]})
}

fn status_enum() -> Value {
    json!({"type": "string", "enum": ["queued", "running", "succeeded", "failed", "unsupported"]})
}

/// Query parameters of `GET /v1/artifacts` (and of a rescan `filter`).
pub fn list_parameters() -> Vec<Value> {
    vec![
        query("registry", "Registry host, exact.", s("string")),
        query(
            "repository",
            "Repository prefix (`team/` matches `team/app`).",
            s("string"),
        ),
        query(
            "kind",
            "Kind, exact: image, helm, opa, index, signature, sbom, unknown, …",
            s("string"),
        ),
        query("status", "Status of the latest scan.", status_enum()),
        query(
            "min_severity",
            "Only artifacts with a finding at or above this severity.",
            severity_enum(),
        ),
        query(
            "since",
            "First seen at or after: RFC 3339 time or Unix milliseconds.",
            s("string"),
        ),
        query("before", "Cursor: `next_cursor` of the previous page.", s("integer")),
        query(
            "limit",
            "Page size, 1–1000 (default 100).",
            json!({"type": "integer", "minimum": 1, "maximum": 1000}),
        ),
        query(
            "children",
            "Include the per-platform children of indexes as rows.",
            s("boolean"),
        ),
        query(
            "deleted",
            "Include artifacts deleted from their registry.",
            s("boolean"),
        ),
        query(
            "signed",
            "`true`: only artifacts a signature refers to; `false`: only those none does.",
            s("boolean"),
        ),
        query(
            "has_sbom",
            "`true`: only artifacts an SBOM refers to; `false`: only those none does.",
            s("boolean"),
        ),
    ]
}

/// Query parameters of `GET /v1/artifacts/{path}`.
pub fn detail_parameters() -> Vec<Value> {
    vec![
        query("severity", "Only findings at or above this severity.", severity_enum()),
        query("package", "Only findings about this package (or object).", s("string")),
        query("id", "Only the finding with this id (or alias).", s("string")),
        query(
            "format",
            "`report` (default), `harbor` (also chosen by the Accept header) or `cyclonedx`.",
            json!({"type": "string", "enum": ["report", "harbor", "cyclonedx"]}),
        ),
    ]
}

/// Query parameters of the web listing `/`.
pub fn listing_parameters() -> Vec<Value> {
    vec![
        query("kind", "Kind, exact; empty for any.", s("string")),
        query("status", "Status of the latest scan; empty for any.", s("string")),
        query("registry", "Registry host, exact.", s("string")),
        query("repository", "Repository prefix.", s("string")),
        query(
            "min_severity",
            "Only artifacts with a finding at or above this severity.",
            s("string"),
        ),
        query("before", "Cursor of the next page.", s("string")),
        query("limit", "Page size, 1–1000 (default 50).", s("string")),
        query("signed", "`true` or `false`; empty for any.", s("string")),
        query("has_sbom", "`true` or `false`; empty for any.", s("string")),
    ]
}

/// Query parameters of `GET /v1/vulnerabilities` (and the web page `/vulnerabilities`).
pub fn vuln_parameters() -> Vec<Value> {
    vec![
        query(
            "id",
            "Advisory ids, comma-separated. Aliases are resolved: a CVE finds the Debian or GHSA record that lists it in `aliases` or `upstream`, and a record's own aliases find records under those ids.",
            s("string"),
        ),
        query("package", "Package name, exact.", s("string")),
        query("min_severity", "At or above this severity.", severity_enum()),
        query("cvss_min", "Lowest CVSS base score of the stored advisory (0–10); advisories without a score do not match.", s("number")),
        query("cvss_max", "Highest CVSS base score of the stored advisory (0–10).", s("number")),
        query("repository", "Repository prefix (`team/` matches `team/app`).", s("string")),
        query("kind", "Artifact kind, exact.", s("string")),
        query("before", "The `next_cursor` of the previous page (opaque).", s("string")),
        query("limit", "Page size in (advisory, artifact) pairs, 1–1000 (default 100); an advisory whose artifacts do not fit continues on the next page.", s("integer")),
    ]
}

/// Query parameters of `GET /v1/packages` (and the web page `/packages`).
pub fn package_parameters() -> Vec<Value> {
    vec![
        query("name", "Package name, exact (name or purl is required).", s("string")),
        query("version", "Version: exact (`2.17.1`), a glob (`2.1*`, `?` one character) or comparisons in the ecosystem's ordering joined by commas (`>=2.0,<2.17`).", s("string")),
        query("ecosystem", "Ecosystem: exact (`Debian:12`) or its base (`Debian`).", s("string")),
        query("purl", "Package URL (`pkg:deb/debian/openssl@3.0.11-1`); the version and qualifiers may be left out.", s("string")),
        query("repository", "Repository prefix.", s("string")),
        query("kind", "Artifact kind, exact.", s("string")),
        query("before", "The `next_cursor` of the previous page (opaque).", s("string")),
        query("limit", "Page size in (package, artifact) pairs, 1–1000 (default 100).", s("integer")),
    ]
}

fn incident_schemas() -> Value {
    let artifact_props = || {
        json!({
            "reference": s("string"), "digest": s("string"), "registry": s("string"), "repository": s("string"),
            "kind": s("string"), "parent_digest": s("string"), "platform": s("string"),
        })
    };
    let with = |mut base: Value, extra: Value| {
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    };
    let art_required = ["reference", "digest", "registry", "repository", "kind"];
    let required =
        |extra: &[&'static str]| -> Vec<&'static str> { art_required.iter().chain(extra).copied().collect() };
    json!({
        "FindingLocation": object(&["location", "installed_version", "fixed_version"], json!({
            "location": opt("string"), "installed_version": opt("string"), "fixed_version": opt("string"),
        })),
        "AffectedArtifact": object(&required(&["installed_version", "fixed_version", "locations"]), with(artifact_props(), json!({
            "installed_version": opt("string"), "fixed_version": opt("string"),
            "locations": {"type": "array", "items": r("FindingLocation")},
        }))),
        "VulnItem": object(&["id", "severity", "package", "title", "aliases", "cvss", "artifacts"], json!({
            "id": s("string"), "severity": severity_enum(), "package": opt("string"), "title": s("string"),
            "aliases": {"type": "array", "items": s("string")}, "cvss": opt("number"),
            "artifacts": {"type": "array", "items": r("AffectedArtifact")},
        })),
        "VulnPage": object(&["items", "next_cursor"], json!({"items": {"type": "array", "items": r("VulnItem")}, "next_cursor": opt("string")})),
        "PackageLocation": object(&["path", "layer"], json!({"path": s("string"), "layer": opt("string")})),
        "PackageArtifact": object(&required(&["path", "layer", "locations"]), with(artifact_props(), json!({
            "path": opt("string"), "layer": opt("string"), "locations": {"type": "array", "items": r("PackageLocation")},
        }))),
        "PackageItem": object(&["name", "version", "ecosystem", "purl", "artifacts"], json!({
            "name": s("string"), "version": s("string"), "ecosystem": s("string"), "purl": s("string"), "source_name": s("string"),
            "artifacts": {"type": "array", "items": r("PackageArtifact")},
        })),
        "PackagePage": object(&["items", "next_cursor"], json!({"items": {"type": "array", "items": r("PackageItem")}, "next_cursor": opt("string")})),
        "DangerousArtifact": object(&required(&["summary"]), with(artifact_props(), json!({"summary": r("Summary")}))),
        "TopVuln": object(&["id", "severity", "artifacts"], json!({"id": s("string"), "severity": severity_enum(), "artifacts": s("integer")})),
        "FixableSplit": object(&["fixable", "unfixable", "fixable_artifacts"], json!({
            "fixable": {"type": "integer", "description": "Findings about packages in latest scans with a fixed version."},
            "unfixable": {"type": "integer", "description": "… without one."},
            "fixable_artifacts": {"type": "integer", "description": "Live artifacts with at least one fixable finding."},
        })),
    })
}

fn all_schemas() -> Value {
    let mut all = schemas();
    for (k, v) in incident_schemas().as_object().cloned().unwrap_or_default() {
        all[k] = v;
    }
    all
}

fn schemas() -> Value {
    let summary = object(
        &["critical", "high", "medium", "low", "negligible", "unknown"],
        json!({
            "critical": s("integer"), "high": s("integer"), "medium": s("integer"),
            "low": s("integer"), "negligible": s("integer"), "unknown": s("integer"),
        }),
    );
    let finding = object(
        &[
            "id",
            "severity",
            "title",
            "package",
            "installed_version",
            "fixed_version",
            "location",
            "references",
        ],
        json!({
            "id": s("string"), "severity": severity_enum(), "title": s("string"),
            "package": opt("string"), "installed_version": opt("string"), "fixed_version": opt("string"),
            "location": opt("string"), "references": {"type": "array", "items": s("string")},
            "remediation": s("string"),
        }),
    );
    let scanner = json!({"type": ["object", "null"], "required": ["name", "version"], "properties": {"name": s("string"), "version": s("string")}});
    let report_props = json!({
        "reference": s("string"), "registry": s("string"), "repository": s("string"), "digest": s("string"),
        "tag": opt("string"), "manifest_media_type": s("string"), "artifact_type": opt("string"),
        "kind": s("string"), "status": status_enum(), "reason": opt("string"), "scanner": scanner,
        "summary": r("Summary"), "findings": {"type": "array", "items": r("Finding")},
        "children": {"type": "array", "items": r("Report")}, "platform": s("string"),
        "details": {"type": "object", "description": "Scanner details (OS, packages counted, chart images, bundle rules…)."},
        "scanned_at": {"type": "string", "format": "date-time"}, "advisory_snapshot": s("string"),
        "referrers": {"type": "array", "description": "Signatures, SBOMs and attestations referring to this artifact.", "items": {
            "type": "object", "required": ["digest", "artifact_type", "kind", "status"], "properties": {
                "digest": s("string"), "artifact_type": opt("string"), "kind": opt("string"),
                "status": {"oneOf": [status_enum(), {"type": "null"}]},
            }}},
        "subject": {"type": "string", "description": "The digest this artifact refers to (OCI 1.1 subject or cosign tag)."},
        "signatures": {"type": "array", "description": "Cosign signatures of this artifact, verified against the configured keys.", "items": {
            "type": "object", "required": ["digest", "key", "verified", "reason"], "properties": {
                "digest": s("string"), "key": opt("string"), "verified": s("boolean"), "reason": opt("string"),
            }}},
    });
    let report_required = [
        "reference",
        "registry",
        "repository",
        "digest",
        "tag",
        "manifest_media_type",
        "artifact_type",
        "kind",
        "status",
        "reason",
        "scanner",
        "summary",
        "findings",
        "children",
    ];
    let mut detail_props = report_props.clone();
    detail_props["tags"] = json!({"type": "array", "items": s("string")});
    detail_props["history"] = json!({"type": "array", "items": r("ScanHistoryItem")});
    let mut detail_required = report_required.to_vec();
    detail_required.extend(["tags", "history"]);
    let item = object(
        &[
            "reference",
            "registry",
            "repository",
            "digest",
            "tags",
            "manifest_media_type",
            "artifact_type",
            "kind",
            "status",
            "reason",
            "scanner",
            "summary",
            "created_at",
            "scanned_at",
            "cursor",
        ],
        json!({
            "reference": s("string"), "registry": s("string"), "repository": s("string"), "digest": s("string"),
            "tags": {"type": "array", "items": s("string")}, "manifest_media_type": s("string"),
            "artifact_type": opt("string"), "kind": s("string"), "status": status_enum(), "reason": opt("string"),
            "scanner": scanner, "summary": r("Summary"), "platform": s("string"),
            "created_at": {"type": "string", "format": "date-time"}, "scanned_at": {"type": ["string", "null"], "format": "date-time"},
            "deleted_at": {"type": "string", "format": "date-time"}, "cursor": s("integer"),
            "signed": {"type": "boolean", "description": "A signature refers to it."},
            "has_sbom": {"type": "boolean", "description": "An SBOM refers to it."},
        }),
    );
    let history = object(
        &[
            "id",
            "scanner",
            "scanner_version",
            "status",
            "reason",
            "summary",
            "advisory_snapshot",
            "started_at",
            "finished_at",
        ],
        json!({
            "id": s("integer"), "scanner": s("string"), "scanner_version": s("string"), "status": status_enum(),
            "reason": opt("string"), "summary": r("Summary"), "advisory_snapshot": opt("string"),
            "started_at": opt("string"), "finished_at": opt("string"),
        }),
    );
    let filter_props: Map<String, Value> = list_parameters()
        .into_iter()
        .map(|p| (p["name"].as_str().unwrap_or_default().to_owned(), p["schema"].clone()))
        .collect();
    let scan_request = json!({
        "type": "object",
        "description": "Exactly one of `reference` or `filter`.",
        "properties": {
            "reference": {"type": "string", "description": "host[:port]/repository[:tag|@digest]"},
            "filter": {"type": "object", "properties": filter_props, "description": "Rescan every stored artifact matching (same fields as GET /v1/artifacts)."},
            "force": {"type": "boolean", "description": "Scan again even if already scanned by the same scanner version (default true for filters, false for one reference)."},
        },
    });
    let event_data = object(
        &[
            "reference",
            "registry",
            "repository",
            "digest",
            "kind",
            "artifact_type",
            "status",
            "reason",
            "summary",
        ],
        json!({
            "reference": s("string"), "registry": s("string"), "repository": s("string"), "digest": s("string"),
            "kind": s("string"), "artifact_type": opt("string"), "status": status_enum(), "reason": opt("string"), "summary": r("Summary"),
        }),
    );
    let event = object(
        &[
            "specversion",
            "type",
            "source",
            "subject",
            "id",
            "time",
            "datacontenttype",
            "data",
        ],
        json!({
            "specversion": {"const": "1.0"},
            "type": {"type": "string", "enum": ["regscan.scan.succeeded", "regscan.scan.failed", "regscan.scan.unsupported"]},
            "source": {"const": "/regscan"}, "subject": s("string"), "id": s("string"),
            "time": {"type": "string", "format": "date-time"}, "datacontenttype": {"const": "application/json"},
            "data": r("ScanEventData"),
        }),
    );
    json!({
        "Error": object(&["error"], json!({"error": s("string")})),
        "Summary": summary,
        "Finding": finding,
        "Report": object(&report_required, report_props),
        "ArtifactDetail": object(&detail_required, detail_props),
        "ArtifactItem": item,
        "ArtifactPage": object(&["items", "next_cursor"], json!({"items": {"type": "array", "items": r("ArtifactItem")}, "next_cursor": opt("integer")})),
        "ScanHistoryItem": history,
        "ScanRequest": scan_request,
        "RescanQueued": object(&["queued", "jobs"], json!({"queued": s("integer"), "jobs": {"type": "array", "items": s("string")}})),
        "SummaryCounts": object(&["by_kind", "by_severity", "most_dangerous", "top_vulnerabilities", "fixable"], json!({
            "by_kind": {"type": "object", "description": "kind → status → count", "additionalProperties": {"type": "object", "additionalProperties": s("integer")}},
            "by_severity": r("Summary"),
            "most_dangerous": {"type": "array", "description": "The 10 live artifacts with the most critical, then high findings.", "items": r("DangerousArtifact")},
            "top_vulnerabilities": {"type": "array", "description": "The 10 advisories (findings about a package) that affect the most live artifacts now.", "items": r("TopVuln")},
            "fixable": r("FixableSplit"),
        })),
        "Readiness": object(&["database", "queue"], json!({"database": s("string"), "queue": s("string")})),
        "ScanEventData": event_data,
        "CloudEvent": event,
    })
}

fn webhook_path(product: &str, body: &str) -> Value {
    json!({"post": {
        "tags": ["webhooks"],
        "summary": format!("Push notifications from {product}"),
        "description": "Answered 2xx only once every push is durably queued; 5xx otherwise so the registry retries. Requires `Authorization: Bearer $REGSCAN_WEBHOOK_TOKEN` when that token is set.",
        "security": [{"webhookToken": []}, {}],
        "requestBody": {"required": true, "content": {body: {"schema": {"type": "object"}}}},
        "responses": {
            "202": {"description": "Events queued (or ignored/refused, each recorded).", "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": err("Malformed payload."), "401": err("Missing or wrong token."), "413": err("Body too large."),
            "415": err("Unsupported Content-Type."), "503": err("The queue is unavailable; retry."),
        },
    }})
}

/// The whole document.
pub fn document() -> Value {
    let read = json!([{"apiToken": []}, {}]);
    let mut detail_params = vec![
        json!({"name": "path", "in": "path", "required": true, "description": "`{registry}/{repository}@{digest}` or `{registry}/{repository}:{tag}`; the repository may contain `/`.", "schema": s("string")}),
    ];
    detail_params.extend(detail_parameters());
    let auth_errors = |mut responses: Value| {
        responses["401"] = err("No or unknown bearer token (when API tokens are configured).");
        responses
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "regscan",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Security scanning dispatcher for OCI registries: webhooks in, scan results out. Errors are `{\"error\": \"…\"}` with 400 (naming the bad parameter), 401, 403, 404 or 503.",
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": "query"}, {"name": "scans"}, {"name": "webhooks"}, {"name": "operations"}, {"name": "web"}],
        "paths": {
            "/v1/artifacts": {"get": {
                "tags": ["query"], "operationId": "listArtifacts", "summary": "List artifacts, newest first, with filters and cursor pagination.",
                "security": read, "parameters": list_parameters(),
                "responses": auth_errors(json!({
                    "200": {"description": "A page.", "content": {"application/json": {"schema": r("ArtifactPage")}}},
                    "400": err("A bad parameter, named in the message."),
                })),
            }},
            "/v1/artifacts/{path}": {"get": {
                "tags": ["query"], "operationId": "getArtifact",
                "summary": "One artifact: its latest report with tags and scan history; or Harbor's report; or a CycloneDX SBOM.",
                "security": read,
                "parameters": detail_params,
                "responses": auth_errors(json!({
                    "200": {"description": "The artifact.", "content": {
                        "application/json": {"schema": r("ArtifactDetail")},
                        (crate::http::api::formats::HARBOR_REPORT_MIME): {"schema": {"type": "object", "description": "Harbor pluggable scanner vulnerability report 1.1"}},
                        (crate::http::api::formats::CYCLONEDX_MIME): {"schema": {"type": "object", "description": "CycloneDX 1.5 SBOM of the package inventory"}},
                    }},
                    "400": err("A bad path or parameter, named in the message."),
                    "404": err("Not in the results database."),
                })),
            }},
            "/v1/vulnerabilities": {"get": {
                "tags": ["query"], "operationId": "vulnerabilities",
                "summary": "Each advisory with the live artifacts it affects now (newest scan of each artifact), with installed and fixed versions; aliases resolved; cursor pagination.",
                "security": read, "parameters": vuln_parameters(),
                "responses": auth_errors(json!({
                    "200": {"description": "A page.", "content": {"application/json": {"schema": r("VulnPage")}}},
                    "400": err("A bad parameter, named in the message."),
                })),
            }},
            "/v1/packages": {"get": {
                "tags": ["query"], "operationId": "packages",
                "summary": "Each package version with the live artifacts whose newest inventory holds it, with the path and layer where known; cursor pagination.",
                "security": read, "parameters": package_parameters(),
                "responses": auth_errors(json!({
                    "200": {"description": "A page.", "content": {"application/json": {"schema": r("PackagePage")}}},
                    "400": err("A bad parameter (or neither name nor purl), named in the message."),
                })),
            }},
            "/v1/summary": {"get": {
                "tags": ["query"], "operationId": "summary", "summary": "Counts by kind × status, findings by severity, the most dangerous artifacts, the advisories affecting the most artifacts, and the fixable/unfixable split.",
                "security": read,
                "responses": auth_errors(json!({"200": {"description": "Counts.", "content": {"application/json": {"schema": r("SummaryCounts")}}}})),
            }},
            "/v1/scans": {"post": {
                "tags": ["scans"], "operationId": "requestScans", "summary": "Queue a scan of one reference, or rescans of every stored artifact matching a filter.",
                "security": [{"apiToken": []}, {}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": r("ScanRequest")}}},
                "responses": auth_errors(json!({
                    "202": {"description": "Queued: the queued report (one reference) or the job ids (filter).", "content": {"application/json": {"schema": {"oneOf": [r("Report"), r("RescanQueued")]}}}},
                    "400": err("Bad body or unconfigured registry."),
                    "403": err("The token has the read role only."),
                    "503": err("The queue is unavailable."),
                })),
            }},
            "/v1/webhooks/distribution": webhook_path("CNCF distribution / Docker registry (notification envelopes, events v1 and v2 media types)", "application/vnd.docker.distribution.events.v2+json"),
            "/v1/webhooks/harbor": webhook_path("Harbor (default JSON or CloudEvents)", "application/json"),
            "/v1/webhooks/acr": webhook_path("Azure Container Registry", "application/json"),
            "/v1/webhooks/quay": webhook_path("Quay (repo_push)", "application/json"),
            "/v1/webhooks/zot": webhook_path("zot (CloudEvents)", "application/json"),
            "/healthz": {"get": {"tags": ["operations"], "operationId": "healthz", "summary": "Liveness: the process answers.", "responses": {"200": {"description": "ok", "content": {"text/plain": {"schema": s("string")}}}}}},
            "/readyz": {"get": {"tags": ["operations"], "operationId": "readyz", "summary": "Readiness: the database and the queue answer.", "responses": {
                "200": {"description": "Ready.", "content": {"application/json": {"schema": r("Readiness")}}},
                "503": {"description": "Not ready; each dependency's error.", "content": {"application/json": {"schema": r("Readiness")}}},
            }}},
            "/metrics": {"get": {"tags": ["operations"], "operationId": "metrics", "summary": "Prometheus metrics (OpenMetrics text).", "responses": {"200": {"description": "Metrics.", "content": {"application/openmetrics-text": {"schema": s("string")}}}}}},
            "/openapi.json": {"get": {"tags": ["operations"], "operationId": "openapi", "summary": "This document.", "responses": {"200": {"description": "OpenAPI 3.1.", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/": {"get": {"tags": ["web"], "operationId": "webListing", "summary": "HTML listing of the registry by type and status.", "security": read, "parameters": listing_parameters(),
                "responses": {"200": {"description": "HTML page.", "content": {"text/html": {"schema": s("string")}}}, "400": {"description": "A bad parameter (HTML page)."}, "401": {"description": "No or unknown token (HTML page)."}}}},
            "/vulnerabilities": {"get": {"tags": ["web"], "operationId": "webVulnerabilities", "summary": "HTML page: advisory search (as `GET /v1/vulnerabilities`) with the most dangerous artifacts and the most widespread advisories.", "security": read, "parameters": vuln_parameters(),
                "responses": {"200": {"description": "HTML page.", "content": {"text/html": {"schema": s("string")}}}, "400": {"description": "A bad parameter (HTML page)."}}}},
            "/packages": {"get": {"tags": ["web"], "operationId": "webPackages", "summary": "HTML page: where a package is installed (as `GET /v1/packages`).", "security": read, "parameters": package_parameters(),
                "responses": {"200": {"description": "HTML page.", "content": {"text/html": {"schema": s("string")}}}, "400": {"description": "A bad parameter (HTML page)."}}}},
            "/artifacts/{path}": {"get": {"tags": ["web"], "operationId": "webArtifact", "summary": "HTML page of one artifact: findings, tags, children, history; the reason when unsupported.", "security": read,
                "parameters": [{"name": "path", "in": "path", "required": true, "description": "`{registry}/{repository}@{digest}` or `:{tag}`.", "schema": s("string")}],
                "responses": {"200": {"description": "HTML page.", "content": {"text/html": {"schema": s("string")}}}, "404": {"description": "Not in the results database (HTML page)."}}}},
        },
        "webhooks": {
            "scanCompleted": {"post": {
                "summary": "Sent by regscan to each `[[notifications.webhook]]` when a scan ends (and published on the RabbitMQ events exchange, routing key = type).",
                "requestBody": {"required": true, "content": {"application/cloudevents+json": {"schema": r("CloudEvent")}}},
                "responses": {"2XX": {"description": "Received. Other answers are retried (network errors, 408, 429, 5xx) with backoff."}},
            }},
        },
        "components": {
            "securitySchemes": {
                "apiToken": {"type": "http", "scheme": "bearer", "description": "REGSCAN_API_TOKEN (every role) or an [[api_tokens]] token with role read or scan. Not required when none is configured."},
                "webhookToken": {"type": "http", "scheme": "bearer", "description": "REGSCAN_WEBHOOK_TOKEN."},
            },
            "schemas": all_schemas(),
        },
    })
}

#[cfg(test)]
mod tests {
    use regscan_scanner_api::{Finding, Severity, Status, Summary};

    use super::*;
    use crate::http::api::{ArtifactDetail, ArtifactPage, DetailParams, ListParams, ScanHistoryItem};
    use crate::report::{ArtifactItem, Report, ScannerRef};

    /// Every `.route("…")` in the HTTP sources, as OpenAPI paths (`{*path}` → `{path}`).
    fn routes_in_source() -> Vec<String> {
        let sources = [
            include_str!("api.rs"),
            include_str!("health.rs"),
            include_str!("metrics.rs"),
            include_str!("openapi.rs"),
            include_str!("web/mod.rs"),
            include_str!("webhooks/mod.rs"),
            include_str!("mod.rs"),
        ];
        let mut out = Vec::new();
        for src in sources {
            for piece in src.split(".route(\"").skip(1) {
                let path = piece.split('"').next().unwrap_or_default();
                if path.starts_with('/') {
                    out.push(path.replace("{*", "{"));
                }
            }
        }
        out
    }

    #[test]
    fn every_route_is_documented() {
        let doc = document();
        let routes = routes_in_source();
        assert!(routes.len() >= 15, "found too few routes: {routes:?}");
        for r in &routes {
            assert!(doc["paths"].get(r).is_some(), "route {r} is missing from /openapi.json");
        }
        // And nothing documented that is not served.
        for p in doc["paths"].as_object().unwrap().keys() {
            assert!(routes.contains(p), "documented path {p} is not a route");
        }
    }

    #[test]
    fn documented_query_parameters_are_accepted() {
        fn accepts<T: serde::de::DeserializeOwned>(params: &[Value]) {
            for p in params {
                let name = p["name"].as_str().unwrap();
                let value = match p["schema"]["type"].as_str() {
                    Some("integer") => "1",
                    Some("boolean") => "true",
                    _ => p["schema"]["enum"].get(0).and_then(Value::as_str).unwrap_or("x"),
                };
                let q = format!("{name}={value}");
                let parsed: Result<axum::extract::Query<T>, _> =
                    axum::extract::Query::try_from_uri(&format!("/?{q}").parse().unwrap());
                assert!(parsed.is_ok(), "documented parameter {q} is refused");
            }
            // The struct refuses what is not documented.
            assert!(axum::extract::Query::<T>::try_from_uri(&"/?bogus=1".parse().unwrap()).is_err());
        }
        accepts::<ListParams>(&list_parameters());
        accepts::<DetailParams>(&detail_parameters());
        accepts::<crate::http::web::ListingParams>(&listing_parameters());
        accepts::<crate::http::api::incidents::VulnParams>(&vuln_parameters());
        accepts::<crate::http::api::incidents::PackageParams>(&package_parameters());
    }

    #[test]
    fn incident_schemas_match_the_serialised_types() {
        use crate::store::incidents::*;
        let art = ArtifactRef {
            reference: "h/r@sha256:0".into(),
            digest: "sha256:0".into(),
            registry: "h".into(),
            repository: "r".into(),
            kind: "image".into(),
            parent_digest: Some("sha256:1".into()),
            platform: Some("linux/arm64".into()),
        };
        let loc = FindingLocation {
            location: Some("var/lib/dpkg/status".into()),
            installed_version: Some("1".into()),
            fixed_version: None,
        };
        let page = serde_json::to_value(VulnPage {
            items: vec![VulnItem {
                id: "DSA-1".into(),
                severity: Severity::High,
                package: Some("openssl".into()),
                title: "t".into(),
                aliases: vec!["CVE-1".into()],
                cvss: Some(7.5),
                artifacts: vec![AffectedArtifact {
                    artifact: art.clone(),
                    installed_version: Some("1".into()),
                    fixed_version: None,
                    locations: vec![loc],
                }],
            }],
            next_cursor: Some("x".into()),
        })
        .unwrap();
        check("VulnPage", &page);
        check("VulnItem", &page["items"][0]);
        check("AffectedArtifact", &page["items"][0]["artifacts"][0]);
        check("FindingLocation", &page["items"][0]["artifacts"][0]["locations"][0]);
        let page = serde_json::to_value(PackagePage {
            items: vec![PackageItem {
                name: "openssl".into(),
                version: "1".into(),
                ecosystem: "Debian:12".into(),
                purl: "pkg:deb/debian/openssl@1".into(),
                source_name: Some("src".into()),
                artifacts: vec![PackageArtifact {
                    artifact: art.clone(),
                    path: Some("p".into()),
                    layer: Some("sha256:2".into()),
                    locations: vec![PackageLocation {
                        path: "p".into(),
                        layer: None,
                    }],
                }],
            }],
            next_cursor: None,
        })
        .unwrap();
        check("PackagePage", &page);
        check("PackageItem", &page["items"][0]);
        check("PackageArtifact", &page["items"][0]["artifacts"][0]);
        check("PackageLocation", &page["items"][0]["artifacts"][0]["locations"][0]);
        let d = serde_json::to_value(DangerousArtifact {
            artifact: art,
            summary: Summary::default(),
        })
        .unwrap();
        check("DangerousArtifact", &d);
        check(
            "TopVuln",
            &serde_json::to_value(TopVuln {
                id: "CVE-1".into(),
                severity: Severity::Critical,
                artifacts: 3,
            })
            .unwrap(),
        );
        check("FixableSplit", &serde_json::to_value(FixableSplit::default()).unwrap());
    }

    fn check(schema_name: &str, value: &Value) {
        let doc = document();
        let schema = &doc["components"]["schemas"][schema_name];
        let props = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{schema_name} has no properties"));
        let obj = value.as_object().unwrap();
        for k in obj.keys() {
            assert!(
                props.contains_key(k),
                "{schema_name}: serialised key {k} is not in the schema"
            );
        }
        for k in schema["required"].as_array().unwrap() {
            assert!(
                obj.contains_key(k.as_str().unwrap()),
                "{schema_name}: required {k} is not serialised"
            );
        }
    }

    fn full_report() -> Report {
        let mut f = Finding::new("CVE-1", Severity::High, "t")
            .on("p")
            .at("l")
            .fix("upgrade")
            .refs(["https://x"]);
        f.installed_version = Some("1".into());
        f.fixed_version = Some("2".into());
        Report {
            reference: "h/r:1@sha256:0".into(),
            registry: "h".into(),
            repository: "r".into(),
            digest: "sha256:0".into(),
            tag: Some("1".into()),
            manifest_media_type: "m".into(),
            artifact_type: Some("a".into()),
            kind: "image".into(),
            status: Status::Succeeded,
            reason: None,
            scanner: Some(ScannerRef {
                name: "image".into(),
                version: "1".into(),
            }),
            summary: Summary {
                high: 1,
                ..Default::default()
            },
            findings: vec![f],
            children: Vec::new(),
            platform: Some("linux/amd64".into()),
            details: Some(json!({"os": "debian"})),
            scanned_at: Some("2026-01-01T00:00:00Z".into()),
            advisory_snapshot: Some("s".into()),
            referrers: vec![crate::report::ReferrerRef {
                digest: "sha256:1".into(),
                artifact_type: Some("application/vnd.dev.cosign.simplesigning.v1+json".into()),
                kind: Some("signature".into()),
                status: Some(Status::Unsupported),
            }],
            subject: Some("sha256:2".into()),
            signatures: vec![crate::report::signatures::SignatureRef {
                digest: "sha256:1".into(),
                key: Some("release".into()),
                verified: true,
                reason: None,
            }],
        }
    }

    #[test]
    fn schemas_match_the_serialised_types() {
        let report = full_report();
        let v = serde_json::to_value(&report).unwrap();
        check("Report", &v);
        check("Finding", &v["findings"][0]);
        check("Summary", &v["summary"]);
        let item = ArtifactItem {
            reference: "h/r@sha256:0".into(),
            registry: "h".into(),
            repository: "r".into(),
            digest: regscan_scanner_api::Digest::parse(&format!("sha256:{}", "0".repeat(64))).unwrap(),
            tags: vec!["1".into()],
            manifest_media_type: "m".into(),
            artifact_type: None,
            kind: "helm".into(),
            status: Status::Unsupported,
            reason: Some("why".into()),
            scanner: None,
            summary: Summary::default(),
            platform: Some("p".into()),
            created_at: "2026-01-01T00:00:00Z".into(),
            scanned_at: None,
            deleted_at: Some("2026-01-02T00:00:00Z".into()),
            signed: true,
            has_sbom: false,
            cursor: 7,
        };
        let page = serde_json::to_value(ArtifactPage {
            items: vec![item],
            next_cursor: Some(7),
        })
        .unwrap();
        check("ArtifactPage", &page);
        check("ArtifactItem", &page["items"][0]);
        let history = ScanHistoryItem {
            id: 1,
            scanner: "image".into(),
            scanner_version: "1".into(),
            status: Status::Failed,
            reason: Some("x".into()),
            summary: Summary::default(),
            advisory_snapshot: None,
            started_at: None,
            finished_at: None,
        };
        let detail = serde_json::to_value(ArtifactDetail {
            report: report.clone(),
            tags: vec!["1".into()],
            history: vec![history],
        })
        .unwrap();
        check("ArtifactDetail", &detail);
        check("ScanHistoryItem", &detail["history"][0]);
        let event = crate::notify::CloudEvent::for_report(&report, Status::Succeeded).unwrap();
        let ev = serde_json::to_value(&event).unwrap();
        check("CloudEvent", &ev);
        check("ScanEventData", &ev["data"]);
    }

    #[test]
    fn document_is_openapi_3_1_with_resolvable_refs() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(doc["components"]["schemas"].get(name).is_some(), "dangling $ref {name}");
        }
    }
}
