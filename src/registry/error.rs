//! Registry errors: typed, with the URL and the registry's own words, and classified as
//! retryable or not.

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The host is not in the configuration; regscan never contacts it.
    #[error(
        "registry {host} is not configured: regscan only contacts registries listed as [[registry]] in its config"
    )]
    NotConfigured {
        /// The host that was asked for.
        host: String,
    },
    /// 404 / MANIFEST_UNKNOWN / BLOB_UNKNOWN / NAME_UNKNOWN.
    #[error("not found: {url}{}", detail(.message))]
    NotFound {
        /// The URL.
        url: String,
        /// The registry's error codes and messages.
        message: String,
    },
    /// 401: no or bad credentials.
    #[error("unauthorized: {url}{} (check the registry's username and password_env/password_file)", detail(.message))]
    Unauthorized {
        /// The URL.
        url: String,
        /// The registry's error codes and messages.
        message: String,
    },
    /// 403: credentials are fine but access is denied.
    #[error("access denied: {url}{}", detail(.message))]
    Denied {
        /// The URL.
        url: String,
        /// The registry's error codes and messages.
        message: String,
    },
    /// 429, 5xx or a network failure that persisted through the retries.
    #[error("registry unavailable after {attempts} attempt(s): {url}: {message}")]
    Unavailable {
        /// The URL.
        url: String,
        /// What happened last.
        message: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// regscan refused to send a request: the address is internal and not a configured
    /// registry's, a redirect goes where regscan does not follow, or a token realm is off the
    /// registry's origin. Nothing was sent there. Not retryable.
    #[error("refused: {url}: {message}")]
    Refused {
        /// The URL (or origin) refused.
        url: String,
        /// Why.
        message: String,
    },
    /// The registry answered something regscan refuses: wrong digest, oversize body, wrong
    /// media type, malformed response.
    #[error("invalid response from {url}: {message}")]
    Invalid {
        /// The URL.
        url: String,
        /// What is wrong.
        message: String,
    },
}

fn detail(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(" ({message})")
    }
}

impl RegistryError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, RegistryError::Unavailable { .. })
    }
}

/// The distribution-spec error body: `{"errors":[{"code":…,"message":…}]}`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Debug, serde::Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Longest error-body summary kept, in bytes.
pub(crate) const MAX_ERROR_BODY: usize = 200;

/// Summarise an error body as `CODE: message; …`, or a short excerpt of a non-JSON body; at
/// most [`MAX_ERROR_BODY`] bytes, with control and bidi characters replaced by spaces.
pub(crate) fn summarize_error_body(body: &[u8]) -> String {
    let summary = summarize(body);
    let mut out = String::new();
    for c in summary.chars() {
        let c = if c.is_control() || is_bidi_control(c) { ' ' } else { c };
        if out.len() + c.len_utf8() > MAX_ERROR_BODY {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `c` is a bidirectional control character (it can make text display in another order).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

fn summarize(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) if !b.errors.is_empty() => b
            .errors
            .iter()
            .map(|e| {
                if e.message.is_empty() {
                    e.code.clone()
                } else {
                    format!("{}: {}", e.code, e.message)
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarizes_spec_errors() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#;
        assert_eq!(summarize_error_body(body), "MANIFEST_UNKNOWN: manifest unknown");
        assert_eq!(summarize_error_body(b"<html>\n  oops </html>"), "<html> oops </html>");
        let many = format!(
            r#"{{"errors":[{}]}}"#,
            vec![r#"{"code":"X","message":"long message"}"#; 50].join(",")
        );
        let s = summarize_error_body(many.as_bytes());
        assert!(s.len() <= MAX_ERROR_BODY + '…'.len_utf8(), "{}", s.len());
        assert_eq!(summarize_error_body("a\u{202E}b\r\nc".as_bytes()), "a b c");
    }
}
