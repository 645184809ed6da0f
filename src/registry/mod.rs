//! The OCI distribution client: the only code in regscan that talks to registries.
//!
//! - Only registries listed in the configuration are contacted ([`RegistryError::NotConfigured`]
//!   otherwise): this is the SSRF guard webhooks rely on. Every request, redirect hop and token
//!   realm is also checked on the address it reaches ([`ssrf`]): nothing internal (loopback,
//!   private, link-local, CGNAT, unique-local, …, in any IPv6 disguise) unless it is a configured
//!   registry's own host and port ([`RegistryError::Refused`] otherwise).
//! - A bearer-token realm must be the registry's exact origin (scheme, host, port), or the origin
//!   of the registry's configured `token_realm`; otherwise nothing is sent to it and the request
//!   fails. Error bodies are kept (summarised, at most 200 bytes) only from configured origins,
//!   never from a redirect target.
//! - Manifests: bodies over 4 MiB are refused; the body's digest is computed and must match the
//!   digest asked for (and the registry's `Docker-Content-Digest`); the body's `mediaType` must
//!   agree with the `Content-Type`.
//! - Blobs are streamed through [`verify::VerifyingReader`]: size and digest are checked as
//!   bytes arrive; nothing holds a whole blob in memory.
//! - Auth: anonymous, basic, and the bearer token flow with tokens cached per scope.
//! - 429, 5xx and connection errors are retried with exponential backoff, honouring
//!   `Retry-After`, a bounded number of times.
//!
//! We use our own small client rather than `oci-client`: regscan needs the SSRF allow-list at
//! the lowest layer, per-use size caps, verification while streaming, `Retry-After`-aware retries
//! and typed errors that keep the registry's own error codes, and `oci-client` would have to be
//! wrapped on every one of those paths.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::TryStreamExt;
use regscan_scanner_api::manifest::ManifestDoc;
use regscan_scanner_api::{media, BlobReader, Descriptor};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};
use tracing::{debug, warn};

use crate::config::{ConfigError, ExposeSecret, RegistryConfig, SecretString};
use crate::time::Backoff;

pub mod auth;
pub mod error;
pub mod reference;
pub mod ssrf;
pub mod verify;

pub use error::RegistryError;
pub use reference::Reference;

use auth::{Challenge, TokenCache};

/// Client tuning. Defaults suit production; tests shorten the delays.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Largest manifest body accepted. Default 4 MiB.
    pub max_manifest_bytes: u64,
    /// Attempts per request for retryable failures. Default 4.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt. Default 500 ms.
    pub base_delay: Duration,
    /// Longest delay between attempts, `Retry-After` included. Default 30 s.
    pub max_delay: Duration,
    /// Connect timeout. Default 10 s.
    pub connect_timeout: Duration,
    /// Time to wait for response headers. Default 60 s.
    pub response_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            max_manifest_bytes: 4 << 20,
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(60),
        }
    }
}

struct Endpoint {
    config: RegistryConfig,
    base_url: String,
    credentials: Option<(String, SecretString)>,
}

struct Inner {
    http: reqwest::Client,
    endpoints: Vec<Endpoint>,
    tokens: TokenCache,
    opts: ClientOptions,
    guard: Arc<ssrf::Guard>,
}

/// A registry client over the configured registries. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// A manifest as fetched: verified bytes, their digest and the parsed document.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// Digest computed over the body.
    pub digest: String,
    /// The manifest media type (body `mediaType`, else Content-Type).
    pub media_type: String,
    /// The body.
    pub body: Bytes,
    /// The parsed document.
    pub doc: ManifestDoc,
}

impl Client {
    /// A client for `registries`. Credentials are read now (from env or file).
    pub fn new(registries: &[RegistryConfig], opts: ClientOptions) -> Result<Self, ConfigError> {
        let guard = Arc::new(ssrf::Guard::new(registries));
        let http = reqwest::Client::builder()
            .user_agent(concat!("regscan/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(opts.connect_timeout)
            .read_timeout(opts.response_timeout)
            .dns_resolver(Arc::new(ssrf::GuardedResolver::new(guard.clone())))
            .redirect({
                let guard = guard.clone();
                reqwest::redirect::Policy::custom(move |attempt| {
                    if attempt.previous().len() >= 5 {
                        return attempt.error("too many redirects");
                    }
                    let from = attempt.previous().last().cloned();
                    let to = attempt.url().clone();
                    if let Err(blocked) = guard.check_url(&to) {
                        return attempt.error(blocked);
                    }
                    match from {
                        Some(from) if !redirect_allowed(&from, &to, &guard) => {
                            attempt.error(format!("refused redirect from {from} to {to}"))
                        }
                        _ => attempt.follow(),
                    }
                })
            })
            .build()
            .map_err(|e| ConfigError::Invalid(format!("building the HTTP client: {e}")))?;
        let endpoints = registries
            .iter()
            .map(|r| {
                Ok(Endpoint {
                    base_url: r.base_url(),
                    credentials: r.credentials()?,
                    config: r.clone(),
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                endpoints,
                tokens: TokenCache::default(),
                opts,
                guard,
            }),
        })
    }

    fn endpoint(&self, host: &str) -> Result<&Endpoint, RegistryError> {
        self.inner
            .endpoints
            .iter()
            .find(|e| e.config.matches(host))
            .ok_or_else(|| RegistryError::NotConfigured { host: host.to_owned() })
    }

    /// The configured host name for `host` (which may be an alias).
    pub fn canonical_host(&self, host: &str) -> Result<String, RegistryError> {
        Ok(self.endpoint(host)?.config.host.clone())
    }

    /// Fetch a manifest by tag or digest, verified as described in the module docs.
    pub async fn fetch_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        let ep = self.endpoint(registry)?;
        let url = format!("{}/v2/{repository}/manifests/{reference}", ep.base_url);
        if !reference::valid_repository(repository)
            || !(reference::valid_tag(reference) || reference::valid_digest(reference))
        {
            return Err(RegistryError::Invalid {
                url: format!("{}/v2/…", ep.base_url),
                message: format!("{repository:?}:{reference:?} is not a valid repository name and tag or digest"),
            });
        }
        let accept = media::MANIFEST_ACCEPT.join(", ");
        let resp = self
            .send(ep, repository, &url, |http| {
                http.get(&url).header(ACCEPT, accept.as_str())
            })
            .await?;
        let headers = resp.headers().clone();
        let body = read_bounded(resp, self.inner.opts.max_manifest_bytes, &url).await?;
        let content_type =
            header_str(&headers, CONTENT_TYPE.as_str()).map(|c| c.split(';').next().unwrap_or("").trim().to_owned());
        let computed = if reference.contains(':') {
            verify::digest_like(reference, &body)
        } else {
            verify::sha256_digest(&body)
        };
        if reference.contains(':') && computed != reference {
            return Err(RegistryError::Invalid {
                url,
                message: format!("manifest digest mismatch: asked for {reference}, body hashes to {computed}"),
            });
        }
        if let Some(header_digest) = header_str(&headers, "docker-content-digest") {
            if header_digest.starts_with(computed.split(':').next().unwrap_or("sha256")) && header_digest != computed {
                return Err(RegistryError::Invalid {
                    url,
                    message: format!(
                        "Docker-Content-Digest {header_digest} does not match the body's digest {computed}"
                    ),
                });
            }
        }
        let doc = ManifestDoc::parse(&body, content_type.as_deref()).map_err(|e| RegistryError::Invalid {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let declared = doc.media_type().map(str::to_owned);
        if let (Some(declared), Some(ct)) = (&declared, &content_type) {
            if media::MANIFEST_ACCEPT.contains(&ct.as_str()) && declared != ct {
                return Err(RegistryError::Invalid {
                    url,
                    message: format!("body mediaType {declared} disagrees with Content-Type {ct}"),
                });
            }
        }
        let media_type = declared
            .or(content_type.filter(|c| media::MANIFEST_ACCEPT.contains(&c.as_str())))
            .unwrap_or_else(|| match doc {
                ManifestDoc::Index(_) => media::OCI_INDEX.to_owned(),
                ManifestDoc::Manifest(_) => media::OCI_MANIFEST.to_owned(),
            });
        Ok(FetchedManifest {
            digest: computed,
            media_type,
            body,
            doc,
        })
    }

    /// The OCI 1.1 referrers of `digest` (`GET /v2/<name>/referrers/<digest>`), or `None` when
    /// the registry does not offer the API (404). The answer is an image index, read within the
    /// manifest size limit.
    pub async fn referrers(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
    ) -> Result<Option<Vec<Descriptor>>, RegistryError> {
        let ep = self.endpoint(registry)?;
        let url = format!("{}/v2/{repository}/referrers/{digest}", ep.base_url);
        if !reference::valid_repository(repository) || !reference::valid_digest(digest) {
            return Err(RegistryError::Invalid {
                url: format!("{}/v2/…", ep.base_url),
                message: format!("{repository:?}@{digest:?} is not a valid repository name and digest"),
            });
        }
        let resp = match self
            .send(ep, repository, &url, |http| {
                http.get(&url).header(ACCEPT, media::OCI_INDEX)
            })
            .await
        {
            Ok(r) => r,
            Err(RegistryError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let body = read_bounded(resp, self.inner.opts.max_manifest_bytes, &url).await?;
        let index: regscan_scanner_api::ImageIndex =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Invalid {
                url,
                message: format!("referrers answer is not an image index: {e}"),
            })?;
        Ok(Some(index.manifests))
    }

    /// Open a blob as a verified stream of at most `max_bytes` bytes.
    pub async fn open_blob(
        &self,
        registry: &str,
        repository: &str,
        desc: &Descriptor,
        max_bytes: u64,
    ) -> Result<BlobReader, RegistryError> {
        let ep = self.endpoint(registry)?;
        if !reference::valid_repository(repository) {
            return Err(RegistryError::Invalid {
                url: format!("{}/v2/…", ep.base_url),
                message: format!("{repository:?} is not a valid repository name"),
            });
        }
        let url = format!("{}/v2/{repository}/blobs/{}", ep.base_url, desc.digest);
        if !reference::valid_digest(&desc.digest) {
            return Err(RegistryError::Invalid {
                url,
                message: format!("descriptor digest {:?} is malformed", desc.digest),
            });
        }
        if desc.size > max_bytes {
            return Err(RegistryError::Invalid {
                url,
                message: format!(
                    "blob is {} bytes, over the {max_bytes}-byte limit for this use",
                    desc.size
                ),
            });
        }
        let resp = self.send(ep, repository, &url, |http| http.get(&url)).await?;
        if let Some(len) = resp.content_length() {
            if desc.size > 0 && len != desc.size {
                return Err(RegistryError::Invalid {
                    url,
                    message: format!("Content-Length {len} differs from the descriptor size {}", desc.size),
                });
            }
        }
        let stream = resp.bytes_stream().map_err(std::io::Error::other);
        let reader = tokio_util::io::StreamReader::new(stream);
        let size = (desc.size > 0).then_some(desc.size);
        let verified = verify::VerifyingReader::new(reader, &desc.digest, size, max_bytes).map_err(|e| {
            RegistryError::Invalid {
                url,
                message: e.to_string(),
            }
        })?;
        Ok(Box::pin(verified))
    }

    /// Send a request with auth and retries; returns a 2xx response or a typed error.
    async fn send(
        &self,
        ep: &Endpoint,
        repository: &str,
        url: &str,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let scope = format!("repository:{repository}:pull");
        let mut authorization = self
            .inner
            .tokens
            .get(&ep.config.host, &scope)
            .await
            .map(|t| format!("Bearer {t}"));
        let mut challenged = false;
        loop {
            let resp = self
                .execute(url, || {
                    let req = build(&self.inner.http);
                    match &authorization {
                        Some(a) => req.header(AUTHORIZATION, a),
                        None => req,
                    }
                })
                .await?;
            if resp.status() != StatusCode::UNAUTHORIZED || challenged {
                return self.check_status(resp, url).await;
            }
            challenged = true;
            let challenge = header_str(resp.headers(), WWW_AUTHENTICATE.as_str()).and_then(auth::parse_challenge);
            authorization = match challenge {
                Some(Challenge::Basic) => match &ep.credentials {
                    Some((user, pass)) => Some(basic(user, pass)),
                    None => return self.check_status(resp, url).await,
                },
                Some(Challenge::Bearer {
                    realm,
                    service,
                    scope: challenge_scope,
                }) => {
                    let scope = challenge_scope.unwrap_or_else(|| scope.clone());
                    let token = self.fetch_token(ep, &realm, service.as_deref(), &scope).await?;
                    Some(format!("Bearer {token}"))
                }
                None => return self.check_status(resp, url).await,
            };
        }
    }

    /// The bearer token flow: ask the realm for a token for `scope`, with basic credentials when
    /// configured; cache it per (registry, scope).
    async fn fetch_token(
        &self,
        ep: &Endpoint,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, RegistryError> {
        if let Some(t) = self.inner.tokens.get(&ep.config.host, scope).await {
            return Ok(t);
        }
        let mut realm_url = url::Url::parse(realm).map_err(|e| RegistryError::Invalid {
            url: ep.base_url.clone(),
            message: format!(
                "token realm {} is not a URL: {e}",
                error::summarize_error_body(realm.as_bytes())
            ),
        })?;
        // The realm gets this registry's credentials: it must be the registry's own origin, or
        // the origin its config names as token_realm. Another configured registry is not enough.
        let own = url::Url::parse(&ep.base_url).ok().map(|u| u.origin());
        let named = ep
            .config
            .token_realm
            .as_deref()
            .and_then(|r| url::Url::parse(r).ok())
            .map(|u| u.origin());
        let origin = realm_url.origin();
        if !origin.is_tuple() || (Some(&origin) != own.as_ref() && Some(&origin) != named.as_ref()) {
            return Err(RegistryError::Refused {
                url: realm_url.origin().ascii_serialization(),
                message: format!(
                    "the token realm on {} named by {} is not on the registry's origin {}{}; nothing was sent to it \
                     (set token_realm in this [[registry]] if the registry really uses that token service)",
                    origin.ascii_serialization(),
                    ep.config.host,
                    own.map(|o| o.ascii_serialization()).unwrap_or_default(),
                    match &ep.config.token_realm {
                        Some(r) => format!(" nor on its token_realm {r}"),
                        None => String::new(),
                    }
                ),
            });
        }
        if realm_url.scheme() != "https" && !ep.config.insecure {
            return Err(RegistryError::Invalid {
                url: realm.to_owned(),
                message: "token realm is plain HTTP but the registry is not configured insecure".into(),
            });
        }
        {
            let mut q = realm_url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", scope);
        }
        let token_url = realm_url.to_string();
        let resp = self
            .execute(&token_url, || {
                let req = self.inner.http.get(token_url.as_str());
                match &ep.credentials {
                    Some((user, pass)) => req.header(AUTHORIZATION, basic(user, pass)),
                    None => req,
                }
            })
            .await?;
        let resp = self.check_status(resp, realm).await?;
        let body = read_bounded(resp, 1 << 20, realm).await?;
        let parsed: auth::TokenResponse = serde_json::from_slice(&body).map_err(|e| RegistryError::Invalid {
            url: realm.to_owned(),
            message: format!("token response is not JSON: {e}"),
        })?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Invalid {
                url: realm.to_owned(),
                message: "token response has neither token nor access_token".into(),
            })?;
        self.inner
            .tokens
            .put(&ep.config.host, scope, token.clone(), parsed.expires_in)
            .await;
        debug!(registry = %ep.config.host, scope, "bearer token obtained");
        Ok(token)
    }

    /// Send with retries on connection errors, 429 and 5xx. Returns the last response otherwise.
    async fn execute(&self, url: &str, build: impl Fn() -> RequestBuilder) -> Result<Response, RegistryError> {
        let opts = &self.inner.opts;
        let parsed = url::Url::parse(url).map_err(|e| RegistryError::Invalid {
            url: url.to_owned(),
            message: format!("not a URL: {e}"),
        })?;
        self.inner
            .guard
            .check_url(&parsed)
            .map_err(|blocked| RegistryError::Refused {
                url: url.to_owned(),
                message: blocked.to_string(),
            })?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (delay, message) = match build().send().await {
                Ok(resp) if is_retryable_status(resp.status()) => {
                    let status = resp.status();
                    let retry_after = parse_retry_after(resp.headers());
                    let body = self.error_body(resp).await;
                    let msg = format!(
                        "HTTP {status}{}",
                        if body.is_empty() {
                            String::new()
                        } else {
                            format!(" ({body})")
                        }
                    );
                    (retry_after, msg)
                }
                Ok(resp) => return Ok(resp),
                Err(e) if refused(&e) => {
                    return Err(RegistryError::Refused {
                        url: url.to_owned(),
                        message: error_chain(&e),
                    })
                }
                Err(e) => (None, error_chain(&e)),
            };
            if attempt >= opts.max_attempts {
                return Err(RegistryError::Unavailable {
                    url: url.to_owned(),
                    message,
                    attempts: attempt,
                });
            }
            let backoff = Backoff::new(opts.base_delay, opts.max_delay);
            let wait = delay.unwrap_or_else(|| backoff.delay(attempt)).min(opts.max_delay);
            warn!(url, attempt, wait_ms = wait.as_millis() as u64, error = %message, "registry request failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

/// Whether a registry may redirect a request from `from` to `to` (blob downloads go to object
/// storage on other hosts): never from HTTPS down to HTTP, never away from http(s), and only to
/// where [`ssrf::Guard::check_url`] allows (no internal address that is not a configured
/// registry's own host and port).
fn redirect_allowed(from: &url::Url, to: &url::Url, guard: &ssrf::Guard) -> bool {
    if from.scheme() == "https" && to.scheme() != "https" {
        return false;
    }
    matches!(to.scheme(), "http" | "https") && guard.check_url(to).is_ok()
}

fn is_retryable_status(s: StatusCode) -> bool {
    s == StatusCode::TOO_MANY_REQUESTS || matches!(s.as_u16(), 500 | 502 | 503 | 504)
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = header_str(headers, RETRY_AFTER.as_str())?;
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = crate::time::parse_http_date(v)?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or_default())
}

/// Whether a send error is the SSRF guard refusing a redirect or an address (not retryable).
fn refused(e: &reqwest::Error) -> bool {
    if e.is_redirect() {
        return true;
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(inner) = src {
        if inner.downcast_ref::<ssrf::Blocked>().is_some() {
            return true;
        }
        src = inner.source();
    }
    false
}

impl Client {
    /// Map a non-2xx response to a typed error (2xx passes through).
    async fn check_status(&self, resp: Response, url: &str) -> Result<Response, RegistryError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let message = self.error_body(resp).await;
        let url = url.to_owned();
        Err(match status {
            StatusCode::UNAUTHORIZED => RegistryError::Unauthorized { url, message },
            StatusCode::FORBIDDEN => RegistryError::Denied { url, message },
            StatusCode::NOT_FOUND => RegistryError::NotFound { url, message },
            s => RegistryError::Invalid {
                url,
                message: format!(
                    "unexpected HTTP {s}{}",
                    if message.is_empty() {
                        String::new()
                    } else {
                        format!(": {message}")
                    }
                ),
            },
        })
    }

    /// A short summary of an error response's body (at most [`error::MAX_ERROR_BODY`] bytes),
    /// only when it comes from a configured registry or token realm: the body of a redirect
    /// target is never kept, since it ends up in stored reasons and logs.
    async fn error_body(&self, resp: Response) -> String {
        if !self.inner.guard.is_configured(resp.url()) {
            return format!(
                "answered by {}, a redirect target; its body is not kept",
                resp.url().origin().ascii_serialization()
            );
        }
        match read_bounded(resp, 64 << 10, "").await {
            Ok(b) => error::summarize_error_body(&b),
            Err(_) => String::new(),
        }
    }
}

/// Read a response body, refusing more than `max` bytes.
async fn read_bounded(resp: Response, max: u64, url: &str) -> Result<Bytes, RegistryError> {
    let too_large = || RegistryError::Invalid {
        url: url.to_owned(),
        message: format!("response body is over the {max}-byte limit"),
    };
    if resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > max)
    {
        return Err(too_large());
    }
    let mut buf = BytesMut::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.try_next().await.map_err(|e| RegistryError::Unavailable {
        url: url.to_owned(),
        message: format!("reading body: {}", error_chain(&e)),
        attempts: 1,
    })? {
        if buf.len() as u64 + chunk.len() as u64 > max {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn basic(user: &str, pass: &SecretString) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", pass.expose_secret()))
    )
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_to_storage_are_followed_but_not_to_internal_addresses() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        let conf = ssrf::Guard::new(&[
            RegistryConfig {
                host: "registry.example.com".into(),
                ..Default::default()
            },
            RegistryConfig {
                host: "127.0.0.1:5000".into(),
                insecure: true,
                ..Default::default()
            },
        ]);
        let from = u("https://registry.example.com/v2/a/blobs/sha256:aa");
        assert!(redirect_allowed(
            &from,
            &u("https://bucket.s3.amazonaws.com/x?sig=1"),
            &conf
        ));
        assert!(
            !redirect_allowed(&from, &u("http://bucket.s3.amazonaws.com/x"), &conf),
            "no downgrade"
        );
        assert!(!redirect_allowed(
            &from,
            &u("https://169.254.169.254/latest/meta-data"),
            &conf
        ));
        assert!(!redirect_allowed(&from, &u("https://10.0.0.5/x"), &conf));
        assert!(!redirect_allowed(&from, &u("https://[::1]/x"), &conf));
        assert!(!redirect_allowed(&from, &u("https://localhost/x"), &conf));
        let local = u("http://127.0.0.1:5000/v2/a/blobs/sha256:aa");
        assert!(
            redirect_allowed(&local, &u("http://127.0.0.1:5000/v2/a/blobs/other"), &conf),
            "a configured host"
        );
        assert!(!redirect_allowed(&local, &u("http://127.0.0.1:6000/x"), &conf));
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO), "a date in the past");
        h.insert(RETRY_AFTER, "Fri, 31 Dec 9999 23:59:59 GMT".parse().unwrap());
        assert!(
            parse_retry_after(&h).unwrap() > Duration::from_secs(3600),
            "a date to come"
        );
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(parse_retry_after(&h), None);
    }
}
