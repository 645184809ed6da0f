//! Packagist (Composer) version ordering: Composer's normalisation (leading `v` dropped, build
//! metadata dropped, the numeric part padded to four components so `1.0` = `1.0.0.0`) followed
//! by PHP's `version_compare`: parts split at `.`, `-`, `_`, `+` and digit/letter changes;
//! special forms order `dev` < `alpha` = `a` < `beta` = `b` < `RC` = `rc` < a number < `pl` =
//! `p`, matched by prefix as PHP does; any other word sorts before `dev`.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Num(String), // digits without leading zeros
    Word(String),
}

fn special_order(w: &str) -> i32 {
    const FORMS: [(&str, i32); 10] = [
        ("dev", 0),
        ("alpha", 1),
        ("a", 1),
        ("beta", 2),
        ("b", 2),
        ("RC", 3),
        ("rc", 3),
        ("#", 4),
        ("pl", 5),
        ("p", 5),
    ];
    FORMS.iter().find(|(f, _)| w.starts_with(f)).map_or(-1, |(_, o)| *o)
}

fn parts(s: &str) -> Option<Vec<Part>> {
    let s = s.trim();
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let s = s.split('+').next().unwrap_or(s);
    if !s.starts_with(|c: char| c.is_ascii_digit()) || s.chars().any(char::is_whitespace) {
        return None;
    }
    let s = s.to_lowercase();
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i].is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Part::Num(s[start..i].trim_start_matches('0').to_owned()));
        } else if matches!(b[i], b'.' | b'-' | b'_') {
            i += 1;
        } else {
            while i < b.len() && !b[i].is_ascii_digit() && !matches!(b[i], b'.' | b'-' | b'_') {
                i += 1;
            }
            out.push(Part::Word(s[start..i].to_owned()));
        }
    }
    // Composer pads the leading numeric components to four (`1.2` → `1.2.0.0`).
    let numeric = out.iter().take_while(|p| matches!(p, Part::Num(_))).count();
    if numeric < 4 {
        let pad = std::iter::repeat_n(Part::Num(String::new()), 4 - numeric);
        out.splice(numeric..numeric, pad);
    }
    Some(out)
}

fn cmp_part(a: &Part, b: &Part) -> Ordering {
    match (a, b) {
        (Part::Num(x), Part::Num(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
        (Part::Word(x), Part::Word(y)) => special_order(x).cmp(&special_order(y)),
        (Part::Num(_), Part::Word(y)) => special_order("#").cmp(&special_order(y)),
        (Part::Word(x), Part::Num(_)) => special_order(x).cmp(&special_order("#")),
    }
}

/// Compare two Composer versions; `None` for branch names (`dev-main`) and other strings that
/// do not start with a number.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (x, y) = (parts(a)?, parts(b)?);
    for (p, q) in x.iter().zip(&y) {
        let ord = cmp_part(p, q);
        if ord != Ordering::Equal {
            return Some(ord);
        }
    }
    // One is longer: a number makes it greater; a word compares with a number ("#").
    let hash = Part::Word("#".into());
    Some(match x.len().cmp(&y.len()) {
        Ordering::Greater => match &x[y.len()] {
            Part::Num(_) => Ordering::Greater,
            w => cmp_part(w, &hash),
        },
        Ordering::Less => match &y[x.len()] {
            Part::Num(_) => Ordering::Less,
            w => cmp_part(&hash, w),
        },
        Ordering::Equal => Ordering::Equal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        assert_eq!(compare("1.0", "1.0.0.0"), Some(Ordering::Equal));
        assert_eq!(compare("v2.1.3", "2.1.3"), Some(Ordering::Equal));
        assert_eq!(compare("1.0.0-beta2", "1.0.0"), Some(Ordering::Less));
        assert_eq!(compare("1.0.0-patch1", "1.0.0"), Some(Ordering::Greater));
        assert_eq!(compare("dev-main", "1.0"), None);
    }
}
