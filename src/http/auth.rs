//! API authentication: bearer tokens with roles, compared in constant time.
//!
//! `api_token` (`REGSCAN_API_TOKEN`) grants every role. `[[api_tokens]]` in the config adds
//! named tokens with one role each: `read` (queries) or `scan` (queries and `POST /v1/scans`).
//! With no token configured at all, the API is open.

use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

use super::api::ApiError;
use super::AppState;
use crate::config::{ApiRole, ExposeSecret};

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Read results.
    Read,
    /// Request scans.
    Scan,
}

/// Constant-time comparison of a presented token with an expected one.
pub fn token_matches(presented: &str, expected: &str) -> bool {
    !expected.is_empty() && presented.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Check that the request may act in `role`: 401 without a valid token, 403 when the token's
/// role is not enough.
pub fn require(state: &AppState, headers: &HeaderMap, role: Role) -> Result<(), ApiError> {
    let config = &state.config;
    let named = config
        .api_tokens
        .iter()
        .filter_map(|t| t.secret().map(|s| (t.role, s)))
        .collect::<Vec<_>>();
    if config.api_token.is_none() && config.api_tokens.is_empty() {
        return Ok(());
    }
    let Some(presented) = bearer(headers) else {
        return Err(ApiError::unauthorized(
            "this API requires Authorization: Bearer <token>",
        ));
    };
    let mut granted: Option<ApiRole> = None;
    if let Some(t) = &config.api_token {
        if token_matches(presented, t.expose_secret()) {
            granted = Some(ApiRole::Scan);
        }
    }
    // Check every token (no early exit), so timing does not tell which one matched.
    for (r, secret) in &named {
        if token_matches(presented, secret.expose_secret()) {
            granted = Some(granted.map_or(*r, |g| g.max(*r)));
        }
    }
    match (granted, role) {
        (None, _) => Err(ApiError::unauthorized("the bearer token is not valid")),
        (Some(ApiRole::Read), Role::Scan) => Err(ApiError::forbidden(
            "this token may read but not request scans (role read)",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_match() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abd", "abc"));
        assert!(!token_matches("ab", "abc"));
        assert!(!token_matches("", ""));
    }

    #[test]
    fn bearer_header() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer  t0k ".parse().unwrap());
        assert_eq!(bearer(&h), Some("t0k"));
        h.insert("authorization", "Basic x".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
