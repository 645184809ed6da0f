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
        .args([
            "-W",
            "-f",
            "${db:Status-Abbrev}\t${Package}\t${Version}\t${source:Package}\t${source:Version}\n",
        ])
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

/// Push `image` to a fresh registry as `repo:real`, scan it through the pipeline on a fresh
/// SQLite store, and return the stored package inventory.
async fn scan_inventory(repo: &str, image: &OciImage) -> Vec<regscan_scanner_api::Package> {
    let reg = Registry::start().await;
    let digest = reg.push_image(repo, "real", image).await;
    let (url, _dir) = sqlite_url();
    let store = regscan::store::Store::open(&url).await.unwrap();
    let mut config = regscan::config::Config::default();
    config.sandbox.program = Some(env!("CARGO_BIN_EXE_regscan").into());
    config.registries.push(regscan::config::RegistryConfig {
        host: reg.host.clone(),
        insecure: true,
        ..Default::default()
    });
    let pipeline = regscan::scan::Pipeline::new(std::sync::Arc::new(config), store.clone())
        .await
        .unwrap();
    let job = regscan::queue::Job {
        id: "host".into(),
        registry: reg.host.clone(),
        repository: repo.into(),
        reference: "real".into(),
        tag: Some("real".into()),
        source: "test".into(),
        force: false,
        attempt: 0,
    };
    let outcome = pipeline.run_job(&job, "test").await.unwrap();
    assert_eq!(outcome.digest, digest);
    let artifact = store
        .artifact(&regscan_scanner_api::ArtifactRef::parse(&reg.host, repo, &digest).unwrap())
        .await
        .unwrap()
        .unwrap();
    let scan = store.scan(artifact.latest_scan_id.unwrap()).await.unwrap().unwrap();
    let packages = store.packages(scan.inventory_scan_id.unwrap_or(scan.id)).await.unwrap();
    assert!(
        !packages.is_empty(),
        "no packages stored: kind {}, scan {scan:?}",
        artifact.kind
    );
    packages
}

#[tokio::test(flavor = "multi_thread")]
async fn dpkg_inventory_matches_dpkg_query() {
    let (Some(truth), Ok(status), Ok(os_release)) = (
        dpkg_ground_truth(),
        std::fs::read("/var/lib/dpkg/status"),
        std::fs::read("/etc/os-release"),
    ) else {
        eprintln!("SKIPPED: this machine has no dpkg database to compare with");
        return;
    };
    assert!(truth.len() > 50, "a real Debian system has hundreds of packages");
    let image = OciImage::new(&[("etc/os-release", &os_release), ("var/lib/dpkg/status", &status)]);
    let packages = scan_inventory("host/debian", &image).await;

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
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} installed packages; missing {missing:?}; extra {extra:?}",
        truth.len()
    );
}

fn pep503(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if matches!(c, '-' | '_' | '.') {
            '-'
        } else {
            c.to_ascii_lowercase()
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn python_inventory_matches_pip() {
    let Ok(out) = Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
        .output()
    else {
        eprintln!("SKIPPED: no python3 on this machine");
        return;
    };
    let site = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let Ok(list) = Command::new("python3")
        .args(["-m", "pip", "list", "--format=json", "--path", &site])
        .output()
    else {
        eprintln!("SKIPPED: no pip on this machine");
        return;
    };
    let pip: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap_or_default();
    if pip.is_empty() {
        eprintln!("SKIPPED: pip lists nothing in {site}");
        return;
    }
    let truth: BTreeSet<(String, String)> = pip
        .iter()
        .map(|p| {
            (
                pep503(p["name"].as_str().unwrap()),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // The image holds every METADATA / PKG-INFO file of the site-packages directory, where a
    // Debian-based Python image keeps them.
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in std::fs::read_dir(&site).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let meta = if name.ends_with(".dist-info") {
            entry.path().join("METADATA")
        } else if name.ends_with(".egg-info") {
            if entry.path().is_dir() {
                entry.path().join("PKG-INFO")
            } else {
                entry.path()
            }
        } else {
            continue;
        };
        if let Ok(data) = std::fs::read(&meta) {
            let rel = meta.strip_prefix(&site).unwrap().to_string_lossy().into_owned();
            files.push((format!("usr/local/lib/python3.11/site-packages/{rel}"), data));
        }
    }
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), d.as_slice())).collect();
    let packages = scan_inventory("host/python", &OciImage::new(&refs)).await;
    let found: BTreeSet<(String, String)> = packages
        .iter()
        .map(|p| {
            assert_eq!(p.ecosystem, "PyPI", "{p:?}");
            (pep503(&p.name), p.version.clone())
        })
        .collect();
    let missing: Vec<_> = truth.difference(&found).collect();
    let extra: Vec<_> = found.difference(&truth).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "pip lists {}; missing {missing:?}; extra {extra:?}",
        truth.len()
    );
}
