//! `GET /v1/vulnerabilities` and `GET /v1/packages`: the cross-artifact queries of incident
//! response (which artifacts does this advisory hit now; where is this package installed).
//! Empty parameters (as HTML forms send them) do not filter, so the web page shares these.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use regscan_scanner_api::Severity;
use serde::{Deserialize, Serialize};

use super::ApiError;
use crate::http::auth::{require, Role};
use crate::http::AppState;
use crate::store::incidents::{
    PackageFilter, PackagePage, PurlKey, QueryError, VersionPredicate, VulnFilter, VulnPage,
};

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::BadParameter(m) => ApiError::bad_request(m),
            QueryError::Store(s) => s.into(),
        }
    }
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn limit(v: &Option<String>) -> Result<Option<u32>, ApiError> {
    match nonempty(v) {
        None => Ok(None),
        Some(l) => match l.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::bad_request(format!(
                "limit: {l:?} is not a number in 1..=1000"
            ))),
        },
    }
}

/// Query parameters of `GET /v1/vulnerabilities`.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VulnParams {
    /// Advisory ids, comma-separated (aliases resolved).
    pub id: Option<String>,
    /// Package name.
    pub package: Option<String>,
    /// Minimum severity.
    pub min_severity: Option<String>,
    /// Lowest CVSS base score (0–10).
    pub cvss_min: Option<String>,
    /// Highest CVSS base score (0–10).
    pub cvss_max: Option<String>,
    /// Repository prefix.
    pub repository: Option<String>,
    /// Artifact kind.
    pub kind: Option<String>,
    /// Cursor from `next_cursor`.
    pub before: Option<String>,
    /// Page size in (advisory, artifact) pairs, 1–1000 (default 100).
    pub limit: Option<String>,
}

impl VulnParams {
    /// The store filter, or a 400 naming the parameter.
    pub fn to_filter(&self) -> Result<VulnFilter, ApiError> {
        let min_severity = nonempty(&self.min_severity)
            .map(|s| s.parse::<Severity>())
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("min_severity: {e}")))?;
        let score = |name: &str, v: &Option<String>| -> Result<Option<f64>, ApiError> {
            match nonempty(v) {
                None => Ok(None),
                Some(s) => match s.parse::<f64>() {
                    Ok(x) if (0.0..=10.0).contains(&x) => Ok(Some(x)),
                    _ => Err(ApiError::bad_request(format!(
                        "{name}: {s:?} is not a CVSS score between 0 and 10"
                    ))),
                },
            }
        };
        Ok(VulnFilter {
            ids: nonempty(&self.id)
                .map(|s| {
                    s.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            package: nonempty(&self.package),
            min_severity,
            cvss_min: score("cvss_min", &self.cvss_min)?,
            cvss_max: score("cvss_max", &self.cvss_max)?,
            repository: nonempty(&self.repository),
            kind: nonempty(&self.kind),
            before: nonempty(&self.before),
            limit: limit(&self.limit)?,
        })
    }
}

/// Query parameters of `GET /v1/packages`.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PackageParams {
    /// Package name, exact.
    pub name: Option<String>,
    /// Version: exact, a glob (`2.1*`) or comparisons (`>=2.0,<2.17`).
    pub version: Option<String>,
    /// Ecosystem (`Debian:12`, or `Debian` for all releases).
    pub ecosystem: Option<String>,
    /// Package URL.
    pub purl: Option<String>,
    /// Repository prefix.
    pub repository: Option<String>,
    /// Artifact kind.
    pub kind: Option<String>,
    /// Cursor from `next_cursor`.
    pub before: Option<String>,
    /// Page size in (package, artifact) pairs, 1–1000 (default 100).
    pub limit: Option<String>,
}

impl PackageParams {
    /// The store filter, or a 400 naming the parameter.
    pub fn to_filter(&self) -> Result<PackageFilter, ApiError> {
        let name = nonempty(&self.name);
        let purl = nonempty(&self.purl)
            .map(|p| PurlKey::parse(&p))
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("purl: {e}")))?;
        if name.is_none() && purl.is_none() {
            return Err(ApiError::bad_request("name: give a package name (or purl)"));
        }
        Ok(PackageFilter {
            name,
            version: nonempty(&self.version)
                .map(|v| VersionPredicate::parse(&v))
                .transpose()
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
            ecosystem: nonempty(&self.ecosystem),
            purl,
            repository: nonempty(&self.repository),
            kind: nonempty(&self.kind),
            before: nonempty(&self.before),
            limit: limit(&self.limit)?,
        })
    }
}

pub(super) async fn vulnerabilities(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<VulnParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<VulnPage>, ApiError> {
    require(&state, &headers, Role::Read)?;
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(Json(state.store.vulnerabilities(&params.to_filter()?).await?))
}

pub(super) async fn packages(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<PackageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PackagePage>, ApiError> {
    require(&state, &headers, Role::Read)?;
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(Json(state.store.packages_in_use(&params.to_filter()?).await?))
}
