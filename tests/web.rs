//! The web listing in a real headless Chromium (Debian's `chromium` package): artifacts of each
//! kind are pushed to a real registry and scanned with `regscan scan`, `regscan serve` renders
//! them, Chromium loads the listing, a filtered listing and the page of an image, a Helm chart
//! and an unsupported artifact (`--dump-dom`), and screenshots of them are kept under
//! `tests/output/` (git-ignored).
//!
//! Skipped, loudly, when `/usr/bin/chromium` is absent (`apt-get install chromium`).

mod support;

use std::path::Path;
use std::process::Command;

use support::browser::{dump_dom, screenshot};
use support::oci::{Artifact, OciImage};
use support::process::{regscan_bin, RegscanProcess, TestConfig};
use support::registry::Registry;

const ODD: &str = "application/vnd.acme.rocket.config.v1+json";

/// The text of the `<tr class="row …">` rows of the listing, one string each.
fn rows(dom: &str) -> Vec<String> {
    dom.split("<tr class=\"row ")
        .skip(1)
        .map(|r| r.split("</tr>").next().unwrap_or_default().to_owned())
        .collect()
}

fn scan(config: &Path, reference: &str) {
    let out = Command::new(regscan_bin())
        .arg("--config")
        .arg(config)
        .args(["scan", reference, "--format", "json"])
        .env("REGSCAN_LOG", "warn")
        .env_remove("REGSCAN_API_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "regscan scan {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_and_artifact_pages_render_in_chromium() {
    if !support::browser::available() {
        return;
    }
    let reg = Registry::start().await;
    let host = reg.host.clone();
    let image = reg.push_image("web/app", "1.0", &OciImage::debian_like()).await;
    let chart = reg
        .push_artifact("web/charts/shop", "0.3.1", &Artifact::helm_chart("shop", "0.3.1"))
        .await;
    let odd = reg.push_artifact("web/odd", "v1", &Artifact::unknown(ODD)).await;
    let (db, _dir) = support::db::sqlite_url();
    let config = TestConfig::new(&db, &[&host]);
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("regscan.toml");
    std::fs::write(&cfg, config.to_toml("127.0.0.1:1")).unwrap();
    for r in ["web/app:1.0", "web/charts/shop:0.3.1", "web/odd:v1"] {
        scan(&cfg, &format!("{host}/{r}"));
    }
    let serve = RegscanProcess::start(&config, &["serve", "--workers", "0"]).await;
    let base = serve.url();

    // The listing: a row per artifact with type, status, findings and the fitting action.
    let dom = dump_dom(&format!("{base}/"));
    let listing_rows = rows(&dom);
    assert_eq!(listing_rows.len(), 3, "{dom}");
    let row = |needle: &str| {
        listing_rows
            .iter()
            .find(|r| r.contains(needle))
            .cloned()
            .unwrap_or_else(|| panic!("no row with {needle}:\n{dom}"))
    };
    let app = row("web/app:1.0");
    assert!(
        app.contains("data-kind=\"image\"") && app.contains("Container image") && app.contains("st-succeeded"),
        "{app}"
    );
    assert!(
        app.contains(&format!("docker run --rm -it {host}/web/app:1.0"))
            && app.contains(&format!("docker pull {host}/web/app@{image}")),
        "{app}"
    );
    assert!(
        app.contains("<svg") && app.contains("icon-image"),
        "an icon per kind: {app}"
    );
    assert!(
        app.contains("title=\"medium\">M1<") || app.contains("title=\"medium\">M"),
        "severity counts: {app}"
    );
    let helm = row("web/charts/shop:0.3.1");
    assert!(
        helm.contains("Helm chart")
            && helm.contains(&format!(
                "helm install shop oci://{host}/web/charts/shop --version 0.3.1"
            )),
        "{helm}"
    );
    let unsupported = row("web/odd:v1");
    assert!(
        unsupported.contains("st-unsupported") && unsupported.contains("class=\"reason\"") && unsupported.contains(ODD),
        "the reason is the action of an unsupported type: {unsupported}"
    );
    assert!(!unsupported.contains("docker run"), "{unsupported}");
    assert!(
        dom.contains("<form class=\"filters\" method=\"get\""),
        "a GET filter form"
    );
    let overview = dom
        .split("id=\"overview\"")
        .nth(1)
        .and_then(|s| s.split("</table>").next())
        .unwrap_or_else(|| panic!("an overview by kind and status: {dom}"));
    assert!(
        overview.contains("href=\"/?kind=unknown&amp;status=unsupported\">1</a>")
            && overview.contains("href=\"/?kind=helm&amp;status=succeeded\">1</a>"),
        "{overview}"
    );
    screenshot(&format!("{base}/"), "web-listing");

    // Filters through the form's query string; pagination.
    let helm_only = dump_dom(&format!("{base}/?kind=helm&status=&repository="));
    assert_eq!(rows(&helm_only).len(), 1, "{helm_only}");
    assert!(
        helm_only.contains("<option value=\"helm\" selected"),
        "the form keeps the filter"
    );
    let odd_only = rows(&dump_dom(&format!("{base}/?status=unsupported")));
    assert_eq!(odd_only.len(), 1);
    assert!(odd_only[0].contains("web/odd"));
    assert_eq!(rows(&dump_dom(&format!("{base}/?repository=web/charts"))).len(), 1);
    let page1 = dump_dom(&format!("{base}/?limit=2"));
    assert_eq!(rows(&page1).len(), 2);
    let next = page1
        .split("id=\"next\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("a next link: {page1}"))
        .replace("&amp;", "&");
    let page2 = dump_dom(&format!("{base}{next}"));
    assert_eq!(rows(&page2).len(), 1, "{page2}");
    let bad = dump_dom(&format!("{base}/?status=done"));
    assert!(
        bad.contains("400") && bad.contains("status:"),
        "bad parameters are named: {bad}"
    );

    // The image's page: findings, tags, history, how to run it.
    let url = format!("{base}/artifacts/{host}/web/app@{image}");
    let page = dump_dom(&url);
    assert!(
        page.contains("id=\"findings\"") && page.contains("IMG-ROOT-USER"),
        "{page}"
    );
    assert!(
        page.contains("id=\"tags\"") && page.contains("<code>1.0</code>"),
        "{page}"
    );
    assert!(page.contains("id=\"history\""), "{page}");
    assert!(page.contains("docker run --rm -it"), "{page}");
    assert!(
        page.contains(&format!("/v1/artifacts/{host}/web/app@{image}?format=cyclonedx")),
        "{page}"
    );
    screenshot(&url, "web-image");

    // The chart's page.
    let url = format!("{base}/artifacts/{host}/web/charts/shop@{chart}");
    let page = dump_dom(&url);
    assert!(
        page.contains("Helm chart") && page.contains("helm install shop") && page.contains("st-succeeded"),
        "{page}"
    );
    screenshot(&url, "web-helm");

    // The unsupported artifact's page: the reason naming the media type; not clean.
    let url = format!("{base}/artifacts/{host}/web/odd:v1");
    let page = dump_dom(&url);
    assert!(
        page.contains("Why unsupported") && page.contains("id=\"reason\""),
        "{page}"
    );
    let reason = page
        .split("id=\"reason\" class=\"reason\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert!(reason.contains(ODD), "{reason}");
    assert!(
        page.contains(&odd) && page.contains("This is not a clean result"),
        "{page}"
    );
    screenshot(&url, "web-unsupported");

    // An artifact that is not stored: a 404 page.
    let missing = dump_dom(&format!("{base}/artifacts/{host}/web/none@sha256:{}", "0".repeat(64)));
    assert!(
        missing.contains("404") && missing.contains("not in the results database"),
        "{missing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_pages_follow_the_api_auth_rule() {
    let (db, _dir) = support::db::sqlite_url();
    let mut config = TestConfig::new(&db, &[]);
    std::env::set_var("REGSCAN_TEST_WEB_READ_TOKEN", "web-read-token");
    config.extra =
        "[[api_tokens]]\nname = \"viewer\"\nrole = \"read\"\ntoken_env = \"REGSCAN_TEST_WEB_READ_TOKEN\"\n".into();
    let serve = RegscanProcess::start(&config, &["serve", "--workers", "0"]).await;
    let http = reqwest::Client::new();
    let r = http.get(format!("{}/", serve.url())).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let r = http
        .get(format!("{}/", serve.url()))
        .bearer_auth("web-read-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.contains("No artifacts match"), "{body}");
}
