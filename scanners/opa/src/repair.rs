//! Line-preserving workarounds for Rego that OPA accepts but regorus 0.14 refuses, and the
//! classification of the parse errors that remain.
//!
//! regorus is stricter than OPA in a few places. When a parse fails with one of the errors below,
//! the module text is rewritten at the reported position, never adding or removing a line (so
//! every later line number is still the file's), and parsed again:
//!
//! | regorus error | construct OPA accepts | rewrite |
//! |---|---|---|
//! | ``unexpected keyword `import` `` | an `import` after rules | the statement is blanked and parsed on its own for the import list |
//! | `serde_json cannot parse number … out of range` | a number beyond f64 (`1e1000`) | the literal becomes `0`, padded with spaces |
//! | `rule must have a body or assignment` (Rego v1) | a constant function rule `f("x", 0)` | ` := true` after the head, OPA's own meaning |
//! | `else cannot be used with set rules` at a `{` (Rego v0) | `p[x] { … } { … }` | the head is repeated before every further body, OPA's own meaning |
//!
//! Lines longer than regorus's 1024-column default need no rewrite: the parser is given a column
//! limit above the longest line.
//!
//! An error left after the workarounds is classified by [`opa_rejects`]: only errors OPA is
//! known to refuse too (unbalanced brackets, unterminated strings, bad escapes or characters, a
//! missing `package`, an operator with no right operand) are syntax errors; any other error may be
//! a regorus gap, and the module is reported as not parsed rather than as broken.

use regorus::unstable::{Lexer, Source, Token, TokenKind};
use serde::Serialize;

/// A workaround applied to a module before regorus accepted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Workaround {
    /// An `import` after the first rule was blanked and parsed separately.
    LateImport,
    /// A number literal outside f64's range was replaced by `0`.
    NumberOutOfRange,
    /// A bodyless function rule got OPA's implicit `:= true`.
    BodylessFunction,
    /// A partial set rule with several bodies was split into one definition per body.
    SetRuleBodies,
}

/// A parse error as regorus reports it.
#[derive(Debug, Clone)]
pub struct ParseError {
    /// Line (1-based).
    pub line: u32,
    /// Column (1-based, as regorus counts it).
    pub col: u32,
    /// One-line message.
    pub message: String,
    /// Full error text.
    pub full: String,
}

/// The outcome of one rewrite.
#[derive(Debug)]
pub struct Repair {
    /// The rewritten module text (same number of lines).
    pub text: String,
    /// What was done.
    pub kind: Workaround,
    /// The import statement removed from the text, for [`Workaround::LateImport`].
    pub late_import: Option<String>,
}

/// Try to rewrite `text` so that the construct regorus refused at `err` parses.
pub fn repair(text: &str, v1: bool, err: &ParseError) -> Option<Repair> {
    if err.message.contains("unexpected keyword `import`") {
        return late_import(text, err.line);
    }
    if err.full.contains("cannot parse number") && err.full.contains("out of range") {
        return number_out_of_range(text, err.line);
    }
    if v1 && err.message.contains("rule must have a body or assignment") {
        return bodyless_function(text, err);
    }
    if !v1 && err.message.contains("else cannot be used with set rules") {
        return set_rule_bodies(text, err);
    }
    None
}

/// Byte range of line `line` (1-based), without its newline.
fn line_range(text: &str, line: u32) -> Option<(usize, usize)> {
    let mut start = 0usize;
    for (i, l) in text.split('\n').enumerate() {
        if i + 1 == line as usize {
            return Some((start, start + l.len()));
        }
        start += l.len() + 1;
    }
    None
}

fn blank(text: &mut String, from: usize, to: usize) {
    let spaces = " ".repeat(to - from);
    text.replace_range(from..to, &spaces);
}

fn late_import(text: &str, line: u32) -> Option<Repair> {
    let (start, end) = line_range(text, line)?;
    let l = &text[start..end];
    let trimmed = l.trim_start();
    if !(trimmed.starts_with("import ") || trimmed.starts_with("import\t")) {
        return None;
    }
    let from = start + (l.len() - trimmed.len());
    // Keep a trailing comment out of the import text; it is blanked with the rest.
    let stmt = trimmed.split('#').next().unwrap_or(trimmed).trim_end().to_owned();
    let mut out = text.to_owned();
    blank(&mut out, from, end);
    Some(Repair {
        text: out,
        kind: Workaround::LateImport,
        late_import: Some(stmt),
    })
}

fn number_out_of_range(text: &str, line: u32) -> Option<Repair> {
    let (start, end) = line_range(text, line)?;
    let bytes = text.as_bytes();
    let mut out = text.to_owned();
    let mut changed = false;
    let mut i = start;
    while i < end {
        let b = bytes[i];
        let prev_ident = i > start && (bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'_' | b'.'));
        if b.is_ascii_digit() && !prev_ident {
            let mut j = i;
            while j < end && bytes[j].is_ascii_digit() {
                j += 1;
            }
            if j + 1 < end && bytes[j] == b'.' && bytes[j + 1].is_ascii_digit() {
                j += 1;
                while j < end && bytes[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if j < end && matches!(bytes[j], b'e' | b'E') {
                let mut k = j + 1;
                if k < end && matches!(bytes[k], b'+' | b'-') {
                    k += 1;
                }
                if k < end && bytes[k].is_ascii_digit() {
                    j = k;
                    while j < end && bytes[j].is_ascii_digit() {
                        j += 1;
                    }
                }
            }
            let literal = &text[i..j];
            if literal.parse::<f64>().map(|f| f.is_infinite()).unwrap_or(false) {
                let replacement = format!("0{}", " ".repeat(j - i - 1));
                out.replace_range(i..j, &replacement);
                changed = true;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    changed.then_some(Repair {
        text: out,
        kind: Workaround::NumberOutOfRange,
        late_import: None,
    })
}

/// Tokens of `text`, up to the first lexer error (the rest is left out).
fn tokens(text: &str) -> (Vec<Token>, bool) {
    let Ok(source) = Source::from_contents("t.rego".into(), text.to_owned()) else {
        return (Vec::new(), false);
    };
    let mut lexer = Lexer::new(&source);
    lexer.set_max_col(max_col(text));
    let mut out = Vec::new();
    loop {
        match lexer.next_token() {
            Ok(t) if t.0 == TokenKind::Eof => return (out, true),
            Ok(t) => out.push(t),
            Err(_) => return (out, false),
        }
    }
}

/// A column limit above the longest line of `text` (regorus's default is 1024; OPA has none).
pub fn max_col(text: &str) -> std::num::NonZeroU32 {
    let longest = text.split('\n').map(str::len).max().unwrap_or(0);
    let col = u32::try_from(longest.saturating_add(2)).unwrap_or(u32::MAX).max(1024);
    std::num::NonZeroU32::new(col).unwrap_or(std::num::NonZeroU32::MIN)
}

fn sym(t: &Token) -> &str {
    if t.0 == TokenKind::Symbol {
        t.1.text()
    } else {
        ""
    }
}

fn is_open(t: &Token) -> bool {
    matches!(sym(t), "(" | "[" | "{")
}

fn is_close(t: &Token) -> bool {
    matches!(sym(t), ")" | "]" | "}")
}

/// Index of the token closing the bracket opened at `open`.
fn matching_close(toks: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(open) {
        if is_open(t) {
            depth += 1;
        } else if is_close(t) {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Index of the token opening the bracket closed at `close`.
fn matching_open(toks: &[Token], close: usize) -> Option<usize> {
    let mut depth = 0usize;
    for i in (0..=close).rev() {
        if is_close(&toks[i]) {
            depth += 1;
        } else if is_open(&toks[i]) {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

fn token_at(toks: &[Token], line: u32, col: u32) -> Option<usize> {
    toks.iter().position(|t| t.1.line == line && t.1.col == col)
}

fn bodyless_function(text: &str, err: &ParseError) -> Option<Repair> {
    let (toks, _) = tokens(text);
    let start = token_at(&toks, err.line, err.col)?;
    // The head: a rule ref (idents, dots, brackets) and then the argument list.
    let mut i = start;
    while i < toks.len() && sym(&toks[i]) != "(" {
        if is_open(&toks[i]) {
            i = matching_close(&toks, i)?;
        } else if toks[i].0 != TokenKind::Ident && sym(&toks[i]) != "." {
            return None;
        }
        i += 1;
    }
    let close = matching_close(&toks, i)?;
    if let Some(next) = toks.get(close + 1) {
        if matches!(sym(next), ":=" | "=" | "{") || (next.0 == TokenKind::Ident && next.1.text() == "if") {
            return None;
        }
    }
    let at = toks[close].1.end as usize;
    let mut out = text.to_owned();
    out.insert_str(at, " := true");
    Some(Repair {
        text: out,
        kind: Workaround::BodylessFunction,
        late_import: None,
    })
}

fn set_rule_bodies(text: &str, err: &ParseError) -> Option<Repair> {
    let (toks, _) = tokens(text);
    let second = token_at(&toks, err.line, err.col)?;
    if sym(&toks[second]) != "{" || second == 0 {
        return None;
    }
    // Back over the bodies before it to the head.
    let mut k = second;
    while k > 0 && sym(&toks[k - 1]) == "}" {
        k = matching_open(&toks, k - 1)?;
    }
    if k == second || k == 0 {
        return None;
    }
    let head_end = k - 1;
    let mut depth = 0usize;
    let mut head_start = None;
    for h in (0..=head_end).rev() {
        if is_close(&toks[h]) {
            depth += 1;
        } else if is_open(&toks[h]) {
            depth = depth.checked_sub(1)?;
        }
        if depth == 0 && (h == 0 || toks[h - 1].1.line < toks[h].1.line) {
            head_start = Some(h);
            break;
        }
    }
    let head_start = head_start?;
    if toks[head_start].0 != TokenKind::Ident || toks[head_end].0 != TokenKind::Symbol {
        return None;
    }
    let head = text.get(toks[head_start].1.start as usize..toks[head_end].1.end as usize)?;
    if head.contains('#') {
        return None;
    }
    let head = head.replace(['\n', '\r'], " ");
    // Every further body gets its own copy of the head.
    let mut inserts = Vec::new();
    let mut i = second;
    while i < toks.len() && sym(&toks[i]) == "{" {
        inserts.push(toks[i].1.start as usize);
        i = matching_close(&toks, i)? + 1;
    }
    let mut out = text.to_owned();
    for at in inserts.into_iter().rev() {
        out.insert_str(at, &format!("{head} "));
    }
    Some(Repair {
        text: out,
        kind: Workaround::SetRuleBodies,
        late_import: None,
    })
}

/// Whether OPA is known to refuse a module regorus could not parse, and why. `None` means the
/// error may be a regorus gap.
pub fn opa_rejects(text: &str, err: &ParseError) -> Option<String> {
    const LEXICAL: &[(&str, &str)] = &[
        ("unmatched `", "unterminated raw string"),
        ("unmatched \"", "unterminated string"),
        ("invalid character in string", "string not closed on its line"),
        ("invalid string literal", "invalid string literal"),
        ("serde_json cannot parse string", "invalid string literal"),
        ("invalid character", "invalid character"),
        ("Missing package declaration", "no package declaration"),
    ];
    if let Some((_, why)) = LEXICAL.iter().find(|(m, _)| err.full.contains(m)) {
        return Some((*why).to_owned());
    }
    let (toks, complete) = tokens(text);
    if complete {
        let mut stack: Vec<&Token> = Vec::new();
        for t in &toks {
            if is_open(t) {
                stack.push(t);
            } else if is_close(t) {
                let expected = match stack.pop().map(sym) {
                    Some("(") => ")",
                    Some("[") => "]",
                    Some(_) => "}",
                    None => {
                        return Some(format!(
                            "unbalanced brackets: `{}` at line {} closes nothing",
                            sym(t),
                            t.1.line
                        ))
                    }
                };
                if sym(t) != expected {
                    return Some(format!(
                        "unbalanced brackets: `{}` at line {} where `{expected}` was expected",
                        sym(t),
                        t.1.line
                    ));
                }
            }
        }
        if let Some(open) = stack.last() {
            return Some(format!(
                "unbalanced brackets: `{}` opened at line {} is never closed",
                sym(open),
                open.1.line
            ));
        }
    }
    const INFIX: &[&str] = &[
        "==", "!=", "<=", ">=", "<", ">", ":=", "=", "+", "*", "/", "%", "|", "&", ":",
    ];
    for w in toks.windows(2) {
        if INFIX.contains(&sym(&w[0])) && is_close(&w[1]) {
            return Some(format!(
                "`{}` without a right operand at line {}",
                sym(&w[0]),
                w[0].1.line
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: u32, col: u32, message: &str) -> ParseError {
        ParseError {
            line,
            col,
            message: message.into(),
            full: message.into(),
        }
    }

    #[test]
    fn rewrites_keep_every_line() {
        let src = "package p\n\nx := 1e1000\ny := 2\n";
        let r = number_out_of_range(src, 3).unwrap();
        assert_eq!(r.text, "package p\n\nx := 0     \ny := 2\n");
        let src = "package p\n\nx := 1\nimport data.lib.y as z # why\n";
        let r = late_import(src, 4).unwrap();
        assert_eq!(r.late_import.as_deref(), Some("import data.lib.y as z"));
        assert_eq!(r.text.lines().count(), src.lines().count());
        assert!(!r.text.contains("import"));
    }

    #[test]
    fn bodyless_function_gets_true() {
        let src = "package p\n\n_is_name(\"var\", 0)\n\n_is_name(\"string\", pos) if pos > 0\n";
        let r = bodyless_function(src, &err(3, 1, "rule must have a body or assignment")).unwrap();
        assert!(r.text.contains("_is_name(\"var\", 0) := true\n"), "{}", r.text);
        // A rule that has a value is not touched.
        assert!(bodyless_function("package p\nf(x) := 1\n", &err(2, 1, "")).is_none());
    }

    #[test]
    fn set_rule_bodies_are_split() {
        let src = "package p\n\nviolation[{\"msg\": msg}] {\n  a\n  msg := \"x{\"\n} {\n  b\n  msg := \"y\"\n} {\n  c\n  msg := \"z\"\n}\n";
        let r = set_rule_bodies(src, &err(6, 3, "else cannot be used with set rules")).unwrap();
        assert_eq!(r.text.matches("violation[{\"msg\": msg}] {").count(), 3, "{}", r.text);
        assert_eq!(r.text.lines().count(), src.lines().count());
    }

    #[test]
    fn only_known_errors_are_opa_rejections() {
        let e = err(1, 1, "unexpected token");
        let why = |src: &str| opa_rejects(src, &e);
        assert_eq!(
            why("package p\n\nallow if {\n").as_deref(),
            Some("unbalanced brackets: `{` opened at line 3 is never closed")
        );
        assert_eq!(
            why("package p\n\nx := [1, 2}\n").as_deref(),
            Some("unbalanced brackets: `}` at line 3 where `]` was expected")
        );
        assert_eq!(
            why("package p\n\nallow if { x ==\n}\n").as_deref(),
            Some("`==` without a right operand at line 3")
        );
        assert_eq!(why("package p\n\nallow if { x == 1 }\n"), None);
        assert_eq!(why("package p\n\nx := [1, 2,]\n"), None);
        assert_eq!(
            opa_rejects("", &err(1, 1, "unmatched \"")).as_deref(),
            Some("unterminated string")
        );
    }
}
