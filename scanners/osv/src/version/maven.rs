//! Maven version ordering, following the rules of Maven's `ComparableVersion` (maven-artifact
//! 3.x, the "version order specification" of the POM reference):
//!
//! - the version is split at `.` and `-` and at every change between digits and letters; a `-`
//!   (and a digit/letter change) opens a nested list;
//! - trailing "null" items (`0`, `""`, `ga`, `final`, `release`, empty lists) are dropped;
//! - qualifiers order `alpha` < `beta` < `milestone` < `rc` = `cr` < `snapshot` < `""` = `ga` =
//!   `final` = `release` < `sp` < unknown qualifiers (alphabetical); `a1`/`b1`/`m1` mean
//!   alpha/beta/milestone when a digit follows directly;
//! - a number is greater than any qualifier; a list sorts between the two.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Int(Vec<u8>), // decimal digits without leading zeros ("" is zero)
    Str(String),  // qualifier, lowercased and with aliases resolved
    List(Vec<Item>),
}

const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

/// The sort key of a qualifier: its index among the known ones, else "7-" + the qualifier,
/// compared as strings (so unknown qualifiers sort after all known ones).
fn qualifier_key(q: &str) -> String {
    match QUALIFIERS.iter().position(|k| *k == q) {
        Some(i) => i.to_string(),
        None => format!("{}-{q}", QUALIFIERS.len()),
    }
}

const RELEASE_KEY: &str = "5";

impl Item {
    fn int(digits: &str) -> Item {
        Item::Int(digits.trim_start_matches('0').as_bytes().to_vec())
    }

    fn string(s: &str, followed_by_digit: bool) -> Item {
        let s = if followed_by_digit && s.len() == 1 {
            match s {
                "a" => "alpha",
                "b" => "beta",
                "m" => "milestone",
                other => other,
            }
        } else {
            s
        };
        let s = match s {
            "ga" | "final" | "release" => "",
            "cr" => "rc",
            other => other,
        };
        Item::Str(s.to_owned())
    }

    fn is_null(&self) -> bool {
        match self {
            Item::Int(d) => d.is_empty(),
            Item::Str(s) => s.is_empty(),
            Item::List(l) => l.is_empty(),
        }
    }

    /// Compare with an absent item (the other version is shorter).
    fn cmp_none(&self) -> Ordering {
        match self {
            Item::Int(d) => {
                if d.is_empty() {
                    Ordering::Equal
                } else {
                    Ordering::Greater
                }
            }
            Item::Str(s) => qualifier_key(s).as_str().cmp(RELEASE_KEY),
            Item::List(l) => l.first().map_or(Ordering::Equal, Item::cmp_none),
        }
    }

    fn cmp_item(&self, other: &Item) -> Ordering {
        match (self, other) {
            (Item::Int(a), Item::Int(b)) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
            (Item::Int(_), _) => Ordering::Greater,
            (Item::Str(_), Item::Int(_)) => Ordering::Less,
            (Item::Str(a), Item::Str(b)) => qualifier_key(a).cmp(&qualifier_key(b)),
            (Item::Str(_), Item::List(_)) => Ordering::Less,
            (Item::List(_), Item::Int(_)) => Ordering::Less,
            (Item::List(_), Item::Str(_)) => Ordering::Greater,
            (Item::List(a), Item::List(b)) => cmp_lists(a, b),
        }
    }
}

fn cmp_lists(a: &[Item], b: &[Item]) -> Ordering {
    for k in 0..a.len().max(b.len()) {
        let ord = match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) => x.cmp_item(y),
            (Some(x), None) => x.cmp_none(),
            (None, Some(y)) => y.cmp_none().reverse(),
            (None, None) => Ordering::Equal,
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Drop trailing null items; zeros before a trailing list go too (`1.0-x` = `1-x`).
fn normalize(list: &mut Vec<Item>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if list[i].is_null() {
            list.remove(i);
        } else if !matches!(list[i], Item::List(_)) {
            break;
        }
    }
}

/// Parse into nested lists. Nesting is kept as a path of open lists, closed (normalised) at
/// the end, innermost first.
fn parse(version: &str) -> Vec<Item> {
    let v = version.trim().to_lowercase();
    let bytes = v.as_bytes();
    // The stack of open lists; each new list is appended to its parent when closed.
    let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
    let mut start = 0usize;
    let mut is_digit = false;
    let item = |s: &str, is_digit: bool, followed_by_digit: bool| {
        if is_digit {
            Item::int(s)
        } else {
            Item::string(s, followed_by_digit)
        }
    };
    for (i, &c) in bytes.iter().enumerate() {
        let top = stack.len() - 1;
        if c == b'.' {
            let it = if i == start {
                Item::int("0")
            } else {
                item(&v[start..i], is_digit, false)
            };
            stack[top].push(it);
            start = i + 1;
        } else if c == b'-' {
            let it = if i == start {
                Item::int("0")
            } else {
                item(&v[start..i], is_digit, false)
            };
            stack[top].push(it);
            start = i + 1;
            stack.push(Vec::new());
        } else if c.is_ascii_digit() {
            if !is_digit && i > start {
                stack[top].push(Item::string(&v[start..i], true));
                start = i;
                stack.push(Vec::new());
            }
            is_digit = true;
        } else {
            if is_digit && i > start {
                stack[top].push(Item::int(&v[start..i]));
                start = i;
                stack.push(Vec::new());
            }
            is_digit = false;
        }
    }
    if bytes.len() > start {
        let top = stack.len() - 1;
        stack[top].push(item(&v[start..], is_digit, false));
    }
    while stack.len() > 1 {
        let mut inner = stack.pop().unwrap_or_default();
        normalize(&mut inner);
        if let Some(parent) = stack.last_mut() {
            parent.push(Item::List(inner));
        }
    }
    let mut root = stack.pop().unwrap_or_default();
    normalize(&mut root);
    root
}

/// Compare two Maven versions. `None` only for empty input: every other string is a version
/// to Maven.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    if a.trim().is_empty() || b.trim().is_empty() {
        return None;
    }
    Some(cmp_lists(&parse(a), &parse(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_and_normalisation() {
        assert_eq!(parse("1.0.0"), vec![Item::int("1")]);
        assert_eq!(parse("1-ga"), vec![Item::int("1")]);
        assert_eq!(compare("1.0-x", "1-x"), Some(Ordering::Equal));
        assert_eq!(compare("2.17.1", "2.17.0"), Some(Ordering::Greater));
        assert_eq!(compare("", "1"), None);
    }
}
