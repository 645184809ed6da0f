//! An rpm-based (RHEL 9) image end to end: rpms built by `rpmbuild` and installed by `rpm` into
//! a real rpm database, the image pushed to a real registry, Red Hat OSV records imported, and
//! `regscan scan` reporting exactly the advisories that apply — by repository stream, vendor
//! and modularity stream (the rules in scanners/osv/README.md).

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::db::sqlite_url;
use support::oci::OciImage;
use support::process::regscan_bin;
use support::registry::Registry;

/// Whether the rpm tools are installed; prints a loud notice when they are not.
fn rpm_tools() -> bool {
    let ok = ["rpm", "rpmbuild"].iter().all(|t| {
        Command::new(t)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        eprintln!("\n*** SKIPPED rpm image test: rpm/rpmbuild not installed (apt-get install -y rpm) ***\n");
    }
    ok
}

/// One source rpm's worth of binary packages to build and install.
struct Rpm<'a> {
    name: &'a str,
    epoch: Option<u32>,
    version: &'a str,
    release: &'a str,
    vendor: &'a str,
    /// Subpackages (`libs` → `<name>-libs`).
    subpackages: &'a [&'a str],
    /// `MODULARITYLABEL` (`nodejs:18:9020020230411143030:rhel9`).
    module: Option<&'a str>,
}

/// Build `rpms` with `rpmbuild` and install them with `rpm --justdb`; returns the bytes of the
/// SQLite rpm database rpm wrote.
fn rpmdb(dir: &Path, rpms: &[Rpm]) -> Vec<u8> {
    let top = dir.join("top");
    let dbpath = dir.join("db");
    std::fs::create_dir_all(&dbpath).unwrap();
    let mut files = Vec::new();
    for r in rpms {
        let mut spec = format!(
            "Name: {}\nVersion: {}\nRelease: {}\nSummary: test\nLicense: MIT\nVendor: {}\nBuildArch: noarch\n",
            r.name, r.version, r.release, r.vendor
        );
        if let Some(e) = r.epoch {
            spec.push_str(&format!("Epoch: {e}\n"));
        }
        spec.push_str("%description\ntest\n%files\n");
        for sub in r.subpackages {
            spec.push_str(&format!(
                "%package {sub}\nSummary: {sub}\n%description {sub}\n{sub}\n%files {sub}\n"
            ));
        }
        let spec_file = dir.join(format!("{}.spec", r.name));
        std::fs::write(&spec_file, spec).unwrap();
        let mut cmd = Command::new("rpmbuild");
        cmd.arg("-bb").arg("--define").arg(format!("_topdir {}", top.display()));
        if let Some(m) = r.module {
            cmd.arg("--define").arg(format!("modularitylabel {m}"));
        }
        let out = cmd.arg(&spec_file).output().unwrap();
        assert!(
            out.status.success(),
            "rpmbuild: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for n in std::iter::once(r.name.to_owned()).chain(r.subpackages.iter().map(|s| format!("{}-{s}", r.name))) {
            files.push(top.join(format!("RPMS/noarch/{n}-{}-{}.noarch.rpm", r.version, r.release)));
        }
    }
    let out = Command::new("rpm")
        .args(["-i", "--nodeps", "--justdb", "--noscripts", "--dbpath"])
        .arg(&dbpath)
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success(), "rpm -i: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(dbpath.join("rpmdb.sqlite")).unwrap()
}

/// A one-entry OSV record with a `fixed` event, in the shape of Red Hat's export.
fn record(id: &str, summary: &str, eco: &str, name: &str, purl: &str, fixed: &str) -> String {
    serde_json::json!({
        "schema_version": "1.7.0", "id": id, "modified": "2024-01-01T00:00:00Z", "summary": summary,
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
        "affected": [{"package": {"ecosystem": eco, "name": name, "purl": purl},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]
    })
    .to_string()
}

fn regscan(config: &Path, args: &[&str]) -> Value {
    let out = Command::new(regscan_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .args(["--format", "json"])
        .env_remove("REGSCAN_DATABASE_URL")
        .env("REGSCAN_LOG", "warn")
        .output()
        .expect("run regscan");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "regscan {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("regscan {args:?}: not JSON ({e}): {stdout}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn rhel_image_matched_by_stream_vendor_and_module() {
    if !rpm_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rh = "Red Hat, Inc.";
    let db = rpmdb(
        dir.path(),
        &[
            Rpm {
                name: "glibc",
                epoch: None,
                version: "2.34",
                release: "60.el9_2.6",
                vendor: rh,
                subpackages: &["common"],
                module: None,
            },
            Rpm {
                name: "openssl",
                epoch: Some(1),
                version: "3.0.1",
                release: "43.el9_0",
                vendor: rh,
                subpackages: &["libs"],
                module: None,
            },
            // An EPEL-style rebuild: not Red Hat's, so Red Hat's records do not apply.
            Rpm {
                name: "curl",
                epoch: None,
                version: "7.76.1",
                release: "14.el9",
                vendor: "Fedora Project",
                subpackages: &[],
                module: None,
            },
            Rpm {
                name: "nodejs",
                epoch: Some(1),
                version: "18.14.2",
                release: "2.module+el9.2.0+18484+6c1ec3c4",
                vendor: rh,
                subpackages: &[],
                module: Some("nodejs:18:9020020230411143030:rhel9"),
            },
        ],
    );
    let os_release = "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"9.2 (Plow)\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\n\
                      VERSION_ID=\"9.2\"\nCPE_NAME=\"cpe:/o:redhat:enterprise_linux:9::baseos\"\n";
    let image = OciImage::new(&[
        ("etc/os-release", os_release.as_bytes()),
        ("var/lib/rpm/rpmdb.sqlite", &db),
    ]);
    let reg = Registry::start().await;
    reg.push_image("ubi9/app", "1", &image).await;

    // Advisories: a real record (RHSA-2023:5453) and crafted ones for each rule.
    let osv = dir.path().join("osv");
    std::fs::create_dir(&osv).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scanners/osv/tests/testdata/rpm/RHSA-2023_5453.json"),
        osv.join("RHSA-2023:5453.json"),
    )
    .unwrap();
    let crafted = [
        // Only for RHEL 9.0 EUS: not this image.
        (
            "TEST-EUS-1",
            "openssl",
            "Red Hat:rhel_eus:9.0::baseos",
            "openssl",
            "pkg:rpm/redhat/openssl?arch=src",
            "1:3.0.1-47.el9_0",
        ),
        // Red Hat's curl; the installed curl is a third party's.
        (
            "TEST-CURL-1",
            "curl",
            "Red Hat:enterprise_linux:9::baseos",
            "curl",
            "pkg:rpm/redhat/curl?arch=src",
            "7.76.1-26.el9",
        ),
        // nodejs:18 module fix: applies to the module rpm.
        (
            "TEST-NODE-MODULE-1",
            "nodejs:18",
            "Red Hat:enterprise_linux:9::appstream",
            "nodejs",
            "pkg:rpm/redhat/nodejs?arch=src&rpmmod=nodejs:18:9030020231120095946:rhel9",
            "1:18.19.0-1.module+el9.3.0+20753+cb0ee8a3",
        ),
        // A non-module nodejs fix: never applies to a module rpm, though its version is lower.
        (
            "TEST-NODE-PLAIN-1",
            "nodejs",
            "Red Hat:enterprise_linux:9::appstream",
            "nodejs",
            "pkg:rpm/redhat/nodejs?arch=src",
            "1:18.20.0-1.el9",
        ),
    ];
    for (id, what, eco, name, purl, fixed) in crafted {
        let summary = format!("Important: {what} security update");
        std::fs::write(
            osv.join(format!("{id}.json")),
            record(id, &summary, eco, name, purl, fixed),
        )
        .unwrap();
    }

    let (url, _db_dir) = sqlite_url();
    let config = dir.path().join("regscan.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = {url:?}\n\n[[registry]]\nhost = {:?}\ninsecure = true\n",
            reg.host
        ),
    )
    .unwrap();
    let import = regscan(&config, &["advisories", "import", osv.to_str().unwrap()]);
    assert_eq!(import["added"], 5, "{import:#}");

    let r = regscan(&config, &["scan", &format!("{}/ubi9/app:1", reg.host)]);
    assert_eq!(r["status"], "succeeded", "{r:#}");
    let mut got: Vec<(String, String, String)> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["package"].is_string())
        .map(|f| {
            (
                f["package"].as_str().unwrap().to_owned(),
                f["id"].as_str().unwrap().to_owned(),
                f["fixed_version"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    got.sort();
    let want = [
        ("glibc", "RHSA-2023:5453", "0:2.34-60.el9_2.7"),
        ("glibc-common", "RHSA-2023:5453", "0:2.34-60.el9_2.7"),
        (
            "nodejs",
            "TEST-NODE-MODULE-1",
            "1:18.19.0-1.module+el9.3.0+20753+cb0ee8a3",
        ),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want, "{r:#}");
    assert_eq!(r["details"]["os"]["ecosystem"], "Red Hat:enterprise_linux:9", "{r:#}");

    // The inventory records why: the third-party curl as plain `rpm`, the module rpm with its
    // stream.
    let curl = regscan(&config, &["packages", "curl"]);
    assert_eq!(curl["items"][0]["ecosystem"], "rpm", "{curl:#}");
    let node = regscan(&config, &["packages", "nodejs"]);
    assert_eq!(
        node["items"][0]["ecosystem"], "Red Hat:enterprise_linux:9 module:nodejs:18",
        "{node:#}"
    );
}
