//! Version orderings checked against the test vectors their reference implementations publish.
//! Each table names its source; the vectors are facts (pairs and expected results), restated.

use std::cmp::Ordering::{self, Equal, Greater, Less};

use regscan_osv::compare_versions;
use regscan_osv::version::{apk, dpkg, gem, maven, rpm};

fn ord(n: i32) -> Ordering {
    n.cmp(&0)
}

fn check_pairs(eco: &str, f: impl Fn(&str, &str) -> Option<Ordering>, pairs: &[(&str, &str, i32)]) {
    let mut failures = Vec::new();
    for &(a, b, want) in pairs {
        let got = f(a, b);
        if got != Some(ord(want)) {
            failures.push(format!("{eco}: {a} vs {b}: want {:?}, got {got:?}", ord(want)));
        }
        let rev = f(b, a);
        if rev != Some(ord(want).reverse()) {
            failures.push(format!(
                "{eco}: {b} vs {a} (reversed): want {:?}, got {rev:?}",
                ord(want).reverse()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every element strictly less than the ones after it.
fn check_ascending(eco: &str, list: &[&str]) {
    let mut failures = Vec::new();
    for (i, a) in list.iter().enumerate() {
        for b in &list[i + 1..] {
            if compare_versions(eco, a, b) != Some(Less) {
                failures.push(format!("{eco}: {a} < {b}, got {:?}", compare_versions(eco, a, b)));
            }
            if compare_versions(eco, b, a) != Some(Greater) {
                failures.push(format!("{eco}: {b} > {a}, got {:?}", compare_versions(eco, b, a)));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// APT's `test/libapt/compareversion_test.cc` (dpkg semantics), plus Debian Policy §5.6.12.
#[test]
fn dpkg_apt_vectors() {
    let pairs = [
        ("7.6p2-4", "7.6-0", 1),
        ("1.0.3-3", "1.0-1", 1),
        ("1.3", "1.2.2-2", 1),
        ("1.3", "1.2.2", 1),
        ("0-pre", "0-pre", 0),
        ("0-pre", "0-pree", -1),
        ("1.1.6r2-2", "1.1.6r-1", 1),
        ("2.6b2-1", "2.6b-2", 1),
        ("98.1p5-1", "98.1-pre2-b6-2", -1),
        ("0.4a6-2", "0.4-1", 1),
        ("1:3.0.5-2", "1:3.0.5.1", -1),
        ("10.3", "1:0.4", -1),
        ("1:1.25-4", "1:1.25-8", -1),
        ("0:1.18.36", "1.18.36", 0),
        ("1.18.36", "1.18.35", 1),
        ("0:1.18.36", "1.18.35", 1),
        ("9:1.18.36:5.4-20", "10:0.5.1-22", -1),
        ("9:1.18.36:5.4-20", "9:1.18.36:5.5-1", -1),
        ("1.18.36-0.17.35-18", "1.18.36-19", 1),
        ("1:1.2.13-3", "1:1.2.13-3.1", -1),
        ("2.0.7pre1-4", "2.0.7r-1", -1),
        ("0", "0", 0),
        ("0", "00", 0),
        ("1.2.3", "1.2.3", 0),
        ("4.4.3-2", "4.4.3-2", 0),
        ("1:2ab:5", "1:2ab:5", 0),
        ("7:1-a:b-5", "7:1-a:b-5", 0),
        ("57:1.2.3abYZ+~-4-5", "57:1.2.3abYZ+~-4-5", 0),
        ("1.2.3", "0:1.2.3", 0),
        ("1.2.3", "1.2.3-0", 0),
        ("009", "9", 0),
        ("009ab5", "9ab5", 0),
        ("1.2.3", "1.2.3-1", -1),
        ("1.2.3", "1.2.4", -1),
        ("1.2.4", "1.2.3", 1),
        ("1.2.24", "1.2.3", 1),
        ("0.10.0", "0.8.7", 1),
        ("3.2", "2.3", 1),
        ("1.3.2a", "1.3.2", 1),
        ("0.5.0~git", "0.5.0~git2", -1),
        ("2a", "21", -1),
        ("1.3.2a", "1.3.2b", -1),
        ("1:1.2.3", "1.2.4", 1),
        ("1:1.2.3", "1:1.2.4", -1),
        ("1.2a+~bCd3", "1.2a++", -1),
        ("1.2a+~bCd3", "1.2a+~", 1),
        ("5:2", "304-2", 1),
        ("5:2", "304:2", -1),
        ("25:2", "3:2", 1),
        ("1:2:123", "1:12:3", -1),
        ("2.4.7-1", "2.4.7-z", -1),
        ("1.002-1+b2", "1.00", 1),
        // Debian Policy: "~~" < "~~a" < "~" < "" < "a"
        ("1~~", "1~~a", -1),
        ("1~~a", "1~", -1),
        ("1~", "1", -1),
        ("1", "1a", -1),
        // Real Debian security versions.
        ("2.36-9+deb12u1", "2.36-9+deb12u3", -1),
        ("1.1.1n-0+deb11u5", "1.1.1n-0+deb11u4", 1),
        ("3.0.11-1~deb12u2", "3.0.11-1", -1),
    ];
    check_pairs("dpkg", dpkg::compare, &pairs);
    check_pairs("Debian", |a, b| compare_versions("Debian:12", a, b), &pairs);
}

/// rpm's `tests/rpmvercmp.at` (every active case, including `~` and `^`).
#[test]
fn rpm_rpmvercmp_vectors() {
    let pairs = [
        ("1.0", "1.0", 0),
        ("1.0", "2.0", -1),
        ("2.0", "1.0", 1),
        ("2.0.1", "2.0.1", 0),
        ("2.0", "2.0.1", -1),
        ("2.0.1", "2.0", 1),
        ("2.0.1a", "2.0.1a", 0),
        ("2.0.1a", "2.0.1", 1),
        ("2.0.1", "2.0.1a", -1),
        ("5.5p1", "5.5p1", 0),
        ("5.5p1", "5.5p2", -1),
        ("5.5p2", "5.5p1", 1),
        ("5.5p10", "5.5p10", 0),
        ("5.5p1", "5.5p10", -1),
        ("5.5p10", "5.5p1", 1),
        ("10xyz", "10.1xyz", -1),
        ("10.1xyz", "10xyz", 1),
        ("xyz10", "xyz10", 0),
        ("xyz10", "xyz10.1", -1),
        ("xyz10.1", "xyz10", 1),
        ("xyz.4", "xyz.4", 0),
        ("xyz.4", "8", -1),
        ("8", "xyz.4", 1),
        ("xyz.4", "2", -1),
        ("2", "xyz.4", 1),
        ("5.5p2", "5.6p1", -1),
        ("5.6p1", "5.5p2", 1),
        ("5.6p1", "6.5p1", -1),
        ("6.5p1", "5.6p1", 1),
        ("6.0.rc1", "6.0", 1),
        ("6.0", "6.0.rc1", -1),
        ("10b2", "10a1", 1),
        ("10a2", "10b2", -1),
        ("1.0aa", "1.0aa", 0),
        ("1.0a", "1.0aa", -1),
        ("1.0aa", "1.0a", 1),
        ("10.0001", "10.0001", 0),
        ("10.0001", "10.1", 0),
        ("10.1", "10.0001", 0),
        ("10.0001", "10.0039", -1),
        ("10.0039", "10.0001", 1),
        ("4.999.9", "5.0", -1),
        ("5.0", "4.999.9", 1),
        ("20101121", "20101121", 0),
        ("20101121", "20101122", -1),
        ("20101122", "20101121", 1),
        ("2_0", "2_0", 0),
        ("2.0", "2_0", 0),
        ("2_0", "2.0", 0),
        ("a", "a", 0),
        ("a+", "a+", 0),
        ("a+", "a_", 0),
        ("a_", "a+", 0),
        ("+a", "+a", 0),
        ("+a", "_a", 0),
        ("_a", "+a", 0),
        ("+_", "+_", 0),
        ("_+", "+_", 0),
        ("_+", "_+", 0),
        ("+", "_", 0),
        ("_", "+", 0),
        ("1.0~rc1", "1.0~rc1", 0),
        ("1.0~rc1", "1.0", -1),
        ("1.0", "1.0~rc1", 1),
        ("1.0~rc1", "1.0~rc2", -1),
        ("1.0~rc2", "1.0~rc1", 1),
        ("1.0~rc1~git123", "1.0~rc1~git123", 0),
        ("1.0~rc1~git123", "1.0~rc1", -1),
        ("1.0~rc1", "1.0~rc1~git123", 1),
        // Caret cases (rpm >= 4.15; rpmvercmp.at of that release).
        ("1.0^", "1.0^", 0),
        ("1.0^", "1.0", 1),
        ("1.0", "1.0^", -1),
        ("1.0^git1", "1.0^git1", 0),
        ("1.0^git1", "1.0", 1),
        ("1.0", "1.0^git1", -1),
        ("1.0^git1", "1.0^git2", -1),
        ("1.0^git2", "1.0^git1", 1),
        ("1.0^git1", "1.01", -1),
        ("1.01", "1.0^git1", 1),
        ("1.0^20160101", "1.0^20160101", 0),
        ("1.0^20160101", "1.0.1", -1),
        ("1.0.1", "1.0^20160101", 1),
        ("1.0^20160101^git1", "1.0^20160101^git1", 0),
        ("1.0^20160102", "1.0^20160101^git1", 1),
        ("1.0^20160101^git1", "1.0^20160102", -1),
        ("1.0~rc1^git1", "1.0~rc1^git1", 0),
        ("1.0~rc1^git1", "1.0~rc1", 1),
        ("1.0~rc1", "1.0~rc1^git1", -1),
        ("1.0^git1~pre", "1.0^git1~pre", 0),
        ("1.0^git1", "1.0^git1~pre", 1),
        ("1.0^git1~pre", "1.0^git1", -1),
    ];
    let f = |a: &str, b: &str| Some(rpm::rpmvercmp(a, b));
    check_pairs("rpmvercmp", f, &pairs);
    // Through EVR parsing and the ecosystem dispatch (no `-` or `:` in these versions).
    check_pairs(
        "Red Hat",
        |a, b| compare_versions("Red Hat:enterprise_linux:9", a, b),
        &pairs,
    );
}

/// apk-tools `test/version.data` (2.x): every line `a OP b`. Lines with a version apk does not
/// accept (`1.0bc`, `23_foo`) are checked with the raw comparison, as apk's own test does.
#[test]
fn apk_version_data() {
    let data = include_str!("fixtures/apk-version.data");
    let mut n = 0;
    let mut failures = Vec::new();
    for line in data.lines() {
        let body = line.split('#').next().unwrap_or("").trim();
        if body.is_empty() {
            continue;
        }
        let mut it = body.split_whitespace();
        let (a, op, b) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        // apk's test compares invalid versions too (`23_foo`, `1.0bc`); so does compare_raw.
        let invalid = !apk::is_valid(a) || !apk::is_valid(b);
        let want = match op {
            "<" => Less,
            ">" => Greater,
            "=" => Equal,
            other => panic!("bad op {other}"),
        };
        let got = if invalid {
            Some(apk::compare_raw(a, b))
        } else {
            apk::compare(a, b)
        };
        if got != Some(want) {
            failures.push(format!("{a} {op} {b}: got {got:?}"));
        }
        if !invalid && compare_versions("Alpine:v3.19", b, a) != Some(want.reverse()) {
            failures.push(format!("{b} vs {a} reversed"));
        }
        n += 1;
    }
    assert!(n > 400, "only {n} vectors read");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Maven's `ComparableVersionTest` (maven-artifact): VERSIONS_QUALIFIER and VERSIONS_NUMBER are
/// strictly ascending; the equality cases of `testVersionsEqual`.
#[test]
fn maven_comparable_version_vectors() {
    check_ascending(
        "Maven",
        &[
            "1-alpha2snapshot",
            "1-alpha2",
            "1-alpha-123",
            "1-beta-2",
            "1-beta123",
            "1-m2",
            "1-m11",
            "1-rc",
            "1-cr2",
            "1-rc123",
            "1-SNAPSHOT",
            "1",
            "1-sp",
            "1-sp2",
            "1-sp123",
            "1-abc",
            "1-def",
            "1-pom-1",
            "1-1-snapshot",
            "1-1",
            "1-2",
            "1-123",
        ],
    );
    check_ascending(
        "Maven",
        &[
            "2.0", "2-1", "2.0.a", "2.0.0.a", "2.0.2", "2.0.123", "2.1.0", "2.1-a", "2.1b", "2.1-c", "2.1-1",
            "2.1.0.1", "2.2", "2.123", "11.a2", "11.a11", "11.b2", "11.b11", "11.m2", "11.m11", "11", "11.a", "11b",
            "11c", "11m",
        ],
    );
    let equal = [
        ("1", "1"),
        ("1", "1.0"),
        ("1", "1.0.0"),
        ("1.0", "1.0.0"),
        ("1", "1-0"),
        ("1", "1.0-0"),
        ("1.0", "1.0-0"),
        ("1a", "1-a"),
        ("1a", "1.0-a"),
        ("1a", "1.0.0-a"),
        ("1.0a", "1-a"),
        ("1.0.0a", "1-a"),
        ("1x", "1-x"),
        ("1x", "1.0-x"),
        ("1x", "1.0.0-x"),
        ("1.0x", "1-x"),
        ("1.0.0x", "1-x"),
        ("1ga", "1"),
        ("1release", "1"),
        ("1final", "1"),
        ("1cr", "1rc"),
        ("1a1", "1-alpha-1"),
        ("1b2", "1-beta-2"),
        ("1m3", "1-milestone-3"),
        ("1X", "1x"),
        ("1A", "1a"),
        ("1B", "1b"),
        ("1M", "1m"),
        ("1Ga", "1"),
        ("1GA", "1"),
        ("1RELEASE", "1"),
        ("1Final", "1"),
        ("1CR", "1rc"),
        ("1A1", "1-alpha-1"),
        ("1B2", "1-beta-2"),
        ("1M3", "1-milestone-3"),
    ];
    let pairs: Vec<(&str, &str, i32)> = equal.iter().map(|&(a, b)| (a, b, 0)).collect();
    check_pairs("Maven", maven::compare, &pairs);
    // Real Maven versions from the fixtures (log4j, jackson).
    check_pairs(
        "Maven",
        maven::compare,
        &[
            ("2.17.1", "2.17.0", 1),
            ("2.0-beta9", "2.0", -1),
            ("2.0-rc1", "2.0-beta9", 1),
            ("2.12.7.1", "2.12.7", 1),
        ],
    );
}

/// RubyGems `test/rubygems/test_gem_version.rb` (`test_spaceship` and friends).
#[test]
fn rubygems_vectors() {
    check_pairs(
        "RubyGems",
        gem::compare,
        &[
            ("1.0", "1.0.0", 0),
            ("1.0", "1.0.a", 1),
            ("1.8.2", "0.0.0", 1),
            ("1.8.2", "1.8.2.a", 1),
            ("1.8.2.b", "1.8.2.a", 1),
            ("1.8.2.a", "1.8.2", -1),
            ("1.8.2.a10", "1.8.2.a9", 1),
            ("0.beta.1", "0.0.beta.1", 0),
            ("0.0.beta", "0.0.beta.1", -1),
            ("0.0.beta", "0.beta.1", -1),
            ("5.a", "5.0.0.rc2", -1),
            ("5.x", "5.0.0.rc2", 1),
            ("1.2.3-1", "1.2.3.pre.1", 0),
            ("1.9.3", "1.9.3.0", 0),
            ("9.8.7", "1.2.3", 1),
            ("1.0.0.rc1", "1.0.0", -1),
            ("6.1.7.7", "6.1.7.10", -1),
        ],
    );
}

/// PyPA `packaging` `tests/test_version.py`: the VERSIONS list is strictly ascending.
#[test]
fn pep440_packaging_vectors() {
    let base = [
        "1.0.dev456",
        "1.0a1",
        "1.0a2.dev456",
        "1.0a12.dev456",
        "1.0a12",
        "1.0b1.dev456",
        "1.0b2",
        "1.0b2.post345.dev456",
        "1.0b2.post345",
        "1.0b2-346",
        "1.0c1.dev456",
        "1.0c1",
        "1.0rc2",
        "1.0c3",
        "1.0",
        "1.0.post456.dev34",
        "1.0.post456",
        "1.1.dev1",
        "1.2+123abc",
        "1.2+123abc456",
        "1.2+abc",
        "1.2+abc123",
        "1.2+abc123def",
        "1.2+1234.abc",
        "1.2+123456",
        "1.2.r32+123456",
        "1.2.rev33+123456",
    ];
    let mut all: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    all.extend(base.iter().map(|s| format!("1!{s}")));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    check_ascending("PyPI", &refs);
    let pairs = [
        ("1.0", "1.0.0", 0),
        ("1.0RC1", "1.0rc1", 0),
        ("v1.0", "1.0", 0),
        ("1.0-post1", "1.0.post1", 0),
    ];
    check_pairs("PyPI", |a, b| compare_versions("PyPI", a, b), &pairs);
}

/// SemVer 2.0.0 §11 precedence example; npm and crates.io use it.
#[test]
fn semver_spec_vectors() {
    let list = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "2.0.0",
        "2.1.0",
        "2.1.1",
    ];
    check_ascending("npm", &list);
    check_ascending("crates.io", &list);
    check_pairs(
        "npm",
        |a, b| compare_versions("npm", a, b),
        &[("1.0.0+build.5", "1.0.0", 0), ("v1.2.3", "1.2.3", 0)],
    );
}

/// Go Modules Reference ("Pseudo-versions", "Major version suffixes"): a pseudo-version sorts
/// after its base version's pre-releases and before the next release; `+incompatible` is build
/// metadata.
#[test]
fn go_module_vectors() {
    check_ascending(
        "Go",
        &[
            "v0.0.0-20170915032832-14c0d48ead0c",
            "v0.0.0-20191109021931-daa7c04131f5",
            "v1.0.0-rc.1",
            "v1.0.0-rc.1.0.20200101000000-abcdefabcdef",
            "v1.0.0",
            "v1.0.1-0.20200101000000-abcdefabcdef",
            "v1.0.1",
            "v2.0.0+incompatible",
            "v2.1.0",
        ],
    );
    check_pairs(
        "Go",
        |a, b| compare_versions("Go", a, b),
        &[
            ("v2.0.0+incompatible", "2.0.0", 0),
            ("go1.21.3", "1.21.3", 0),
            ("go1.22rc1", "1.22.0-rc.1", 0),
            ("1.21.0-0", "1.21.0", -1),
        ],
    );
}

/// PHP `version_compare` special forms (php-src `ext/standard/versioning.c` order table and the
/// manual), under Composer's normalisation (numeric part padded to four components).
#[test]
fn packagist_vectors() {
    check_ascending(
        "Packagist",
        &[
            "1.0.0-dev",
            "1.0.0-alpha1",
            "1.0.0-beta1",
            "1.0.0-beta2",
            "1.0.0-RC1",
            "1.0.0",
            "1.0.0-pl1",
            "1.0.1",
            "1.1",
            "v2.0",
        ],
    );
    check_pairs(
        "Packagist",
        |a, b| compare_versions("Packagist", a, b),
        &[
            ("1.0", "1.0.0", 0),
            ("1.0.0-a1", "1.0.0-alpha1", 0),
            ("1.0.0-b2", "1.0.0-beta2", 0),
            ("1.0.0-p1", "1.0.0-pl1", 0),
            ("5.2.17", "5.2.9", 1),
            ("10.0.0", "9.9.9", 1),
            ("4.4.0-beta", "4.4.0", -1),
        ],
    );
}
