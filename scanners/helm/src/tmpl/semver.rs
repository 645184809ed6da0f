//! Semantic versions and constraints with the semantics of Masterminds/semver v3, which Helm
//! uses for `semverCompare`, `kubeVersion` and dependency ranges: `v` prefixes and short
//! versions (`1.2`) are accepted, constraints may use `=`, `!=`, `>`, `<`, `>=`, `<=`, `~`, `^`,
//! wildcards (`1.2.x`), hyphen ranges, `,` / space for AND and `||` for OR, and a version with a
//! pre-release only matches a constraint that has one (`>=1.19-0`).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::value::Value;

/// A parsed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
    /// Pre-release identifiers (after `-`).
    pub pre: String,
    /// Build metadata (after `+`).
    pub meta: String,
}

impl Version {
    /// Parse leniently: `v1`, `1.2`, `1.2.3-rc.1+build`.
    pub fn parse(s: &str) -> Result<Version, String> {
        let (v, _) = parse_parts(s)?;
        Ok(v)
    }

    fn cmp_core(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(o.major, o.minor, o.patch))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, o: &Self) -> Ordering {
        self.cmp_core(o).then_with(|| cmp_pre(&self.pre, &o.pre))
    }
}

fn cmp_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let (mut x, mut y) = (a.split('.'), b.split('.'));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let ord = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    _ => p.cmp(q),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// How many of major/minor/patch were given as numbers (the rest are missing or wildcards).
fn parse_parts(s: &str) -> Result<(Version, usize), String> {
    let t = s.trim();
    let t = t.strip_prefix(['v', 'V']).unwrap_or(t);
    let (t, meta) = t.split_once('+').map_or((t, ""), |(a, b)| (a, b));
    let (core, pre) = t.split_once('-').map_or((t, ""), |(a, b)| (a, b));
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 || parts[0].is_empty() {
        return Err(format!("invalid semantic version {s:?}"));
    }
    let mut nums = [0u64; 3];
    let mut given = 0;
    for (i, p) in parts.iter().enumerate() {
        if matches!(*p, "x" | "X" | "*") {
            break;
        }
        nums[i] = p.parse().map_err(|_| format!("invalid semantic version {s:?}"))?;
        given = i + 1;
    }
    Ok((
        Version {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre: pre.into(),
            meta: meta.into(),
        },
        given,
    ))
}

fn bump(v: &Version, given: usize) -> Version {
    let mut n = Version {
        major: v.major,
        minor: v.minor,
        patch: v.patch,
        pre: String::new(),
        meta: String::new(),
    };
    match given {
        0 => n.major = u64::MAX,
        1 => {
            n.major += 1;
            n.minor = 0;
            n.patch = 0;
        }
        2 => {
            n.minor += 1;
            n.patch = 0;
        }
        _ => n.patch += 1,
    }
    n
}

fn term_matches(op: &str, c: &Version, given: usize, v: &Version) -> bool {
    // Pre-releases only match constraints that carry a pre-release on the same core version,
    // or any constraint with a pre-release part (Masterminds v3 behaviour).
    if !v.pre.is_empty() && c.pre.is_empty() {
        return false;
    }
    let lower = Version {
        pre: c.pre.clone(),
        meta: String::new(),
        ..c.clone()
    };
    let in_wild = |v: &Version| given < 3 && *v >= lower && v.cmp_core(&bump(c, given)) == Ordering::Less;
    match op {
        "" | "=" => {
            if given < 3 {
                in_wild(v)
            } else {
                v.cmp(&lower) == Ordering::Equal
            }
        }
        "!=" => {
            if given < 3 {
                !in_wild(v)
            } else {
                v.cmp(&lower) != Ordering::Equal
            }
        }
        ">" => {
            if given < 3 {
                v.cmp_core(&bump(c, given)) != Ordering::Less
            } else {
                *v > lower
            }
        }
        ">=" | "=>" => *v >= lower,
        "<" => *v < lower,
        "<=" | "=<" => {
            if given < 3 {
                v.cmp_core(&bump(c, given)) == Ordering::Less
            } else {
                *v <= lower
            }
        }
        "~" | "~>" => *v >= lower && v.cmp_core(&bump(c, given.clamp(1, 2))) == Ordering::Less,
        "^" => {
            let upper = if c.major > 0 || given <= 1 {
                bump(c, 1)
            } else if c.minor > 0 || given == 2 {
                bump(c, 2)
            } else {
                bump(c, 3)
            };
            *v >= lower && v.cmp_core(&upper) == Ordering::Less
        }
        _ => false,
    }
}

fn split_op(term: &str) -> (&str, &str) {
    let ops = ["!=", ">=", "=>", "<=", "=<", "~>", ">", "<", "=", "~", "^"];
    for op in ops {
        if let Some(rest) = term.strip_prefix(op) {
            return (op, rest.trim());
        }
    }
    ("", term)
}

/// Whether `version` satisfies `constraint`.
pub fn matches(constraint: &str, version: &Version) -> Result<bool, String> {
    for group in constraint.split("||") {
        // Tokens: operators may be separated from their version by spaces; `a - b` is a range.
        let raw: Vec<&str> = group.split([',', ' ']).filter(|t| !t.is_empty()).collect();
        let mut terms: Vec<String> = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            let t = raw[i];
            if t == "-" && !terms.is_empty() && i + 1 < raw.len() {
                let low = terms.pop().unwrap_or_default();
                terms.push(format!(">={low}"));
                terms.push(format!("<={}", raw[i + 1]));
                i += 2;
                continue;
            }
            if split_op(t).1.is_empty() && i + 1 < raw.len() {
                terms.push(format!("{t}{}", raw[i + 1]));
                i += 2;
                continue;
            }
            terms.push(t.to_owned());
            i += 1;
        }
        if terms.is_empty() {
            return Err(format!("improper constraint: {constraint:?}"));
        }
        let mut all = true;
        for t in &terms {
            let (op, ver) = split_op(t);
            if matches!(ver, "*" | "x" | "X") {
                if !version.pre.is_empty() {
                    all = false;
                }
                continue;
            }
            let (c, given) = parse_parts(ver).map_err(|_| format!("improper constraint: {constraint:?}"))?;
            if !term_matches(op, &c, given, version) {
                all = false;
                break;
            }
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `semverCompare constraint version`.
pub fn compare(constraint: &str, version: &str) -> Result<bool, String> {
    let v = Version::parse(version)?;
    matches(constraint, &v)
}

/// `semver version`: a map with `Major`, `Minor`, `Patch`, `Prerelease`, `Metadata`, `Original`.
pub fn object(version: &str) -> Result<Value, String> {
    let v = Version::parse(version)?;
    let m: BTreeMap<String, Value> = [
        ("Major", Value::Int(v.major as i64)),
        ("Minor", Value::Int(v.minor as i64)),
        ("Patch", Value::Int(v.patch as i64)),
        ("Prerelease", Value::Str(v.pre)),
        ("Metadata", Value::Str(v.meta)),
        ("Original", Value::str(version)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Ok(Value::map(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(c: &str, v: &str) -> bool {
        compare(c, v).unwrap()
    }

    #[test]
    fn basic_operators() {
        assert!(ok(">=1.19", "v1.31.0"));
        assert!(!ok("<1.19", "1.31.0"));
        assert!(ok(">=1.19-0", "v1.28.3-gke.1286000"));
        assert!(!ok(">=1.19", "v1.28.3-gke.1286000"));
        assert!(ok("~1.2.3", "1.2.9"));
        assert!(!ok("~1.2.3", "1.3.0"));
        assert!(ok("^1.2", "1.9.0"));
        assert!(!ok("^0.2.3", "0.3.0"));
        assert!(ok("1.2.x", "1.2.7"));
        assert!(ok(">1.2", "1.3.0") && !ok(">1.2", "1.2.5"));
        assert!(ok("<=1.2", "1.2.9") && !ok("<=1.2", "1.3.0"));
        assert!(ok("!=1.2.3", "1.2.4"));
    }

    #[test]
    fn compound_constraints() {
        assert!(ok(">= 1.20, < 1.32", "1.31.0"));
        assert!(ok(">=1.20 <1.32", "1.31.0"));
        assert!(ok("<1.0 || >=2.0", "2.1.0"));
        assert!(ok("1.2 - 1.4.5", "1.4.0"));
        assert!(!ok("1.2 - 1.4.5", "1.4.6"));
        assert!(compare("banana", "1.0.0").is_err());
        assert!(compare(">1", "not-a-version").is_err());
    }

    #[test]
    fn pre_release_ordering() {
        let a = Version::parse("1.0.0-alpha").unwrap();
        let b = Version::parse("1.0.0-alpha.1").unwrap();
        let c = Version::parse("1.0.0").unwrap();
        assert!(a < b && b < c);
    }
}
