//! dpkg version ordering (Debian Policy §5.6.12, dpkg's `verrevcmp`): `[epoch:]upstream[-revision]`,
//! where `~` sorts before everything, even the end of the string.

use std::cmp::Ordering;

struct Parsed<'a> {
    epoch: u64,
    upstream: &'a str,
    revision: &'a str,
}

fn parse(s: &str) -> Option<Parsed<'_>> {
    let s = s.trim();
    if s.is_empty() || s.chars().any(char::is_whitespace) {
        return None;
    }
    let (epoch, rest) = match s.split_once(':') {
        Some((e, rest)) => {
            if e.is_empty() || !e.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            (e.parse::<u64>().ok()?, rest)
        }
        None => (0, s),
    };
    let (upstream, revision) = match rest.rfind('-') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    if upstream.is_empty() {
        return None;
    }
    Some(Parsed {
        epoch,
        upstream,
        revision,
    })
}

/// The weight of a non-digit character: `~` lowest, then the end, then letters, then the rest.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp` on one part (upstream or revision).
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let at = |k: usize| a.get(k).copied();
    let bt = |k: usize| b.get(k).copied();
    let non_digit = |c: Option<u8>| c.is_some_and(|c| !c.is_ascii_digit());
    while i < a.len() || j < b.len() {
        while non_digit(at(i)) || non_digit(bt(j)) {
            let (ac, bc) = (order(at(i)), order(bt(j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while at(i) == Some(b'0') {
            i += 1;
        }
        while bt(j) == Some(b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while at(i).is_some_and(|c| c.is_ascii_digit()) && bt(j).is_some_and(|c| c.is_ascii_digit()) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if at(i).is_some_and(|c| c.is_ascii_digit()) {
            return Ordering::Greater;
        }
        if bt(j).is_some_and(|c| c.is_ascii_digit()) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// Compare two dpkg versions. `None` if either is empty, has whitespace, a non-numeric epoch or
/// an empty upstream part.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (parse(a)?, parse(b)?);
    Some(
        a.epoch
            .cmp(&b.epoch)
            .then_with(|| verrevcmp(a.upstream.as_bytes(), b.upstream.as_bytes()))
            .then_with(|| verrevcmp(a.revision.as_bytes(), b.revision.as_bytes())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_tilde_order() {
        // Debian Policy §5.6.12: "~~" < "~~a" < "~" < "" < "a".
        let order = ["1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a"];
        for w in order.windows(2) {
            assert_eq!(compare(w[0], w[1]), Some(Ordering::Less), "{} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn invalid() {
        assert_eq!(compare("", "1"), None);
        assert_eq!(compare("a:1", "1"), None);
        assert_eq!(compare("1 2", "1"), None);
        assert_eq!(compare("1:-1", "1"), None);
    }
}
