//! The lexical layer of the template parser: splitting source into text and `{{ … }}` actions
//! (with `{{-` / `-}}` trimming and comments), and tokenizing the inside of an action.

use super::parse::ParseError;

pub(super) enum Item {
    Text(String),
    Action { src: String, line: usize },
}

pub(super) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

pub(super) fn split(name: &str, src: &str) -> Result<Vec<Item>, ParseError> {
    let b = src.as_bytes();
    let mut items = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    let line_at = |i: usize| src[..i].bytes().filter(|&c| c == b'\n').count() + 1;
    let err = |i: usize, m: &str| ParseError {
        template: name.into(),
        line: line_at(i),
        message: m.into(),
    };
    while pos <= b.len() {
        let Some(off) = src[pos..].find("{{") else {
            let mut text = &src[pos..];
            if trim_next {
                text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            }
            if !text.is_empty() {
                items.push(Item::Text(text.to_owned()));
            }
            break;
        };
        let start = pos + off;
        let mut text = &src[pos..start];
        if trim_next {
            text = text.trim_start_matches([' ', '\t', '\r', '\n']);
        }
        let mut i = start + 2;
        let trim_left = b.get(i) == Some(&b'-') && b.get(i + 1).is_some_and(|&c| is_space(c));
        if trim_left {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            i += 2;
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_owned()));
        }
        // Comment?
        let mut j = i;
        while j < b.len() && is_space(b[j]) {
            j += 1;
        }
        if src[j..].starts_with("/*") {
            let close = src[j..].find("*/").ok_or_else(|| err(start, "unclosed comment"))? + j + 2;
            let mut k = close;
            while k < b.len() && is_space(b[k]) {
                k += 1;
            }
            let trim_right = src[k..].starts_with("-}}") && k > close;
            if trim_right {
                k += 1;
            }
            if !src[k..].starts_with("}}") {
                return Err(err(start, "comment ends before closing delimiter"));
            }
            trim_next = trim_right;
            pos = k + 2;
            continue;
        }
        // Find the closing delimiter outside quotes.
        let mut k = i;
        let end = loop {
            if k >= b.len() {
                return Err(err(start, "unclosed action"));
            }
            match b[k] {
                b'"' => {
                    k += 1;
                    while k < b.len() && b[k] != b'"' {
                        if b[k] == b'\\' {
                            k += 1;
                        }
                        if k < b.len() && b[k] == b'\n' {
                            return Err(err(start, "unterminated quoted string"));
                        }
                        k += 1;
                    }
                    k += 1;
                }
                b'`' => {
                    k += 1;
                    while k < b.len() && b[k] != b'`' {
                        k += 1;
                    }
                    k += 1;
                }
                b'\'' => {
                    k += 1;
                    while k < b.len() && b[k] != b'\'' {
                        if b[k] == b'\\' {
                            k += 1;
                        }
                        k += 1;
                    }
                    k += 1;
                }
                b'}' if b.get(k + 1) == Some(&b'}') => break k,
                _ => k += 1,
            }
        };
        let mut inner_end = end;
        let trim_right = end >= 2 && b[end - 1] == b'-' && is_space(b[end - 2]) && end > i;
        if trim_right {
            inner_end = end - 1;
        }
        items.push(Item::Action {
            src: src[i..inner_end].to_owned(),
            line: line_at(start),
        });
        trim_next = trim_right;
        pos = end + 2;
    }
    Ok(items)
}

// ---------------------------------------------------------------------------------------------
// Tokens.

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Field(String),
    Dot,
    Var(String),
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) tok: Tok,
    /// Whether whitespace precedes the token (a field only chains onto what it touches).
    pub(super) spaced: bool,
}

pub(super) fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut spaced = true;
    let ident_char = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    while i < b.len() {
        let c = b[i];
        if is_space(c) {
            spaced = true;
            i += 1;
            continue;
        }
        let start = i;
        let tok = match c {
            b'|' => {
                i += 1;
                Tok::Pipe
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Declare
            }
            b'=' => {
                i += 1;
                Tok::Assign
            }
            b'.' if b.get(i + 1).is_some_and(|&c| ident_char(c) && !c.is_ascii_digit()) => {
                i += 1;
                while i < b.len() && ident_char(b[i]) {
                    i += 1;
                }
                Tok::Field(src[start + 1..i].to_owned())
            }
            b'.' if !b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i += 1;
                Tok::Dot
            }
            b'$' => {
                i += 1;
                while i < b.len() && ident_char(b[i]) {
                    i += 1;
                }
                Tok::Var(src[start..i].to_owned())
            }
            b'"' => {
                i += 1;
                let mut s = String::new();
                loop {
                    let Some(&c) = b.get(i) else {
                        return Err("unterminated quoted string".into());
                    };
                    match c {
                        b'"' => break,
                        b'\\' => {
                            let (ch, used) = unescape(&src[i..])?;
                            s.push(ch);
                            i += used;
                        }
                        _ => {
                            let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
                            s.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                i += 1;
                Tok::Str(s)
            }
            b'`' => {
                let close = src[i + 1..].find('`').ok_or("unterminated raw quoted string")?;
                let s = src[i + 1..i + 1 + close].to_owned();
                i += close + 2;
                Tok::Str(s)
            }
            b'\'' => {
                let rest = &src[i + 1..];
                let (ch, used) = if rest.starts_with('\\') {
                    unescape(rest)?
                } else {
                    let ch = rest.chars().next().ok_or("unterminated character constant")?;
                    (ch, ch.len_utf8())
                };
                if src.as_bytes().get(i + 1 + used) != Some(&b'\'') {
                    return Err("unterminated character constant".into());
                }
                i += used + 2;
                Tok::Int(ch as i64)
            }
            c if c.is_ascii_digit()
                || ((c == b'-' || c == b'+' || c == b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                i += 1;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'.'
                        || b[i] == b'_'
                        || ((b[i] == b'-' || b[i] == b'+') && matches!(b[i - 1], b'e' | b'E' | b'p' | b'P')))
                {
                    i += 1;
                }
                parse_number(&src[start..i])?
            }
            c if ident_char(c) => {
                while i < b.len() && ident_char(b[i]) {
                    i += 1;
                }
                Tok::Ident(src[start..i].to_owned())
            }
            other => return Err(format!("unexpected {:?} in action", other as char)),
        };
        out.push(Token { tok, spaced });
        spaced = false;
    }
    Ok(out)
}

fn unescape(s: &str) -> Result<(char, usize), String> {
    let b = s.as_bytes();
    let c = *b.get(1).ok_or("unterminated escape")?;
    let simple = match c {
        b'n' => Some('\n'),
        b't' => Some('\t'),
        b'r' => Some('\r'),
        b'\\' => Some('\\'),
        b'"' => Some('"'),
        b'\'' => Some('\''),
        b'a' => Some('\x07'),
        b'b' => Some('\x08'),
        b'f' => Some('\x0c'),
        b'v' => Some('\x0b'),
        _ => None,
    };
    if let Some(ch) = simple {
        return Ok((ch, 2));
    }
    let (digits, radix) = match c {
        b'x' => (2, 16),
        b'u' => (4, 16),
        b'U' => (8, 16),
        b'0'..=b'7' => (3, 8),
        _ => return Err(format!("unknown escape sequence \\{}", c as char)),
    };
    let start = if radix == 8 { 1 } else { 2 };
    let hex = s.get(start..start + digits).ok_or("short escape sequence")?;
    let n = u32::from_str_radix(hex, radix).map_err(|_| format!("bad escape sequence \\{hex}"))?;
    let ch = char::from_u32(n).ok_or_else(|| format!("escape sequence is not a character: {n}"))?;
    Ok((ch, start + digits))
}

fn parse_number(text: &str) -> Result<Tok, String> {
    let clean = text.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(rest) => (true, rest.to_owned()),
        None => (false, clean.trim_start_matches('+').to_owned()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(bin) = lower.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else {
        lower.parse::<i64>().ok()
    };
    if let Some(n) = int {
        return Ok(Tok::Int(if neg { -n } else { n }));
    }
    match lower.parse::<f64>() {
        Ok(f) => Ok(Tok::Float(if neg { -f } else { f })),
        Err(_) => Err(format!("bad number syntax: {text:?}")),
    }
}
