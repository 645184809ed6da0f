//! rpm distributions: Red Hat repository streams and extended-support products, modularity
//! streams (Red Hat, AlmaLinux), SUSE products of one release. Records from `tests/testdata/rpm`
//! (see SOURCES.md there) and crafted ones (`TEST-…` ids) in the same shape.

use std::path::Path;

use regscan_osv::{parse_advisory, Advisory, AdvisoryIndex};
use regscan_scanner_api::Package;

fn load(file: &str) -> Advisory {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata/rpm")
        .join(file);
    parse_advisory(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn record(json: &str) -> Advisory {
    parse_advisory(json.as_bytes()).unwrap()
}

/// An rpm package as the image scanner reports it: source rpm name and the same EVR.
fn rpm(eco: &str, name: &str, version: &str, source: &str) -> Package {
    Package {
        ecosystem: eco.into(),
        name: name.into(),
        version: version.into(),
        source_name: Some(source.into()),
        source_version: Some(version.into()),
        path: "var/lib/rpm/rpmdb.sqlite".into(),
        layer: None,
        dev: false,
    }
}

/// (package, id, fixed version) of every finding.
fn hits(index: &AdvisoryIndex, pkgs: &[Package]) -> Vec<(String, String, Option<String>)> {
    index
        .match_packages(pkgs)
        .into_iter()
        .map(|f| (f.package.unwrap_or_default(), f.id, f.fixed_version))
        .collect()
}

/// A one-entry record with a `fixed` event.
fn one(id: &str, summary: &str, eco: &str, name: &str, purl: Option<&str>, fixed: &str) -> Advisory {
    let purl = purl.map(|p| format!(r#", "purl": "{p}""#)).unwrap_or_default();
    record(&format!(
        r#"{{"id": "{id}", "modified": "2024-01-01T00:00:00Z", "summary": "{summary}",
            "affected": [{{"package": {{"ecosystem": "{eco}", "name": "{name}"{purl}}},
              "ranges": [{{"type": "ECOSYSTEM", "events": [{{"introduced": "0"}}, {{"fixed": "{fixed}"}}]}}]}}]}}"#
    ))
}

/// The store finds an advisory for a package through the keys both sides compute; matching
/// must never find what those keys would not.
fn keys_meet(adv: &Advisory, pkg: &Package) -> bool {
    let a = AdvisoryIndex::affected_keys(adv);
    AdvisoryIndex::package_keys(pkg).iter().any(|k| a.contains(k))
}

#[test]
fn rhel_image_matches_every_stream_of_its_major_release() {
    let adv = load("RHSA-2023_5453.json");
    let index = AdvisoryIndex::new([adv.clone()]);
    let el9 = "Red Hat:enterprise_linux:9";
    let glibc = rpm(el9, "glibc", "2.34-60.el9_2.6", "glibc");
    // glibc-devel is listed under AppStream; glibc-common is not listed but its source is.
    let devel = rpm(el9, "glibc-devel", "2.34-60.el9_2.6", "glibc");
    let common = rpm(el9, "glibc-common", "2.34-60.el9_2.6", "glibc");
    let got = hits(&index, &[glibc.clone(), devel, common]);
    let fixed = Some("0:2.34-60.el9_2.7".to_string());
    assert_eq!(
        got,
        [
            ("glibc".into(), "RHSA-2023:5453".into(), fixed.clone()),
            ("glibc-common".into(), "RHSA-2023:5453".into(), fixed.clone()),
            ("glibc-devel".into(), "RHSA-2023:5453".into(), fixed.clone()),
        ]
    );
    assert!(keys_meet(&adv, &glibc));
    let f = &index.match_package(&glibc)[0];
    assert_eq!(f.severity, regscan_scanner_api::Severity::High);
    assert!(
        f.references.contains(&"CVE-2023-4911".to_string()),
        "{:?}",
        f.references
    );

    // Fixed versions, equal or newer (epoch 0 written or not), are not matched.
    for v in [
        "2.34-60.el9_2.7",
        "0:2.34-60.el9_2.7",
        "2.34-83.el9_3.7",
        "2.34-100.el9",
    ] {
        assert!(hits(&index, &[rpm(el9, "glibc", v, "glibc")]).is_empty(), "{v}");
    }
    // Another major release, and the bare `Red Hat` an older scanner reported, are not matched.
    assert!(hits(
        &index,
        &[rpm("Red Hat:enterprise_linux:8", "glibc", "2.28-225.el8", "glibc")]
    )
    .is_empty());
    assert!(hits(&index, &[rpm("Red Hat", "glibc", "2.34-60.el9_2.6", "glibc")]).is_empty());
    // Packages recorded as plain `rpm` (third-party vendor on a RHEL image) never match.
    assert!(hits(&index, &[rpm("rpm", "glibc", "2.34-60.el9_2.6", "glibc")]).is_empty());
}

#[test]
fn extended_support_streams_only_when_declared() {
    // A fix published for RHEL 9.0 EUS only (crafted; the shape of Red Hat's EUS entries).
    let eus_only = one(
        "TEST-EUS-1",
        "Important: openssl security update",
        "Red Hat:rhel_eus:9.0::baseos",
        "openssl",
        None,
        "1:3.0.1-47.el9_0",
    );
    let index = AdvisoryIndex::new([eus_only.clone(), load("RHSA-2023_5453.json")]);
    let plain = rpm(
        "Red Hat:enterprise_linux:9",
        "openssl-libs",
        "1:3.0.1-43.el9_0",
        "openssl",
    );
    assert!(
        hits(&index, std::slice::from_ref(&plain)).is_empty(),
        "EUS-only advisory on a plain RHEL 9 image"
    );
    assert!(!keys_meet(&eus_only, &plain));

    let eus = rpm("Red Hat:rhel_eus:9.0", "openssl-libs", "1:3.0.1-43.el9_0", "openssl");
    assert_eq!(
        hits(&index, std::slice::from_ref(&eus)),
        [(
            "openssl-libs".into(),
            "TEST-EUS-1".into(),
            Some("1:3.0.1-47.el9_0".into())
        )]
    );
    assert!(keys_meet(&eus_only, &eus));
    // Another EUS minor is another product.
    let other = rpm("Red Hat:rhel_eus:9.2", "openssl-libs", "1:3.0.1-43.el9_0", "openssl");
    assert!(hits(&index, &[other]).is_empty());

    // An EUS image falls back on the main product for advisories its stream does not name, and
    // is decided by its own stream where it does: RHSA-2023:5453 names glibc for 9.2 EUS.
    let glibc = rpm("Red Hat:rhel_eus:9.0", "glibc", "2.34-28.el9_0", "glibc");
    assert_eq!(hits(&index, &[glibc])[0].1, "RHSA-2023:5453");
    let glibc92 = rpm("Red Hat:rhel_eus:9.2", "glibc", "2.34-60.el9_2.7", "glibc");
    assert!(hits(&index, &[glibc92]).is_empty());

    // SAP streams: only for an image that declares one.
    let sap = one(
        "TEST-SAP-1",
        "Moderate: compat-sap-c++-12 security update",
        "Red Hat:enterprise_linux:9::sap",
        "compat-sap-c++-12",
        None,
        "12.2.1-1.el9_2",
    );
    let index = AdvisoryIndex::new([sap]);
    let pkg = |eco: &str| rpm(eco, "compat-sap-c++-12", "12.1.1-1.el9", "compat-sap-c++-12");
    assert!(hits(&index, &[pkg("Red Hat:enterprise_linux:9")]).is_empty());
    assert_eq!(hits(&index, &[pkg("Red Hat:enterprise_linux:9::sap")]).len(), 1);
}

#[test]
fn modularity_streams() {
    // Red Hat module entries carry the module in the purl's `rpmmod` qualifier (fact: Red Hat's
    // CSAF purl for perl-libs of perl:5.32, fixed for CVE-2023-47038).
    let module = one(
        "TEST-MODULE-1",
        "Moderate: perl:5.32 security update",
        "Red Hat:enterprise_linux:8::appstream",
        "perl-libs",
        Some("pkg:rpm/redhat/perl-libs@5.32.1-473.module%2Bel8.10.0%2B21354%2B3ad137bb?arch=x86_64&epoch=4&rpmmod=perl:5.32"),
        "4:5.32.1-473.module+el8.10.0+21354+3ad137bb",
    );
    // The same flaw fixed in the non-module perl of RHEL 8 (perl 5.26).
    let plain = one(
        "TEST-PLAIN-1",
        "Moderate: perl security update",
        "Red Hat:enterprise_linux:8::baseos",
        "perl-libs",
        None,
        "4:5.26.3-422.el8_10",
    );
    let index = AdvisoryIndex::new([module.clone(), plain.clone()]);
    let el8 = "Red Hat:enterprise_linux:8";
    let mod_pkg = rpm(
        &format!("{el8} module:perl:5.32"),
        "perl-libs",
        "4:5.32.1-471.module+el8.6.0+13324+628cb2b6",
        "perl",
    );
    assert_eq!(
        hits(&index, std::slice::from_ref(&mod_pkg)),
        [(
            "perl-libs".into(),
            "TEST-MODULE-1".into(),
            Some("4:5.32.1-473.module+el8.10.0+21354+3ad137bb".into())
        )]
    );
    assert!(keys_meet(&module, &mod_pkg) && !keys_meet(&plain, &mod_pkg));

    // A non-module rpm never matches the module advisory (its version is lower, too).
    let non_mod = rpm(el8, "perl-libs", "4:5.26.3-421.el8", "perl");
    assert_eq!(hits(&index, std::slice::from_ref(&non_mod))[0].1, "TEST-PLAIN-1");
    assert_eq!(hits(&index, std::slice::from_ref(&non_mod)).len(), 1);
    assert!(!keys_meet(&module, &non_mod));

    // Another stream of the module is not matched.
    let other_stream = rpm(
        &format!("{el8} module:perl:5.30"),
        "perl-libs",
        "4:5.30.1-452.module+el8.4.0+8990+01326e37",
        "perl",
    );
    assert!(hits(&index, &[other_stream]).is_empty());

    // A module rpm whose stream is unknown (its release says module, the ecosystem does not)
    // is matched neither against the stream's entries nor against non-module ones.
    let unknown = rpm(el8, "perl-libs", "4:5.32.1-471.module+el8.6.0+13324+628cb2b6", "perl");
    assert!(hits(&index, &[unknown]).is_empty());

    // AlmaLinux: no rpmmod; the stream is read from the summary (`php:7.4`).
    let alsa = load("ALSA-2022_6158.json");
    let index = AdvisoryIndex::new([alsa.clone()]);
    let php74 = rpm(
        "AlmaLinux:8 module:php:7.4",
        "php-cli",
        "7.4.19-1.module_el8.5.0+2600+12a58c7b",
        "php",
    );
    assert_eq!(
        hits(&index, std::slice::from_ref(&php74)),
        [(
            "php-cli".into(),
            "ALSA-2022:6158".into(),
            Some("7.4.19-4.module_el8.6.0+3238+624bf8b8".into())
        )]
    );
    assert!(keys_meet(&alsa, &php74));
    let php73 = rpm(
        "AlmaLinux:8 module:php:7.3",
        "php-cli",
        "7.3.20-1.module_el8.4.0+2195+5fd5f2c9",
        "php",
    );
    assert!(hits(&index, &[php73]).is_empty());
    let fixed = rpm(
        "AlmaLinux:8 module:php:7.4",
        "php-cli",
        "7.4.19-4.module_el8.6.0+3238+624bf8b8",
        "php",
    );
    assert!(hits(&index, &[fixed]).is_empty());
    let non_module = rpm("AlmaLinux:8", "php-cli", "7.2.24-1.el8", "php");
    assert!(hits(&index, &[non_module]).is_empty());
}

#[test]
fn suse_products_of_one_release() {
    // SUSE files base packages under the module that ships them.
    let adv = record(
        r#"{"id": "TEST-SUSE-1", "modified": "2024-01-01T00:00:00Z",
            "summary": "Security update for openssl-3",
            "affected": [
              {"package": {"ecosystem": "SUSE:Linux Enterprise Module for Basesystem 15 SP5", "name": "libopenssl3",
                           "purl": "pkg:rpm/suse/libopenssl3?distro=sles-15-sp5"},
               "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.8-150500.5.8.1"}]}]},
              {"package": {"ecosystem": "SUSE:Linux Enterprise Server 15 SP4-LTSS", "name": "libopenssl3"},
               "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.1-150400.4.31.1"}]}]},
              {"package": {"ecosystem": "openSUSE:Leap 15.5", "name": "libopenssl3"},
               "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.8-150500.5.8.1"}]}]}
            ]}"#,
    );
    let index = AdvisoryIndex::new([adv.clone()]);
    let sles = rpm(
        "SUSE:Linux Enterprise Server 15 SP5",
        "libopenssl3",
        "3.0.8-150500.5.5.1",
        "openssl-3",
    );
    assert_eq!(
        hits(&index, std::slice::from_ref(&sles)),
        [(
            "libopenssl3".into(),
            "TEST-SUSE-1".into(),
            Some("3.0.8-150500.5.8.1".into())
        )]
    );
    assert!(keys_meet(&adv, &sles));
    let sles_sp4 = rpm(
        "SUSE:Linux Enterprise Server 15 SP4",
        "libopenssl3",
        "3.0.1-150400.4.25.1",
        "openssl-3",
    );
    assert_eq!(hits(&index, &[sles_sp4]).len(), 1, "LTSS names the same release");
    let sp3 = rpm(
        "SUSE:Linux Enterprise Server 15 SP3",
        "libopenssl3",
        "3.0.1-1",
        "openssl-3",
    );
    assert!(hits(&index, &[sp3]).is_empty());
    let leap = rpm("openSUSE:Leap 15.5", "libopenssl3", "3.0.8-150500.5.5.1", "openssl-3");
    assert_eq!(hits(&index, &[leap]).len(), 1);
    let leap_fixed = rpm("openSUSE:Leap 15.5", "libopenssl3", "3.0.8-150500.5.8.1", "openssl-3");
    assert!(hits(&index, &[leap_fixed]).is_empty());
    let tumbleweed = rpm("openSUSE:Tumbleweed", "libopenssl3", "3.0.8-1.1", "openssl-3");
    assert!(hits(&index, &[tumbleweed]).is_empty());
}
