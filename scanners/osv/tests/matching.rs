//! Matching installed packages against real OSV records (tests/fixtures, see SOURCES.md there)
//! and against crafted records for every event kind.

use std::path::Path;

use regscan_osv::{parse_advisory, read_dir, Advisory, AdvisoryIndex, ImportLimits};
use regscan_scanner_api::{Finding, Package, Severity};

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn load(rel: &str) -> Advisory {
    let bytes = std::fs::read(fixtures().join(rel)).unwrap();
    parse_advisory(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn index_of(rels: &[&str]) -> AdvisoryIndex {
    AdvisoryIndex::new(rels.iter().map(|r| load(r)))
}

fn pkg(eco: &str, name: &str, version: &str) -> Package {
    Package {
        ecosystem: eco.into(),
        name: name.into(),
        version: version.into(),
        source_name: None,
        source_version: None,
        path: "lib/apk/db/installed".into(),
        layer: None,
        dev: false,
    }
}

fn os_pkg(eco: &str, name: &str, version: &str, src: &str, src_version: &str) -> Package {
    Package {
        source_name: Some(src.into()),
        source_version: Some(src_version.into()),
        path: "var/lib/dpkg/status".into(),
        ..pkg(eco, name, version)
    }
}

fn one(findings: Vec<Finding>) -> Finding {
    assert_eq!(findings.len(), 1, "{findings:#?}");
    findings.into_iter().next().unwrap()
}

#[test]
fn every_fixture_record_parses() {
    let loaded = read_dir(fixtures(), &ImportLimits::default()).unwrap();
    assert_eq!(
        loaded.len(),
        106,
        "SOURCES.md: 133 records less the 27 of the Rust folder left out"
    );
    for (name, res) in &loaded {
        let adv = res.as_ref().unwrap_or_else(|e| panic!("{name}: {e}"));
        let stem = name.rsplit('/').next().unwrap().trim_end_matches(".json");
        assert_eq!(adv.id, stem, "{name}");
    }
    assert!(loaded.iter().any(|(n, _)| n == "debian/DSA-5474-1.json"));
}

#[test]
fn debian_dsa_matches_by_release_and_reports_fix() {
    let idx = index_of(&["debian/DSA-5474-1.json"]);
    let f = one(idx.match_package(&pkg("Debian:12", "intel-microcode", "3.20230512.1")));
    assert_eq!(f.id, "DSA-5474-1");
    assert_eq!(f.fixed_version.as_deref(), Some("3.20230808.1~deb12u1"));
    assert_eq!(f.severity, Severity::Unknown, "Debian records carry no severity");
    // Fixed version and the Debian 11 fix applied on 12 do not match; 11 has its own fix.
    assert!(idx
        .match_package(&pkg("Debian:12", "intel-microcode", "3.20230808.1~deb12u1"))
        .is_empty());
    let f = one(idx.match_package(&pkg("Debian:11", "intel-microcode", "3.20230512.1~deb11u1")));
    assert_eq!(f.fixed_version.as_deref(), Some("3.20230808.1~deb11u1"));
    assert!(idx.match_package(&pkg("Debian:10", "intel-microcode", "1")).is_empty());
}

#[test]
fn debian_dla_matches_binary_package_by_source() {
    let idx = index_of(&["debian/DLA-3008-1.json"]);
    let p = os_pkg("Debian:9", "libssl1.1", "1.1.0l-1~deb9u5", "openssl", "1.1.0l-1~deb9u5");
    let f = one(idx.match_package(&p));
    assert_eq!(
        f.package.as_deref(),
        Some("libssl1.1"),
        "the installed binary name is reported"
    );
    assert_eq!(f.installed_version.as_deref(), Some("1.1.0l-1~deb9u5"));
    assert_eq!(f.fixed_version.as_deref(), Some("1.1.0l-1~deb9u6"));
    assert_eq!(f.location.as_deref(), Some("var/lib/dpkg/status"));
    assert_eq!(
        f.references[0], "CVE-2022-1292",
        "upstream ids come first: {:?}",
        f.references
    );
    // The binary name alone does not match a source-keyed record.
    assert!(idx
        .match_package(&pkg("Debian:9", "libssl1.1", "1.1.0l-1~deb9u5"))
        .is_empty());
    let fixed = os_pkg("Debian:9", "libssl1.1", "1.1.0l-1~deb9u6", "openssl", "1.1.0l-1~deb9u6");
    assert!(idx.match_package(&fixed).is_empty());
}

#[test]
fn debian_open_ended_cve_with_urgency() {
    let idx = index_of(&["debian/CVE-2024-1013.json"]);
    let f = one(idx.match_package(&pkg("Debian:10", "unixodbc", "2.3.6-0.1")));
    assert_eq!(f.fixed_version, None);
    assert_eq!(f.severity, Severity::Negligible, "urgency unimportant");
}

#[test]
fn ubuntu_usn_and_pro_fallback() {
    let idx = index_of(&[
        "ubuntu/USN-2169-1.json",
        "ubuntu/USN-7018-1.json",
        "ubuntu/UBUNTU-CVE-2025-6297.json",
    ]);
    let f = one(idx.match_package(&pkg("Ubuntu:14.04", "python-django", "1.6.1-2")));
    assert_eq!(f.id, "USN-2169-1");
    assert_eq!(f.fixed_version.as_deref(), Some("1.6.1-2ubuntu0.1"));
    // USN-7018-1 only names Ubuntu Pro 14.04: found through the Pro fallback.
    let p = os_pkg(
        "Ubuntu:14.04",
        "libssl1.0.0",
        "1.0.1f-1ubuntu2.27",
        "openssl",
        "1.0.1f-1ubuntu2.27",
    );
    let f = one(idx.match_package(&p));
    assert_eq!(f.id, "USN-7018-1");
    assert_eq!(f.fixed_version.as_deref(), Some("1.0.1f-1ubuntu2.27+esm10"));
    // A typeless severity entry parses, and the CVSS vector beside it rules.
    let adv = load("ubuntu/UBUNTU-CVE-2025-6297.json");
    assert_eq!(regscan_osv::severity_of(&adv, 0), Severity::High);
}

#[test]
fn pro_stream_is_not_consulted_when_the_release_decides() {
    let adv = parse_advisory(
        br#"{"id":"UBUNTU-CVE-2099-1","modified":"m","affected":[
        {"package":{"ecosystem":"Ubuntu:22.04:LTS","name":"foo"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0-1ubuntu0.1"}]}]},
        {"package":{"ecosystem":"Ubuntu:Pro:22.04:LTS","name":"foo"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0-1ubuntu0.1+esm1"}]}]}]}"#,
    )
    .unwrap();
    let idx = AdvisoryIndex::new([adv]);
    assert!(idx
        .match_package(&pkg("Ubuntu:22.04", "foo", "1.0-1ubuntu0.1"))
        .is_empty());
    let f = one(idx.match_package(&pkg("Ubuntu:22.04", "foo", "1.0-1")));
    assert_eq!(f.fixed_version.as_deref(), Some("1.0-1ubuntu0.1"));
}

#[test]
fn alpine_secdb_records() {
    let idx = index_of(&["alpine/ALPINE-CVE-2025-26519.json", "alpine/CVE-2012-2812.json"]);
    let p = os_pkg(
        "Alpine:v3.19",
        "musl-utils",
        "1.2.4_git20230717-r4",
        "musl",
        "1.2.4_git20230717-r4",
    );
    let f = one(idx.match_package(&p));
    assert_eq!(f.id, "ALPINE-CVE-2025-26519");
    assert_eq!(f.fixed_version.as_deref(), Some("1.2.4_git20230717-r5"));
    assert_eq!(
        f.severity,
        Severity::High,
        "CVSS 3.1 AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:H/A:H = 7.0"
    );
    let p = os_pkg(
        "Alpine:v3.19",
        "musl",
        "1.2.4_git20230717-r5",
        "musl",
        "1.2.4_git20230717-r5",
    );
    assert!(idx.match_package(&p).is_empty());
    // Below `introduced` 0.9.13: not affected.
    assert!(idx.match_package(&pkg("Alpine:v3.19", "musl", "0.9.12-r0")).is_empty());
    let f = one(idx.match_package(&pkg("Alpine:v3.12", "libexif", "0.6.19-r0")));
    assert_eq!(f.fixed_version.as_deref(), Some("0.6.21-r0"));
}

#[test]
fn pypi_records() {
    let idx = index_of(&[
        "pypi/PYSEC-2021-98.json",
        "pypi/PYSEC-2022-42969.json",
        "pypi/PYSEC-2023-74.json",
        "pypi/PYSEC-2024-1.json",
        "pypi/PYSEC-2022-15.json",
    ]);
    let f = one(idx.match_package(&pkg("PyPI", "Django", "3.1.5")));
    assert_eq!(
        (f.id.as_str(), f.fixed_version.as_deref()),
        ("PYSEC-2021-98", Some("3.1.12"))
    );
    assert_eq!(
        one(idx.match_package(&pkg("PyPI", "django", "2.2.0")))
            .fixed_version
            .as_deref(),
        Some("2.2.24")
    );
    assert!(idx.match_package(&pkg("PyPI", "django", "3.2.4")).is_empty());
    assert!(idx.match_package(&pkg("PyPI", "django", "2.2.24")).is_empty());
    // last_affected 1.11.0: 1.11.0 is affected, later is not.
    assert_eq!(one(idx.match_package(&pkg("PyPI", "py", "1.11.0"))).fixed_version, None);
    assert!(idx.match_package(&pkg("PyPI", "py", "1.11.1")).is_empty());
    // GIT range beside an ECOSYSTEM range: the ECOSYSTEM range still matches.
    let f = one(idx.match_package(&pkg("PyPI", "requests", "2.30.0")));
    assert_eq!(f.fixed_version.as_deref(), Some("2.31.0"));
    assert!(
        idx.match_package(&pkg("PyPI", "requests", "2.2.0")).is_empty(),
        "below introduced 2.3.0"
    );
    // versions list only.
    assert_eq!(
        one(idx.match_package(&pkg("PyPI", "gratient", "0.5"))).id,
        "PYSEC-2024-1"
    );
    assert!(idx.match_package(&pkg("PyPI", "gratient", "0.6")).is_empty());
    // No ranges, no versions: never matches.
    assert!(idx.match_package(&pkg("PyPI", "loguru", "0.5.3")).is_empty());
}

#[test]
fn npm_records() {
    let idx = index_of(&[
        "npm/GHSA-c2qf-rxjj-qqgw.json",
        "npm/GHSA-chwr-hf3w-c984.json",
        "npm/GHSA-3h5v-q93c-6h6q.json",
        "npm/MAL-2025-46969.json",
        "npm/GHSA-67hx-6x53-jw92.json",
    ]);
    let f = one(idx.match_package(&pkg("npm", "semver", "6.3.0")));
    assert_eq!(f.fixed_version.as_deref(), Some("6.3.1"));
    assert!(f.references.iter().any(|r| r.starts_with("CVE-")), "{:?}", f.references);
    assert_ne!(f.severity, Severity::Unknown);
    assert_eq!(
        one(idx.match_package(&pkg("npm", "semver", "5.7.1")))
            .fixed_version
            .as_deref(),
        Some("5.7.2")
    );
    assert!(idx.match_package(&pkg("npm", "semver", "7.5.2")).is_empty());
    assert!(idx.match_package(&pkg("npm", "semver", "6.3.1")).is_empty());
    assert_eq!(
        one(idx.match_package(&pkg("npm", "dat.gui", "0.7.7"))).fixed_version,
        None
    );
    assert!(idx.match_package(&pkg("npm", "dat.gui", "0.7.8")).is_empty());
    // Four affected entries for ws: one finding, from the matching one.
    assert_eq!(
        one(idx.match_package(&pkg("npm", "ws", "7.4.0")))
            .fixed_version
            .as_deref(),
        Some("7.5.10")
    );
    assert_eq!(
        one(idx.match_package(&pkg("npm", "chalk", "5.6.1"))).id,
        "MAL-2025-46969"
    );
    assert!(idx.match_package(&pkg("npm", "chalk", "5.6.2")).is_empty());
    // Pre-release ranges.
    let f = one(idx.match_package(&pkg("npm", "@babel/traverse", "8.0.0-alpha.1")));
    assert_eq!(f.fixed_version.as_deref(), Some("8.0.0-alpha.4"));
}

#[test]
fn maven_records() {
    let idx = index_of(&["maven/GHSA-3pxv-7cmr-fjr4.json", "maven/GHSA-h436-432x-8fvx.json"]);
    let log4j = "org.apache.logging.log4j:log4j-core";
    assert_eq!(
        one(idx.match_package(&pkg("Maven", log4j, "2.14.1")))
            .fixed_version
            .as_deref(),
        Some("2.25.4")
    );
    assert!(idx.match_package(&pkg("Maven", log4j, "2.25.4")).is_empty());
    assert_eq!(
        one(idx.match_package(&pkg("Maven", log4j, "3.0.0-beta3"))).fixed_version,
        None
    );
    assert!(
        idx.match_package(&pkg("Maven", log4j, "3.0.0")).is_empty(),
        "above last_affected"
    );
    assert_eq!(
        one(idx.match_package(&pkg("Maven", "io.takari:commons-compress", "1.12"))).id,
        "GHSA-h436-432x-8fvx"
    );
    assert!(idx
        .match_package(&pkg("Maven", "io.takari:commons-compress", "1.13"))
        .is_empty());
}

#[test]
fn go_records() {
    let idx = index_of(&["go/GO-2022-0229.json", "go/GO-2022-0617.json"]);
    let f = one(idx.match_package(&pkg("Go", "stdlib", "go1.13.5")));
    assert_eq!(f.fixed_version.as_deref(), Some("1.13.7"));
    assert_eq!(
        one(idx.match_package(&pkg("Go", "stdlib", "1.12.15")))
            .fixed_version
            .as_deref(),
        Some("1.12.16")
    );
    assert!(idx.match_package(&pkg("Go", "stdlib", "1.12.16")).is_empty());
    assert!(idx.match_package(&pkg("Go", "stdlib", "1.13.7")).is_empty());
    let f = one(idx.match_package(&pkg("Go", "golang.org/x/crypto", "v0.0.0-20191011191535-87dc89f01550")));
    assert_eq!(f.fixed_version.as_deref(), Some("0.0.0-20200124225646-8b5121be2f68"));
    assert!(idx
        .match_package(&pkg("Go", "golang.org/x/crypto", "v0.1.0"))
        .is_empty());
    // GO-2022-0617 is withdrawn.
    assert!(idx.match_package(&pkg("Go", "k8s.io/kubernetes", "v1.20.0")).is_empty());
}

#[test]
fn git_only_records() {
    let advs: Vec<Advisory> = ["git/CVE-2024-51757.json", "git/OSV-2018-389.json"]
        .iter()
        .map(|r| load(r))
        .collect();
    assert!(
        AdvisoryIndex::affected_keys(&advs[0]).is_empty(),
        "no package: nothing to key"
    );
    let idx = AdvisoryIndex::new(advs);
    assert_eq!(idx.len(), 2);
    // OSS-Fuzz has only GIT ranges; its versions list still matches exactly.
    assert_eq!(
        one(idx.match_package(&pkg("OSS-Fuzz", "boost", "boost-1.67.0"))).id,
        "OSV-2018-389"
    );
    assert!(idx
        .match_package(&pkg("OSS-Fuzz", "boost", "c47cf1cf5ae18d4bd98f6376ab2949785a5d0cc2"))
        .is_empty());
}

fn crafted(ecosystem: &str, ranges: &str, versions: &str) -> Advisory {
    let json = format!(
        r#"{{"id":"TEST-1","modified":"2024-01-01T00:00:00Z","summary":"crafted","aliases":["CVE-0000-0001"],
        "references":[{{"type":"WEB","url":"https://example.invalid/a"}}],
        "affected":[{{"package":{{"ecosystem":"{ecosystem}","name":"pkg"}},"ranges":{ranges},"versions":{versions}}}]}}"#
    );
    parse_advisory(json.as_bytes()).unwrap()
}

fn matches(adv: &Advisory, eco: &str, version: &str) -> Option<Option<String>> {
    let idx = AdvisoryIndex::new([adv.clone()]);
    let found = idx.match_package(&pkg(eco, "pkg", version));
    assert!(found.len() <= 1);
    found.into_iter().next().map(|f| f.fixed_version)
}

#[test]
fn crafted_introduced_zero_and_fixed() {
    let a = crafted(
        "npm",
        r#"[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.2"}]}]"#,
        "[]",
    );
    assert_eq!(matches(&a, "npm", "0.0.1"), Some(Some("1.0.2".into())));
    assert_eq!(matches(&a, "npm", "1.0.2-rc.1"), Some(Some("1.0.2".into())));
    assert_eq!(matches(&a, "npm", "1.0.2"), None);
    assert_eq!(matches(&a, "npm", "2.0.0"), None);
    let a = crafted("npm", r#"[{"type":"SEMVER","events":[{"introduced":"0"}]}]"#, "[]");
    assert_eq!(matches(&a, "npm", "99.0.0"), Some(None), "unfixed: every version");
}

#[test]
fn crafted_last_affected() {
    let a = crafted(
        "PyPI",
        r#"[{"type":"ECOSYSTEM","events":[{"introduced":"1.0"},{"last_affected":"1.4"}]}]"#,
        "[]",
    );
    assert_eq!(matches(&a, "PyPI", "0.9"), None);
    assert_eq!(matches(&a, "PyPI", "1.0"), Some(None));
    assert_eq!(matches(&a, "PyPI", "1.4"), Some(None));
    assert_eq!(matches(&a, "PyPI", "1.4.post1"), None);
}

#[test]
fn crafted_limit() {
    let a = crafted(
        "Go",
        r#"[{"type":"SEMVER","events":[{"introduced":"0"},{"limit":"2.0.0"}]}]"#,
        "[]",
    );
    assert_eq!(matches(&a, "Go", "v1.9.9"), Some(None));
    assert_eq!(matches(&a, "Go", "v2.0.0"), None);
    assert_eq!(matches(&a, "Go", "v3.0.0"), None);
    let a = crafted(
        "Go",
        r#"[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"limit":"*"}]}]"#,
        "[]",
    );
    assert_eq!(matches(&a, "Go", "v9.0.0"), Some(None), "limit * is infinity");
    // Two limits: below either counts.
    let a = crafted(
        "Go",
        r#"[{"type":"SEMVER","events":[{"introduced":"0"},{"limit":"1.0.0"},{"limit":"3.0.0"}]}]"#,
        "[]",
    );
    assert_eq!(matches(&a, "Go", "v2.0.0"), Some(None));
    assert_eq!(matches(&a, "Go", "v3.0.0"), None);
}

#[test]
fn crafted_multiple_ranges_and_pairs_unsorted() {
    let a = crafted(
        "Debian:12",
        r#"[{"type":"ECOSYSTEM","events":[{"fixed":"3.2.5-1"},{"introduced":"3.0.0-1"},{"fixed":"1.0.2-1"},{"introduced":"1.0.0-1"}]},
            {"type":"ECOSYSTEM","events":[{"introduced":"5.0-1"},{"fixed":"5.1-1"}]}]"#,
        "[]",
    );
    assert_eq!(matches(&a, "Debian:12", "0.9-1"), None);
    assert_eq!(matches(&a, "Debian:12", "1.0.1-1"), Some(Some("1.0.2-1".into())));
    assert_eq!(matches(&a, "Debian:12", "2.0-1"), None);
    assert_eq!(matches(&a, "Debian:12", "3.1-1"), Some(Some("3.2.5-1".into())));
    assert_eq!(matches(&a, "Debian:12", "3.2.5-1"), None);
    assert_eq!(matches(&a, "Debian:12", "5.0-3"), Some(Some("5.1-1".into())));
}

#[test]
fn crafted_versions_list_and_git_beside_ecosystem() {
    let a = crafted(
        "PyPI",
        r#"[{"type":"GIT","repo":"https://example.invalid/r.git","events":[{"introduced":"0"},{"fixed":"abcdef"}]},
            {"type":"ECOSYSTEM","events":[{"introduced":"2.0"},{"fixed":"2.2"}]}]"#,
        r#"["1.5", "weird-tag"]"#,
    );
    assert_eq!(
        matches(&a, "PyPI", "1.5"),
        Some(Some("2.2".into())),
        "listed version; fix from the range"
    );
    assert_eq!(matches(&a, "PyPI", "2.1"), Some(Some("2.2".into())));
    assert_eq!(
        matches(&a, "PyPI", "1.6"),
        None,
        "the GIT range does not make everything affected"
    );
    assert_eq!(
        matches(&a, "PyPI", "weird-tag"),
        Some(None),
        "exact match even when unparseable"
    );
}

#[test]
fn crafted_withdrawn_never_matches() {
    let mut a = crafted(
        "npm",
        r#"[{"type":"SEMVER","events":[{"introduced":"0"}]}]"#,
        r#"["1.0.0"]"#,
    );
    assert!(matches(&a, "npm", "1.0.0").is_some());
    a.withdrawn = Some("2024-02-01T00:00:00Z".into());
    assert_eq!(matches(&a, "npm", "1.0.0"), None);
}

#[test]
fn finding_shape() {
    let a = crafted(
        "npm",
        r#"[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]"#,
        "[]",
    );
    let idx = AdvisoryIndex::new([a]);
    let f = one(idx.match_package(&pkg("npm", "pkg", "0.1.0")));
    assert_eq!(f.id, "TEST-1");
    assert_eq!(f.title, "crafted");
    assert_eq!(f.package.as_deref(), Some("pkg"));
    assert_eq!(f.installed_version.as_deref(), Some("0.1.0"));
    assert_eq!(f.location.as_deref(), Some("lib/apk/db/installed"));
    assert_eq!(f.references, ["CVE-0000-0001", "https://example.invalid/a"]);
}

#[test]
fn match_packages_is_sorted_and_deterministic() {
    let idx = index_of(&[
        "npm/GHSA-c2qf-rxjj-qqgw.json",
        "npm/GHSA-xvch-5gv4-984h.json",
        "pypi/PYSEC-2021-98.json",
    ]);
    let pkgs = vec![
        pkg("npm", "semver", "6.0.0"),
        pkg("PyPI", "django", "3.0"),
        pkg("npm", "minimist", "1.2.0"),
        pkg("npm", "semver", "6.0.0"), // duplicate entry: one finding
        pkg("npm", "left-pad", "1.0.0"),
    ];
    let a = idx.match_packages(&pkgs);
    let mut rev = pkgs.clone();
    rev.reverse();
    let b = idx.match_packages(&rev);
    assert_eq!(a, b);
    let names: Vec<&str> = a.iter().map(|f| f.package.as_deref().unwrap()).collect();
    assert_eq!(names, ["django", "minimist", "semver"]);
}

#[test]
fn affected_keys_are_normalised() {
    let adv = load("ubuntu/USN-2169-1.json");
    assert_eq!(
        AdvisoryIndex::affected_keys(&adv),
        [("Ubuntu:14.04".to_string(), "python-django".to_string())]
    );
    let adv = load("npm/GHSA-2pqj-h3vj-pqgw.json");
    let keys = AdvisoryIndex::affected_keys(&adv);
    assert!(keys.contains(&("npm".into(), "jquery".into())));
    assert!(keys.contains(&("NuGet".into(), "jquery".into())), "{keys:?}");
}

#[test]
fn development_only_dependencies_are_inventoried_not_matched() {
    let idx = index_of(&["npm/GHSA-c2qf-rxjj-qqgw.json"]);
    let runtime = pkg("npm", "semver", "6.3.0");
    let dev = Package {
        dev: true,
        path: "app/package-lock.json".into(),
        ..runtime.clone()
    };
    let found = idx.match_packages(&[runtime.clone(), dev.clone()]);
    assert_eq!(one(found).location.as_deref(), Some(runtime.path.as_str()));
    assert!(idx.match_packages(&[dev]).is_empty());
}

/// NuGet: the shape of GitHub's record GHSA-5crp-9r3c-p9vr (Newtonsoft.Json before 13.0.1,
/// an `ECOSYSTEM` range), matched by NuGet ordering — four release numbers, case-insensitive
/// package ids and pre-release labels — against what a `packages.lock.json` or `*.deps.json`
/// records.
#[test]
fn nuget_ecosystem_ranges_use_nuget_ordering() {
    let json = r#"{"id":"GHSA-5crp-9r3c-p9vr","modified":"2023-01-30T05:02:24Z","published":"2022-06-22T15:08:47Z",
        "aliases":["CVE-2024-21907"],"summary":"Improper Handling of Exceptional Conditions in Newtonsoft.Json",
        "affected":[{"package":{"ecosystem":"NuGet","name":"Newtonsoft.Json","purl":"pkg:nuget/Newtonsoft.Json"},
          "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"13.0.1"}]}]}],
        "database_specific":{"severity":"HIGH","cwe_ids":["CWE-755"],"github_reviewed":true}}"#;
    let idx = AdvisoryIndex::new([parse_advisory(json.as_bytes()).unwrap()]);
    let hit = |name: &str, version: &str| {
        idx.match_package(&pkg("NuGet", name, version))
            .into_iter()
            .map(|f| (f.id, f.fixed_version))
            .collect::<Vec<_>>()
    };
    let fixed = vec![("GHSA-5crp-9r3c-p9vr".to_owned(), Some("13.0.1".to_owned()))];
    assert_eq!(hit("Newtonsoft.Json", "12.0.3"), fixed);
    assert_eq!(
        hit("newtonsoft.json", "9.0.1"),
        fixed,
        "package ids are case-insensitive"
    );
    assert_eq!(
        hit("Newtonsoft.Json", "13.0.1-beta1"),
        fixed,
        "a pre-release of the fix is before it"
    );
    assert_eq!(hit("Newtonsoft.Json", "13.0.0.1"), fixed, "a fourth number counts");
    assert!(hit("Newtonsoft.Json", "13.0.1").is_empty());
    assert!(hit("Newtonsoft.Json", "13.0.1.0").is_empty(), "13.0.1.0 is 13.0.1");
    assert!(hit("Newtonsoft.Json", "13.0.3").is_empty());
}
