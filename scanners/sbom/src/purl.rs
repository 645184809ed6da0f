//! Package URLs: a parser for the purl spec (`pkg:type/namespace/name@version?qualifiers#subpath`)
//! and the mapping of a purl to the OSV ecosystem, name and version regscan's advisory matcher
//! looks packages up by, spelled as the image scanner spells them (`Debian:12`, `Alpine:v3.19`,
//! `Rocky Linux:9`, `PyPI`, `npm`, `Go`, `Maven` with `group:artifact` names…).

use std::collections::BTreeMap;

/// A parsed package URL. Components are percent-decoded; `ty` and qualifier keys are lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    /// The package type (`deb`, `npm`, `maven`…).
    pub ty: String,
    /// The namespace (`debian`, `@angular`, `org.apache.logging.log4j`), if any.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
    /// The version, if any.
    pub version: Option<String>,
    /// Qualifiers (`distro`, `epoch`, `upstream`, `arch`…).
    pub qualifiers: BTreeMap<String, String>,
}

/// Why a string is not a purl.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a package URL ({0}): {1:?}")]
pub struct PurlError(pub &'static str, pub String);

/// Longest purl accepted.
const MAX_PURL_LEN: usize = 4096;

impl Purl {
    /// Parse `s` per the purl spec, leniently where real SBOMs are careless (an unencoded `@` in
    /// an npm scope, extra slashes after `pkg:`).
    pub fn parse(s: &str) -> Result<Purl, PurlError> {
        let err = |why| PurlError(why, s.chars().take(200).collect());
        if s.len() > MAX_PURL_LEN {
            return Err(err("longer than 4096 bytes"));
        }
        let s = s.trim();
        let rest = match s.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("pkg:") => &s[4..],
            _ => return Err(err("no pkg: scheme")),
        };
        let rest = rest.trim_start_matches('/');
        let rest = rest.split_once('#').map_or(rest, |(r, _subpath)| r);
        let (rest, qualifiers) = match rest.split_once('?') {
            Some((r, q)) => (r, parse_qualifiers(q)),
            None => (rest, BTreeMap::new()),
        };
        let (ty, path) = rest.split_once('/').ok_or_else(|| err("no name"))?;
        let ty = ty.to_ascii_lowercase();
        if ty.is_empty()
            || !ty
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'))
        {
            return Err(err("bad type"));
        }
        let path = path.trim_end_matches('/');
        // The version follows the last '@' of the last segment: an npm scope's '@' is in an
        // earlier segment.
        let (path, version) = match path.rfind('@') {
            Some(at) if !path[at..].contains('/') && at > 0 && !path[..at].ends_with('/') => {
                (&path[..at], Some(decode(&path[at + 1..])))
            }
            _ => (path, None),
        };
        let mut segments: Vec<String> = path.split('/').filter(|p| !p.is_empty()).map(decode).collect();
        let name = segments.pop().filter(|n| !n.is_empty()).ok_or_else(|| err("no name"))?;
        let namespace = (!segments.is_empty()).then(|| segments.join("/"));
        Ok(Purl {
            ty,
            namespace,
            name,
            version: version.filter(|v| !v.is_empty()),
            qualifiers,
        })
    }

    fn qualifier(&self, key: &str) -> Option<&str> {
        self.qualifiers.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn namespace_lower(&self) -> String {
        self.namespace.as_deref().unwrap_or("").to_ascii_lowercase()
    }

    fn joined(&self, sep: &str) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}{sep}{}", self.name),
            None => self.name.clone(),
        }
    }
}

fn parse_qualifiers(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), decode(v)))
        .collect()
}

/// Percent-decode; malformed escapes are kept as they are, invalid UTF-8 replaced.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the matcher needs of a package, from its purl.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mapped {
    /// OSV ecosystem as regscan spells it; empty when the purl type has none regscan matches.
    pub ecosystem: String,
    /// Name as the ecosystem spells it.
    pub name: String,
    /// Version (with the epoch for dpkg and rpm).
    pub version: String,
    /// Source package (dpkg source, apk origin, source rpm name), from `upstream`.
    pub source_name: Option<String>,
    /// Source package version, from `upstream`.
    pub source_version: Option<String>,
}

/// Debian release codenames.
const DEBIAN_CODENAMES: &[(&str, &str)] = &[
    ("jessie", "8"),
    ("stretch", "9"),
    ("buster", "10"),
    ("bullseye", "11"),
    ("bookworm", "12"),
    ("trixie", "13"),
    ("forky", "14"),
];

/// Ubuntu release codenames.
const UBUNTU_CODENAMES: &[(&str, &str)] = &[
    ("xenial", "16.04"),
    ("bionic", "18.04"),
    ("focal", "20.04"),
    ("jammy", "22.04"),
    ("lunar", "23.04"),
    ("mantic", "23.10"),
    ("noble", "24.04"),
    ("oracular", "24.10"),
    ("plucky", "25.04"),
];

/// The release in a `distro` qualifier (`debian-12`, `debian-12.5`, `12`, `bookworm`,
/// `ubuntu-22.04`, `alpine-3.19.1`), as dotted numbers.
fn distro_release(distro: Option<&str>, os: &str, codenames: &[(&str, &str)]) -> Option<String> {
    let d = distro?.trim().to_ascii_lowercase();
    let d = d
        .strip_prefix(os)
        .map(|r| r.trim_start_matches(['-', ' ', ':']))
        .unwrap_or(&d);
    if d.starts_with(|c: char| c.is_ascii_digit()) {
        let numeric: String = d.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        return Some(numeric.trim_end_matches('.').to_owned());
    }
    codenames.iter().find(|(c, _)| *c == d).map(|(_, v)| (*v).to_owned())
}

fn major(release: &str) -> &str {
    release.split('.').next().unwrap_or(release)
}

fn major_minor(release: &str) -> Option<String> {
    let mut p = release.split('.');
    let (a, b) = (p.next()?, p.next()?);
    (!a.is_empty() && !b.is_empty()).then(|| format!("{a}.{b}"))
}

/// `upstream=name` or `upstream=name@version` (dpkg, apk).
fn upstream_pair(up: Option<&str>) -> (Option<String>, Option<String>) {
    match up {
        Some(u) => match u.split_once('@') {
            Some((n, v)) => (Some(n.to_owned()), Some(v.to_owned()).filter(|v| !v.is_empty())),
            None => (Some(u.to_owned()), None),
        },
        None => (None, None),
    }
}

/// `upstream=openssl-3.0.7-18.el9_2.src.rpm` → (`openssl`, `3.0.7-18.el9_2`).
fn upstream_rpm(up: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(u) = up else { return (None, None) };
    let base = u
        .strip_suffix(".rpm")
        .map(|b| b.rsplit_once('.').map_or(b, |(b, _arch)| b));
    let split = base.and_then(|b| {
        let (rest, release) = b.rsplit_once('-')?;
        let (name, version) = rest.rsplit_once('-')?;
        (!name.is_empty() && !version.is_empty()).then(|| (name.to_owned(), format!("{version}-{release}")))
    });
    match split {
        Some((n, v)) => (Some(n), Some(v)),
        None => (Some(u.to_owned()), None),
    }
}

/// Map a purl to the matcher's (ecosystem, name, version, source). Types without an OSV
/// ecosystem regscan matches keep their name and version with an empty ecosystem; OS packages of
/// an unknown distribution or release get the package manager's name (`dpkg`, `apk`, `rpm`), as
/// the image scanner gives them.
pub fn map(p: &Purl) -> Mapped {
    let version = p.version.clone().unwrap_or_default();
    let with_epoch = |v: &str| match p.qualifier("epoch") {
        Some(e) if e != "0" && !v.contains(':') && !v.is_empty() => format!("{e}:{v}"),
        _ => v.to_owned(),
    };
    let distro = p.qualifier("distro");
    let ns = p.namespace_lower();
    let mut m = Mapped {
        name: p.name.clone(),
        version: version.clone(),
        ..Mapped::default()
    };
    match p.ty.as_str() {
        "deb" => {
            m.version = with_epoch(&version);
            (m.source_name, m.source_version) = upstream_pair(p.qualifier("upstream"));
            m.ecosystem = match ns.as_str() {
                "debian" => match distro_release(distro, "debian", DEBIAN_CODENAMES) {
                    Some(r) => format!("Debian:{}", major(&r)),
                    None => "dpkg".into(),
                },
                "ubuntu" => match distro_release(distro, "ubuntu", UBUNTU_CODENAMES).and_then(|r| major_minor(&r)) {
                    Some(r) => format!("Ubuntu:{r}"),
                    None => "dpkg".into(),
                },
                _ => "dpkg".into(),
            };
        }
        "apk" => {
            (m.source_name, m.source_version) = upstream_pair(p.qualifier("upstream"));
            m.ecosystem = match ns.as_str() {
                "alpine" => match distro_release(distro, "alpine", &[]).and_then(|r| major_minor(&r)) {
                    Some(r) => format!("Alpine:v{r}"),
                    None => "apk".into(),
                },
                "wolfi" => "Wolfi".into(),
                "chainguard" => "Chainguard".into(),
                _ => "apk".into(),
            };
        }
        "rpm" => {
            m.version = with_epoch(&version);
            (m.source_name, m.source_version) = upstream_rpm(p.qualifier("upstream"));
            let release = |os: &str| distro_release(distro, os, &[]);
            m.ecosystem = match ns.as_str() {
                "redhat" => "Red Hat".into(),
                "rocky" => release("rocky").map_or("rpm".into(), |r| format!("Rocky Linux:{}", major(&r))),
                "almalinux" => release("almalinux").map_or("rpm".into(), |r| format!("AlmaLinux:{}", major(&r))),
                _ => "rpm".into(),
            };
        }
        "pypi" => m.ecosystem = "PyPI".into(),
        "npm" => {
            m.ecosystem = "npm".into();
            m.name = p.joined("/");
        }
        "golang" => {
            m.ecosystem = "Go".into();
            m.name = p.joined("/");
        }
        "maven" => {
            m.ecosystem = "Maven".into();
            m.name = p.joined(":");
        }
        "cargo" => m.ecosystem = "crates.io".into(),
        "gem" => m.ecosystem = "RubyGems".into(),
        "nuget" => m.ecosystem = "NuGet".into(),
        "composer" => {
            m.ecosystem = "Packagist".into();
            m.name = p.joined("/");
        }
        "hex" => m.ecosystem = "Hex".into(),
        "pub" => m.ecosystem = "Pub".into(),
        "cran" => m.ecosystem = "CRAN".into(),
        "hackage" => m.ecosystem = "Hackage".into(),
        "swift" => {
            m.ecosystem = "SwiftURL".into();
            m.name = p.joined("/");
        }
        "conan" => m.ecosystem = "ConanCenter".into(),
        "bitnami" => m.ecosystem = "Bitnami".into(),
        _ => m.name = p.joined("/"),
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(s: &str) -> (String, String, String, Option<String>, Option<String>) {
        let m = map(&Purl::parse(s).unwrap());
        (m.ecosystem, m.name, m.version, m.source_name, m.source_version)
    }

    fn plain(eco: &str, name: &str, version: &str) -> (String, String, String, Option<String>, Option<String>) {
        (eco.into(), name.into(), version.into(), None, None)
    }

    #[test]
    fn parses_the_spec_examples() {
        let p = Purl::parse("pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie").unwrap();
        assert_eq!(p.ty, "deb");
        assert_eq!(p.namespace.as_deref(), Some("debian"));
        assert_eq!(p.name, "curl");
        assert_eq!(p.version.as_deref(), Some("7.50.3-1"));
        assert_eq!(p.qualifiers["arch"], "i386");
        let p = Purl::parse("pkg:npm/%40angular/animation@12.3.1").unwrap();
        assert_eq!(
            (p.namespace.as_deref(), p.name.as_str()),
            (Some("@angular"), "animation")
        );
        let p = Purl::parse("pkg:golang/google.golang.org/genproto#googleapis/api/annotations").unwrap();
        assert_eq!(p.namespace.as_deref(), Some("google.golang.org"));
        assert_eq!((p.name.as_str(), p.version.as_deref()), ("genproto", None));
        let p = Purl::parse("pkg:maven/org.apache.xmlgraphics/batik-anim@1.9.1?packaging=sources").unwrap();
        assert_eq!(p.name, "batik-anim");
        assert!(Purl::parse("PKG:PyPI/Django@1.11.1").is_ok());
        for bad in [
            "",
            "deb/debian/curl",
            "pkg:",
            "pkg:npm",
            "pkg:npm/",
            "pkg:/x@1",
            "pkg:n%pm/x@1",
        ] {
            assert!(Purl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn os_packages_get_the_image_scanners_ecosystems() {
        // syft: distro=debian-12 and upstream source.
        assert_eq!(
            mapped("pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&upstream=glibc&distro=debian-12"),
            (
                "Debian:12".into(),
                "libc6".into(),
                "2.36-9+deb12u4".into(),
                Some("glibc".into()),
                None
            )
        );
        // trivy: point release in distro; epoch qualifier.
        assert_eq!(
            mapped("pkg:deb/debian/login@1%3A4.13%2Bdfsg1-1?arch=amd64&distro=debian-12.5").2,
            "1:4.13+dfsg1-1"
        );
        assert_eq!(
            mapped("pkg:deb/debian/passwd@4.13?epoch=1&distro=debian-12.5"),
            plain("Debian:12", "passwd", "1:4.13")
        );
        assert_eq!(mapped("pkg:deb/debian/curl@7.50.3-1?distro=jessie").0, "Debian:8");
        assert_eq!(
            mapped("pkg:deb/ubuntu/openssl@3.0.2?distro=ubuntu-22.04").0,
            "Ubuntu:22.04"
        );
        assert_eq!(
            mapped("pkg:deb/ubuntu/bash@5.1-6ubuntu1?upstream=bash%405.1-6ubuntu1.1&distro=jammy"),
            (
                "Ubuntu:22.04".into(),
                "bash".into(),
                "5.1-6ubuntu1".into(),
                Some("bash".into()),
                Some("5.1-6ubuntu1.1".into())
            )
        );
        assert_eq!(mapped("pkg:deb/debian/curl@1").0, "dpkg");
        assert_eq!(
            mapped("pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&upstream=openssl&distro=alpine-3.19.1"),
            (
                "Alpine:v3.19".into(),
                "libcrypto3".into(),
                "3.1.4-r5".into(),
                Some("openssl".into()),
                None
            )
        );
        assert_eq!(mapped("pkg:apk/wolfi/glibc@2.39-r1").0, "Wolfi");
        assert_eq!(
            mapped("pkg:rpm/rocky/openssl-libs@3.0.7-25.el9_3?arch=x86_64&epoch=1&upstream=openssl-3.0.7-25.el9_3.src.rpm&distro=rocky-9.3"),
            (
                "Rocky Linux:9".into(),
                "openssl-libs".into(),
                "1:3.0.7-25.el9_3".into(),
                Some("openssl".into()),
                Some("3.0.7-25.el9_3".into())
            )
        );
        assert_eq!(mapped("pkg:rpm/redhat/bash@5.1.8-6.el9").0, "Red Hat");
        assert_eq!(mapped("pkg:rpm/fedora/bash@5.2.26-3.fc40?distro=fedora-40").0, "rpm");
    }

    #[test]
    fn language_packages_are_named_as_osv_names_them() {
        assert_eq!(mapped("pkg:pypi/Jinja2@3.1.2"), plain("PyPI", "Jinja2", "3.1.2"));
        assert_eq!(
            mapped("pkg:npm/%40babel/core@7.23.0"),
            plain("npm", "@babel/core", "7.23.0")
        );
        assert_eq!(
            mapped("pkg:npm/@babel/core@7.23.0"),
            plain("npm", "@babel/core", "7.23.0")
        );
        assert_eq!(mapped("pkg:npm/lodash@4.17.20"), plain("npm", "lodash", "4.17.20"));
        assert_eq!(
            mapped("pkg:golang/golang.org/x/net@v0.17.0"),
            plain("Go", "golang.org/x/net", "v0.17.0")
        );
        assert_eq!(
            mapped("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"),
            plain("Maven", "org.apache.logging.log4j:log4j-core", "2.14.1")
        );
        assert_eq!(mapped("pkg:cargo/time@0.1.45"), plain("crates.io", "time", "0.1.45"));
        assert_eq!(mapped("pkg:gem/rack@2.2.3"), plain("RubyGems", "rack", "2.2.3"));
        assert_eq!(
            mapped("pkg:nuget/Newtonsoft.Json@12.0.1"),
            plain("NuGet", "Newtonsoft.Json", "12.0.1")
        );
        assert_eq!(
            mapped("pkg:composer/guzzlehttp/guzzle@7.4.0"),
            plain("Packagist", "guzzlehttp/guzzle", "7.4.0")
        );
        assert_eq!(
            mapped("pkg:github/actions/checkout@v4"),
            plain("", "actions/checkout", "v4")
        );
        assert_eq!(mapped("pkg:generic/openssl@3.0.0"), plain("", "openssl", "3.0.0"));
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(decode("a%2Bb"), "a+b");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%4"), "%4");
    }
}
