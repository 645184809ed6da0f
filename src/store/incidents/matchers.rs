//! The pure parts of the cross-artifact queries: version predicates (`>=2.0,<2.17`, `2.1*`,
//! `1.2.3`), package URLs as search keys, and the opaque pagination cursors.

use std::cmp::Ordering;

use base64::Engine as _;
use regscan_scanner_api::Package;

/// A version predicate as given to `GET /v1/packages?version=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionPredicate {
    /// Exactly this version (as stored).
    Exact(String),
    /// A glob: `*` any run of characters, `?` one character.
    Glob(String),
    /// Comparisons that must all hold, in the package's ecosystem ordering.
    Range(Vec<(Op, String)>),
}

/// A comparison operator of a version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=` or `==`
    Eq,
    /// `!=`
    Ne,
}

/// A version predicate that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("version {input:?}: {problem}")]
pub struct BadVersion {
    /// What was given.
    pub input: String,
    /// What is wrong with it.
    pub problem: String,
}

impl VersionPredicate {
    /// Read `>=2.0,<2.17` (comparisons joined by `,`), `2.1*` (a glob) or `2.1.0` (exact).
    pub fn parse(s: &str) -> Result<Self, BadVersion> {
        let s = s.trim();
        let bad = |problem: &str| BadVersion {
            input: s.to_owned(),
            problem: problem.to_owned(),
        };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.starts_with(['<', '>', '=', '!']) {
            let mut parts = Vec::new();
            for part in s.split(',').map(str::trim) {
                let (op, rest) = if let Some(r) = part.strip_prefix(">=") {
                    (Op::Ge, r)
                } else if let Some(r) = part.strip_prefix("<=") {
                    (Op::Le, r)
                } else if let Some(r) = part.strip_prefix("==") {
                    (Op::Eq, r)
                } else if let Some(r) = part.strip_prefix("!=") {
                    (Op::Ne, r)
                } else if let Some(r) = part.strip_prefix('>') {
                    (Op::Gt, r)
                } else if let Some(r) = part.strip_prefix('<') {
                    (Op::Lt, r)
                } else if let Some(r) = part.strip_prefix('=') {
                    (Op::Eq, r)
                } else {
                    return Err(bad(&format!(
                        "{part:?} does not start with <, <=, >, >=, = or != (comparisons are joined by commas)"
                    )));
                };
                let v = rest.trim();
                if v.is_empty() || v.contains(['*', '?']) {
                    return Err(bad(&format!("{part:?} compares with no version")));
                }
                parts.push((op, v.to_owned()));
            }
            return Ok(VersionPredicate::Range(parts));
        }
        if s.contains(['*', '?']) {
            return Ok(VersionPredicate::Glob(s.to_owned()));
        }
        Ok(VersionPredicate::Exact(s.to_owned()))
    }

    /// Whether `version` of a package in `ecosystem` satisfies the predicate. A range never
    /// matches a version its ecosystem cannot order.
    pub fn matches(&self, ecosystem: &str, version: &str) -> bool {
        match self {
            VersionPredicate::Exact(v) => v == version,
            VersionPredicate::Glob(g) => glob(g.as_bytes(), version.as_bytes()),
            VersionPredicate::Range(parts) => parts.iter().all(|(op, bound)| {
                let Some(ord) = compare(ecosystem, version, bound) else {
                    return false;
                };
                match op {
                    Op::Lt => ord == Ordering::Less,
                    Op::Le => ord != Ordering::Greater,
                    Op::Gt => ord == Ordering::Greater,
                    Op::Ge => ord != Ordering::Less,
                    Op::Eq => ord == Ordering::Equal,
                    Op::Ne => ord != Ordering::Equal,
                }
            }),
        }
    }
}

/// The ecosystem's ordering; for ecosystems without one (`generic`), plain dotted-number order.
fn compare(ecosystem: &str, a: &str, b: &str) -> Option<Ordering> {
    regscan_osv::compare_versions(ecosystem, a, b).or_else(|| {
        let nums = |s: &str| -> Option<Vec<u64>> { s.split('.').map(|p| p.parse().ok()).collect() };
        Some(nums(a)?.cmp(&nums(b)?))
    })
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    // Iterative matcher with backtracking to the last `*`.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A package URL used as a search key: `pkg:deb/debian/openssl@3.0.11-1?distro=debian-12`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurlKey {
    /// The purl as given, without a `#subpath`.
    base: String,
    /// Whether it names a version.
    has_version: bool,
    /// Whether it has qualifiers.
    has_qualifiers: bool,
    /// Stored package names it may stand for (looked up by index, then confirmed by
    /// [`PurlKey::matches`]).
    pub names: Vec<String>,
}

impl PurlKey {
    /// Read a purl.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let base = s.split('#').next().unwrap_or(s);
        let rest = base
            .strip_prefix("pkg:")
            .ok_or_else(|| format!("purl {s:?} does not start with pkg:"))?;
        let (path, qualifiers) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let (path, version) = match path.rsplit_once('@') {
            // An npm scope starts with %40 when encoded, '@' only when not; a version follows
            // the last '/'-segment's '@'.
            Some((p, v)) if !p.is_empty() && !p.ends_with('/') => (p, Some(v)),
            _ => (path, None),
        };
        let mut segs = path.split('/');
        let ty = segs.next().unwrap_or("");
        let segs: Vec<String> = segs
            .filter(|x| !x.is_empty())
            .map(|x| percent_encoding::percent_decode_str(x).decode_utf8_lossy().into_owned())
            .collect();
        if ty.is_empty() || segs.is_empty() {
            return Err(format!("purl {s:?} names no package (expected pkg:TYPE/NAME@VERSION)"));
        }
        let mut names = vec![segs.last().cloned().unwrap_or_default(), segs.join("/")];
        if segs.len() >= 2 {
            names.push(segs.join(":").to_string());
            let (last, ns) = segs.split_last().unwrap_or((&segs[0], &[]));
            names.push(format!("{}:{last}", ns.join("/")));
        }
        if ty.eq_ignore_ascii_case("pypi") {
            let n = segs.last().cloned().unwrap_or_default();
            names.push(n.replace('-', "_"));
        }
        names.sort();
        names.dedup();
        Ok(PurlKey {
            base: base.to_owned(),
            has_version: version.is_some(),
            has_qualifiers: qualifiers.is_some_and(|q| !q.is_empty()),
            names,
        })
    }

    /// Whether a stored package is the one the purl names (ignoring what the purl leaves out:
    /// version, qualifiers).
    pub fn matches(&self, p: &Package) -> bool {
        let purl = p.purl();
        let strip_q = |s: &str| s.split('?').next().unwrap_or(s).to_owned();
        let strip_v = |s: &str| match s.rsplit_once('@') {
            Some((a, _)) => a.to_owned(),
            None => s.to_owned(),
        };
        let (mut want, mut have) = (self.base.clone(), purl);
        if !self.has_qualifiers {
            want = strip_q(&want);
            have = strip_q(&have);
        }
        if !self.has_version {
            have = strip_v(&strip_q(&have));
            want = strip_q(&want);
        }
        let norm = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .to_lowercase()
        };
        norm(&want) == norm(&have)
    }
}

/// Encode a pagination cursor (the key of the last row of a page) as an opaque URL-safe string.
pub fn encode_cursor(parts: &[&str], id: i64) -> String {
    let v = serde_json::json!({"k": parts, "a": id});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Decode [`encode_cursor`]'s string; `n` is how many text parts it must hold.
pub fn decode_cursor(s: &str, n: usize) -> Result<(Vec<String>, i64), String> {
    let bad = || format!("{s:?} is not a cursor from next_cursor");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim())
        .map_err(|_| bad())?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let parts: Vec<String> = v["k"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|p| p.as_str().map(str::to_owned).ok_or_else(bad))
        .collect::<Result<_, _>>()?;
    let id = v["a"].as_i64().ok_or_else(bad)?;
    if parts.len() != n {
        return Err(bad());
    }
    Ok((parts, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(eco: &str, name: &str, version: &str) -> Package {
        Package {
            ecosystem: eco.into(),
            name: name.into(),
            version: version.into(),
            source_name: None,
            source_version: None,
            path: "p".into(),
            layer: None,
            dev: false,
        }
    }

    #[test]
    fn version_predicates() {
        let r = VersionPredicate::parse(">=2.0,<2.17").unwrap();
        assert!(r.matches("Maven", "2.14.1"));
        assert!(r.matches("Maven", "2.0"));
        assert!(!r.matches("Maven", "2.17.0"));
        assert!(!r.matches("Maven", "1.9"));
        let r = VersionPredicate::parse("< 3.0.11-1~deb12u2").unwrap();
        assert!(r.matches("Debian:12", "3.0.11-1~deb12u1"));
        assert!(!r.matches("Debian:12", "3.0.11-1~deb12u2"));
        assert!(VersionPredicate::parse(">=1.2").unwrap().matches("generic", "1.10"));
        let g = VersionPredicate::parse("2.1*").unwrap();
        assert!(g.matches("npm", "2.1") && g.matches("npm", "2.17.0") && !g.matches("npm", "2.2.1"));
        assert!(VersionPredicate::parse("1.?.3").unwrap().matches("x", "1.2.3"));
        assert_eq!(
            VersionPredicate::parse("1.0").unwrap(),
            VersionPredicate::Exact("1.0".into())
        );
        assert!(VersionPredicate::parse(">=1.0,2.0")
            .unwrap_err()
            .problem
            .contains("\"2.0\""));
        assert!(VersionPredicate::parse("").is_err());
        assert!(!VersionPredicate::parse("<2").unwrap().matches("npm", "not a version"));
    }

    #[test]
    fn purls() {
        let k = PurlKey::parse("pkg:deb/debian/openssl@3.0.11-1~deb12u2").unwrap();
        assert!(k.names.contains(&"openssl".to_owned()));
        assert!(k.matches(&pkg("Debian:12", "openssl", "3.0.11-1~deb12u2")));
        assert!(!k.matches(&pkg("Debian:12", "openssl", "3.0.11-1")));
        assert!(!k.matches(&pkg("Alpine:v3.19", "openssl", "3.0.11-1~deb12u2")));
        let k = PurlKey::parse("pkg:maven/org.apache.logging.log4j/log4j-core").unwrap();
        assert!(k.names.contains(&"org.apache.logging.log4j:log4j-core".to_owned()));
        assert!(k.matches(&pkg("Maven", "org.apache.logging.log4j:log4j-core", "2.14.1")));
        let k = PurlKey::parse("pkg:npm/%40babel/core@7.0.0").unwrap();
        assert!(k.names.contains(&"@babel/core".to_owned()), "{:?}", k.names);
        assert!(k.matches(&pkg("npm", "@babel/core", "7.0.0")));
        assert!(PurlKey::parse("deb/openssl").is_err());
        assert!(PurlKey::parse("pkg:deb").is_err());
    }

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c = encode_cursor(&["CVE-1", "openssl"], 42);
        assert_eq!(
            decode_cursor(&c, 2).unwrap(),
            (vec!["CVE-1".into(), "openssl".into()], 42)
        );
        assert!(decode_cursor(&c, 3).is_err());
        assert!(decode_cursor("12", 2).is_err());
    }
}
