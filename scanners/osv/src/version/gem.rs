//! RubyGems version ordering (`Gem::Version#<=>`): segments are runs of digits or of letters;
//! a `-` reads as `.pre.`; trailing zeros of the release part and of the pre-release part are
//! ignored; a letter segment (pre-release) sorts before a number.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Num(Vec<u8>), // digits without leading zeros
    Str(String),
}

fn is_zero(s: &Seg) -> bool {
    matches!(s, Seg::Num(d) if d.is_empty())
}

/// Whether `s` is a version Gem::Version accepts: digits first, then `.`-separated
/// alphanumeric parts, optionally `-` and more parts.
fn is_valid(s: &str) -> bool {
    let (main, pre) = match s.split_once('-') {
        Some((m, p)) => (m, Some(p)),
        None => (s, None),
    };
    let mut parts = main.split('.');
    let first_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    first_ok
        && parts.all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric()))
        && pre.is_none_or(|p| {
            p.split('.')
                .all(|q| !q.is_empty() && q.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
        })
}

/// The canonical segments: release numbers, then the pre-release part, each without trailing
/// zeros.
fn canonical(s: &str) -> Vec<Seg> {
    let s = s.replace('-', ".pre.");
    let mut segs = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i].is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            segs.push(Seg::Num(s[start..i].trim_start_matches('0').as_bytes().to_vec()));
        } else if b[i].is_ascii_alphabetic() {
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            segs.push(Seg::Str(s[start..i].to_owned()));
        } else {
            i += 1;
        }
    }
    let split = segs.iter().position(|s| matches!(s, Seg::Str(_))).unwrap_or(segs.len());
    let mut pre = segs.split_off(split);
    while segs.last().is_some_and(is_zero) {
        segs.pop();
    }
    while pre.last().is_some_and(is_zero) {
        pre.pop();
    }
    segs.extend(pre);
    segs
}

/// Compare two RubyGems versions; `None` if either is not a valid gem version.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (a.trim(), b.trim());
    if !is_valid(a) || !is_valid(b) {
        return None;
    }
    let (x, y) = (canonical(a), canonical(b));
    let zero = Seg::Num(Vec::new());
    for k in 0..x.len().max(y.len()) {
        let l = x.get(k).unwrap_or(&zero);
        let r = y.get(k).unwrap_or(&zero);
        let ord = match (l, r) {
            (Seg::Num(p), Seg::Num(q)) => p.len().cmp(&q.len()).then_with(|| p.cmp(q)),
            (Seg::Str(_), Seg::Num(_)) => Ordering::Less,
            (Seg::Num(_), Seg::Str(_)) => Ordering::Greater,
            (Seg::Str(p), Seg::Str(q)) => p.cmp(q),
        };
        if ord != Ordering::Equal {
            return Some(ord);
        }
    }
    Some(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        assert_eq!(compare("1.0", "1.0.0"), Some(Ordering::Equal));
        assert_eq!(compare("1.0.a", "1.0"), Some(Ordering::Less));
        assert_eq!(compare("1.2.3-1", "1.2.3"), Some(Ordering::Less));
        assert_eq!(compare("junk", "1.0"), None);
        assert_eq!(compare("1..0", "1.0"), None);
    }
}
