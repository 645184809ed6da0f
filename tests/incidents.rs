//! Cross-artifact queries on a real database (SQLite and PostgreSQL): artifacts, scans,
//! findings, inventories and OSV advisories are stored through the real store API, a real
//! `regscan serve` answers `GET /v1/vulnerabilities`, `GET /v1/packages` and `GET /v1/summary`,
//! and the `regscan vulns` / `regscan packages` commands read the same database locally and
//! through `--server`. Every filter, alias resolution (a CVE finds the GHSA record that lists it
//! in `aliases` and the Debian record that lists it in `upstream`), pagination, deleted
//! artifacts, and a re-scan that removes an artifact from the affected set. The summary's
//! rollups are checked against a recomputation after every kind of change to latest findings.
//!
//! The advisory records are crafted for this test (ids in the unassigned CVE-2099 range).

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use regscan::store::advisories::AdvisoryRow;
use regscan::store::incidents::{FixableSplit, TopVuln};
use regscan::store::{Claim, NewArtifact, ScanResult, Store};
use regscan_scanner_api::{ArtifactRef, Finding, Kind, Package, ScannerRef, Severity, Status, Summary};
use serde_json::Value;
use support::db::{sqlite_url, PgDb};
use support::process::{regscan_bin, RegscanProcess, TestConfig};

const REG: &str = "reg.example:5000";
const GHSA: &str = "GHSA-aaaa-bbbb-cccc";
const GHSA2: &str = "GHSA-dddd-eeee-ffff";
const DSA: &str = "DSA-9001-1";
const CVE3: &str = "CVE-2099-0003";
const LOG4J: &str = "org.apache.logging.log4j:log4j-core";

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:x}").repeat(64))
}

fn reference(repo: &str, n: u8) -> String {
    format!("{REG}/{repo}@{}", digest(n))
}

fn pkg(eco: &str, name: &str, version: &str, path: &str, layer: Option<&str>) -> Package {
    Package {
        ecosystem: eco.into(),
        name: name.into(),
        version: version.into(),
        source_name: None,
        source_version: None,
        path: path.into(),
        layer: layer.map(str::to_owned),
        dev: false,
    }
}

fn vuln(id: &str, sev: Severity, package: &str, installed: &str, fixed: Option<&str>, at: &str) -> Finding {
    let mut f = Finding::new(id, sev, format!("{id} in {package}")).on(package).at(at);
    f.installed_version = Some(installed.into());
    f.fixed_version = fixed.map(str::to_owned);
    f
}

fn advisory(id: &str, extra: &str, eco: &str, name: &str) -> AdvisoryRow {
    let raw = format!(
        r#"{{"id":"{id}","modified":"2099-01-01T00:00:00Z","summary":"crafted for tests/incidents.rs"{extra},
           "affected":[{{"package":{{"ecosystem":"{eco}","name":"{name}"}},"ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}}]}}]}}]}}"#
    );
    AdvisoryRow {
        id: id.into(),
        modified_ms: 4_070_908_800_000,
        modified: "2099-01-01T00:00:00Z".into(),
        withdrawn: None,
        raw,
        keys: vec![(eco.into(), name.into())],
    }
}

/// Store (or push again) artifact `n` of `repo`; its id.
async fn upsert(store: &Store, repo: &str, n: u8, kind: &str) -> i64 {
    let d = digest(n);
    store
        .upsert_artifact(&NewArtifact {
            artifact: &ArtifactRef::parse(REG, repo, &d).unwrap(),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json",
            artifact_type: None,
            kind: &Kind::new(kind),
            size: 1,
            parent_digest: None,
            platform: None,
        })
        .await
        .unwrap()
}

async fn store_scan(store: &Store, repo: &str, n: u8, kind: &str, result: ScanResult) -> i64 {
    let id = upsert(store, repo, n, kind).await;
    store
        .record_scan(
            id,
            Some(&ScannerRef::new("image", "1")),
            Status::Succeeded,
            None,
            &result,
        )
        .await
        .unwrap();
    id
}

fn left_pad_finding(version: &str) -> Finding {
    vuln(
        GHSA,
        Severity::Critical,
        "left-pad",
        version,
        Some("1.0.1"),
        "app/node_modules/left-pad/package.json",
    )
}

fn left_pad(version: &str) -> Package {
    pkg(
        "npm",
        "left-pad",
        version,
        "app/node_modules/left-pad/package.json",
        Some("sha256:l1"),
    )
}

/// Five artifacts: team/app (1), team/api (2), other/sbom (3, kind sbom), team/gone (4, then
/// deleted) and team/rescanned (5, scanned once with left-pad 1.0.0).
async fn seed(url: &str) {
    let store = Store::open(url).await.unwrap();
    store
        .import_advisories(
            "crafted",
            &[
                advisory(
                    GHSA,
                    r#","aliases":["CVE-2099-0001"],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]"#,
                    "npm",
                    "left-pad",
                ),
                advisory(DSA, r#","upstream":["CVE-2099-0002"]"#, "Debian:12", "openssl"),
                advisory(GHSA2, r#","aliases":["CVE-2099-0002"]"#, "Debian:12", "openssl"),
                advisory(
                    CVE3,
                    r#","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"}]"#,
                    "Debian:12",
                    "zlib",
                ),
            ],
        )
        .await
        .unwrap();
    let dpkg = "var/lib/dpkg/status";
    store_scan(
        &store,
        "team/app",
        1,
        "image",
        ScanResult {
            checks: vec![Finding::new("IMG-ROOT-USER", Severity::Medium, "runs as root")],
            advisories: vec![
                left_pad_finding("1.0.0"),
                vuln(DSA, Severity::High, "openssl", "3.0.1", None, dpkg),
            ],
            packages: vec![
                left_pad("1.0.0"),
                pkg("Debian:12", "openssl", "3.0.1", dpkg, Some("sha256:l0")),
                pkg("Debian:12", "zlib", "1.2.13", dpkg, Some("sha256:l0")),
            ],
            ..Default::default()
        },
    )
    .await;
    store_scan(
        &store,
        "team/api",
        2,
        "image",
        ScanResult {
            advisories: vec![
                left_pad_finding("1.0.0"),
                vuln(DSA, Severity::High, "openssl", "3.0.11", Some("3.0.12"), dpkg),
            ],
            packages: vec![
                left_pad("1.0.0"),
                pkg("Debian:12", "openssl", "3.0.11", dpkg, None),
                pkg("Maven", LOG4J, "2.14.1", "app/lib/log4j-core-2.14.1.jar", None),
            ],
            ..Default::default()
        },
    )
    .await;
    store_scan(
        &store,
        "other/sbom",
        3,
        "sbom",
        ScanResult {
            advisories: vec![vuln(CVE3, Severity::Medium, "zlib", "1.2.13", Some("1.3"), "sbom.json")],
            packages: vec![
                pkg("Debian:12", "zlib", "1.2.13", "sbom.json", None),
                pkg("Maven", LOG4J, "2.17.1", "sbom.json", None),
            ],
            ..Default::default()
        },
    )
    .await;
    store_scan(
        &store,
        "team/gone",
        4,
        "image",
        ScanResult {
            advisories: vec![left_pad_finding("1.0.0")],
            packages: vec![left_pad("1.0.0")],
            ..Default::default()
        },
    )
    .await;
    store
        .mark_deleted(REG, "team/gone", Some(&digest(4)), None)
        .await
        .unwrap();
    store_scan(
        &store,
        "team/rescanned",
        5,
        "image",
        ScanResult {
            advisories: vec![left_pad_finding("1.0.0")],
            packages: vec![left_pad("1.0.0")],
            ..Default::default()
        },
    )
    .await;
    store.close().await;
}

/// team/rescanned scanned again: left-pad upgraded, the finding gone.
async fn rescan(url: &str) {
    let store = Store::open(url).await.unwrap();
    store_scan(
        &store,
        "team/rescanned",
        5,
        "image",
        ScanResult {
            packages: vec![left_pad("1.0.1")],
            ..Default::default()
        },
    )
    .await;
    store.close().await;
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, path: &str) -> Value {
        let (status, v) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {v:#}");
        v
    }

    /// (item id, artifact reference) pairs of one page of `/v1/vulnerabilities?query`.
    async fn vulns(&self, query: &str) -> BTreeSet<(String, String)> {
        let v = self.ok(&format!("/v1/vulnerabilities?{query}")).await;
        assert!(v["next_cursor"].is_null(), "{query}: one page expected: {v:#}");
        pairs(&v, "id")
    }

    async fn packages(&self, query: &str) -> BTreeSet<(String, String)> {
        let v = self.ok(&format!("/v1/packages?{query}")).await;
        assert!(v["next_cursor"].is_null(), "{query}: one page expected: {v:#}");
        pairs(&v, "version")
    }

    /// Every (version, artifact) of `query`, following `next_cursor` with `limit` per page.
    async fn package_pages(&self, query: &str, limit: u32) -> BTreeSet<(String, String)> {
        let mut seen = BTreeSet::new();
        let mut next: Option<String> = None;
        for page_no in 0.. {
            assert!(page_no < 10, "{query}: pagination does not end");
            let q = match &next {
                Some(c) => format!("/v1/packages?{query}&limit={limit}&before={c}"),
                None => format!("/v1/packages?{query}&limit={limit}"),
            };
            let page = self.ok(&q).await;
            seen.extend(pairs(&page, "version"));
            match page["next_cursor"].as_str() {
                Some(c) => next = Some(c.to_owned()),
                None => break,
            }
        }
        seen
    }

    async fn bad(&self, path: &str, param: &str) {
        let (status, v) = self.get(path).await;
        assert_eq!(status, 400, "{path}: {v:#}");
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(msg.contains(param), "{path}: the message does not name {param}: {msg}");
    }
}

/// (item[key], artifact reference) for every artifact of every item.
fn pairs(page: &Value, key: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for i in page["items"].as_array().unwrap() {
        for a in i["artifacts"].as_array().unwrap() {
            out.insert((
                i[key].as_str().unwrap().to_owned(),
                a["reference"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

fn set(items: &[(&str, String)]) -> BTreeSet<(String, String)> {
    items.iter().map(|(a, b)| (a.to_string(), b.clone())).collect()
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

fn cli_ok(cfg: &Path, args: &[&str]) -> String {
    let (code, out, err) = cli(cfg, args);
    assert_eq!(code, 0, "regscan {args:?} exited {code}\nstdout: {out}\nstderr: {err}");
    out
}

fn config_file(config: &TestConfig) -> (PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("regscan.toml");
    std::fs::write(&cfg, config.to_toml("127.0.0.1:1")).unwrap();
    (cfg, dir)
}

async fn incidents_on(url: &str) {
    seed(url).await;
    let config = TestConfig::new(url, &[]);
    let serve = RegscanProcess::start(&config, &["serve", "--workers", "0"]).await;
    let api = Api {
        base: serve.url(),
        http: reqwest::Client::new(),
    };
    let (app, apis, sbom, gone, re) = (
        reference("team/app", 1),
        reference("team/api", 2),
        reference("other/sbom", 3),
        reference("team/gone", 4),
        reference("team/rescanned", 5),
    );

    // --- alias resolution: a CVE finds the GHSA record listing it in `aliases` ---
    let v = api.ok("/v1/vulnerabilities?id=CVE-2099-0001").await;
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{v:#}");
    let item = &items[0];
    assert_eq!(item["id"], GHSA);
    assert_eq!(item["severity"], "critical");
    assert_eq!(item["package"], "left-pad");
    assert_eq!(item["aliases"], serde_json::json!(["CVE-2099-0001"]));
    assert_eq!(item["cvss"], 9.8);
    let refs: Vec<&str> = item["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reference"].as_str().unwrap())
        .collect();
    assert_eq!(
        refs,
        [app.as_str(), apis.as_str(), re.as_str()],
        "in the order of their scans; the deleted one left out"
    );
    let a = &item["artifacts"][0];
    assert_eq!(a["digest"], digest(1));
    assert_eq!(a["installed_version"], "1.0.0");
    assert_eq!(a["fixed_version"], "1.0.1");
    assert_eq!(a["locations"][0]["location"], "app/node_modules/left-pad/package.json");
    assert!(!v.to_string().contains(&gone), "deleted artifacts do not count: {v:#}");
    // ... and the Debian record listing it in `upstream`, with versions per artifact.
    let v = api.ok("/v1/vulnerabilities?id=CVE-2099-0002").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v:#}");
    assert_eq!(v["items"][0]["id"], DSA);
    let arts = &v["items"][0]["artifacts"];
    assert_eq!(
        (
            &arts[1]["reference"],
            &arts[1]["installed_version"],
            &arts[1]["fixed_version"]
        ),
        (
            &Value::from(apis.clone()),
            &Value::from("3.0.11"),
            &Value::from("3.0.12")
        )
    );
    assert_eq!(
        (
            &arts[0]["reference"],
            &arts[0]["installed_version"],
            &arts[0]["fixed_version"]
        ),
        (&Value::from(app.clone()), &Value::from("3.0.1"), &Value::Null)
    );
    // A record's own aliases: GHSA2 (no findings) names CVE-2099-0002, which DSA-9001-1 fixes.
    assert_eq!(
        api.vulns(&format!("id={GHSA2}")).await,
        set(&[(DSA, apis.clone()), (DSA, app.clone())])
    );
    assert_eq!(
        api.vulns("id=cve-2099-0001").await.len(),
        3,
        "ids are not case-sensitive"
    );
    assert_eq!(api.vulns(&format!("id={GHSA}")).await.len(), 3);
    assert!(api.vulns("id=CVE-2099-9999").await.is_empty());

    // --- every filter ---
    assert_eq!(
        api.vulns("package=openssl").await,
        set(&[(DSA, apis.clone()), (DSA, app.clone())])
    );
    assert_eq!(
        api.vulns("min_severity=critical").await,
        set(&[(GHSA, app.clone()), (GHSA, apis.clone()), (GHSA, re.clone())])
    );
    assert_eq!(
        api.vulns("min_severity=high&repository=team/app").await,
        set(&[(GHSA, app.clone()), (DSA, app.clone())])
    );
    assert_eq!(
        api.vulns("repository=team/app").await,
        set(&[(GHSA, app.clone()), (DSA, app.clone()), ("IMG-ROOT-USER", app.clone())])
    );
    assert_eq!(api.vulns("cvss_min=9").await, api.vulns("min_severity=critical").await);
    assert_eq!(api.vulns("cvss_max=6").await, set(&[(CVE3, sbom.clone())]));
    assert_eq!(api.vulns("cvss_min=5&cvss_max=6").await, set(&[(CVE3, sbom.clone())]));
    assert_eq!(api.vulns("kind=sbom").await, set(&[(CVE3, sbom.clone())]));
    assert_eq!(api.vulns("repository=other/").await, set(&[(CVE3, sbom.clone())]));
    assert!(api.vulns("kind=helm").await.is_empty());
    assert_eq!(
        api.vulns("id=CVE-2099-0001&repository=team/re").await,
        set(&[(GHSA, re.clone())])
    );

    // --- pagination over (advisory, artifact) pairs: one per page, nothing twice, nothing lost ---
    let all = api.vulns("id=CVE-2099-0001,CVE-2099-0002").await;
    assert_eq!(all.len(), 5);
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..10 {
        let q = match &next {
            Some(c) => format!("/v1/vulnerabilities?id=CVE-2099-0001,CVE-2099-0002&limit=1&before={c}"),
            None => "/v1/vulnerabilities?id=CVE-2099-0001,CVE-2099-0002&limit=1".into(),
        };
        let page = api.ok(&q).await;
        let p = pairs(&page, "id");
        assert_eq!(p.len(), 1, "{page:#}");
        seen.extend(p);
        match page["next_cursor"].as_str() {
            Some(c) => next = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), all);
    assert_eq!(seen[0].0, DSA, "advisories in id order");

    // --- packages ---
    let v = api.ok("/v1/packages?name=left-pad").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v:#}");
    let item = &v["items"][0];
    assert_eq!(
        (&item["name"], &item["version"], &item["ecosystem"], &item["purl"]),
        (
            &Value::from("left-pad"),
            &Value::from("1.0.0"),
            &Value::from("npm"),
            &Value::from("pkg:npm/left-pad@1.0.0")
        )
    );
    let a = &item["artifacts"][0];
    assert_eq!(a["reference"], app.as_str());
    assert_eq!(a["path"], "app/node_modules/left-pad/package.json");
    assert_eq!(a["layer"], "sha256:l1");
    assert_eq!(
        item["artifacts"].as_array().unwrap().len(),
        3,
        "not the deleted one: {v:#}"
    );
    assert_eq!(
        api.packages("name=openssl&version=>=3.0.2").await,
        set(&[("3.0.11", apis.clone())]),
        "dpkg ordering: 3.0.11 > 3.0.2"
    );
    assert_eq!(
        api.packages("name=openssl&version=3.0.1").await,
        set(&[("3.0.1", app.clone())])
    );
    assert_eq!(
        api.packages("name=openssl&version=3.0.1*").await,
        set(&[("3.0.1", app.clone()), ("3.0.11", apis.clone())])
    );
    assert_eq!(api.packages("name=openssl&ecosystem=Debian").await.len(), 2);
    assert_eq!(api.packages("name=openssl&ecosystem=Debian:12").await.len(), 2);
    assert!(api.packages("name=openssl&ecosystem=Debian:11").await.is_empty());
    assert!(api.packages("name=openssl&ecosystem=npm").await.is_empty());
    assert_eq!(
        api.packages("purl=pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")
            .await,
        set(&[("2.14.1", apis.clone())])
    );
    assert_eq!(
        api.packages("purl=pkg:maven/org.apache.logging.log4j/log4j-core").await,
        set(&[("2.14.1", apis.clone()), ("2.17.1", sbom.clone())])
    );
    assert_eq!(
        api.packages(&format!("name={LOG4J}&version=%3E%3D2.0,%3C2.17")).await,
        set(&[("2.14.1", apis.clone())])
    );
    // Version ranges with an ecosystem (the distinct stored versions are read per ecosystem).
    assert_eq!(
        api.packages("name=openssl&ecosystem=Debian&version=%3E%3D3.0.2").await,
        set(&[("3.0.11", apis.clone())])
    );
    assert!(api
        .packages("name=openssl&ecosystem=Debian:11&version=%3E%3D3.0.2")
        .await
        .is_empty());
    assert_eq!(
        api.packages("name=zlib&ecosystem=Debian:12&version=%3C2").await,
        set(&[("1.2.13", app.clone()), ("1.2.13", sbom.clone())])
    );
    assert_eq!(
        api.packages("name=openssl&version=%3C3.0.2,!=3.0.1").await,
        BTreeSet::new()
    );
    assert_eq!(
        api.packages("name=zlib&repository=other/").await,
        set(&[("1.2.13", sbom.clone())])
    );
    assert_eq!(
        api.packages("name=zlib&kind=image").await,
        set(&[("1.2.13", app.clone())])
    );
    assert_eq!(
        api.package_pages("name=left-pad", 2).await,
        api.packages("name=left-pad").await
    );

    // --- bad parameters are 400 naming the parameter ---
    api.bad("/v1/vulnerabilities?min_severity=awful", "min_severity").await;
    api.bad("/v1/vulnerabilities?cvss_min=11", "cvss_min").await;
    api.bad("/v1/vulnerabilities?before=junk", "before").await;
    api.bad("/v1/vulnerabilities?limit=0", "limit").await;
    api.bad("/v1/vulnerabilities?bogus=1", "bogus").await;
    api.bad("/v1/packages?version=1.0", "name").await;
    api.bad("/v1/packages?name=x&version=%3E%3D1,2", "version").await;
    api.bad("/v1/packages?purl=deb/x", "purl").await;

    // --- summary: most dangerous, most widespread, fixable ---
    let s = api.ok("/v1/summary").await;
    let dangerous: Vec<&str> = s["most_dangerous"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reference"].as_str().unwrap())
        .collect();
    assert_eq!(dangerous, [apis.as_str(), app.as_str(), re.as_str()], "{s:#}");
    assert_eq!(s["most_dangerous"][1]["summary"]["medium"], 1);
    let top: Vec<(String, i64)> = s["top_vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_owned(), t["artifacts"].as_i64().unwrap()))
        .collect();
    assert_eq!(top, [(GHSA.into(), 3), (DSA.into(), 2), (CVE3.into(), 1)], "{s:#}");
    assert_eq!(
        s["fixable"],
        serde_json::json!({"fixable": 5, "unfixable": 1, "fixable_artifacts": 4})
    );

    // --- the CLI, locally and through --server, before the re-scan ---
    let (cfg, _cfg_dir) = config_file(&config);
    let local: Value = serde_json::from_str(&cli_ok(
        &cfg,
        &["vulns", "CVE-2099-0001", "CVE-2099-0002", "--format", "json"],
    ))
    .unwrap();
    let server = serve.url();
    let remote: Value = serde_json::from_str(&cli_ok(
        &cfg,
        &[
            "vulns",
            "CVE-2099-0001",
            "CVE-2099-0002",
            "--format",
            "json",
            "--server",
            &server,
        ],
    ))
    .unwrap();
    assert_eq!(local, remote);
    assert_eq!(pairs(&local, "id"), all);
    assert_eq!(local["items"][1]["artifacts"][2]["reference"], re.as_str());
    let table = cli_ok(&cfg, &["vulns", "CVE-2099-0001"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[0].starts_with("ADVISORY") && lines[0].contains("INSTALLED") && lines[0].contains("FIXED"),
        "{table}"
    );
    assert!(
        lines[1].contains(GHSA)
            && lines[1].contains("critical")
            && lines[1].contains(&app)
            && lines[1].contains("1.0.1"),
        "{table}"
    );
    let csv = cli_ok(
        &cfg,
        &["vulns", "CVE-2099-0002", "--format", "csv", "--server", &server],
    );
    assert_eq!(
        csv,
        format!(
            "id,severity,package,reference,digest,installed_version,fixed_version,aliases\n\
             {DSA},high,openssl,{app},{},3.0.1,,CVE-2099-0002\n\
             {DSA},high,openssl,{apis},{},3.0.11,3.0.12,CVE-2099-0002\n",
            digest(1),
            digest(2)
        )
    );
    let none = cli_ok(&cfg, &["vulns", "CVE-2099-9999"]);
    assert!(none.contains("no stored artifact is affected"), "{none}");
    let (code, _, err) = cli(&cfg, &["vulns", "X", "--min-severity", "awful"]);
    assert_eq!(code, 2, "{err}");

    let pk: Value = serde_json::from_str(&cli_ok(&cfg, &["packages", "left-pad@1.0.0", "--format", "json"])).unwrap();
    assert_eq!(pk, api.ok("/v1/packages?name=left-pad&version=1.0.0").await);
    let table = cli_ok(
        &cfg,
        &["packages", &format!("{LOG4J}@>=2.0,<2.17"), "--server", &server],
    );
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("PACKAGE") && lines[0].contains("PATH"), "{table}");
    assert!(
        lines[1].contains("2.14.1") && lines[1].contains(&apis) && lines[1].contains("app/lib/log4j-core-2.14.1.jar"),
        "{table}"
    );
    let csv = cli_ok(&cfg, &["packages", "pkg:deb/debian/zlib", "--format", "csv"]);
    assert_eq!(
        csv,
        format!(
            "name,version,ecosystem,purl,reference,digest,path,layer\n\
             zlib,1.2.13,Debian:12,pkg:deb/debian/zlib@1.2.13?distro=debian-12,{app},{},var/lib/dpkg/status,sha256:l0\n\
             zlib,1.2.13,Debian:12,pkg:deb/debian/zlib@1.2.13?distro=debian-12,{sbom},{},sbom.json,\n",
            digest(1),
            digest(3)
        )
    );

    // --- a re-scan without the finding takes the artifact out of the affected set ---
    rescan(url).await;
    assert_eq!(
        api.vulns("id=CVE-2099-0001").await,
        set(&[(GHSA, app.clone()), (GHSA, apis.clone())])
    );
    assert_eq!(
        api.packages("name=left-pad").await,
        set(&[("1.0.0", app.clone()), ("1.0.0", apis.clone()), ("1.0.1", re.clone())])
    );
    assert_eq!(
        api.packages("name=left-pad&version=%3E%3D1.0.1").await,
        set(&[("1.0.1", re.clone())]),
        "the old scan's 1.0.0 is history, the new 1.0.1 is found by range"
    );
    // A range over several versions of one name (on PostgreSQL one ordered walk per version),
    // page by page.
    let every = set(&[("1.0.0", app.clone()), ("1.0.0", apis.clone()), ("1.0.1", re.clone())]);
    assert_eq!(api.packages("name=left-pad&version=%3E%3D1.0.0").await, every);
    for limit in [1, 2] {
        assert_eq!(
            api.package_pages("name=left-pad&version=%3E%3D1.0.0", limit).await,
            every,
            "limit {limit}"
        );
    }
    let s = api.ok("/v1/summary").await;
    assert_eq!(s["top_vulnerabilities"][0]["artifacts"], 2, "{s:#}");
    assert_eq!(s["fixable"]["fixable"], 4);
    let dangerous: Vec<&str> = s["most_dangerous"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reference"].as_str().unwrap())
        .collect();
    assert_eq!(dangerous, [apis.as_str(), app.as_str()], "re-scanned clean: {s:#}");
    assert_eq!(s["by_severity"]["critical"], 2, "{s:#}");
    assert_eq!(s["by_severity"]["high"], 2, "{s:#}");
    let after: Value = serde_json::from_str(&cli_ok(&cfg, &["vulns", "CVE-2099-0001", "--format", "json"])).unwrap();
    assert_eq!(after["items"][0]["artifacts"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_queries_on_sqlite() {
    let (url, _dir) = sqlite_url();
    incidents_on(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_queries_on_postgres() {
    let db = PgDb::create();
    incidents_on(&db.url).await;
}

/// The summary as the store answers it from its rollups.
async fn rollup(store: &Store) -> (Vec<TopVuln>, FixableSplit, Summary, Vec<String>) {
    let top = store.top_vulnerabilities(1000).await.unwrap();
    let split = store.fixable_split().await.unwrap();
    let sev = store.severity_totals().await.unwrap();
    let dangerous = store
        .most_dangerous(1000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.artifact.reference)
        .collect();
    (top, split, sev, dangerous)
}

/// The rollups kept on write equal the ones recomputed from every latest finding.
async fn assert_rollup_exact(store: &Store, after: &str) -> (Vec<TopVuln>, FixableSplit, Summary, Vec<String>) {
    let kept = rollup(store).await;
    store.rebuild_incident_rollup().await.unwrap();
    assert_eq!(kept, rollup(store).await, "after {after}: the rollups drifted");
    kept
}

fn top(r: &(Vec<TopVuln>, FixableSplit, Summary, Vec<String>)) -> Vec<(String, Severity, i64)> {
    r.0.iter().map(|t| (t.id.clone(), t.severity, t.artifacts)).collect()
}

/// Every way the store changes what an artifact's latest findings are: a scan recorded at once,
/// a claimed scan finished (the artifact already pointed at it), a claim released, a re-scan,
/// a deletion and a push that undeletes, history pruned, and a migration over stored rows.
async fn rollups_follow_every_change(url: &str) {
    seed(url).await;
    let store = Store::open(url).await.unwrap();
    let r = assert_rollup_exact(&store, "seeding").await;
    assert_eq!(
        top(&r),
        [
            (GHSA.to_owned(), Severity::Critical, 3),
            (DSA.to_owned(), Severity::High, 2),
            (CVE3.to_owned(), Severity::Medium, 1)
        ]
    );
    assert_eq!(
        r.1,
        FixableSplit {
            fixable: 5,
            unfixable: 1,
            fixable_artifacts: 4
        }
    );
    // A new artifact: claimed (the running scan becomes its latest), then finished with findings.
    let id = upsert(&store, "team/claimed", 6, "image").await;
    let Claim::Claimed(scan) = store
        .claim_scan(id, Some(&ScannerRef::new("image", "1")), "w1", 60_000)
        .await
        .unwrap()
    else {
        panic!("claim");
    };
    assert_eq!(
        store.artifact_by_id(id).await.unwrap().unwrap().latest_scan_id,
        Some(scan)
    );
    store
        .finish_scan(
            scan,
            Status::Succeeded,
            None,
            &ScanResult {
                advisories: vec![
                    vuln(CVE3, Severity::High, "zlib", "1.2.13", None, "var/lib/dpkg/status"),
                    vuln(CVE3, Severity::Medium, "zlib", "1.2.13", None, "other/status"),
                ],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let r = assert_rollup_exact(&store, "finishing a claimed scan").await;
    assert!(top(&r).contains(&(CVE3.to_owned(), Severity::High, 2)), "{:?}", top(&r));
    assert_eq!(r.2.high, 3, "{:?}", r.2);
    // A claim given up: the artifact keeps its result.
    let Claim::Claimed(scan) = store
        .claim_scan(id, Some(&ScannerRef::new("image", "1")), "w1", 60_000)
        .await
        .unwrap()
    else {
        panic!("claim");
    };
    store.release_claim(scan).await.unwrap();
    assert_eq!(r, assert_rollup_exact(&store, "releasing a claim").await);
    // Deleted, then pushed again.
    store
        .mark_deleted(REG, "team/claimed", Some(&digest(6)), None)
        .await
        .unwrap();
    let r = assert_rollup_exact(&store, "deleting").await;
    assert!(top(&r).contains(&(CVE3.to_owned(), Severity::Medium, 1)));
    upsert(&store, "team/claimed", 6, "image").await;
    let r = assert_rollup_exact(&store, "undeleting").await;
    assert!(top(&r).contains(&(CVE3.to_owned(), Severity::High, 2)));
    // A re-scan without the finding; then every older scan pruned.
    store.close().await;
    rescan(url).await;
    let store = Store::open(url).await.unwrap();
    let r = assert_rollup_exact(&store, "a re-scan").await;
    assert!(top(&r).contains(&(GHSA.to_owned(), Severity::Critical, 2)));
    store.prune_scans(i64::MAX, 1, 1000).await.unwrap();
    assert_eq!(r, assert_rollup_exact(&store, "pruning history").await);
    // A store that predates the rollups builds them when it opens.
    sqlx::query("DELETE FROM advisory_reach")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE incident_totals SET id = 0, findings = 0, critical = 0")
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
    let store = Store::open(url).await.unwrap();
    assert_eq!(r, rollup(&store).await, "built on open");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_rollups_follow_every_change_on_sqlite() {
    let (url, _dir) = sqlite_url();
    rollups_follow_every_change(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_rollups_follow_every_change_on_postgres() {
    let db = PgDb::create();
    rollups_follow_every_change(&db.url).await;
}

/// Advisories imported before migration 7 get their aliases derived when the store opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advisories_stored_before_the_alias_index_are_indexed_on_open() {
    let (url, _dir) = sqlite_url();
    seed(&url).await;
    {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("DELETE FROM advisory_aliases")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("UPDATE advisories SET indexed = 0, cvss_x10 = NULL")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let store = Store::open(&url).await.unwrap();
    assert_eq!(
        store.resolve_advisory_ids(&["CVE-2099-0001".into()]).await.unwrap(),
        ["CVE-2099-0001", GHSA]
    );
    let page = store
        .vulnerabilities(&regscan::store::incidents::VulnFilter {
            cvss_min: Some(9.0),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].cvss, Some(9.8));
}

/// The first `href` of an `<a>` inside the element with `id="{id}"`, or after `marker`.
fn href_after(dom: &str, marker: &str) -> String {
    dom.split(marker)
        .nth(1)
        .and_then(|s| s.split("href=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no link after {marker}:\n{dom}"))
        .replace("&amp;", "&")
}

fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    dom.split(&format!("id=\"{id}\""))
        .nth(1)
        .and_then(|s| s.split("</table>").next())
        .unwrap_or_else(|| panic!("no #{id}:\n{dom}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vulnerabilities_page_renders_in_chromium() {
    use support::browser::{dump_dom, screenshot};
    if !support::browser::available() {
        return;
    }
    let (url, _dir) = sqlite_url();
    seed(&url).await;
    // A hostile artifact: markup in the finding, a bidi override in the repository name.
    {
        let store = Store::open(&url).await.unwrap();
        let mut f = vuln("CVE-2099-0004", Severity::Low, "<b>pkg</b>", "1\u{202e}0", None, "x");
        f.title = "<script>alert(1)</script>".into();
        store_scan(
            &store,
            "evil/\u{202e}gpj.exe",
            6,
            "image",
            ScanResult {
                advisories: vec![f],
                ..Default::default()
            },
        )
        .await;
        store.close().await;
    }
    let serve = RegscanProcess::start(&TestConfig::new(&url, &[]), &["serve", "--workers", "0"]).await;
    let base = serve.url();

    // The top lists.
    let dom = dump_dom(&format!("{base}/vulnerabilities"));
    assert!(
        dom.contains("href=\"/vulnerabilities\""),
        "the navigation links the page"
    );
    assert!(
        dom.contains("id=\"vuln-search\"") && dom.contains("id=\"package-search\""),
        "{dom}"
    );
    let dangerous = section(&dom, "top-artifacts");
    assert_eq!(dangerous.matches("<tr><td>").count(), 3, "{dangerous}");
    let order: Vec<usize> = ["team/api", "team/app", "team/rescanned"]
        .iter()
        .map(|r| dangerous.find(r).unwrap_or_else(|| panic!("{r} missing: {dangerous}")))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "by critical, then high: {dangerous}"
    );
    let top = section(&dom, "top-vulns");
    assert!(
        top.find(GHSA) < top.find(DSA) && top.contains("class=\"count\">3<"),
        "{top}"
    );
    assert!(
        dom.contains("<span class=\"fixable\">5</span>") && dom.contains("<span class=\"unfixable\">2</span>"),
        "{dom}"
    );
    screenshot(&format!("{base}/vulnerabilities"), "web-vulnerabilities");

    // An advisory id links to the artifacts it affects.
    let link = href_after(top, "class=\"advisory\"");
    assert_eq!(link, format!("/vulnerabilities?id={GHSA}"));
    let dom = dump_dom(&format!("{base}{link}"));
    let table = section(&dom, "vulns");
    assert_eq!(table.matches("<tr class=\"vuln\"").count(), 1, "{table}");
    assert_eq!(table.matches("class=\"artifact\"").count(), 3, "{table}");
    assert!(
        table.contains("1.0.0 → 1.0.1") && table.contains("CVE-2099-0001"),
        "{table}"
    );
    // Every artifact links to its page.
    let art = href_after(table, "<ul class=\"affected\">");
    assert!(art.starts_with(&format!("/artifacts/{REG}/team/")), "{art}");
    let page = dump_dom(&format!("{base}{art}"));
    assert!(page.contains("left-pad"), "{page}");
    screenshot(&format!("{base}{link}"), "web-vulnerability");

    // A package links to where it is found.
    let pkg_link = href_after(table, "class=\"package\"");
    assert_eq!(pkg_link, "/packages?name=left-pad");
    let dom = dump_dom(&format!("{base}{pkg_link}"));
    let packages = section(&dom, "packages");
    assert_eq!(packages.matches("class=\"artifact\"").count(), 3, "{packages}");
    assert!(
        packages.contains("app/node_modules/left-pad/package.json") && packages.contains("layer sha256:l1"),
        "{packages}"
    );
    screenshot(&format!("{base}{pkg_link}"), "web-packages");

    // The search form's query string (empty fields included); aliases resolved.
    let dom = dump_dom(&format!(
        "{base}/vulnerabilities?id=CVE-2099-0002&package=&min_severity=&cvss_min=&cvss_max=&repository=&kind="
    ));
    let table = section(&dom, "vulns");
    assert!(table.contains(&format!("data-id=\"{DSA}\"")), "{table}");
    assert!(dom.contains("value=\"CVE-2099-0002\""), "the form keeps the search");
    let dom = dump_dom(&format!("{base}/packages?name=openssl&version=%3E%3D3.0.2"));
    assert_eq!(
        section(&dom, "packages").matches("class=\"artifact\"").count(),
        1,
        "{dom}"
    );

    // Pagination.
    let dom = dump_dom(&format!("{base}/vulnerabilities?id=CVE-2099-0001&limit=1"));
    assert_eq!(section(&dom, "vulns").matches("class=\"artifact\"").count(), 1);
    let next = href_after(&dom, "id=\"next\"");
    let dom2 = dump_dom(&format!(
        "{base}/vulnerabilities{}",
        next.trim_start_matches("/vulnerabilities")
    ));
    assert_eq!(section(&dom2, "vulns").matches("class=\"artifact\"").count(), 1);
    assert_ne!(section(&dom, "vulns"), section(&dom2, "vulns"));

    // Hostile values are shown, not obeyed.
    let dom = dump_dom(&format!("{base}/vulnerabilities?id=CVE-2099-0004"));
    assert!(!dom.contains("<script>alert") && !dom.contains("<b>pkg"), "{dom}");
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && dom.contains("&lt;b&gt;pkg&lt;/b&gt;"),
        "{dom}"
    );
    assert!(!dom.contains('\u{202e}'), "no bidi override reaches the page");
    assert!(dom.contains("evil/&lt;U+202E&gt;gpj.exe"), "{dom}");

    // Bad parameters: an HTML 400 naming them.
    let bad = dump_dom(&format!("{base}/vulnerabilities?min_severity=awful"));
    assert!(bad.contains("400") && bad.contains("min_severity"), "{bad}");
}
