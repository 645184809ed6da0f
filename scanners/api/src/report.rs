//! The vocabulary of a scan result, shaped exactly as the report JSON in `SPEC.md`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What an artifact is. The kinds regscan itself acts on are variants; the type table and
/// external plugins name more in the config file (`wasm`, `flux`, …), which are
/// [`Kind::Other`]. Serialised as its name (`"image"`), exactly as the report JSON spells it, and
/// ordered by that name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `image`: a container image.
    Image,
    /// `helm`: a Helm chart.
    Helm,
    /// `opa`: an OPA policy bundle.
    Opa,
    /// `index`: a multi-platform image index.
    Index,
    /// `sbom`: an SBOM (SPDX, CycloneDX).
    Sbom,
    /// `signature`: a signature (cosign, notation).
    Signature,
    /// `attestation`: an attestation manifest (BuildKit provenance/SBOM inside an index, DSSE,
    /// in-toto).
    Attestation,
    /// `unknown`: a media type the type table does not know.
    Unknown,
    /// A kind named in the configuration.
    Other(OtherKind),
}

/// The name of a kind regscan does not act on itself (never the name of a [`Kind`] variant, so
/// one kind has one representation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OtherKind(String);

impl OtherKind {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Kind {
    /// The built-in kinds.
    pub const BUILT_IN: [Kind; 8] = [
        Kind::Image,
        Kind::Helm,
        Kind::Opa,
        Kind::Index,
        Kind::Sbom,
        Kind::Signature,
        Kind::Attestation,
        Kind::Unknown,
    ];

    /// The kind named `s`: a variant for a built-in name, else [`Kind::Other`].
    pub fn new(s: impl AsRef<str> + Into<String>) -> Self {
        Kind::BUILT_IN
            .into_iter()
            .find(|k| k.as_str() == s.as_ref())
            .unwrap_or_else(|| Kind::Other(OtherKind(s.into())))
    }

    /// The kind's name, as the report JSON spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Kind::Image => "image",
            Kind::Helm => "helm",
            Kind::Opa => "opa",
            Kind::Index => "index",
            Kind::Sbom => "sbom",
            Kind::Signature => "signature",
            Kind::Attestation => "attestation",
            Kind::Unknown => "unknown",
            Kind::Other(o) => o.as_str(),
        }
    }
}

impl PartialOrd for Kind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Kind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Kind::new(String::deserialize(d)?))
    }
}

impl From<&str> for Kind {
    fn from(s: &str) -> Self {
        Kind::new(s)
    }
}

impl From<String> for Kind {
    fn from(s: String) -> Self {
        Kind::new(s)
    }
}

impl PartialEq<str> for Kind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<String> for Kind {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Kind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is none of the values of a closed set (a status, a severity).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?} (expected {expected})")]
pub struct UnknownValue {
    /// What the word was to be: `status`, `severity`.
    pub what: &'static str,
    /// The word (cut to 100 characters).
    pub value: String,
    /// The values allowed, in words.
    pub expected: &'static str,
}

impl UnknownValue {
    fn new(what: &'static str, value: &str, expected: &'static str) -> Self {
        UnknownValue {
            what,
            value: value.chars().take(100).collect(),
            expected,
        }
    }
}

/// The state of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting on the queue.
    Queued,
    /// A worker is scanning it.
    Running,
    /// Scanned; findings (possibly none) are recorded.
    Succeeded,
    /// The scan could not be done; `reason` says why.
    Failed,
    /// No scanner handles this artifact's type; `reason` names the media type.
    Unsupported,
}

impl Status {
    /// All statuses, in lifecycle order.
    pub const ALL: [Status; 5] = [
        Status::Queued,
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::Unsupported,
    ];

    /// The status as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Unsupported => "unsupported",
        }
    }

    /// Whether the scan has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Unsupported)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownValue::new("status", s, "queued, running, succeeded, failed or unsupported"))
    }
}

/// Severity of a finding, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Severity not known.
    #[default]
    Unknown,
    /// Negligible (informational).
    Negligible,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// All severities, most severe first (the order of the report's `summary`).
    pub const ALL: [Severity; 6] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Negligible,
        Severity::Unknown,
    ];

    /// The severity as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Negligible => "negligible",
            Severity::Unknown => "unknown",
        }
    }

    /// Severity of a CVSS base score (CVSS v3 qualitative rating scale).
    pub fn from_cvss_score(score: f64) -> Severity {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            s if s > 0.0 => Severity::Low,
            _ => Severity::Negligible,
        }
    }

    /// A rank for ordering and filtering: unknown 0 … critical 5.
    pub fn rank(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "info" | "informational" | "none" => return Ok(Severity::Negligible),
            "moderate" => return Ok(Severity::Medium),
            "important" => return Ok(Severity::High),
            _ => {}
        }
        Severity::ALL
            .into_iter()
            .find(|sv| sv.as_str() == lower)
            .ok_or_else(|| UnknownValue::new("severity", s, "critical, high, medium, low, negligible or unknown"))
    }
}

/// One finding: a vulnerability, a misconfiguration or a policy problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable identifier: a CVE/GHSA/OSV id, or a check id such as `HELM-PRIV-001`.
    pub id: String,
    /// Severity.
    pub severity: Severity,
    /// One line a person can read.
    pub title: String,
    /// Affected package, or the object a check is about (`Deployment/web`).
    pub package: Option<String>,
    /// Installed version of the package.
    pub installed_version: Option<String>,
    /// First version that fixes it, when known.
    pub fixed_version: Option<String>,
    /// Where it was found: a path in the artifact (`var/lib/dpkg/status`, `templates/x.yaml:12`).
    pub location: Option<String>,
    /// Links and related identifiers (aliases, Trivy/Checkov ids).
    #[serde(default)]
    pub references: Vec<String>,
    /// What to do about it, for checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

impl Finding {
    /// A finding with the required fields; the rest empty.
    pub fn new(id: impl Into<String>, severity: Severity, title: impl Into<String>) -> Self {
        Finding {
            id: id.into(),
            severity,
            title: title.into(),
            package: None,
            installed_version: None,
            fixed_version: None,
            location: None,
            references: Vec::new(),
            remediation: None,
        }
    }

    /// Set the location.
    pub fn at(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// Set the package (or object) the finding is about.
    pub fn on(mut self, package: impl Into<String>) -> Self {
        self.package = Some(package.into());
        self
    }

    /// Set the remediation.
    pub fn fix(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = Some(remediation.into());
        self
    }

    /// Add references.
    pub fn refs<I, S>(mut self, refs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.references.extend(refs.into_iter().map(Into::into));
        self
    }
}

/// Count of findings per severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Critical findings.
    pub critical: u64,
    /// High findings.
    pub high: u64,
    /// Medium findings.
    pub medium: u64,
    /// Low findings.
    pub low: u64,
    /// Negligible findings.
    pub negligible: u64,
    /// Findings of unknown severity.
    pub unknown: u64,
}

impl Summary {
    /// Count the findings.
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut s = Summary::default();
        for f in findings {
            s.add(f.severity, 1);
        }
        s
    }

    /// Add `n` findings of `severity`.
    pub fn add(&mut self, severity: Severity, n: u64) {
        match severity {
            Severity::Critical => self.critical += n,
            Severity::High => self.high += n,
            Severity::Medium => self.medium += n,
            Severity::Low => self.low += n,
            Severity::Negligible => self.negligible += n,
            Severity::Unknown => self.unknown += n,
        }
    }

    /// Add another summary to this one.
    pub fn merge(&mut self, other: &Summary) {
        for sev in Severity::ALL {
            self.add(sev, other.get(sev));
        }
    }

    /// The count for one severity.
    pub fn get(&self, severity: Severity) -> u64 {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Negligible => self.negligible,
            Severity::Unknown => self.unknown,
        }
    }

    /// The most severe level with at least one finding.
    pub fn max_severity(&self) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| self.get(*s) > 0)
    }

    /// Total number of findings.
    pub fn total(&self) -> u64 {
        Severity::ALL.iter().map(|s| self.get(*s)).sum()
    }
}

/// One installed package found in an artifact.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Package {
    /// OSV ecosystem, normalised: `Debian:12`, `Alpine:v3.19`, `Ubuntu:22.04`, `PyPI`, `npm`,
    /// `crates.io`, `Go`, `Maven`, `RubyGems`, `Packagist`, `Red Hat`, …
    pub ecosystem: String,
    /// Package name as the ecosystem spells it (binary package name for OS packages).
    pub name: String,
    /// Installed version.
    pub version: String,
    /// Source package name (dpkg `Source:`, apk origin, rpm source rpm), which OS advisories name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// Source package version, when it differs from `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// Path of the file that declared it, relative to the root filesystem.
    pub path: String,
    /// Digest of the layer it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// A development-only dependency (a lockfile's `dev`, `devDependencies`, test scope, …):
    /// listed in the inventory but not matched against advisories, since it is not part of
    /// what runs. Omitted from JSON when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dev: bool,
}

impl Package {
    /// The package URL (purl) of this package, per the purl spec: OS packages carry their
    /// namespace, `distro` qualifier and (for dpkg/rpm) `epoch` qualifier; names and versions are
    /// percent-encoded.
    pub fn purl(&self) -> String {
        let mut parts = self.ecosystem.splitn(2, ':');
        let eco = parts.next().unwrap_or("");
        let release = parts.next().unwrap_or("").trim_start_matches('v');
        let (ty, ns, distro) = match eco {
            "Debian" => ("deb", Some("debian"), Some(format!("debian-{release}"))),
            "Ubuntu" => ("deb", Some("ubuntu"), Some(format!("ubuntu-{release}"))),
            "Alpine" => ("apk", Some("alpine"), Some(format!("alpine-{release}"))),
            "Red Hat" => ("rpm", Some("redhat"), None),
            "Rocky Linux" => ("rpm", Some("rocky"), None),
            "AlmaLinux" => ("rpm", Some("almalinux"), None),
            "SUSE" => ("rpm", Some("suse"), None),
            "openSUSE" => ("rpm", Some("opensuse"), None),
            "openEuler" => ("rpm", Some("openeuler"), None),
            "Mageia" => ("rpm", Some("mageia"), None),
            "Photon OS" => ("rpm", Some("photon"), None),
            "Amazon Linux" => ("rpm", Some("amazon"), None),
            "Fedora" => ("rpm", Some("fedora"), None),
            "Wolfi" => ("apk", Some("wolfi"), None),
            "Chainguard" => ("apk", Some("chainguard"), None),
            "PyPI" => ("pypi", None, None),
            "npm" => ("npm", None, None),
            "crates.io" => ("cargo", None, None),
            "Go" => ("golang", None, None),
            "Maven" => ("maven", None, None),
            "RubyGems" => ("gem", None, None),
            "Packagist" => ("composer", None, None),
            "NuGet" => ("nuget", None, None),
            _ => ("generic", None, None),
        };
        let name = match ty {
            "maven" => self.name.replacen(':', "/", 1),
            "pypi" => self.name.to_ascii_lowercase().replace('_', "-"),
            _ => self.name.clone(),
        };
        // Namespaced names (Maven group, npm scope, Go module path) keep their '/' separators.
        let name: String = name.split('/').map(purl_escape).collect::<Vec<_>>().join("/");
        let (epoch, version) = match (ty, self.version.split_once(':')) {
            ("deb" | "rpm", Some((e, v))) if !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()) => (Some(e), v),
            _ => (None, self.version.as_str()),
        };
        let mut purl = match ns {
            Some(ns) => format!("pkg:{ty}/{ns}/{name}@{}", purl_escape(version)),
            None => format!("pkg:{ty}/{name}@{}", purl_escape(version)),
        };
        let mut qualifiers = Vec::new();
        if let Some(d) = distro.filter(|d| !d.ends_with('-')) {
            qualifiers.push(format!("distro={}", purl_escape(&d)));
        }
        if let Some(e) = epoch {
            qualifiers.push(format!("epoch={e}"));
        }
        if !qualifiers.is_empty() {
            purl.push('?');
            purl.push_str(&qualifiers.join("&"));
        }
        purl
    }
}

/// Percent-encode a purl component (everything but unreserved characters).
fn purl_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_order_and_parse() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Negligible > Severity::Unknown);
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
        assert_eq!("moderate".parse::<Severity>().unwrap(), Severity::Medium);
        assert_eq!(
            "bad".parse::<Severity>().unwrap_err().to_string(),
            "unknown severity \"bad\" (expected critical, high, medium, low, negligible or unknown)"
        );
        assert!("done".parse::<Status>().unwrap_err().to_string().contains("\"done\""));
        assert_eq!(Severity::from_cvss_score(9.8), Severity::Critical);
        assert_eq!(Severity::from_cvss_score(7.0), Severity::High);
        assert_eq!(Severity::from_cvss_score(0.0), Severity::Negligible);
    }

    #[test]
    fn summary_counts() {
        let f = vec![
            Finding::new("a", Severity::High, "x"),
            Finding::new("b", Severity::High, "y"),
            Finding::new("c", Severity::Low, "z"),
        ];
        let s = Summary::of(&f);
        assert_eq!((s.high, s.low, s.total()), (2, 1, 3));
        assert_eq!(s.max_severity(), Some(Severity::High));
        let json = serde_json::to_value(s).unwrap();
        assert_eq!(json["critical"], 0);
    }

    #[test]
    fn purls_follow_the_spec() {
        let p = |eco: &str, name: &str, version: &str| {
            Package {
                ecosystem: eco.into(),
                name: name.into(),
                version: version.into(),
                source_name: None,
                source_version: None,
                path: String::new(),
                layer: None,
                dev: false,
            }
            .purl()
        };
        assert_eq!(
            p("Debian:12", "zlib1g", "1:1.2.13.dfsg-1"),
            "pkg:deb/debian/zlib1g@1.2.13.dfsg-1?distro=debian-12&epoch=1"
        );
        assert_eq!(
            p("Debian:12", "libc6", "2.36-9+deb12u4"),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?distro=debian-12"
        );
        assert_eq!(
            p("Alpine:v3.19", "musl", "1.2.4-r2"),
            "pkg:apk/alpine/musl@1.2.4-r2?distro=alpine-3.19"
        );
        assert_eq!(
            p(
                "Red Hat:enterprise_linux:9 module:nodejs:18",
                "nodejs",
                "1:18.14.2-2.module+el9.2.0+18484+6c1ec3c4"
            ),
            "pkg:rpm/redhat/nodejs@18.14.2-2.module%2Bel9.2.0%2B18484%2B6c1ec3c4?epoch=1"
        );
        assert_eq!(
            p(
                "SUSE:Linux Enterprise Server 15 SP5",
                "libopenssl3",
                "3.0.8-150500.5.8.1"
            ),
            "pkg:rpm/suse/libopenssl3@3.0.8-150500.5.8.1"
        );
        assert_eq!(p("PyPI", "Django_REST", "3.0"), "pkg:pypi/django-rest@3.0");
        assert_eq!(p("npm", "@babel/core", "7.0.0"), "pkg:npm/%40babel/core@7.0.0");
        assert_eq!(
            p("Maven", "org.apache.logging.log4j:log4j-core", "2.14.1"),
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
        );
        assert_eq!(
            p("Go", "github.com/gin-gonic/gin", "v1.9.0"),
            "pkg:golang/github.com/gin-gonic/gin@v1.9.0"
        );
        // The purl spec's own NuGet example keeps the name's case.
        assert_eq!(
            p("NuGet", "EnterpriseLibrary.Common", "6.0.1306"),
            "pkg:nuget/EnterpriseLibrary.Common@6.0.1306"
        );
    }

    #[test]
    fn kinds_keep_their_json_spelling() {
        for k in Kind::BUILT_IN {
            assert_eq!(Kind::new(k.as_str()), k);
            assert_eq!(serde_json::to_value(&k).unwrap(), k.as_str());
            assert_eq!(serde_json::from_value::<Kind>(k.as_str().into()).unwrap(), k);
        }
        let wasm: Kind = serde_json::from_str("\"wasm\"").unwrap();
        assert!(matches!(&wasm, Kind::Other(o) if o.as_str() == "wasm"));
        assert_eq!(serde_json::to_string(&wasm).unwrap(), "\"wasm\"");
        assert_eq!(Kind::from("image"), Kind::Image, "a built-in name is never Other");
        let mut ks = vec![Kind::Unknown, wasm.clone(), Kind::Image, Kind::Attestation];
        ks.sort();
        assert_eq!(
            ks,
            [Kind::Attestation, Kind::Image, Kind::Unknown, wasm],
            "ordered by name"
        );
    }

    #[test]
    fn status_roundtrip() {
        for st in Status::ALL {
            assert_eq!(st.as_str().parse::<Status>().unwrap(), st);
            assert_eq!(serde_json::to_value(st).unwrap(), st.as_str());
        }
    }
}
