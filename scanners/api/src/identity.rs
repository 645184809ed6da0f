//! Identities: the digest of a manifest and the artifact it names in a registry, parsed and
//! validated once at the edge (webhook, API, CLI, registry answer, database row) and passed
//! around typed from there.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A content digest, `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`; or, for the
/// stored record of a job whose tag never resolved to a manifest, the placeholder
/// `unresolved:<tag>` ([`Digest::unresolved`]). Only [`Digest::parse`] (and `FromStr`) is used
/// on input from outside, and it accepts content digests alone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {input:?}: expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>")]
pub struct DigestError {
    /// The text refused (cut to 200 characters).
    pub input: String,
}

/// Prefix of the placeholder recorded for a job whose tag never resolved.
const UNRESOLVED: &str = "unresolved:";

/// Longest input quoted back in a [`DigestError`].
const QUOTED_MAX: usize = 200;

impl Digest {
    /// Parse a content digest (`sha256:` or `sha512:` with lowercase hex of the right length).
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        if is_content_digest(s) {
            Ok(Digest(s.to_owned()))
        } else {
            Err(DigestError {
                input: s.chars().take(QUOTED_MAX).collect(),
            })
        }
    }

    /// Parse a digest as the store records it: a content digest, or the `unresolved:<tag>`
    /// placeholder of a job whose tag never resolved.
    pub fn from_stored(s: &str) -> Result<Digest, DigestError> {
        match s.strip_prefix(UNRESOLVED) {
            Some(tag) if !tag.is_empty() && tag.len() <= 128 && !tag.contains(['/', '@']) => Ok(Digest(s.to_owned())),
            _ => Digest::parse(s),
        }
    }

    /// The placeholder recorded for a job whose tag `tag` never resolved to a manifest.
    pub fn unresolved(tag: &str) -> Digest {
        Digest(format!("{UNRESOLVED}{tag}"))
    }

    /// Whether this is the placeholder of an unresolved tag rather than a content digest.
    pub fn is_unresolved(&self) -> bool {
        self.0.starts_with(UNRESOLVED)
    }

    /// The digest as text (`sha256:…`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The algorithm (`sha256`, `sha512`; `unresolved` for the placeholder).
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The encoded part after the algorithm (the hex of a content digest).
    pub fn encoded(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }

    /// The digest as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Whether `d` is a well-formed sha256 or sha512 digest.
pub fn is_content_digest(d: &str) -> bool {
    let hex = |h: &str| h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match d.split_once(':') {
        Some(("sha256", h)) => h.len() == 64 && hex(h),
        Some(("sha512", h)) => h.len() == 128 && hex(h),
        _ => false,
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for Digest {
    fn eq(&self, other: &String) -> bool {
        self.0 == *other
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Reports carry what the store recorded, so the placeholder of an unresolved tag is accepted
/// too ([`Digest::from_stored`]).
impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::from_stored(&s).map_err(serde::de::Error::custom)
    }
}

/// One manifest in one repository of one registry: what the store keys artifacts by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArtifactRef {
    /// Registry host and optional port, canonical (lowercase).
    pub registry: String,
    /// Repository path (`team/app`).
    pub repository: String,
    /// Manifest digest.
    pub digest: Digest,
}

impl ArtifactRef {
    /// The artifact `digest` in `registry/repository`.
    pub fn new(registry: impl Into<String>, repository: impl Into<String>, digest: Digest) -> Self {
        ArtifactRef {
            registry: registry.into(),
            repository: repository.into(),
            digest,
        }
    }

    /// The artifact `digest` (a content digest, checked) in `registry/repository`.
    pub fn parse(
        registry: impl Into<String>,
        repository: impl Into<String>,
        digest: &str,
    ) -> Result<ArtifactRef, DigestError> {
        Ok(ArtifactRef::new(registry, repository, Digest::parse(digest)?))
    }

    /// Another manifest of the same repository (a child, a subject, a referrer).
    pub fn with_digest(&self, digest: Digest) -> ArtifactRef {
        ArtifactRef {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            digest,
        }
    }
}

/// `registry/repository@digest`.
impl fmt::Display for ArtifactRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@{}", self.registry, self.repository, self.digest)
    }
}

/// A scanner and its version, as scans record them. A result by another version is scanned
/// again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScannerRef {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
}

impl ScannerRef {
    /// The scanner `name` at `version`.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        ScannerRef {
            name: name.into(),
            version: version.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_digests_only_from_input() {
        let d = format!("sha256:{}", "a".repeat(64));
        let parsed: Digest = d.parse().unwrap();
        assert_eq!((parsed.algorithm(), parsed.encoded().len()), ("sha256", 64));
        assert_eq!(parsed.to_string(), d);
        assert!(Digest::parse(&format!("sha512:{}", "0".repeat(128))).is_ok());
        for bad in [
            String::new(),
            "sha256:".into(),
            format!("sha512:{}", "0".repeat(64)),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(65)),
            "md5:00".into(),
            "latest".into(),
            "unresolved:latest".into(),
            format!("sha256:{}\n", "a".repeat(64)),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad:?}");
        }
        let long = "x".repeat(10_000);
        assert!(Digest::parse(&long).unwrap_err().input.len() <= QUOTED_MAX);
    }

    #[test]
    fn the_unresolved_placeholder_is_stored_not_parsed() {
        let u = Digest::unresolved("1.0");
        assert!(u.is_unresolved() && u == "unresolved:1.0");
        assert_eq!(Digest::from_stored("unresolved:1.0").unwrap(), u);
        assert!(Digest::from_stored("unresolved:").is_err());
        assert!(Digest::from_stored("sha256:zz").is_err());
        let back: Digest = serde_json::from_str("\"unresolved:1.0\"").unwrap();
        assert_eq!(back, u);
        assert_eq!(serde_json::to_string(&u).unwrap(), "\"unresolved:1.0\"");
        assert!(serde_json::from_str::<Digest>("\"sha256:1\"").is_err());
    }

    #[test]
    fn artifact_refs_print_as_references() {
        let d = Digest::parse(&format!("sha256:{}", "b".repeat(64))).unwrap();
        let a = ArtifactRef::new("reg.io:5000", "team/app", d.clone());
        assert_eq!(a.to_string(), format!("reg.io:5000/team/app@{d}"));
        let other = Digest::parse(&format!("sha256:{}", "c".repeat(64))).unwrap();
        assert_eq!(a.with_digest(other.clone()).digest, other);
    }
}
