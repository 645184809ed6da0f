//! Credential detection in data documents and Rego string literals.
//!
//! Two signals: values with the unmistakable shape of a credential (PEM private keys, cloud and
//! forge tokens, JWTs, URLs with a password), and non-empty values under keys named like one
//! (`password`, `client_secret`, `api_key`, …) that are not obvious placeholders. Findings never
//! contain the secret, only a masked preview.

use regscan_scanner_api::Severity;

/// A credential found in a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Check id.
    pub id: &'static str,
    /// Severity.
    pub severity: Severity,
    /// What it looks like (`AWS access key id`).
    pub what: &'static str,
}

/// Classify a string value by its shape alone.
pub fn classify_value(s: &str) -> Option<Hit> {
    // The shortest shape below (`a://u:p@h`) has 9 characters; most data values are shorter.
    if s.len() < 9 {
        return None;
    }
    let hit = |id, severity, what| Some(Hit { id, severity, what });
    if s.contains("-----BEGIN") && s.contains("PRIVATE KEY-----") {
        return hit("OPA-SECRET-PRIVATE-KEY", Severity::Critical, "PEM private key");
    }
    let prefixed = |prefixes: &[&str], min_tail: usize, tail_ok: fn(u8) -> bool| {
        prefixes.iter().any(|p| {
            s.match_indices(p).any(|(i, _)| {
                let boundary = i == 0 || !s.as_bytes()[i - 1].is_ascii_alphanumeric();
                let tail = &s.as_bytes()[i + p.len()..];
                boundary && tail.iter().take_while(|b| tail_ok(**b)).count() >= min_tail
            })
        })
    };
    let upper_digit = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    let token = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    if prefixed(&["AKIA", "ASIA"], 16, upper_digit) {
        return hit("OPA-SECRET-CLOUD-KEY", Severity::High, "AWS access key id");
    }
    if prefixed(&["AIza"], 35, token) {
        return hit("OPA-SECRET-CLOUD-KEY", Severity::High, "Google API key");
    }
    if s.contains("AccountKey=") && s.contains("AccountName=") {
        return hit(
            "OPA-SECRET-CLOUD-KEY",
            Severity::High,
            "Azure storage connection string",
        );
    }
    if prefixed(&["ghp_", "gho_", "ghu_", "ghs_", "ghr_"], 36, alnum) || prefixed(&["github_pat_"], 22, token) {
        return hit("OPA-SECRET-TOKEN", Severity::High, "GitHub token");
    }
    if prefixed(&["glpat-"], 20, token) {
        return hit("OPA-SECRET-TOKEN", Severity::High, "GitLab token");
    }
    if prefixed(&["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-"], 10, token) {
        return hit("OPA-SECRET-TOKEN", Severity::High, "Slack token");
    }
    if prefixed(&["sk_live_", "rk_live_"], 16, alnum) {
        return hit("OPA-SECRET-TOKEN", Severity::High, "Stripe live key");
    }
    if looks_like_jwt(s) {
        return hit("OPA-SECRET-JWT", Severity::Medium, "JSON Web Token");
    }
    if url_with_password(s) {
        return hit(
            "OPA-SECRET-URL-CREDENTIALS",
            Severity::High,
            "URL with embedded password",
        );
    }
    None
}

fn looks_like_jwt(s: &str) -> bool {
    s.match_indices("eyJ").any(|(i, _)| {
        let rest = &s[i..];
        let tok: &str = rest
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
            .next()
            .unwrap_or("");
        let parts: Vec<&str> = tok.split('.').collect();
        parts.len() == 3
            && parts[1].starts_with("eyJ")
            && parts[0].len() >= 10
            && parts[1].len() >= 10
            && parts[2].len() >= 16
    })
}

fn url_with_password(s: &str) -> bool {
    s.match_indices("://").any(|(i, _)| {
        let rest = &s[i + 3..];
        let authority = rest.split(['/', '?', '#', ' ', '"']).next().unwrap_or("");
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, pass)) => !user.is_empty() && !pass.is_empty() && !is_placeholder(pass) && !host.is_empty(),
                None => false,
            },
            None => false,
        }
    })
}

/// Whether a key name suggests a credential.
pub fn sensitive_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    const EXCLUDE: &[&str] = &[
        "url", "uri", "endpoint", "path", "file", "type", "name", "length", "ttl", "expir", "policy", "enabled",
        "header", "field", "count", "max", "min", "rotation", "format", "ref", "id",
    ];
    if EXCLUDE.iter().any(|e| k.ends_with(e)) {
        return false;
    }
    const NEEDLES: &[&str] = &[
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "accesskey",
        "privatekey",
        "credential",
        "sessionkey",
        "connectionstring",
        "signingkey",
        "encryptionkey",
    ];
    k == "pwd" || k == "auth" || NEEDLES.iter().any(|n| k.contains(n))
}

/// Whether a value is an obvious placeholder rather than a credential.
pub fn is_placeholder(v: &str) -> bool {
    let t = v.trim();
    let lower = t.to_ascii_lowercase();
    t.len() < 4
        || (t.starts_with("${") && t.ends_with('}'))
        || (t.starts_with("{{") && t.ends_with("}}"))
        || (t.starts_with('<') && t.ends_with('>'))
        || (t.starts_with('$') && t[1..].chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        || t.chars()
            .all(|c| c == '*' || c == 'x' || c == 'X' || c == '.' || c == '-')
        || [
            "redacted",
            "changeme-placeholder",
            "placeholder",
            "example",
            "none",
            "null",
            "true",
            "false",
            "todo",
        ]
        .contains(&lower.as_str())
        || lower.starts_with("env:")
        || lower.starts_with("vault:")
        || lower.starts_with("secret://")
}

/// A masked preview of a secret: its first characters and its length.
pub fn mask(v: &str) -> String {
    let shown: String = v.chars().take(4).collect();
    format!("{shown}… ({} chars)", v.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_recognised() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIB...\n-----END RSA PRIVATE KEY-----";
        assert_eq!(classify_value(pem).unwrap().id, "OPA-SECRET-PRIVATE-KEY");
        assert_eq!(
            classify_value("key AKIAIOSFODNN7EXAMPLE here").unwrap().what,
            "AWS access key id"
        );
        assert!(
            classify_value("XAKIAIOSFODNN7EXAMPLE").is_none(),
            "needs a word boundary"
        );
        assert_eq!(
            classify_value(&format!("ghp_{}", "a".repeat(36))).unwrap().what,
            "GitHub token"
        );
        assert_eq!(classify_value("xoxb-1234567890-abcdef").unwrap().what, "Slack token");
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(classify_value(jwt).unwrap().id, "OPA-SECRET-JWT");
        assert_eq!(
            classify_value("postgres://app:s3cr3tpw@db:5432/x").unwrap().id,
            "OPA-SECRET-URL-CREDENTIALS"
        );
        assert!(classify_value("https://example.com/path").is_none());
        assert!(classify_value("just some text").is_none());
    }

    #[test]
    fn key_names_and_placeholders() {
        for k in [
            "password",
            "db_password",
            "clientSecret",
            "api-key",
            "GITHUB_TOKEN",
            "private_key",
            "pwd",
        ] {
            assert!(sensitive_key(k), "{k}");
        }
        for k in [
            "token_url",
            "password_policy",
            "secret_name",
            "username",
            "tokens_max",
            "key",
        ] {
            assert!(!sensitive_key(k), "{k}");
        }
        for v in [
            "${DB_PASSWORD}",
            "{{ .pw }}",
            "<password>",
            "****",
            "",
            "REDACTED",
            "$SECRET",
        ] {
            assert!(is_placeholder(v), "{v}");
        }
        assert!(!is_placeholder("hunter2!"));
        assert_eq!(mask("hunter2!"), "hunt… (8 chars)");
    }
}
