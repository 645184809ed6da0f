//! Go's regular expressions (RE2 syntax, Go's `regexp/syntax`) on the Rust `regex_lite` engine.
//!
//! The two syntaxes agree on almost everything charts write; where Go accepts what Rust rejects,
//! or reads the same text differently, the pattern is rewritten first:
//! - in a bracket class, a `-` next to a class escape (`[\w-\.]`, `[\d-z]`) is a literal in Go;
//!   Rust reads it as a range and rejects it: it becomes `\-`;
//! - in a bracket class, `[` (other than `[:alpha:]`), `&&`, `--` and `~~` are literals in Go;
//!   Rust reads nested classes and set operations: they are escaped;
//! - `\Q…\E` quotes a literal in Go; Rust has no such syntax: the text is escaped instead;
//! - `\0`, `\012`, `\101` are octal escapes in Go; Rust has none by default: they become `\x{…}`.
//!
//! Anything else passes through unchanged, and `regex_lite` reports what it cannot compile
//! (Unicode classes such as `\pL` among them).

/// Rewrite a Go (RE2) pattern into the Rust `regex` syntax with the same meaning.
pub fn translate(pattern: &str) -> String {
    let c: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '\\' if i + 1 < c.len() => {
                let (text, used) = escape(&c, i);
                out.push_str(&text);
                i += used;
            }
            '[' => i = class(&c, i, &mut out),
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// An escape at `c[i] == '\\'` outside a class: the Rust text and the chars used.
fn escape(c: &[char], i: usize) -> (String, usize) {
    match c[i + 1] {
        'Q' => {
            let rest: String = c[i + 2..].iter().collect();
            let (lit, used) = match rest.find("\\E") {
                Some(end) => (&rest[..end], rest[..end].chars().count() + 2),
                None => (rest.as_str(), rest.chars().count()),
            };
            (regex_lite::escape(lit), used + 2)
        }
        d @ '0'..='7' => octal(c, i, d),
        other => (format!("\\{other}"), 2),
    }
}

/// Go's octal escapes: `\0` followed by up to two more octal digits, or a digit 1-7 followed by
/// one or two more (a lone `\1`…`\7` is a backreference, which Go rejects; it is left as it is).
fn octal(c: &[char], i: usize, first: char) -> (String, usize) {
    let digits: String = c[i + 1..]
        .iter()
        .take(3)
        .take_while(|d| ('0'..='7').contains(d))
        .collect();
    if first != '0' && digits.len() < 2 {
        return (format!("\\{first}"), 2);
    }
    let value = u32::from_str_radix(&digits, 8).unwrap_or(0);
    (format!("\\x{{{value:x}}}"), 1 + digits.len())
}

/// Whether `c[j..]` starts a Perl or Unicode class escape (`\d \w \s \D \W \S \pX \p{…} \PX`).
fn is_class_escape(c: &[char], j: usize) -> bool {
    c.get(j) == Some(&'\\') && matches!(c.get(j + 1), Some('d' | 'w' | 's' | 'D' | 'W' | 'S' | 'p' | 'P'))
}

/// Copy a bracket class starting at `c[i] == '['`; returns the index after it.
fn class(c: &[char], i: usize, out: &mut String) -> usize {
    let mut j = i + 1;
    out.push('[');
    if c.get(j) == Some(&'^') {
        out.push('^');
        j += 1;
    }
    // A `]` right after the opening is a literal.
    if c.get(j) == Some(&']') {
        out.push_str("\\]");
        j += 1;
    }
    let mut prev_was_class_escape = false;
    while j < c.len() {
        match c[j] {
            ']' => {
                out.push(']');
                return j + 1;
            }
            '[' if c.get(j + 1) == Some(&':') => {
                // `[:alpha:]`: copied whole.
                let end = (j + 2..c.len().saturating_sub(1)).find(|&k| c[k] == ':' && c[k + 1] == ']');
                match end {
                    Some(k) => {
                        out.extend(&c[j..k + 2]);
                        j = k + 2;
                        prev_was_class_escape = true;
                        continue;
                    }
                    None => out.push_str("\\["),
                }
            }
            '[' => out.push_str("\\["),
            '\\' if j + 1 < c.len() => {
                prev_was_class_escape = is_class_escape(c, j);
                if matches!(c[j + 1], 'p' | 'P') && c.get(j + 2) == Some(&'{') {
                    let end = c[j..].iter().position(|&x| x == '}').map_or(c.len(), |p| j + p + 1);
                    out.extend(&c[j..end]);
                    j = end;
                } else if ('0'..='7').contains(&c[j + 1]) {
                    let (text, used) = octal(c, j, c[j + 1]);
                    out.push_str(&text);
                    j += used;
                } else {
                    out.extend(&c[j..j + 2]);
                    j += 2;
                }
                continue;
            }
            '-' => {
                let at_end = c.get(j + 1) == Some(&']');
                if prev_was_class_escape || is_class_escape(c, j + 1) || at_end || c.get(j + 1) == Some(&'-') {
                    out.push_str("\\-");
                } else {
                    out.push('-');
                }
            }
            '&' | '~' if c.get(j + 1) == Some(&c[j]) => out.push_str(&format!("\\{}", c[j])),
            ch => out.push(ch),
        }
        prev_was_class_escape = false;
        j += 1;
    }
    // Unterminated: let the engine report it.
    j
}

/// Go's `regexp.QuoteMeta`: escapes exactly `\.+*?()|[]{}^$`.
pub fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if "\\.+*?()|[]{}^$".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str) -> regex_lite::Regex {
        regex_lite::Regex::new(&translate(p)).unwrap_or_else(|e| panic!("{p} -> {}: {e}", translate(p)))
    }

    /// Cases from RE2's syntax documentation and Go's `regexp/syntax` parser: what Go matches.
    #[test]
    fn go_semantics_are_kept() {
        // redis-ha's pattern: `-` after a class escape is a literal.
        let r = re(r"^[\w-\.]+$");
        assert!(r.is_match("my-host.example_1"));
        assert!(!r.is_match("a b"));
        assert!(!r.is_match("a/b"));
        let r = re(r"^[\d-z]+$");
        assert!(r.is_match("1-z"));
        assert!(!r.is_match("y"));
        // A trailing or leading `-` is a literal in both.
        assert!(re(r"^[a-]$").is_match("-"));
        // `[` and set operators are literals inside a Go class.
        assert!(re(r"^[a[]$").is_match("["));
        assert!(re(r"^[a&&b]+$").is_match("a&b"));
        assert!(re(r"^[a~~b]+$").is_match("~"));
        assert!(re(r"^[[:alpha:]-]+$").is_match("ab-c"));
        assert!(re(r"^[]a]+$").is_match("]a"));
        // \Q…\E quotes.
        assert!(re(r"^\Q.*+\E$").is_match(".*+"));
        assert!(!re(r"^\Q.*\E$").is_match("ab"));
        assert!(re(r"^a\Q.b").is_match("a.b"));
        // Octal escapes.
        assert!(re(r"^\101\0$").is_match("A\0"));
        assert!(re(r"^[\101-\103]+$").is_match("ABC"));
        // Untouched constructs still mean what they meant.
        assert!(re(r"^(?i)ab+c{2}\.$").is_match("ABbcc."));
        assert_eq!(translate(r"a\.b[x-z]\d"), r"a\.b[x-z]\d");
    }

    #[test]
    fn quote_meta_is_gos() {
        assert_eq!(quote_meta("a-b.c*d#"), r"a-b\.c\*d#");
        assert!(re(&quote_meta("1.2+[x]")).is_match("1.2+[x]"));
    }
}
