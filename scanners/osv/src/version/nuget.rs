//! NuGet version ordering (`NuGetVersion`, the rules of NuGet.Versioning's
//! `VersionComparer.Default`): up to four release numbers (`1.2`, `1.2.3`, `1.2.3.4`; missing
//! ones are 0, leading zeros are allowed and ignored), an optional pre-release label of
//! dot-separated identifiers compared as SemVer 2.0 does but **case-insensitively**, and build
//! metadata after `+` that does not count. A release sorts after its pre-releases.

use std::cmp::Ordering;

/// Longest version text compared (NuGet's own limit on a package version is far below this).
const MAX_LEN: usize = 256;

/// A parsed NuGet version: the four release numbers and the pre-release identifiers.
struct Version<'a> {
    release: [u64; 4],
    pre: Vec<&'a str>,
}

fn parse(s: &str) -> Option<Version<'_>> {
    let s = s.trim();
    if s.is_empty() || s.len() > MAX_LEN {
        return None;
    }
    // Build metadata does not take part in ordering.
    let s = match s.split_once('+') {
        Some((v, meta)) if valid_label(meta) => v,
        Some(_) => return None,
        None => s,
    };
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (s, None),
    };
    let mut release = [0u64; 4];
    for (i, part) in core.split('.').enumerate() {
        if i == 4 || part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        release[i] = part.parse().ok()?;
    }
    let pre = match pre {
        Some(p) if valid_label(p) => p.split('.').collect(),
        Some(_) => return None,
        None => Vec::new(),
    };
    Some(Version { release, pre })
}

/// Dot-separated, non-empty identifiers of ASCII letters, digits and `-`.
fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|id| !id.is_empty() && id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
}

/// Compare two pre-release identifiers: numbers numerically, below any alphanumeric one;
/// alphanumeric ones by ordinal comparison ignoring ASCII case.
fn compare_identifier(a: &str, b: &str) -> Ordering {
    let numeric = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    match (numeric(a), numeric(b)) {
        (true, true) => {
            let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
            a.len().cmp(&b.len()).then_with(|| a.cmp(b))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a
            .bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.bytes().map(|c| c.to_ascii_lowercase())),
    }
}

/// NuGet ordering of `a` and `b`; `None` when either is not a NuGet version.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (parse(a)?, parse(b)?);
    let by_release = a.release.cmp(&b.release);
    if by_release != Ordering::Equal {
        return Some(by_release);
    }
    Some(match (a.pre.is_empty(), b.pre.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            for (x, y) in a.pre.iter().zip(&b.pre) {
                let o = compare_identifier(x, y);
                if o != Ordering::Equal {
                    return Some(o);
                }
            }
            a.pre.len().cmp(&b.pre.len())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn release_numbers_up_to_four_missing_ones_zero() {
        assert_eq!(compare("1.0", "1.0.0.0"), Some(Equal));
        assert_eq!(compare("1.01", "1.1"), Some(Equal));
        assert_eq!(compare("6.0.1306", "6.0.1306.0"), Some(Equal));
        assert_eq!(compare("4.3.0.1", "4.3.0"), Some(Greater));
        assert_eq!(compare("13.0.1", "13.0.3"), Some(Less));
        assert_eq!(compare("10.0.0", "9.9.9.9"), Some(Greater));
        assert_eq!(compare("1.2.3.4.5", "1.0"), None);
        assert_eq!(compare("1..2", "1.0"), None);
        assert_eq!(compare("", "1.0"), None);
        assert_eq!(compare("1.0-", "1.0"), None);
    }

    #[test]
    fn prereleases_sort_before_the_release_case_insensitively() {
        assert_eq!(compare("8.0.0-preview.7.23375.6", "8.0.0"), Some(Less));
        assert_eq!(compare("1.0.0-Beta", "1.0.0-beta"), Some(Equal));
        assert_eq!(compare("1.0.0-alpha", "1.0.0-BETA"), Some(Less));
        assert_eq!(compare("1.0.0-rc.2", "1.0.0-rc.10"), Some(Less));
        assert_eq!(compare("1.0.0-1", "1.0.0-alpha"), Some(Less));
        assert_eq!(compare("1.0.0-alpha", "1.0.0-alpha.1"), Some(Less));
    }

    #[test]
    fn metadata_does_not_count() {
        assert_eq!(compare("1.0.0+abc", "1.0.0+def"), Some(Equal));
        assert_eq!(compare("1.0.0-beta+abc", "1.0.0-beta"), Some(Equal));
        assert_eq!(compare("1.0.0+", "1.0.0"), None);
    }
}
