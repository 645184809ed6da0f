//! The query API on a real database (SQLite and PostgreSQL), served by a real `regscan serve`
//! child process after `regscan scan` runs stored an image, a Helm chart, an unsupported
//! artifact and a multi-platform index pushed to a real registry: every filter, cursor
//! pagination, auth roles from `[[api_tokens]]` (401/403), bad parameters (400 naming the
//! parameter), the Harbor and CycloneDX formats, rescans, `/openapi.json`, and the CLI's
//! `--server` mode (`status`, `artifacts`, `scan --wait`) and `scan --format sarif`.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use support::db::{sqlite_url, PgDb};
use support::oci::{Artifact, OciImage};
use support::process::{regscan_bin, RegscanProcess, TestConfig};
use support::registry::Registry;

const READ_ENV: &str = "REGSCAN_TEST_API_READ_TOKEN";
const SCAN_ENV: &str = "REGSCAN_TEST_API_SCAN_TOKEN";
const READ: &str = "api-test-read-token";
const SCAN: &str = "api-test-scan-token";
const ODD: &str = "application/vnd.acme.rocket.config.v1+json";

struct Seeded {
    reg: Registry,
    host: String,
    image: String,
    chart: String,
    odd: String,
    index: String,
    config: TestConfig,
    cfg: PathBuf,
    _dir: tempfile::TempDir,
}

fn cli(cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(regscan_bin())
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env("REGSCAN_LOG", "warn")
        .env_remove("REGSCAN_API_TOKEN")
        .env_remove("REGSCAN_DATABASE_URL")
        .output()
        .expect("run regscan");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cli_json(cfg: &Path, args: &[&str]) -> Value {
    let (code, out, err) = cli(cfg, args);
    assert_eq!(code, 0, "regscan {args:?} exited {code}\nstdout: {out}\nstderr: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("regscan {args:?}: not JSON ({e}): {out}"))
}

/// Push four artifacts and store their scans with `regscan scan`.
async fn seed(database_url: &str) -> Seeded {
    std::env::set_var(READ_ENV, READ);
    std::env::set_var(SCAN_ENV, SCAN);
    let reg = Registry::start().await;
    let host = reg.host.clone();
    let image = reg.push_image("team/app", "1.0", &OciImage::debian_like()).await;
    let chart = reg
        .push_artifact("team/chart", "0.1.0", &Artifact::helm_chart("demo", "0.1.0"))
        .await;
    let odd = reg.push_artifact("other/odd", "1", &Artifact::unknown(ODD)).await;
    let mut arm = OciImage::debian_like();
    arm.architecture = "arm64".into();
    let layout = tempfile::tempdir().unwrap();
    let index = OciImage::write_index_layout(layout.path(), "src", &[OciImage::debian_like(), arm]);
    reg.skopeo_copy(layout.path(), "src", "team/multi", "2.0").await;

    let mut config = TestConfig::new(database_url, &[&host]);
    config.extra = format!(
        "[[api_tokens]]\nname = \"viewer\"\nrole = \"read\"\ntoken_env = \"{READ_ENV}\"\n\n[[api_tokens]]\nname = \"ci\"\nrole = \"scan\"\ntoken_env = \"{SCAN_ENV}\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("regscan.toml");
    std::fs::write(&cfg, config.to_toml("127.0.0.1:1")).unwrap();
    // Oldest first: the listing is newest first.
    for r in ["team/app:1.0", "team/chart:0.1.0", "other/odd:1", "team/multi:2.0"] {
        cli_json(&cfg, &["scan", &format!("{host}/{r}"), "--format", "json"]);
    }
    Seeded {
        reg,
        host,
        image,
        chart,
        odd,
        index,
        config,
        cfg,
        _dir: dir,
    }
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send(self.http.get(format!("{}{path}", self.base)), token).await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body), token)
            .await
    }

    async fn send(&self, req: reqwest::RequestBuilder, token: Option<&str>) -> (u16, Value) {
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| json!({"raw": text})),
        )
    }

    /// `GET /v1/artifacts?query` with the read token; asserts 200; the items' repositories.
    async fn list(&self, query: &str) -> Vec<Value> {
        let (status, v) = self.get(&format!("/v1/artifacts?{query}"), Some(READ)).await;
        assert_eq!(status, 200, "?{query}: {v:#}");
        v["items"].as_array().unwrap().clone()
    }

    async fn repos(&self, query: &str) -> BTreeSet<String> {
        self.list(query)
            .await
            .iter()
            .map(|i| i["repository"].as_str().unwrap().to_owned())
            .collect()
    }

    /// A 400 whose message names `param`.
    async fn bad(&self, path: &str, param: &str) {
        let (status, v) = self.get(path, Some(READ)).await;
        assert_eq!(status, 400, "{path}: {v:#}");
        let msg = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: no error message: {v:#}"));
        assert!(msg.contains(param), "{path}: the message does not name {param}: {msg}");
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn api_on(database_url: &str) {
    let s = seed(database_url).await;
    let host = s.host.as_str();
    let serve = RegscanProcess::start(&s.config, &["serve"]).await;
    let api = Api {
        base: serve.url(),
        http: reqwest::Client::new(),
    };

    // --- auth roles ---
    let (status, v) = api.get("/v1/artifacts", None).await;
    assert_eq!(status, 401, "{v:#}");
    assert!(v["error"].as_str().unwrap().contains("Bearer"), "{v:#}");
    assert_eq!(api.get("/v1/artifacts", Some("wrong-token")).await.0, 401);
    assert_eq!(api.get("/v1/summary", None).await.0, 401);
    assert_eq!(
        api.get(&format!("/v1/artifacts/{host}/team/app:1.0"), None).await.0,
        401
    );
    assert_eq!(api.get("/v1/artifacts", Some(READ)).await.0, 200);
    assert_eq!(
        api.get("/v1/artifacts", Some(SCAN)).await.0,
        200,
        "the scan role may read too"
    );
    let (status, v) = api
        .post(
            "/v1/scans",
            Some(READ),
            json!({"reference": format!("{host}/team/app:1.0")}),
        )
        .await;
    assert_eq!(status, 403, "{v:#}");
    assert!(v["error"].as_str().unwrap().contains("read"), "{v:#}");
    assert_eq!(
        api.post("/v1/scans", None, json!({"reference": format!("{host}/team/app:1.0")}))
            .await
            .0,
        401
    );

    // --- filters ---
    let all = set(&["team/app", "team/chart", "other/odd", "team/multi"]);
    assert_eq!(api.repos("").await, all);
    assert_eq!(api.repos(&format!("registry={host}")).await, all);
    assert!(api.repos("registry=elsewhere.example").await.is_empty());
    assert_eq!(
        api.repos("repository=team/").await,
        set(&["team/app", "team/chart", "team/multi"])
    );
    assert_eq!(api.repos("repository=other").await, set(&["other/odd"]));
    assert_eq!(api.repos("kind=helm").await, set(&["team/chart"]));
    assert_eq!(api.repos("kind=index").await, set(&["team/multi"]));
    assert_eq!(api.repos("kind=unknown").await, set(&["other/odd"]));
    assert_eq!(api.repos("status=unsupported").await, set(&["other/odd"]));
    assert_eq!(
        api.repos("status=succeeded").await,
        set(&["team/app", "team/chart", "team/multi"])
    );
    assert!(api.repos("status=failed").await.is_empty());
    let medium = api.list("min_severity=medium").await;
    assert!(
        medium.iter().any(|i| i["repository"] == "team/app"),
        "the root-user finding is medium: {medium:#?}"
    );
    for i in &medium {
        let s = &i["summary"];
        assert!(
            s["critical"].as_u64().unwrap() + s["high"].as_u64().unwrap() + s["medium"].as_u64().unwrap() > 0,
            "{i:#}"
        );
    }
    assert!(
        !medium.iter().any(|i| i["repository"] == "other/odd"),
        "an unsupported artifact has no findings"
    );
    for i in api.list("min_severity=critical").await {
        assert!(i["summary"]["critical"].as_u64().unwrap() > 0, "{i:#}");
    }
    let later = regscan::time::now_ms() + 3_600_000;
    assert!(api.repos(&format!("since={later}")).await.is_empty());
    assert_eq!(api.repos("since=0").await, all);
    assert_eq!(api.repos("since=2000-01-01T00:00:00Z").await, all);
    assert!(api.repos("since=2999-01-01T00:00:00Z").await.is_empty());
    let with_children = api.list("children=true&repository=team/multi").await;
    assert_eq!(
        with_children.len(),
        3,
        "the index and its two platforms: {with_children:#?}"
    );
    assert_eq!(
        api.repos("kind=image&repository=team/").await,
        set(&["team/app"]),
        "filters combine"
    );

    // --- pagination ---
    let unpaged: Vec<String> = api
        .list("")
        .await
        .iter()
        .map(|i| i["digest"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        unpaged,
        vec![s.index.clone(), s.odd.clone(), s.chart.clone(), s.image.clone()],
        "newest first"
    );
    let mut paged = Vec::new();
    let mut query = "limit=1".to_owned();
    for _ in 0..10 {
        let (status, v) = api.get(&format!("/v1/artifacts?{query}"), Some(READ)).await;
        assert_eq!(status, 200);
        let items = v["items"].as_array().unwrap();
        assert!(items.len() <= 1);
        paged.extend(items.iter().map(|i| i["digest"].as_str().unwrap().to_owned()));
        match v["next_cursor"].as_i64() {
            Some(c) => query = format!("limit=1&before={c}"),
            None => break,
        }
    }
    assert_eq!(
        paged, unpaged,
        "following next_cursor visits every artifact once, in order"
    );
    let (_, v) = api.get("/v1/artifacts?limit=2", Some(READ)).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    let cursor = v["next_cursor"].as_i64().expect("a cursor after a full page");
    assert_eq!(api.list(&format!("limit=2&before={cursor}")).await.len(), 2);
    let (_, v) = api.get("/v1/artifacts?limit=10", Some(READ)).await;
    assert!(v["next_cursor"].is_null(), "no cursor after the last page: {v:#}");

    // --- bad parameters: 400 naming the parameter ---
    api.bad("/v1/artifacts?status=done", "status").await;
    api.bad("/v1/artifacts?min_severity=severe", "min_severity").await;
    api.bad("/v1/artifacts?limit=0", "limit").await;
    api.bad("/v1/artifacts?limit=5000", "limit").await;
    api.bad("/v1/artifacts?since=yesterday", "since").await;
    api.bad("/v1/artifacts?bogus=1", "bogus").await;
    api.bad("/v1/artifacts?before=abc", "").await;
    api.bad(
        &format!("/v1/artifacts/{host}/team/app:1.0?severity=severe"),
        "severity",
    )
    .await;
    api.bad(&format!("/v1/artifacts/{host}/team/app:1.0?format=pdf"), "format")
        .await;
    api.bad("/v1/artifacts/not-a-reference", "").await;
    let (status, v) = api
        .get(
            &format!("/v1/artifacts/{host}/team/none@sha256:{}", "0".repeat(64)),
            Some(READ),
        )
        .await;
    assert_eq!(status, 404, "{v:#}");

    // --- one artifact: tags, history, findings and their filters ---
    let (status, d) = api
        .get(&format!("/v1/artifacts/{host}/team/app@{}", s.image), Some(READ))
        .await;
    assert_eq!(status, 200, "{d:#}");
    assert_eq!(
        (d["kind"].as_str(), d["status"].as_str()),
        (Some("image"), Some("succeeded"))
    );
    assert_eq!(d["tags"], json!(["1.0"]));
    assert_eq!(d["history"].as_array().unwrap().len(), 1, "{d:#}");
    assert!(
        d["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "IMG-ROOT-USER"),
        "{d:#}"
    );
    let (_, by_tag) = api.get(&format!("/v1/artifacts/{host}/team/app:1.0"), Some(READ)).await;
    assert_eq!(by_tag["digest"], s.image.as_str());
    let (_, only) = api
        .get(
            &format!("/v1/artifacts/{host}/team/app:1.0?id=IMG-ROOT-USER"),
            Some(READ),
        )
        .await;
    assert!(
        only["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["id"] == "IMG-ROOT-USER")
            && !only["findings"].as_array().unwrap().is_empty()
    );
    let (_, crit) = api
        .get(
            &format!("/v1/artifacts/{host}/team/app:1.0?severity=critical"),
            Some(READ),
        )
        .await;
    assert!(
        crit["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["severity"] == "critical"),
        "{crit:#}"
    );
    let (_, none) = api
        .get(
            &format!("/v1/artifacts/{host}/team/app:1.0?package=no-such-package"),
            Some(READ),
        )
        .await;
    assert!(none["findings"].as_array().unwrap().is_empty());
    let (_, odd) = api.get(&format!("/v1/artifacts/{host}/other/odd:1"), Some(READ)).await;
    assert_eq!(odd["status"], "unsupported");
    assert!(odd["reason"].as_str().unwrap().contains(ODD), "{odd:#}");
    let (_, multi) = api
        .get(&format!("/v1/artifacts/{host}/team/multi:2.0"), Some(READ))
        .await;
    assert_eq!(multi["children"].as_array().unwrap().len(), 2, "{multi:#}");

    // --- Harbor (by Accept header) and CycloneDX ---
    let r = api
        .http
        .get(format!("{}/v1/artifacts/{host}/team/app:1.0", api.base))
        .bearer_auth(READ)
        .header("accept", "application/vnd.security.vulnerability.report; version=1.1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/vnd.security.vulnerability.report"));
    let harbor: Value = r.json().await.unwrap();
    assert_eq!(harbor["artifact"]["digest"], s.image.as_str());
    assert_eq!(harbor["artifact"]["repository"], "team/app");
    assert!(
        harbor["vulnerabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["id"] == "IMG-ROOT-USER" && v["severity"] == "Medium"),
        "{harbor:#}"
    );
    let (status, bom) = api
        .get(
            &format!("/v1/artifacts/{host}/team/app:1.0?format=cyclonedx"),
            Some(READ),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (bom["bomFormat"].as_str(), bom["specVersion"].as_str()),
        (Some("CycloneDX"), Some("1.5"))
    );
    let zlib = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "zlib1g")
        .unwrap_or_else(|| panic!("no zlib1g in {bom:#}"));
    assert_eq!(zlib["version"], "1:1.2.13.dfsg-1");
    assert!(
        zlib["purl"].as_str().unwrap().starts_with("pkg:deb/debian/zlib1g"),
        "{zlib:#}"
    );

    // --- summary ---
    let (status, sum) = api.get("/v1/summary", Some(READ)).await;
    assert_eq!(status, 200);
    assert_eq!(sum["by_kind"]["unknown"]["unsupported"], 1, "{sum:#}");
    assert_eq!(sum["by_kind"]["helm"]["succeeded"], 1, "{sum:#}");
    assert_eq!(sum["by_kind"]["index"]["succeeded"], 1, "{sum:#}");
    assert!(sum["by_severity"]["medium"].as_u64().unwrap() >= 1, "{sum:#}");

    // --- on-demand scans ---
    let (status, v) = api
        .post("/v1/scans", Some(SCAN), json!({"filter": {"kind": "helm"}}))
        .await;
    assert_eq!(status, 202, "{v:#}");
    assert_eq!(v["queued"], 1);
    let (status, v) = api
        .post("/v1/scans", Some(SCAN), json!({"reference": "elsewhere.example/x:1"}))
        .await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("not configured"), "{v:#}");
    let (status, _) = api
        .post(
            "/v1/scans",
            Some(SCAN),
            json!({"reference": format!("{host}/team/app:1.0"), "filter": {}}),
        )
        .await;
    assert_eq!(status, 400, "exactly one of reference or filter");
    let (status, v) = api
        .post(
            "/v1/scans",
            Some(SCAN),
            json!({"reference": format!("{host}/team/app:1.0"), "priority": 1}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("priority"), "{v:#}");

    // --- the OpenAPI document is served and lists the API ---
    let (status, doc) = api.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/v1/artifacts",
        "/v1/artifacts/{path}",
        "/v1/summary",
        "/v1/scans",
        "/v1/webhooks/distribution",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(doc["paths"].get(p).is_some(), "openapi lacks {p}");
    }

    // --- the CLI against the server ---
    let url = serve.url();
    let r = cli_json(
        &s.cfg,
        &[
            "status",
            &format!("{host}/team/app:1.0"),
            "--server",
            &url,
            "--token",
            READ,
            "--format",
            "json",
        ],
    );
    assert_eq!(
        (r["digest"].as_str(), r["status"].as_str()),
        (Some(s.image.as_str()), Some("succeeded"))
    );
    let (code, out, _) = cli(
        &s.cfg,
        &[
            "status",
            &format!("{host}/team/app:1.0"),
            "--server",
            &url,
            "--token",
            READ,
        ],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("IMG-ROOT-USER") && out.contains("succeeded") && !out.contains("\x1b["),
        "a table without colour off a TTY: {out}"
    );
    let (code, _, err) = cli(&s.cfg, &["status", &format!("{host}/team/app:1.0"), "--server", &url]);
    assert_eq!(code, 2, "no token: 401 is a usage error: {err}");
    let list = cli_json(
        &s.cfg,
        &[
            "artifacts",
            "--server",
            &url,
            "--token",
            READ,
            "--kind",
            "helm",
            "--format",
            "json",
        ],
    );
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
    assert_eq!(list[0]["digest"], s.chart.as_str());
    let list = cli_json(
        &s.cfg,
        &[
            "artifacts",
            "--server",
            &url,
            "--token",
            READ,
            "--status",
            "unsupported",
            "--format",
            "json",
        ],
    );
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (code, out, _) = cli(&s.cfg, &["artifacts", "--server", &url, "--token", READ]);
    assert_eq!(code, 0);
    assert!(out.contains("team/chart:0.1.0") && out.contains("unsupported"), "{out}");
    let (code, _, err) = cli(
        &s.cfg,
        &[
            "scan",
            &format!("{host}/team/app:1.0"),
            "--server",
            &url,
            "--token",
            READ,
        ],
    );
    assert_eq!(code, 2, "a read token may not scan: {err}");
    assert!(err.contains("403"), "{err}");

    // A new push, scanned through the server's queue; --wait returns the finished report.
    let fresh = s
        .reg
        .push_artifact("team/fresh-chart", "1.2.3", &Artifact::helm_chart("fresh", "1.2.3"))
        .await;
    let out = Command::new(regscan_bin())
        .arg("--config")
        .arg(&s.cfg)
        .args([
            "scan",
            &format!("{host}/team/fresh-chart:1.2.3"),
            "--server",
            &url,
            "--token",
            SCAN,
            "--wait",
            "--wait-timeout",
            "90",
            "--format",
            "json",
        ])
        .env("REGSCAN_LOG", "warn")
        .env_remove("REGSCAN_API_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "scan --server --wait: {stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        serve.log()
    );
    let r: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (r["digest"].as_str(), r["kind"].as_str(), r["status"].as_str()),
        (Some(fresh.as_str()), Some("helm"), Some("succeeded")),
        "{r:#}"
    );
    assert_eq!(api.repos("repository=team/fresh").await, set(&["team/fresh-chart"]));

    // A forced rescan with --wait waits for the new scan, not the stored one.
    let (_, before) = api.get(&format!("/v1/artifacts/{host}/team/app:1.0"), Some(READ)).await;
    let scans_before = before["history"].as_array().unwrap().len();
    let r = cli_json(
        &s.cfg,
        &[
            "scan",
            &format!("{host}/team/app:1.0"),
            "--server",
            &url,
            "--token",
            SCAN,
            "--wait",
            "--force",
            "--wait-timeout",
            "90",
            "--format",
            "json",
        ],
    );
    assert_eq!(r["status"], "succeeded");
    let (_, after) = api.get(&format!("/v1/artifacts/{host}/team/app:1.0"), Some(READ)).await;
    let history = after["history"].as_array().unwrap();
    assert_eq!(
        history.len(),
        scans_before + 1,
        "--wait returned before the forced rescan ended: {after:#}"
    );
    assert_eq!(history[0]["status"], "succeeded");

    // --- scan --format sarif (local) ---
    let sarif = cli_json(&s.cfg, &["scan", &format!("{host}/team/app:1.0"), "--format", "sarif"]);
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "IMG-ROOT-USER" && r["level"] == "warning"),
        "{sarif:#}"
    );
    assert!(sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == "IMG-ROOT-USER"));
    drop(serve);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_sqlite() {
    let (url, _dir) = sqlite_url();
    api_on(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_postgres() {
    let db = PgDb::create();
    api_on(&db.url).await;
}
