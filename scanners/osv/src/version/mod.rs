//! Version ordering per ecosystem.
//!
//! [`compare_versions`] picks the ordering from the ecosystem ([`crate::ecosystem::family`]) and
//! returns `None` when either version is not valid in it, so that callers can tell "not
//! comparable" from "older". Each ordering lives in its own module and is tested against the
//! test vectors its reference implementation publishes (see `tests/version_vectors.rs`).

use std::cmp::Ordering;

use crate::ecosystem::{family, Family};

pub mod apk;
pub mod composer;
pub mod dpkg;
pub mod gem;
pub mod maven;
pub mod nuget;
pub mod rpm;

/// Compare two versions under the ordering of `ecosystem`. `None`: either version is not valid
/// in that ordering, or the ecosystem has no known ordering.
pub fn compare_versions(ecosystem: &str, a: &str, b: &str) -> Option<Ordering> {
    compare_in(family(ecosystem), a, b)
}

/// Compare two versions under a known [`Family`].
pub fn compare_in(family: Family, a: &str, b: &str) -> Option<Ordering> {
    match family {
        Family::Dpkg => dpkg::compare(a, b),
        Family::Rpm => rpm::compare_evr(a, b),
        Family::Apk => apk::compare(a, b),
        Family::Pep440 => compare_pep440(a, b),
        Family::Semver => compare_semver(a, b),
        Family::Go => compare_go(a, b),
        Family::Maven => maven::compare(a, b),
        Family::Gem => gem::compare(a, b),
        Family::Composer => composer::compare(a, b),
        Family::NuGet => nuget::compare(a, b),
        Family::Unknown => None,
    }
}

/// PEP 440 ordering (via `pep440_rs`), accepting the non-normalised spellings PEP 440 allows
/// (`1.0RC1`, `v1.0`, `1.0-post1`).
pub fn compare_pep440(a: &str, b: &str) -> Option<Ordering> {
    let a: pep440_rs::Version = a.trim().parse().ok()?;
    let b: pep440_rs::Version = b.trim().parse().ok()?;
    Some(a.cmp(&b))
}

/// Parse a SemVer 2.0 version leniently: a leading `v`/`V` is dropped and a missing minor or
/// patch number is taken as 0 (`1.2` → `1.2.0`).
pub fn parse_semver(s: &str) -> Option<semver::Version> {
    let s = s.trim();
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    if let Ok(v) = semver::Version::parse(s) {
        return Some(v);
    }
    // Pad the core (before any `-` or `+`) to three numbers.
    let split = s.find(['-', '+']).unwrap_or(s.len());
    let (core, tail) = s.split_at(split);
    let dots = core.matches('.').count();
    if dots >= 2
        || core.is_empty()
        || !core
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let padded = format!("{core}{}{tail}", ".0".repeat(2 - dots));
    semver::Version::parse(&padded).ok()
}

/// SemVer 2.0 precedence (build metadata ignored), lenient as [`parse_semver`].
pub fn compare_semver(a: &str, b: &str) -> Option<Ordering> {
    Some(parse_semver(a)?.cmp_precedence(&parse_semver(b)?))
}

/// Go module version ordering: SemVer precedence with the `v` prefix, so pseudo-versions
/// (`v0.0.0-20200124225646-8b5121be2f68`) sort as the pre-releases they are and
/// `+incompatible` is ignored. Go toolchain spellings (`go1.21.3`, `go1.21rc2`, `go1.21`) are
/// read as the SemVer the Go vulnerability database uses (`1.21.3`, `1.21.0-rc.2`, `1.21.0`).
pub fn compare_go(a: &str, b: &str) -> Option<Ordering> {
    Some(parse_go(a)?.cmp_precedence(&parse_go(b)?))
}

fn parse_go(s: &str) -> Option<semver::Version> {
    let s = s.trim();
    match s.strip_prefix("go") {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => parse_go_toolchain(rest),
        _ => parse_semver(s),
    }
}

/// `1.21rc2` → `1.21.0-rc.2`, `1.9beta1` → `1.9.0-beta.1`, `1.21.3` → `1.21.3`.
fn parse_go_toolchain(s: &str) -> Option<semver::Version> {
    let pre_at = s.find(|c: char| c.is_ascii_alphabetic());
    let (core, pre) = match pre_at {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let mut v = parse_semver(core)?;
    if !pre.is_empty() {
        let digits = pre.find(|c: char| c.is_ascii_digit()).unwrap_or(pre.len());
        let (word, num) = pre.split_at(digits);
        let id = if num.is_empty() {
            word.to_owned()
        } else {
            format!("{word}.{num}")
        };
        v.pre = semver::Prerelease::new(&id).ok()?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn semver_lenient() {
        assert_eq!(compare_semver("v1.2.3", "1.2.3"), Some(Equal));
        assert_eq!(compare_semver("1.2", "1.2.0"), Some(Equal));
        assert_eq!(compare_semver("1.0.0+build.1", "1.0.0+build.2"), Some(Equal));
        assert_eq!(compare_semver("1.0.0-rc.1", "1.0.0"), Some(Less));
        assert_eq!(compare_semver("not a version", "1.0.0"), None);
        assert_eq!(compare_semver("1..2", "1.0.0"), None);
    }

    #[test]
    fn go_versions() {
        assert_eq!(
            compare_go(
                "v0.0.0-20200124225646-8b5121be2f68",
                "v0.0.0-20190101000000-aaaaaaaaaaaa"
            ),
            Some(Greater)
        );
        assert_eq!(compare_go("v0.0.0-20200124225646-8b5121be2f68", "0.1.0"), Some(Less));
        assert_eq!(compare_go("v2.0.0+incompatible", "2.0.0"), Some(Equal));
        assert_eq!(compare_go("go1.21rc2", "1.21.0-rc.2"), Some(Equal));
        assert_eq!(compare_go("go1.21rc2", "1.21.0"), Some(Less));
        assert_eq!(compare_go("go1.21", "1.21.0"), Some(Equal));
        assert_eq!(compare_go("go1.20.14", "1.21.0-0"), Some(Less));
        assert_eq!(compare_go("v1.5.0-beta.1", "1.5.0"), Some(Less));
    }

    #[test]
    fn pep440_basic() {
        assert_eq!(compare_pep440("1.0rc1", "1.0"), Some(Less));
        assert_eq!(compare_pep440("1.0", "1.0.0"), Some(Equal));
        assert_eq!(compare_pep440("1.0.post1", "1.0"), Some(Greater));
        assert_eq!(compare_pep440("nope!", "1.0"), None);
    }

    #[test]
    fn unknown_family_is_none() {
        assert_eq!(compare_versions("OSS-Fuzz", "1", "2"), None);
        assert_eq!(compare_versions("Debian:12", "1.0-1", "1.0-2"), Some(Less));
    }
}
