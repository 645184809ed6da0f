//! The registry client against an in-process mock registry, for what a real registry will not
//! produce: 429 with Retry-After, 5xx then success, wrong digests, oversize manifests, the
//! bearer token flow with scope caching, bad credentials, and hosts that are not configured.
//! And a hostile registry: redirects into loopback in every disguise and token realms off the
//! registry's origin, each with a sink listener that must receive nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use regscan::config::RegistryConfig;
use regscan::registry::{Client, ClientOptions, RegistryError};
use regscan_scanner_api::Descriptor;
use sha2::Digest as _;
use tokio::io::AsyncReadExt;

/// What the mock does, per test.
#[derive(Clone, Default)]
struct Behaviour {
    /// Status codes to answer before succeeding, with an optional Retry-After.
    fail_first: Vec<(u16, Option<&'static str>)>,
    /// Require the bearer token flow.
    token_auth: bool,
    /// Serve this body whatever is asked (for digest and size tests).
    manifest_override: Option<Vec<u8>>,
    /// Content-Type to answer with.
    content_type: Option<&'static str>,
    /// Serve blobs with one byte flipped.
    corrupt_blobs: bool,
    /// Answer manifest requests with `307 Location: this`.
    redirect: Option<String>,
    /// The bearer realm to challenge with (default: this registry's own `/token`).
    realm: Option<String>,
}

/// Failures still to serve: (status, Retry-After).
type Failures = Arc<Mutex<Vec<(u16, Option<&'static str>)>>>;

#[derive(Clone)]
struct Mock {
    behaviour: Behaviour,
    requests: Arc<AtomicUsize>,
    token_requests: Arc<AtomicUsize>,
    failures_left: Failures,
    manifests: Arc<HashMap<String, Vec<u8>>>,
    blobs: Arc<HashMap<String, Vec<u8>>>,
}

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

fn manifest_body() -> (Vec<u8>, Vec<u8>) {
    let blob = b"{\"architecture\":\"amd64\",\"os\":\"linux\"}".to_vec();
    let body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&blob), "size": blob.len()},
        "layers": []
    }))
    .unwrap();
    (body, blob)
}

async fn start(behaviour: Behaviour) -> (String, Mock) {
    let (body, blob) = manifest_body();
    let mut manifests = HashMap::new();
    manifests.insert("1.0".to_string(), body.clone());
    manifests.insert(digest(&body), body);
    let mut blobs = HashMap::new();
    blobs.insert(digest(&blob), blob);
    let mock = Mock {
        failures_left: Arc::new(Mutex::new(behaviour.fail_first.clone())),
        behaviour,
        requests: Arc::default(),
        token_requests: Arc::default(),
        manifests: Arc::new(manifests),
        blobs: Arc::new(blobs),
    };
    let app = Router::new()
        .route("/v2/team/app/manifests/{reference}", get(manifest))
        .route("/v2/team/app/blobs/{digest}", get(blob_handler))
        .route("/token", get(token))
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr.to_string(), mock)
}

fn gate(mock: &Mock, headers: &HeaderMap, host: &str) -> Option<Response> {
    mock.requests.fetch_add(1, Ordering::SeqCst);
    if let Some((status, retry_after)) = {
        let mut left = mock.failures_left.lock().unwrap();
        (!left.is_empty()).then(|| left.remove(0))
    } {
        let mut resp = (
            StatusCode::from_u16(status).unwrap(),
            r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#,
        )
            .into_response();
        if let Some(ra) = retry_after {
            resp.headers_mut().insert("retry-after", ra.parse().unwrap());
        }
        return Some(resp);
    }
    if mock.behaviour.token_auth
        && headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer good-token")
    {
        let realm = mock
            .behaviour
            .realm
            .clone()
            .unwrap_or_else(|| format!("http://{host}/token"));
        let challenge = format!(r#"Bearer realm="{realm}",service="mock",scope="repository:team/app:pull""#);
        let mut resp = (
            StatusCode::UNAUTHORIZED,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        )
            .into_response();
        resp.headers_mut()
            .insert("www-authenticate", challenge.parse().unwrap());
        return Some(resp);
    }
    None
}

async fn manifest(State(mock): State<Mock>, Path(reference): Path<String>, headers: HeaderMap) -> Response {
    let host = headers.get("host").unwrap().to_str().unwrap().to_owned();
    if let Some(r) = gate(&mock, &headers, &host) {
        return r;
    }
    if let Some(to) = &mock.behaviour.redirect {
        return Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header("location", to.as_str())
            .body(Body::empty())
            .unwrap();
    }
    let body = match (&mock.behaviour.manifest_override, mock.manifests.get(&reference)) {
        (Some(b), _) => b.clone(),
        (None, Some(b)) => b.clone(),
        (None, None) => {
            return (
                StatusCode::NOT_FOUND,
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
            )
                .into_response()
        }
    };
    Response::builder()
        .header("content-type", mock.behaviour.content_type.unwrap_or(MANIFEST_TYPE))
        .body(Body::from(body))
        .unwrap()
}

async fn blob_handler(State(mock): State<Mock>, Path(d): Path<String>, headers: HeaderMap) -> Response {
    let host = headers.get("host").unwrap().to_str().unwrap().to_owned();
    if let Some(r) = gate(&mock, &headers, &host) {
        return r;
    }
    match mock.blobs.get(&d) {
        Some(b) => {
            let mut b = b.clone();
            if mock.behaviour.corrupt_blobs {
                b[0] ^= 1;
            }
            Response::new(Body::from(b))
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn token(
    State(mock): State<Mock>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    mock.token_requests.fetch_add(1, Ordering::SeqCst);
    use base64::Engine as _;
    let good = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(good.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#,
        )
            .into_response();
    }
    assert_eq!(q.get("scope").map(String::as_str), Some("repository:team/app:pull"));
    assert_eq!(q.get("service").map(String::as_str), Some("mock"));
    axum::Json(serde_json::json!({"token": "good-token", "expires_in": 300})).into_response()
}

fn client(host: &str, password_env: Option<&str>) -> Client {
    let reg = RegistryConfig {
        host: host.to_owned(),
        insecure: true,
        username: password_env.map(|_| "alice".to_owned()),
        password_env: password_env.map(str::to_owned),
        ..Default::default()
    };
    let opts = ClientOptions {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(5),
        ..Default::default()
    };
    Client::new(&[reg], opts).unwrap()
}

#[tokio::test]
async fn honours_retry_after_on_429() {
    let (host, mock) = start(Behaviour {
        fail_first: vec![(429, Some("1"))],
        ..Default::default()
    })
    .await;
    let c = client(&host, None);
    let started = Instant::now();
    let m = c.fetch_manifest(&host, "team/app", "1.0").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited {:?}, Retry-After said 1 s",
        started.elapsed()
    );
    assert_eq!(mock.requests.load(Ordering::SeqCst), 2);
    assert_eq!(m.digest, digest(&manifest_body().0));
}

#[tokio::test]
async fn retries_5xx_then_succeeds() {
    let (host, mock) = start(Behaviour {
        fail_first: vec![(500, None), (503, None)],
        ..Default::default()
    })
    .await;
    let c = client(&host, None);
    c.fetch_manifest(&host, "team/app", "1.0").await.unwrap();
    assert_eq!(mock.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn gives_up_after_bounded_attempts() {
    let (host, mock) = start(Behaviour {
        fail_first: vec![(503, None); 10],
        ..Default::default()
    })
    .await;
    let c = client(&host, None);
    let err = c.fetch_manifest(&host, "team/app", "1.0").await.unwrap_err();
    assert!(matches!(err, RegistryError::Unavailable { attempts: 4, .. }), "{err}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(mock.requests.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn refuses_a_manifest_whose_digest_differs() {
    let (body, _) = manifest_body();
    let asked = digest(&body);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let (host, _) = start(Behaviour {
        manifest_override: Some(tampered),
        ..Default::default()
    })
    .await;
    let err = client(&host, None)
        .fetch_manifest(&host, "team/app", &asked)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Invalid { .. }) && err.to_string().contains("digest mismatch"),
        "{err}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn refuses_manifests_over_4_mib() {
    let mut big = manifest_body().0;
    big.pop();
    big.extend_from_slice(b",\"annotations\":{\"pad\":\"");
    big.extend(std::iter::repeat_n(b'x', 4 << 20));
    big.extend_from_slice(b"\"}}");
    let (host, _) = start(Behaviour {
        manifest_override: Some(big),
        ..Default::default()
    })
    .await;
    let err = client(&host, None)
        .fetch_manifest(&host, "team/app", "1.0")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
}

#[tokio::test]
async fn refuses_media_type_disagreeing_with_content_type() {
    let (host, _) = start(Behaviour {
        content_type: Some("application/vnd.oci.image.index.v1+json"),
        ..Default::default()
    })
    .await;
    let err = client(&host, None)
        .fetch_manifest(&host, "team/app", "1.0")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("disagrees with Content-Type"), "{err}");
}

#[tokio::test]
async fn bearer_token_flow_caches_tokens_per_scope() {
    std::env::set_var("REGSCAN_TEST_MOCK_PASSWORD_GOOD", "s3cret");
    let (host, mock) = start(Behaviour {
        token_auth: true,
        ..Default::default()
    })
    .await;
    let c = client(&host, Some("REGSCAN_TEST_MOCK_PASSWORD_GOOD"));
    let m = c.fetch_manifest(&host, "team/app", "1.0").await.unwrap();
    c.fetch_manifest(&host, "team/app", &m.digest).await.unwrap();
    let regscan_scanner_api::ManifestDoc::Manifest(im) = &m.doc else {
        panic!("not a manifest")
    };
    let mut r = c.open_blob(&host, "team/app", &im.config, 1 << 20).await.unwrap();
    let mut buf = Vec::new();
    r.read_to_end(&mut buf).await.unwrap();
    assert_eq!(
        mock.token_requests.load(Ordering::SeqCst),
        1,
        "one token for the scope, reused"
    );
    // Challenge, then success; then two requests that carry the cached token.
    assert_eq!(mock.requests.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn bad_credentials_are_unauthorized() {
    std::env::set_var("REGSCAN_TEST_MOCK_PASSWORD_BAD", "wrong");
    let (host, _) = start(Behaviour {
        token_auth: true,
        ..Default::default()
    })
    .await;
    let err = client(&host, Some("REGSCAN_TEST_MOCK_PASSWORD_BAD"))
        .fetch_manifest(&host, "team/app", "1.0")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert!(
        !err.to_string().contains("wrong"),
        "the password must never appear in errors: {err}"
    );
}

#[tokio::test]
async fn anonymous_access_to_a_protected_registry_is_unauthorized() {
    let (host, _) = start(Behaviour {
        token_auth: true,
        ..Default::default()
    })
    .await;
    let err = client(&host, None)
        .fetch_manifest(&host, "team/app", "1.0")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
}

#[tokio::test]
async fn never_contacts_an_unconfigured_host() {
    let (host, mock) = start(Behaviour::default()).await;
    let c = client("registry.example.com", None);
    let err = c.fetch_manifest(&host, "team/app", "1.0").await.unwrap_err();
    assert!(matches!(err, RegistryError::NotConfigured { .. }), "{err}");
    assert!(err.to_string().contains("not configured"), "{err}");
    assert_eq!(mock.requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn blob_corruption_is_detected_while_streaming() {
    let (host, _) = start(Behaviour {
        corrupt_blobs: true,
        ..Default::default()
    })
    .await;
    let c = client(&host, None);
    let m = c.fetch_manifest(&host, "team/app", "1.0").await.unwrap();
    let regscan_scanner_api::ManifestDoc::Manifest(im) = &m.doc else {
        panic!("not a manifest")
    };
    let mut r = c.open_blob(&host, "team/app", &im.config, 1 << 20).await.unwrap();
    let mut buf = Vec::new();
    let err = r.read_to_end(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    // A blob over the per-use cap is refused before it is fetched.
    let big = Descriptor {
        size: 10 << 20,
        ..im.config.clone()
    };
    assert!(c.open_blob(&host, "team/app", &big, 1 << 20).await.is_err());
}

#[tokio::test]
async fn not_found_carries_the_registry_error_code() {
    let (host, _) = start(Behaviour::default()).await;
    let err = client(&host, None)
        .fetch_manifest(&host, "team/app", "nope")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("MANIFEST_UNKNOWN"), "{err}");
}

#[tokio::test]
async fn refuses_repositories_and_references_that_would_rewrite_the_url() {
    let (host, mock) = start(Behaviour::default()).await;
    let c = client(&host, None);
    for (repo, reference) in [
        ("team/app", "../../other/manifests/1.0"),
        ("team/../x", "1.0"),
        ("team/app", "1.0?x=y"),
        ("team/app", "abcdeffé"),
    ] {
        let err = c.fetch_manifest(&host, repo, reference).await.unwrap_err();
        assert!(
            matches!(err, RegistryError::Invalid { .. }),
            "{repo} {reference}: {err}"
        );
    }
    assert_eq!(mock.requests.load(Ordering::SeqCst), 0, "nothing was sent");
}

/// A listener that must never be reached: it counts connections and answers each with a 500
/// whose body is a "secret" that must never show up in an error. Listens on every loopback
/// address (IPv6 and IPv4) when the system allows, so that each disguise would reach it.
struct Sink {
    port: u16,
    connections: Arc<AtomicUsize>,
}

const SECRET: &str = "INTERNAL-SECRET: db_password=hunter2";

async fn sink() -> Sink {
    let listener = match tokio::net::TcpListener::bind("[::]:0").await {
        Ok(l) => l,
        Err(_) => tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap(),
    };
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut conn, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{SECRET}",
                    SECRET.len()
                );
                let _ = conn.write_all(resp.as_bytes()).await;
            });
        }
    });
    Sink { port, connections }
}

/// The machine's host name, when it resolves to a loopback address (as in many containers).
fn loopback_hostname() -> Option<String> {
    use std::net::ToSocketAddrs;
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()?
        .trim()
        .to_owned();
    let addrs: Vec<_> = (name.as_str(), 0).to_socket_addrs().ok()?.collect();
    (!name.is_empty() && !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())).then_some(name)
}

#[tokio::test]
async fn redirects_into_loopback_are_refused_in_every_disguise() {
    let sink = sink().await;
    let port = sink.port;
    let mut targets = vec![
        format!("http://[::ffff:127.0.0.1]:{port}/x"),
        format!("http://[::ffff:7f00:1]:{port}/x"),
        format!("http://[64:ff9b::7f00:1]:{port}/x"),
        format!("http://[::127.0.0.1]:{port}/x"),
        format!("http://localhost.:{port}/x"),
        format!("http://localhost:{port}/x"),
        format!("http://127.0.0.1:{port}/x"),
        format!("http://127.0.0.2:{port}/x"),
        format!("http://2130706433:{port}/x"),
        format!("http://[::1]:{port}/x"),
        format!("http://0.0.0.0:{port}/x"),
    ];
    match loopback_hostname() {
        Some(name) => targets.push(format!("http://{name}:{port}/x")),
        None => eprintln!("note: the host name does not resolve to loopback; that case is skipped"),
    }
    for target in &targets {
        let (host, mock) = start(Behaviour {
            redirect: Some(target.clone()),
            ..Default::default()
        })
        .await;
        let err = client(&host, None)
            .fetch_manifest(&host, "team/app", "1.0")
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::Refused { .. }), "{target}: {err}");
        assert!(!err.is_retryable(), "{target}: {err}");
        assert!(!err.to_string().contains("INTERNAL-SECRET"), "{target}: {err}");
        assert_eq!(mock.requests.load(Ordering::SeqCst), 1, "{target}: not retried");
        assert_eq!(sink.connections.load(Ordering::SeqCst), 0, "{target} reached the sink");
    }
}

#[tokio::test]
async fn a_loopback_name_that_is_not_localhost_is_refused_by_the_resolver() {
    // Names the redirect check does not know as loopback are left to the resolver.
    let Some(name) = loopback_hostname() else {
        eprintln!("note: the host name does not resolve to loopback; skipped");
        return;
    };
    let sink = sink().await;
    let (host, _) = start(Behaviour {
        redirect: Some(format!("http://{name}:{}/x", sink.port)),
        ..Default::default()
    })
    .await;
    let err = client(&host, None)
        .fetch_manifest(&host, "team/app", "1.0")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("internal addresses"), "{err}");
    assert_eq!(sink.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_configured_registry_itself_stays_reachable_on_loopback() {
    let (host, mock) = start(Behaviour::default()).await;
    // A registry redirecting to itself (its own host:port) is followed.
    let (redirecting, _) = start(Behaviour {
        redirect: Some(format!("http://{host}/v2/team/app/manifests/1.0")),
        ..Default::default()
    })
    .await;
    let reg = |h: &str| RegistryConfig {
        host: h.to_owned(),
        insecure: true,
        ..Default::default()
    };
    let c = Client::new(&[reg(&redirecting), reg(&host)], ClientOptions::default()).unwrap();
    c.fetch_manifest(&redirecting, "team/app", "1.0").await.unwrap();
    c.fetch_manifest(&host, "team/app", "1.0").await.unwrap();
    assert_eq!(mock.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_token_realm_on_another_port_gets_nothing() {
    std::env::set_var("REGSCAN_TEST_MOCK_PASSWORD_REALM", "s3cret");
    let sink = sink().await;
    let (host, _) = start(Behaviour {
        token_auth: true,
        realm: Some(format!("http://127.0.0.1:{}/token", sink.port)),
        ..Default::default()
    })
    .await;
    let err = client(&host, Some("REGSCAN_TEST_MOCK_PASSWORD_REALM"))
        .fetch_manifest(&host, "team/app", "1.0")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Refused { .. }), "{err}");
    assert!(
        err.to_string().contains("token realm") && err.to_string().contains("token_realm"),
        "the reason says what to do: {err}"
    );
    assert!(!err.is_retryable());
    assert_eq!(sink.connections.load(Ordering::SeqCst), 0);
}

/// Registry A challenges with a realm on registry B (also configured).
async fn realm_on_another_registry(token_realm: bool) -> (Result<(), RegistryError>, Mock) {
    std::env::set_var("REGSCAN_TEST_MOCK_PASSWORD_OTHER", "s3cret");
    let (other, other_mock) = start(Behaviour::default()).await;
    let (host, _) = start(Behaviour {
        token_auth: true,
        realm: Some(format!("http://{other}/token")),
        ..Default::default()
    })
    .await;
    let a = RegistryConfig {
        host: host.clone(),
        insecure: true,
        username: Some("alice".into()),
        password_env: Some("REGSCAN_TEST_MOCK_PASSWORD_OTHER".into()),
        token_realm: token_realm.then(|| format!("http://{other}/token")),
        ..Default::default()
    };
    let b = RegistryConfig {
        host: other.clone(),
        insecure: true,
        ..Default::default()
    };
    let c = Client::new(&[a, b], ClientOptions::default()).unwrap();
    let r = c.fetch_manifest(&host, "team/app", "1.0").await.map(|_| ());
    (r, other_mock)
}

#[tokio::test]
async fn a_token_realm_on_another_configured_registry_gets_nothing() {
    let (r, other) = realm_on_another_registry(false).await;
    let err = r.unwrap_err();
    assert!(matches!(err, RegistryError::Refused { .. }), "{err}");
    assert_eq!(other.token_requests.load(Ordering::SeqCst), 0);
    assert_eq!(other.requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_configured_token_realm_gets_the_credentials() {
    let (r, other) = realm_on_another_registry(true).await;
    r.unwrap();
    assert_eq!(other.token_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_token_realm_on_the_registrys_exact_origin_gets_the_credentials() {
    std::env::set_var("REGSCAN_TEST_MOCK_PASSWORD_ORIGIN", "s3cret");
    let (host, mock) = start(Behaviour {
        token_auth: true,
        ..Default::default()
    })
    .await;
    client(&host, Some("REGSCAN_TEST_MOCK_PASSWORD_ORIGIN"))
        .fetch_manifest(&host, "team/app", "1.0")
        .await
        .unwrap();
    assert_eq!(mock.token_requests.load(Ordering::SeqCst), 1);
}
