//! Artifact references: `host[:port]/repository[:tag][@digest]`.

use std::fmt;

use regscan_scanner_api::Digest;

/// A parsed reference to a manifest in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host and optional port.
    pub registry: String,
    /// Repository path (`team/app`).
    pub repository: String,
    /// Tag, if given.
    pub tag: Option<String>,
    /// Digest, if given (`sha256:…`).
    pub digest: Option<Digest>,
}

/// Why a reference could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid reference {input:?}: {reason}")]
pub struct ReferenceError {
    input: String,
    reason: &'static str,
}

impl Reference {
    /// Parse `host[:port]/repo[:tag][@digest]`. The registry host is required: regscan only talks
    /// to registries it was told about, so there is no implicit default registry.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let err = |reason| ReferenceError {
            input: input.to_owned(),
            reason,
        };
        let s = input.trim();
        let s = s
            .strip_prefix("oci://")
            .or_else(|| s.strip_prefix("docker://"))
            .unwrap_or(s);
        let (host, rest) = s
            .split_once('/')
            .ok_or_else(|| err("expected host[:port]/repository[:tag|@digest]"))?;
        if !is_registry_host(host) {
            return Err(err(
                "the first path component must be a registry host (with a dot or a port, or localhost)",
            ));
        }
        let (name_tag, digest) = match rest.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (rest, None),
        };
        let (repository, tag) = match name_tag.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t.to_owned())),
            _ => (name_tag, None),
        };
        if !valid_repository(repository) {
            return Err(err("repository must be lowercase path components of [a-z0-9._-]"));
        }
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(err("tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"));
            }
        }
        let digest = digest
            .map(Digest::parse)
            .transpose()
            .map_err(|_| err("digest must be sha256:<64 hex> or sha512:<128 hex>"))?;
        Ok(Reference {
            registry: host.to_ascii_lowercase(),
            repository: repository.to_owned(),
            tag,
            digest,
        })
    }

    /// The reference to ask the registry for: the digest when known, else the tag, else `latest`.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_ref()
            .map(Digest::as_str)
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Whether `first`, the first path component of a reference, names a registry rather than a
/// repository namespace: it has a dot or a port, or is `localhost` (the rule `docker` uses).
pub fn is_registry_host(first: &str) -> bool {
    !first.is_empty() && (first.contains('.') || first.contains(':') || first == "localhost")
}

/// Whether `repo` is a repository name of the distribution spec (lowercase path components).
pub fn valid_repository(repo: &str) -> bool {
    !repo.is_empty() && repo.len() <= 255 && repo.split('/').all(valid_path_component)
}

/// Whether `tag` is a tag of the distribution spec (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
pub fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !t.starts_with(['.', '-'])
}

/// One path component: `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        // A run of [a-z0-9]+.
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        // A separator: `.`, `_`, `__` or `-`+.
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// Whether `d` is a well-formed sha256 or sha512 digest.
pub fn valid_digest(d: &str) -> bool {
    regscan_scanner_api::identity::is_content_digest(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_users_type() {
        let r = Reference::parse("127.0.0.1:5000/team/app:1.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "team/app", Some("1.0"))
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("reg.example.com/a/b/c@{d}")).unwrap();
        assert_eq!(r.digest.as_ref().map(Digest::as_str), Some(d.as_str()));
        assert_eq!(r.manifest_reference(), d);
        let r = Reference::parse("localhost/app").unwrap();
        assert_eq!(r.manifest_reference(), "latest");
        assert_eq!(
            Reference::parse("reg.io:443/x:v1").unwrap().to_string(),
            "reg.io:443/x:v1"
        );
    }

    #[test]
    fn repository_grammar_of_the_distribution_spec() {
        for ok in [
            "a",
            "a/b",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a---b",
            "0/1-2.3__4",
            "library/ubuntu",
        ] {
            assert!(valid_repository(ok), "{ok}");
        }
        for bad in [
            "",
            "../../../etc/passwd",
            "<script>alert(1)</script>",
            "a\r\nx-injected: 1",
            "a\u{202e}b",
            "Team/App",
            "a/",
            "/a",
            "a b",
            "a:b",
        ] {
            assert!(!valid_repository(bad), "{bad:?}");
        }
        assert!(valid_repository(&"a".repeat(255)));
        assert!(!valid_repository(&"a".repeat(256)));
        assert!(!valid_repository(&"a".repeat(5000)));
        assert!(valid_tag("_x") && valid_tag(&"v".repeat(128)) && !valid_tag(&"v".repeat(129)));
        assert!(!valid_tag("-x") && !valid_tag(".x") && !valid_tag("a/b") && !valid_tag("a\u{202e}"));
        assert!(valid_digest(&format!("sha512:{}", "0".repeat(128))));
        assert!(!valid_digest(&format!("sha512:{}", "0".repeat(64))));
        assert!(!valid_digest(&format!("sha256:{}", "A".repeat(64))));
        assert!(!valid_digest("md5:00"));
    }

    #[test]
    fn refuses_bad_references() {
        for bad in [
            "app:1.0",
            "ubuntu",
            "reg.io/",
            "reg.io/UPPER",
            "reg.io/x@sha256:zz",
            "reg.io/x:-bad",
            "reg.io/a//b",
            "reg.io/a..b",
            "reg.io/a___b",
            "reg.io/a-",
            "reg.io/a_-b",
            "reg.io/.a",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
