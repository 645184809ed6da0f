//! Ecosystem and package-name normalisation, and which version ordering and name semantics
//! each OSV ecosystem uses.
//!
//! Records and image scanners spell ecosystems differently (`Ubuntu:22.04:LTS` in records,
//! `Ubuntu:22.04` from the image scanner; `pypi` from a careless caller). Both sides go through
//! [`normalize_ecosystem`] and [`normalize_name`] before they meet in the index.

/// The version ordering an ecosystem uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// dpkg (Debian, Ubuntu).
    Dpkg,
    /// rpm EVR (Red Hat, Rocky, Alma, SUSE, openSUSE, Mageia, openEuler, Photon OS).
    Rpm,
    /// apk-tools (Alpine, Wolfi, Chainguard).
    Apk,
    /// PEP 440 (PyPI).
    Pep440,
    /// SemVer 2.0 (npm, crates.io, Hex, Pub, SwiftURL).
    Semver,
    /// Go module versions (SemVer with `v`, pseudo-versions, `+incompatible`, toolchain `go1.x`).
    Go,
    /// Maven ComparableVersion.
    Maven,
    /// RubyGems `Gem::Version`.
    Gem,
    /// Composer (normalised) with PHP `version_compare`.
    Composer,
    /// NuGet (`NuGetVersion`: four release numbers, case-insensitive pre-release labels).
    NuGet,
    /// No ordering known: only `versions` lists and `SEMVER` ranges can match.
    Unknown,
}

/// Canonical spellings of ecosystem base names, looked up case-insensitively.
const CANONICAL: &[&str] = &[
    "AlmaLinux",
    "Alpaquita",
    "Alpine",
    "Android",
    "Bioconductor",
    "Bitnami",
    "Chainguard",
    "ConanCenter",
    "CRAN",
    "crates.io",
    "Debian",
    "FreeBSD",
    "GHC",
    "GitHub Actions",
    "Go",
    "Hackage",
    "Hex",
    "Julia",
    "Kubernetes",
    "Linux",
    "Mageia",
    "Maven",
    "MinimOS",
    "npm",
    "NuGet",
    "opam",
    "openEuler",
    "openSUSE",
    "OSS-Fuzz",
    "Packagist",
    "Photon OS",
    "Pub",
    "PyPI",
    "Red Hat",
    "Rocky Linux",
    "RubyGems",
    "SUSE",
    "SwiftURL",
    "Ubuntu",
    "VSCode",
    "Wolfi",
];

/// Normalise an ecosystem string: canonical spelling of the base name, `Ubuntu:22.04:LTS` →
/// `Ubuntu:22.04` (`Ubuntu:Pro:18.04:LTS` → `Ubuntu:Pro:18.04`), `Alpine:3.19` →
/// `Alpine:v3.19`; `Debian:12`, `Alpine:v3.19` and unknown ecosystems stay as they are
/// (trimmed).
pub fn normalize_ecosystem(s: &str) -> String {
    let s = s.trim();
    let (base, rest) = match s.split_once(':') {
        Some((b, r)) => (b.trim(), Some(r.trim())),
        None => (s, None),
    };
    let base = CANONICAL
        .iter()
        .find(|c| c.eq_ignore_ascii_case(base))
        .copied()
        .unwrap_or(base);
    let Some(rest) = rest.filter(|r| !r.is_empty()) else {
        return base.to_owned();
    };
    match base {
        "Ubuntu" => {
            let parts: Vec<&str> = rest.split(':').filter(|p| !p.eq_ignore_ascii_case("LTS")).collect();
            let parts: Vec<String> = parts
                .iter()
                .map(|p| {
                    if p.eq_ignore_ascii_case("pro") {
                        "Pro".to_owned()
                    } else {
                        (*p).to_owned()
                    }
                })
                .collect();
            format!("Ubuntu:{}", parts.join(":"))
        }
        "Alpine" if rest.starts_with(|c: char| c.is_ascii_digit()) => format!("Alpine:v{rest}"),
        "Alpine" if rest.starts_with('V') => format!("Alpine:v{}", &rest[1..]),
        _ => format!("{base}:{rest}"),
    }
}

/// The base name of a (normalised) ecosystem: the part before the first `:`.
pub fn base(ecosystem: &str) -> &str {
    ecosystem.split(':').next().unwrap_or(ecosystem).trim()
}

/// The version ordering of an ecosystem (normalised or not).
pub fn family(ecosystem: &str) -> Family {
    let b = base(ecosystem);
    let b = CANONICAL
        .iter()
        .find(|c| c.eq_ignore_ascii_case(b))
        .copied()
        .unwrap_or(b);
    match b {
        "Debian" | "Ubuntu" => Family::Dpkg,
        "Red Hat" | "Rocky Linux" | "AlmaLinux" | "SUSE" | "openSUSE" | "Mageia" | "openEuler" | "Photon OS" => {
            Family::Rpm
        }
        "Alpine" | "Wolfi" | "Chainguard" | "Alpaquita" | "MinimOS" => Family::Apk,
        "PyPI" => Family::Pep440,
        "npm" | "crates.io" | "Hex" | "Pub" | "SwiftURL" => Family::Semver,
        "Go" | "Kubernetes" => Family::Go,
        "Maven" => Family::Maven,
        "RubyGems" => Family::Gem,
        "Packagist" => Family::Composer,
        "NuGet" => Family::NuGet,
        _ => Family::Unknown,
    }
}

/// Whether records of this ecosystem name the **source** package (Debian, Ubuntu, Alpine and
/// the rpm distributions), so installed binary packages match by their source name.
pub fn names_source_package(ecosystem: &str) -> bool {
    matches!(
        base(ecosystem),
        "Debian"
            | "Ubuntu"
            | "Alpine"
            | "Red Hat"
            | "Rocky Linux"
            | "AlmaLinux"
            | "Mageia"
            | "openEuler"
            | "openSUSE"
            | "SUSE"
            | "Alpaquita"
            | "Wolfi"
            | "Chainguard"
    )
}

/// Normalise a package name for lookups: PEP 503 for PyPI (lowercase, runs of `-_.` → `-`);
/// lowercase where the ecosystem treats names case-insensitively (Debian, Ubuntu, crates.io,
/// Packagist, NuGet, the rpm and apk distributions); unchanged elsewhere (npm, Go, Maven,
/// RubyGems are case-sensitive).
pub fn normalize_name(ecosystem: &str, name: &str) -> String {
    let name = name.trim();
    match base(ecosystem) {
        b if b.eq_ignore_ascii_case("PyPI") => {
            let mut out = String::with_capacity(name.len());
            let mut sep = false;
            for c in name.chars() {
                if matches!(c, '-' | '_' | '.') {
                    sep = true;
                } else {
                    if sep && !out.is_empty() {
                        out.push('-');
                    }
                    sep = false;
                    out.extend(c.to_lowercase());
                }
            }
            out
        }
        b if ["crates.io", "Packagist", "NuGet"]
            .iter()
            .any(|x| x.eq_ignore_ascii_case(b)) =>
        {
            name.to_lowercase()
        }
        _ if matches!(family(ecosystem), Family::Dpkg | Family::Rpm | Family::Apk) => name.to_lowercase(),
        // npm, Go, Maven, RubyGems and unknown ecosystems: the record's spelling is the name.
        _ => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystems() {
        assert_eq!(normalize_ecosystem("Ubuntu:22.04:LTS"), "Ubuntu:22.04");
        assert_eq!(normalize_ecosystem("Ubuntu:Pro:18.04:LTS"), "Ubuntu:Pro:18.04");
        assert_eq!(normalize_ecosystem("Ubuntu:24.10"), "Ubuntu:24.10");
        assert_eq!(normalize_ecosystem("Alpine:v3.19"), "Alpine:v3.19");
        assert_eq!(normalize_ecosystem("alpine:3.19"), "Alpine:v3.19");
        assert_eq!(normalize_ecosystem("Debian:12"), "Debian:12");
        assert_eq!(normalize_ecosystem("Debian"), "Debian");
        assert_eq!(normalize_ecosystem("pypi"), "PyPI");
        assert_eq!(normalize_ecosystem("NPM"), "npm");
        assert_eq!(normalize_ecosystem("CRATES.IO"), "crates.io");
        assert_eq!(normalize_ecosystem(" Go "), "Go");
        assert_eq!(
            normalize_ecosystem("Red Hat:enterprise_linux:9::appstream"),
            "Red Hat:enterprise_linux:9::appstream"
        );
        assert_eq!(normalize_ecosystem("Something New"), "Something New");
    }

    #[test]
    fn families() {
        assert_eq!(family("Debian:12"), Family::Dpkg);
        assert_eq!(family("Ubuntu:Pro:18.04"), Family::Dpkg);
        assert_eq!(family("Alpine:v3.19"), Family::Apk);
        assert_eq!(family("Rocky Linux:9"), Family::Rpm);
        assert_eq!(family("pypi"), Family::Pep440);
        assert_eq!(family("Maven"), Family::Maven);
        assert_eq!(family("OSS-Fuzz"), Family::Unknown);
    }

    #[test]
    fn names() {
        assert_eq!(normalize_name("PyPI", "Django_REST.framework"), "django-rest-framework");
        assert_eq!(normalize_name("PyPI", "zope.interface"), "zope-interface");
        assert_eq!(normalize_name("PyPI", "a--__b"), "a-b");
        assert_eq!(normalize_name("npm", "JSONStream"), "JSONStream");
        assert_eq!(
            normalize_name("Go", "github.com/BurntSushi/toml"),
            "github.com/BurntSushi/toml"
        );
        assert_eq!(normalize_name("Debian:12", "LibSSL3"), "libssl3");
        assert_eq!(normalize_name("crates.io", "Serde"), "serde");
        assert_eq!(
            normalize_name("Packagist", "Symfony/HTTP-Kernel"),
            "symfony/http-kernel"
        );
        assert_eq!(normalize_name("Maven", "org.Apache:Foo"), "org.Apache:Foo");
    }
}
