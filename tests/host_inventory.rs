//! Package inventory against independent ground truth: an image built from this machine's own
//! Debian `dpkg` database is pushed to a real registry and scanned; the inventory regscan stores
//! must equal what `dpkg-query` says is installed — names, versions, source names and versions.

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use support::db::sqlite_url;
use support::oci::OciImage;
use support::registry::Registry;

fn dpkg_ground_truth() -> Option<BTreeSet<(String, String, String, String)>> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\t${source:Package}\t${source:Version}\n"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("ii"))
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[1].to_owned(), f[2].to_owned(), f[3].to_owned(), f[4].to_owned())
            })
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn dpkg_inventory_matches_dpkg_query() {
    let (Some(truth), Ok(status), Ok(os_release)) =
        (dpkg_ground_truth(), std::fs::read("/var/lib/dpkg/status"), std::fs::read("/etc/os-release"))
    else {
        eprintln!("SKIPPED: this machine has no dpkg database to compare with");
        return;
    };
    assert!(truth.len() > 50, "a real Debian system has hundreds of packages");
    let reg = Registry::start().await;
    let image = OciImage::new(&[("etc/os-release", &os_release), ("var/lib/dpkg/status", &status)]);
    let digest = reg.push_image("host/debian", "real", &image).await;

    let (url, _dir) = sqlite_url();
    let store = regscan::store::Store::open(&url).await.unwrap();
    let mut config = regscan::config::Config::default();
    config.registries.push(regscan::config::RegistryConfig { host: reg.host.clone(), insecure: true, ..Default::default() });
    let pipeline = regscan::scan::Pipeline::new(std::sync::Arc::new(config), store.clone()).await.unwrap();
    let job = regscan::queue::Job {
        id: "host".into(),
        registry: reg.host.clone(),
        repository: "host/debian".into(),
        reference: "real".into(),
        tag: Some("real".into()),
        source: "test".into(),
        force: false,
        attempt: 0,
    };
    let outcome = pipeline.run_job(&job, "test").await.unwrap();
    assert_eq!(outcome.digest, digest);
    let artifact = store.artifact(&reg.host, "host/debian", &digest).await.unwrap().unwrap();
    let packages = store.packages(artifact.latest_scan_id.unwrap()).await.unwrap();

    let os_major = String::from_utf8_lossy(&os_release)
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_ID="))
        .map(|v| v.trim_matches('"').split('.').next().unwrap_or("").to_owned())
        .unwrap_or_default();
    let found: BTreeSet<(String, String, String, String)> = packages
        .iter()
        .map(|p| {
            assert_eq!(p.ecosystem, format!("Debian:{os_major}"), "{p:?}");
            assert_eq!(p.path, "var/lib/dpkg/status");
            (
                p.name.clone(),
                p.version.clone(),
                p.source_name.clone().unwrap_or_else(|| p.name.clone()),
                p.source_version.clone().unwrap_or_else(|| p.version.clone()),
            )
        })
        .collect();
    let missing: Vec<_> = truth.difference(&found).take(10).collect();
    let extra: Vec<_> = found.difference(&truth).take(10).collect();
    assert!(missing.is_empty() && extra.is_empty(), "{} installed packages; missing {missing:?}; extra {extra:?}", truth.len());
}
