//! Image configuration checks: a few precise findings read from the image config blob.
//!
//! | id | severity | when |
//! |---|---|---|
//! | `IMG-ROOT-USER` | medium | the config sets no `User`, or a root one (`root`, `0`, `0:0`, `root:…`) on a non-Windows image |
//! | `IMG-SECRET-ENV` | high | an `Env` entry holds a secret: AWS access key id, private key block, GitHub / GitLab / Slack token, or a literal value in a `*PASSWORD*`, `*SECRET*`, `*TOKEN*` variable |
//! | `IMG-REMOTE-ADD` | low | a history step ran `ADD http(s)://…` without `--checksum` |
//!
//! Secret values never appear in findings: at most a known public prefix (`AKIA`, `ghp_`) and
//! a fixed mask.

use regscan_scanner_api::{Finding, ScanError, Severity};
use serde::Deserialize;

use crate::secrets::{self, SecretKind};

/// Finding id: the image runs as root.
pub const ROOT_USER: &str = "IMG-ROOT-USER";
/// Finding id: a secret in the image's environment.
pub const SECRET_ENV: &str = "IMG-SECRET-ENV";
/// Finding id: a layer added from a remote URL without a checksum.
pub const REMOTE_ADD: &str = "IMG-REMOTE-ADD";
/// Every check id, for validating `skip_checks`.
pub const CHECK_IDS: &[&str] = &[ROOT_USER, SECRET_ENV, REMOTE_ADD];

/// The parts of an OCI / Docker image config the checks read. Unknown fields are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfigBlob {
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// The runtime configuration.
    #[serde(default)]
    pub config: Option<RunConfig>,
    /// Build history, oldest first.
    #[serde(default)]
    pub history: Option<Vec<History>>,
}

/// The runtime part of an image config.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunConfig {
    /// `User` (`name`, `uid`, `uid:gid`, `name:group`).
    #[serde(rename = "User", default)]
    pub user: Option<String>,
    /// `Env` (`KEY=value` entries).
    #[serde(rename = "Env", default)]
    pub env: Option<Vec<String>>,
}

/// One build history step.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct History {
    /// The command that created the step.
    #[serde(default)]
    pub created_by: Option<String>,
}

impl ImageConfigBlob {
    /// Parse a config blob.
    pub fn parse(bytes: &[u8]) -> Result<Self, ScanError> {
        serde_json::from_slice(bytes)
            .map_err(|e| ScanError::Invalid(format!("image config is not valid JSON of the image config shape: {e}")))
    }

    /// The configured user, trimmed (`""` when unset).
    pub fn user(&self) -> &str {
        self.config
            .as_ref()
            .and_then(|c| c.user.as_deref())
            .unwrap_or("")
            .trim()
    }
}

/// Run every check not listed in `skip` on `config`.
pub fn run(config: &ImageConfigBlob, skip: &[String]) -> Vec<Finding> {
    let on = |id: &str| !skip.iter().any(|s| s == id);
    let mut out = Vec::new();
    if on(ROOT_USER) {
        out.extend(root_user(config));
    }
    if on(SECRET_ENV) {
        out.extend(secret_env(config));
    }
    if on(REMOTE_ADD) {
        out.extend(remote_add(config));
    }
    out
}

fn root_user(config: &ImageConfigBlob) -> Option<Finding> {
    if config.os.eq_ignore_ascii_case("windows") {
        return None;
    }
    let user = config.user();
    let name = user.split(':').next().unwrap_or("").trim();
    let title = match name {
        "" => "Image runs as root: the config sets no User".to_owned(),
        "root" | "0" => format!("Image runs as root: User is {user:?}"),
        _ => return None,
    };
    Some(
        Finding::new(ROOT_USER, Severity::Medium, title)
            .at("config.User")
            .fix("Create an unprivileged user in the image and set it with USER (e.g. `USER 10001:10001`), or run the container with a non-root user."),
    )
}

fn secret_env(config: &ImageConfigBlob) -> Vec<Finding> {
    let env = config.config.as_ref().and_then(|c| c.env.as_deref()).unwrap_or(&[]);
    env.iter()
        .filter_map(|entry| {
            let (key, value) = entry.split_once('=')?;
            let kind = secrets::detect(key, value)?;
            let what = match kind {
                SecretKind::Generic => "a literal secret value".to_owned(),
                k => format!("{} ({})", k.description(), secrets::mask(k, value)),
            };
            Some(
                Finding::new(SECRET_ENV, Severity::High, format!("Environment variable {key} holds {what}"))
                    .at(format!("config.Env[{key}]"))
                    .fix("Remove the secret from the image (it is readable by anyone who can pull it) and rotate it; pass secrets at run time or use build secrets."),
            )
        })
        .collect()
}

fn remote_add(config: &ImageConfigBlob) -> Vec<Finding> {
    let history = config.history.as_deref().unwrap_or(&[]);
    history
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let url = remote_add_url(h.created_by.as_deref()?)?;
            Some(
                Finding::new(REMOTE_ADD, Severity::Low, format!("Layer added from a remote URL without a checksum: {url}"))
                    .at(format!("history[{i}].created_by"))
                    .fix("Download with a pinned checksum (`ADD --checksum=sha256:… URL`) or fetch and verify in a build stage, so the image does not depend on what the URL serves at build time."),
            )
        })
        .collect()
}

/// The first remote source of an `ADD` step without `--checksum`, shown without credentials or
/// query string.
fn remote_add_url(created_by: &str) -> Option<String> {
    let mut tokens = created_by.split_whitespace();
    tokens.by_ref().find(|t| *t == "ADD")?;
    let mut checksum = false;
    for t in tokens {
        if t == "#" || t == "&&" || t == ";" {
            break;
        }
        if let Some(flag) = t.strip_prefix("--") {
            checksum |= flag.starts_with("checksum=");
            continue;
        }
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return (!checksum).then(|| display_url(t));
        }
    }
    None
}

/// A URL with any `user:password@` and query string removed.
fn display_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (host, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> ImageConfigBlob {
        ImageConfigBlob::parse(json.as_bytes()).unwrap()
    }

    fn ids(c: &ImageConfigBlob) -> Vec<String> {
        run(c, &[]).into_iter().map(|f| f.id).collect()
    }

    #[test]
    fn root_user_forms() {
        for user in [
            None,
            Some(""),
            Some("root"),
            Some("0"),
            Some("0:0"),
            Some("root:staff"),
            Some(" 0 "),
        ] {
            let c = ImageConfigBlob {
                os: "linux".into(),
                config: Some(RunConfig {
                    user: user.map(str::to_owned),
                    env: None,
                }),
                ..Default::default()
            };
            assert_eq!(ids(&c), [ROOT_USER], "user {user:?}");
        }
        for user in ["nobody", "1000", "1000:0", "65532:65532", "rootless"] {
            let c = ImageConfigBlob {
                config: Some(RunConfig {
                    user: Some(user.into()),
                    env: None,
                }),
                ..Default::default()
            };
            assert!(ids(&c).is_empty(), "user {user:?}");
        }
        assert!(ids(&config(r#"{"os":"windows","config":{}}"#)).is_empty());
        assert_eq!(ids(&config(r#"{"os":"linux","config":null}"#)), [ROOT_USER]);
    }

    #[test]
    fn skip_checks_skips() {
        let c = config(r#"{"os":"linux"}"#);
        assert!(run(&c, &[ROOT_USER.to_owned()]).is_empty());
    }

    #[test]
    fn remote_add_forms() {
        let cases = [
            (
                "ADD https://example.com/app.tgz /opt/ # buildkit",
                Some("https://example.com/app.tgz"),
            ),
            (
                "/bin/sh -c #(nop) ADD http://u:p@example.com/x?sig=abc /x",
                Some("http://example.com/x"),
            ),
            (
                "ADD --chown=1:1 HTTPS://example.com/y /y",
                Some("HTTPS://example.com/y"),
            ),
            ("ADD --checksum=sha256:abcd https://example.com/z /z # buildkit", None),
            (
                "/bin/sh -c #(nop) ADD file:4b03b5f551e3fbdf47ec609712007327828f7530cc3455c43bbcdcaf449a75a9 in / ",
                None,
            ),
            ("COPY https://example.com/a /a", None),
            ("RUN curl https://example.com/a | sh", None),
        ];
        for (created_by, want) in cases {
            assert_eq!(remote_add_url(created_by).as_deref(), want, "{created_by}");
        }
        let c = config(
            r#"{"os":"linux","config":{"User":"app"},"history":[{"created_by":"ADD https://e.com/a /a"},{"empty_layer":true}]}"#,
        );
        let f = run(&c, &[]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].location.as_deref(), Some("history[0].created_by"));
    }

    #[test]
    fn bad_json_is_invalid() {
        let e = ImageConfigBlob::parse(b"{not json").unwrap_err();
        assert!(matches!(e, ScanError::Invalid(m) if m.contains("image config")));
    }
}
