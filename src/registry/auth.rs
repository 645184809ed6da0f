//! Registry authentication: `WWW-Authenticate` challenges and the bearer token flow.
//!
//! Tokens are cached per (registry, scope) until shortly before they expire. Credentials are
//! sent only to the registry they belong to and to its token realm; they are never logged.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=…`.
    Basic,
    /// `Bearer realm=…,service=…,scope=…`.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// Service parameter.
        service: Option<String>,
        /// Scope parameter.
        scope: Option<String>,
    },
}

/// Parse a `WWW-Authenticate` header value.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    Some(Challenge::Bearer {
        realm: params.get("realm")?.clone(),
        service: params.get("service").cloned(),
        scope: params.get("scope").cloned(),
    })
}

/// Parse `k="v",k2=v2` auth parameters; quoted values may contain commas.
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            continue;
        }
        let value = if chars.peek() == Some(&'"') {
            chars.next();
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => v.extend(chars.next()),
                    '"' => break,
                    c => v.push(c),
                }
            }
            v
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_owned()
        };
        out.insert(key.trim().to_ascii_lowercase(), value);
    }
    out
}

/// The token endpoint's answer.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

struct CachedToken {
    token: String,
    expires: Instant,
}

/// Bearer tokens per (registry, scope).
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<(String, String), CachedToken>>,
}

impl TokenCache {
    pub async fn get(&self, registry: &str, scope: &str) -> Option<String> {
        let tokens = self.tokens.lock().await;
        tokens
            .get(&(registry.to_owned(), scope.to_owned()))
            .filter(|t| t.expires > Instant::now())
            .map(|t| t.token.clone())
    }

    pub async fn put(&self, registry: &str, scope: &str, token: String, expires_in: Option<u64>) {
        // The token spec's default lifetime is 60 s; renew 10 s early.
        let lifetime = Duration::from_secs(expires_in.unwrap_or(60).clamp(20, 86_400) - 10);
        let mut tokens = self.tokens.lock().await;
        tokens.insert(
            (registry.to_owned(), scope.to_owned()),
            CachedToken {
                token,
                expires: Instant::now() + lifetime,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let c = parse_challenge(r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull""#).unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:team/app:pull".into()),
            }
        );
        let c = parse_challenge(r#"Bearer realm="https://a/t",scope="repository:a:pull,push""#).unwrap();
        assert!(matches!(c, Challenge::Bearer { scope: Some(s), .. } if s == "repository:a:pull,push"));
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }
}
