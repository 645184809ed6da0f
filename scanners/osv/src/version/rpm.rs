//! rpm version ordering: `rpmvercmp` on version and release (with `~` sorting before
//! everything and `^` after the end but before anything else), and EVR comparison
//! (`[epoch:]version[-release]`, a missing epoch being 0).

use std::cmp::Ordering;

fn is_alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

/// rpm's `rpmvercmp` on one part (version or release).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);
    let at = |k: usize| a.get(k).copied();
    let bt = |k: usize| b.get(k).copied();
    while i < a.len() || j < b.len() {
        while at(i).is_some_and(|c| !is_alnum(c) && c != b'~' && c != b'^') {
            i += 1;
        }
        while bt(j).is_some_and(|c| !is_alnum(c) && c != b'~' && c != b'^') {
            j += 1;
        }
        // Tilde: sorts before everything else, even the end.
        if at(i) == Some(b'~') || bt(j) == Some(b'~') {
            if at(i) != Some(b'~') {
                return Ordering::Greater;
            }
            if bt(j) != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        // Caret: sorts after the end of the string but before anything else.
        if at(i) == Some(b'^') || bt(j) == Some(b'^') {
            if at(i).is_none() {
                return Ordering::Less;
            }
            if bt(j).is_none() {
                return Ordering::Greater;
            }
            if at(i) != Some(b'^') {
                return Ordering::Greater;
            }
            if bt(j) != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if at(i).is_none() || bt(j).is_none() {
            break;
        }
        let (si, sj) = (i, j);
        let numeric = a[i].is_ascii_digit();
        let class = |c: u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        while at(i).is_some_and(class) {
            i += 1;
        }
        while bt(j).is_some_and(class) {
            j += 1;
        }
        let (mut sa, mut sb) = (&a[si..i], &b[sj..j]);
        // Segments of different types: numeric is newer than alphabetic.
        if sb.is_empty() {
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        if numeric {
            while sa.first() == Some(&b'0') {
                sa = &sa[1..];
            }
            while sb.first() == Some(&b'0') {
                sb = &sb[1..];
            }
            match sa.len().cmp(&sb.len()) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        match sa.cmp(sb) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    match (at(i).is_none(), bt(j).is_none()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

struct Evr<'a> {
    epoch: u64,
    version: &'a str,
    release: Option<&'a str>,
}

fn parse_evr(s: &str) -> Option<Evr<'_>> {
    let s = s.trim();
    if s.is_empty() || s.chars().any(char::is_whitespace) {
        return None;
    }
    let (epoch, rest) = match s.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => (e.parse().ok()?, rest),
        Some(("", rest)) => (0, rest),
        Some(_) => return None,
        None => (0, s),
    };
    let (version, release) = match rest.rsplit_once('-') {
        Some((v, r)) => (v, Some(r)),
        None => (rest, None),
    };
    if version.is_empty() {
        return None;
    }
    Some(Evr {
        epoch,
        version,
        release: release.filter(|r| !r.is_empty()),
    })
}

/// Compare two rpm EVR strings. The release is compared only when both sides have one (as
/// rpm does when a dependency names no release). `None` for empty or whitespace-carrying
/// input, or a non-numeric epoch.
pub fn compare_evr(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (parse_evr(a)?, parse_evr(b)?);
    let mut ord = a.epoch.cmp(&b.epoch).then_with(|| rpmvercmp(a.version, b.version));
    if let (Some(ra), Some(rb)) = (a.release, b.release) {
        ord = ord.then_with(|| rpmvercmp(ra, rb));
    }
    Some(ord)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evr() {
        assert_eq!(compare_evr("1:1.0-1", "2.0-1"), Some(Ordering::Greater));
        assert_eq!(compare_evr("0:1.0-1.el9", "1.0-1.el9"), Some(Ordering::Equal));
        assert_eq!(compare_evr("1.0-1.el9", "1.0-2.el9"), Some(Ordering::Less));
        assert_eq!(compare_evr("1.0", "1.0-2.el9"), Some(Ordering::Equal));
        assert_eq!(compare_evr("3.0.7-24.el9", "3.0.7-27.el9_5"), Some(Ordering::Less));
        assert_eq!(compare_evr("x:1", "1"), None);
    }
}
