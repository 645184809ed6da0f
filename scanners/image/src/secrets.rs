//! Recognising secrets in environment variables, and masking them for reports.
//!
//! Token formats are matched exactly (prefix, alphabet, length) to stay precise; the generic
//! rule needs both a secret-sounding variable name and a literal value (not a `$reference`,
//! a file path, or a boolean).

/// What kind of secret a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// AWS access key id (`AKIA…`, `ASIA…`).
    AwsAccessKey,
    /// A PEM private key block.
    PrivateKey,
    /// GitHub token (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`).
    GitHubToken,
    /// GitLab personal access token (`glpat-`).
    GitLabToken,
    /// Slack token (`xoxb-`, `xoxp-`, …) or incoming webhook URL.
    SlackToken,
    /// A literal value in a `*PASSWORD*` / `*SECRET*` / `*TOKEN*` variable.
    Generic,
}

impl SecretKind {
    /// Words for a finding title.
    pub fn description(self) -> &'static str {
        match self {
            SecretKind::AwsAccessKey => "an AWS access key id",
            SecretKind::PrivateKey => "a private key",
            SecretKind::GitHubToken => "a GitHub token",
            SecretKind::GitLabToken => "a GitLab access token",
            SecretKind::SlackToken => "a Slack token",
            SecretKind::Generic => "a literal secret value",
        }
    }
}

/// The secret in `KEY=value`, if any. Specific token formats win over the generic name rule.
pub fn detect(key: &str, value: &str) -> Option<SecretKind> {
    if value.contains("-----BEGIN") && value.contains("PRIVATE KEY") {
        return Some(SecretKind::PrivateKey);
    }
    let kinds = [
        (SecretKind::AwsAccessKey, aws_key as fn(&str) -> bool),
        (SecretKind::GitHubToken, github_token),
        (SecretKind::GitLabToken, gitlab_token),
        (SecretKind::SlackToken, slack_token),
    ];
    for word in
        value.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '/' || c == ':' || c == '.'))
    {
        for (kind, matches) in kinds {
            if matches(word) {
                return Some(kind);
            }
        }
    }
    generic(key, value).then_some(SecretKind::Generic)
}

/// `value` masked: a public prefix the format starts with, then a fixed mask (the length is not
/// revealed either).
pub fn mask(kind: SecretKind, value: &str) -> String {
    let prefix = match kind {
        SecretKind::AwsAccessKey => ["AKIA", "ASIA"].into_iter().find(|p| value.contains(p)).unwrap_or(""),
        SecretKind::GitHubToken => ["github_pat_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"]
            .into_iter()
            .find(|p| value.contains(p))
            .unwrap_or(""),
        SecretKind::GitLabToken => "glpat-",
        SecretKind::SlackToken => ["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "https://hooks.slack.com/"]
            .into_iter()
            .find(|p| value.contains(p))
            .unwrap_or(""),
        SecretKind::PrivateKey | SecretKind::Generic => "",
    };
    format!("{prefix}********")
}

fn all(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    s.bytes().all(ok)
}

fn aws_key(w: &str) -> bool {
    w.len() == 20
        && (w.starts_with("AKIA") || w.starts_with("ASIA"))
        && all(&w[4..], |b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn github_token(w: &str) -> bool {
    if let Some(rest) = w.strip_prefix("github_pat_") {
        return rest.len() >= 22 && all(rest, |b| b.is_ascii_alphanumeric() || b == b'_');
    }
    ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]
        .iter()
        .filter_map(|p| w.strip_prefix(p))
        .any(|rest| rest.len() == 36 && all(rest, |b| b.is_ascii_alphanumeric()))
}

fn gitlab_token(w: &str) -> bool {
    w.strip_prefix("glpat-")
        .is_some_and(|rest| rest.len() >= 20 && all(rest, |b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
}

fn slack_token(w: &str) -> bool {
    if let Some(rest) = w.strip_prefix("https://hooks.slack.com/services/") {
        return rest.split('/').filter(|p| !p.is_empty()).count() == 3;
    }
    ["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-"]
        .iter()
        .filter_map(|p| w.strip_prefix(p))
        .any(|rest| rest.len() >= 10 && all(rest, |b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// Name suffixes that say the variable holds where a secret is, or something about it.
const NOT_THE_SECRET: &[&str] = &[
    "_FILE",
    "_PATH",
    "_DIR",
    "_URL",
    "_URI",
    "_ENDPOINT",
    "_HOST",
    "_PORT",
    "_NAME",
    "_ID",
    "_TYPE",
    "_LENGTH",
    "_TTL",
    "_TIMEOUT",
    "_EXPIRY",
    "_HEADER",
    "_ENABLED",
    "_REQUIRED",
];

fn generic(key: &str, value: &str) -> bool {
    let key = key.trim().to_ascii_uppercase();
    let value = value.trim();
    let sounds_secret = ["PASSWORD", "PASSWD", "SECRET", "TOKEN"]
        .iter()
        .any(|w| key.contains(w));
    if !sounds_secret || NOT_THE_SECRET.iter().any(|s| key.ends_with(s)) {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    !(value.is_empty()
        || value.starts_with('$')
        || value.starts_with('/')
        || matches!(
            lower.as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "none" | "null" | "0" | "1"
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_formats() {
        let cases = [
            (
                "AWS_ACCESS_KEY_ID",
                "AKIAIOSFODNN7EXAMPLE",
                Some(SecretKind::AwsAccessKey),
            ),
            ("CREDS", "id=ASIAIOSFODNN7EXAMPLE;", Some(SecretKind::AwsAccessKey)),
            ("X", "AKIAshort", None),
            (
                "GH",
                "ghp_0123456789abcdefghijABCDEFGHIJ012345",
                Some(SecretKind::GitHubToken),
            ),
            (
                "GH",
                "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
                Some(SecretKind::GitHubToken),
            ),
            ("GL", "glpat-abcdefghij0123456789", Some(SecretKind::GitLabToken)),
            ("SLACK", "xoxb-1234567890-abcdefghij", Some(SecretKind::SlackToken)),
            (
                "HOOK",
                "https://hooks.slack.com/services/T000/B000/XXXX",
                Some(SecretKind::SlackToken),
            ),
            (
                "KEY",
                "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----",
                Some(SecretKind::PrivateKey),
            ),
            ("CERT", "-----BEGIN CERTIFICATE-----", None),
            ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin", None),
            ("GPG_KEY", "A035C8C19219BA821ECEA86B64E628F8D684696D", None),
        ];
        for (k, v, want) in cases {
            assert_eq!(detect(k, v), want, "{k}={v}");
        }
    }

    #[test]
    fn generic_names_need_a_literal_value() {
        assert_eq!(detect("DB_PASSWORD", "hunter2"), Some(SecretKind::Generic));
        assert_eq!(detect("client_secret", "abc"), Some(SecretKind::Generic));
        assert_eq!(detect("API_TOKEN", "x"), Some(SecretKind::Generic));
        for (k, v) in [
            ("DB_PASSWORD", ""),
            ("DB_PASSWORD", "$DB_PASS"),
            ("POSTGRES_PASSWORD_FILE", "/run/secrets/pg"),
            ("TOKEN_URL", "https://auth.example.com/token"),
            ("SECRET_NAME", "my-k8s-secret"),
            ("REQUIRE_TOKEN", "true"),
            ("DB_USER", "admin"),
        ] {
            assert_eq!(detect(k, v), None, "{k}={v}");
        }
    }

    #[test]
    fn masks_never_contain_the_secret() {
        let v = "AKIAIOSFODNN7EXAMPLE";
        let m = mask(SecretKind::AwsAccessKey, v);
        assert_eq!(m, "AKIA********");
        assert!(!m.contains("IOSFODNN7"));
        assert_eq!(mask(SecretKind::Generic, "hunter2"), "********");
    }
}
