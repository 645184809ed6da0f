//! Lexer and parser for Go's `text/template` syntax, as Helm charts use it.
//!
//! The source is first split into text and `{{ … }}` actions (honouring `{{-` / `-}}` whitespace
//! trimming and `{{/* comments */}}`), then each action is tokenized and the control structures
//! (`if` / `else if` / `else`, `range`, `with`, `define`, `block`, `template`, `break`,
//! `continue`) are parsed into a tree. Named templates (`define`, `block`) are returned beside the
//! tree so the caller can put them in the shared set, as Go does.

use std::sync::Arc;

/// A parse failure, with the template name and line as Go prints them.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("template: {template}:{line}: {message}")]
pub struct ParseError {
    /// Template (file) name.
    pub template: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A node of the template tree.
#[derive(Debug, Clone)]
pub enum Node {
    /// Literal text.
    Text(String),
    /// `{{ pipeline }}`: output the value (unless it declares variables).
    Action {
        /// The pipeline.
        pipe: Pipe,
        /// Line of the action.
        line: usize,
    },
    /// `if` / `else if` / `else`.
    If {
        /// Conditions with their bodies, in order.
        branches: Vec<(Pipe, Vec<Node>)>,
        /// The final `else` body.
        else_: Vec<Node>,
        /// Line of the `if`.
        line: usize,
    },
    /// `with` / `else with` / `else`.
    With {
        /// Values with their bodies, in order.
        branches: Vec<(Pipe, Vec<Node>)>,
        /// The final `else` body.
        else_: Vec<Node>,
        /// Line of the `with`.
        line: usize,
    },
    /// `range` with an optional `else`.
    Range {
        /// The pipeline (declares the index and element variables, if any).
        pipe: Pipe,
        /// Body per element.
        body: Vec<Node>,
        /// Body when there are no elements.
        else_: Vec<Node>,
        /// Line of the `range`.
        line: usize,
    },
    /// `template "name" pipeline`.
    Template {
        /// Name of the template to run.
        name: String,
        /// Its data (nil when absent).
        pipe: Option<Pipe>,
        /// Line.
        line: usize,
    },
    /// `break` inside `range`.
    Break(usize),
    /// `continue` inside `range`.
    Continue(usize),
}

/// A pipeline: optional variable declarations and commands joined by `|`.
#[derive(Debug, Clone, Default)]
pub struct Pipe {
    /// Variables declared (`$x :=`) or assigned (`$x =`).
    pub decl: Vec<String>,
    /// `=` rather than `:=`.
    pub assign: bool,
    /// The commands.
    pub cmds: Vec<Cmd>,
}

/// One command of a pipeline: a function call, a method call or a single operand.
#[derive(Debug, Clone, Default)]
pub struct Cmd {
    /// The operands; the first names the function when it is an identifier.
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone)]
pub enum Arg {
    /// `.`
    Dot,
    /// `.A.B` on dot.
    Field(Vec<String>),
    /// `$x.A.B` (`$` alone is the template's root data).
    Var(String, Vec<String>),
    /// A function name.
    Ident(String),
    /// A string literal.
    Str(String),
    /// An integer literal (also character literals).
    Int(i64),
    /// A float literal.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// `( pipeline ).A.B`.
    Sub(Box<Pipe>, Vec<String>),
}

/// A parsed template file: its tree and the named templates it defines.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// The top-level tree.
    pub root: Vec<Node>,
    /// `define` / `block` bodies, in source order.
    pub defines: Vec<(String, Arc<Vec<Node>>)>,
}

/// Parse `src`, named `name` in errors.
pub fn parse(name: &str, src: &str) -> Result<Parsed, ParseError> {
    let items = split(name, src)?;
    let mut p = Parser { name, items, pos: 0, defines: Vec::new(), depth: 0 };
    let (root, end) = p.list()?;
    if let Some((kw, line)) = end {
        return Err(p.err(line, format!("unexpected {{{{{kw}}}}}")));
    }
    Ok(Parsed { root, defines: p.defines })
}

// ---------------------------------------------------------------------------------------------
// Splitting into text and actions.

enum Item {
    Text(String),
    Action { src: String, line: usize },
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn split(name: &str, src: &str) -> Result<Vec<Item>, ParseError> {
    let b = src.as_bytes();
    let mut items = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    let line_at = |i: usize| src[..i].bytes().filter(|&c| c == b'\n').count() + 1;
    let err = |i: usize, m: &str| ParseError { template: name.into(), line: line_at(i), message: m.into() };
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
        items.push(Item::Action { src: src[i..inner_end].to_owned(), line: line_at(start) });
        trim_next = trim_right;
        pos = end + 2;
    }
    Ok(items)
}

// ---------------------------------------------------------------------------------------------
// Tokens.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
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
struct Token {
    tok: Tok,
    /// Whether whitespace precedes the token (a field only chains onto what it touches).
    spaced: bool,
}

fn tokenize(src: &str) -> Result<Vec<Token>, String> {
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
                    let Some(&c) = b.get(i) else { return Err("unterminated quoted string".into()) };
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

// ---------------------------------------------------------------------------------------------
// Parsing.

struct Parser<'a> {
    name: &'a str,
    items: Vec<Item>,
    pos: usize,
    defines: Vec<(String, Arc<Vec<Node>>)>,
    /// Nesting of control structures being parsed.
    depth: usize,
}

/// Deepest nesting of control structures or parentheses a template may have.
pub const MAX_NESTING: usize = 100;

/// The keyword that ended a list (`end`, `else`) with the rest of its tokens and its line.
type Ending = Option<(String, usize)>;

const KEYWORDS: &[&str] =
    &["if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"];

impl Parser<'_> {
    fn err(&self, line: usize, message: String) -> ParseError {
        ParseError { template: self.name.into(), line, message }
    }

    /// Parse nodes until `{{end}}` or `{{else …}}`; returns the terminating action's full text.
    fn list(&mut self) -> Result<(Vec<Node>, Ending), ParseError> {
        self.depth += 1;
        let res = self.list_inner();
        self.depth -= 1;
        res
    }

    fn list_inner(&mut self) -> Result<(Vec<Node>, Ending), ParseError> {
        if self.depth > MAX_NESTING {
            return Err(self.err(0, format!("control structures nested deeper than {MAX_NESTING}")));
        }
        let mut nodes = Vec::new();
        while self.pos < self.items.len() {
            let idx = self.pos;
            self.pos += 1;
            let (src, line) = match &self.items[idx] {
                Item::Text(t) => {
                    nodes.push(Node::Text(t.clone()));
                    continue;
                }
                Item::Action { src, line } => (src.clone(), *line),
            };
            let toks = tokenize(&src).map_err(|m| self.err(line, m))?;
            let Some(first) = toks.first() else {
                return Err(self.err(line, "missing value for command".into()));
            };
            let kw = match &first.tok {
                Tok::Ident(k) if KEYWORDS.contains(&k.as_str()) => k.clone(),
                _ => {
                    let pipe = self.pipeline(&toks, line, false)?;
                    nodes.push(Node::Action { pipe, line });
                    continue;
                }
            };
            let rest = &toks[1..];
            match kw.as_str() {
                "end" | "else" => return Ok((nodes, Some((src.trim().to_owned(), line)))),
                "if" | "with" => {
                    let mut branches = vec![(self.pipeline(rest, line, false)?, Vec::new())];
                    let mut else_ = Vec::new();
                    loop {
                        let (body, end) = self.list()?;
                        if let Some(b) = branches.last_mut() {
                            b.1 = body;
                        }
                        let (end_src, end_line) =
                            end.ok_or_else(|| self.err(line, format!("unexpected EOF: {kw} has no end")))?;
                        if end_src == "end" {
                            break;
                        }
                        let etoks = tokenize(&end_src).map_err(|m| self.err(end_line, m))?;
                        match etoks.get(1).map(|t| &t.tok) {
                            None => {
                                let (body, end) = self.list()?;
                                else_ = body;
                                match end {
                                    Some((e, _)) if e == "end" => break,
                                    _ => return Err(self.err(end_line, format!("expected end after else in {kw}"))),
                                }
                            }
                            Some(Tok::Ident(k)) if k == &kw => {
                                branches.push((self.pipeline(&etoks[2..], end_line, false)?, Vec::new()));
                            }
                            _ => return Err(self.err(end_line, format!("unexpected {end_src:?} in {kw}"))),
                        }
                    }
                    nodes.push(if kw == "if" {
                        Node::If { branches, else_, line }
                    } else {
                        Node::With { branches, else_, line }
                    });
                }
                "range" => {
                    let pipe = self.pipeline(rest, line, true)?;
                    let (body, end) = self.list()?;
                    let mut else_ = Vec::new();
                    match end {
                        Some((e, _)) if e == "end" => {}
                        Some((e, l)) if e == "else" => {
                            let (b, end) = self.list()?;
                            else_ = b;
                            if !matches!(end, Some((e, _)) if e == "end") {
                                return Err(self.err(l, "expected end after else in range".into()));
                            }
                        }
                        Some((e, l)) => return Err(self.err(l, format!("unexpected {e:?} in range"))),
                        None => return Err(self.err(line, "unexpected EOF: range has no end".into())),
                    }
                    nodes.push(Node::Range { pipe, body, else_, line });
                }
                "define" | "block" => {
                    let tname = match rest.first().map(|t| &t.tok) {
                        Some(Tok::Str(s)) => s.clone(),
                        _ => return Err(self.err(line, format!("{kw} needs a quoted template name"))),
                    };
                    let pipe = if kw == "block" { Some(self.pipeline(&rest[1..], line, false)?) } else { None };
                    let (body, end) = self.list()?;
                    if !matches!(&end, Some((e, _)) if e == "end") {
                        return Err(self.err(line, format!("unexpected EOF: {kw} {tname:?} has no end")));
                    }
                    self.defines.push((tname.clone(), Arc::new(body)));
                    if let Some(pipe) = pipe {
                        nodes.push(Node::Template { name: tname, pipe: Some(pipe), line });
                    }
                }
                "template" => {
                    let tname = match rest.first().map(|t| &t.tok) {
                        Some(Tok::Str(s)) => s.clone(),
                        _ => return Err(self.err(line, "template needs a quoted template name".into())),
                    };
                    let pipe = if rest.len() > 1 { Some(self.pipeline(&rest[1..], line, false)?) } else { None };
                    nodes.push(Node::Template { name: tname, pipe, line });
                }
                "break" => nodes.push(Node::Break(line)),
                "continue" => nodes.push(Node::Continue(line)),
                _ => return Err(self.err(line, format!("unexpected keyword {kw}"))),
            }
        }
        Ok((nodes, None))
    }

    fn pipeline(&self, toks: &[Token], line: usize, range: bool) -> Result<Pipe, ParseError> {
        let mut pipe = Pipe::default();
        let mut i = 0;
        // Declarations: `$x :=`, `$x =`, `$i, $v :=` (range only).
        let decl_end = toks.iter().position(|t| matches!(t.tok, Tok::Declare | Tok::Assign));
        if let Some(d) = decl_end {
            let names: Vec<&Token> = toks[..d].iter().collect();
            let vars_ok = match names.len() {
                1 => matches!(names[0].tok, Tok::Var(_)),
                3 => range
                    && matches!(names[0].tok, Tok::Var(_))
                    && names[1].tok == Tok::Comma
                    && matches!(names[2].tok, Tok::Var(_)),
                _ => false,
            };
            if vars_ok {
                for t in names {
                    if let Tok::Var(v) = &t.tok {
                        pipe.decl.push(v.clone());
                    }
                }
                pipe.assign = toks[d].tok == Tok::Assign;
                i = d + 1;
            }
        }
        let (cmds, used) = self.commands(&toks[i..], line, 0)?;
        if used != toks.len() - i {
            return Err(self.err(line, "unexpected \")\" in command".into()));
        }
        pipe.cmds = cmds;
        if pipe.cmds.is_empty() {
            return Err(self.err(line, "missing value for command".into()));
        }
        Ok(pipe)
    }

    /// Parse commands separated by `|` until the end or an unmatched `)`; returns tokens used.
    fn commands(&self, toks: &[Token], line: usize, depth: usize) -> Result<(Vec<Cmd>, usize), ParseError> {
        if depth > MAX_NESTING {
            return Err(self.err(line, format!("parentheses nested deeper than {MAX_NESTING}")));
        }
        let mut cmds = Vec::new();
        let mut cur = Cmd::default();
        let mut i = 0;
        while i < toks.len() {
            match &toks[i].tok {
                Tok::RParen => break,
                Tok::Pipe => {
                    if cur.args.is_empty() {
                        return Err(self.err(line, "missing command before |".into()));
                    }
                    cmds.push(std::mem::take(&mut cur));
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let (arg, used) = self.operand(&toks[i..], line, depth)?;
            cur.args.push(arg);
            i += used;
        }
        if !cur.args.is_empty() {
            cmds.push(cur);
        } else if !cmds.is_empty() {
            return Err(self.err(line, "missing command after |".into()));
        }
        Ok((cmds, i))
    }

    fn operand(&self, toks: &[Token], line: usize, depth: usize) -> Result<(Arg, usize), ParseError> {
        let chain = |from: usize| -> (Vec<String>, usize) {
            let mut names = Vec::new();
            let mut j = from;
            while let Some(Token { tok: Tok::Field(f), spaced: false }) = toks.get(j) {
                names.push(f.clone());
                j += 1;
            }
            (names, j)
        };
        let t = &toks[0];
        Ok(match &t.tok {
            Tok::Field(f) => {
                let (mut rest, j) = chain(1);
                rest.insert(0, f.clone());
                (Arg::Field(rest), j)
            }
            Tok::Dot => (Arg::Dot, 1),
            Tok::Var(v) => {
                let (rest, j) = chain(1);
                (Arg::Var(v.clone(), rest), j)
            }
            Tok::LParen => {
                let (cmds, used) = self.commands(&toks[1..], line, depth + 1)?;
                if toks.get(1 + used).map(|t| &t.tok) != Some(&Tok::RParen) {
                    return Err(self.err(line, "unclosed left paren".into()));
                }
                if cmds.is_empty() {
                    return Err(self.err(line, "missing value for parenthesized pipeline".into()));
                }
                let (rest, j) = chain(used + 2);
                (Arg::Sub(Box::new(Pipe { decl: vec![], assign: false, cmds }), rest), j)
            }
            Tok::Ident(id) => match id.as_str() {
                "true" => (Arg::Bool(true), 1),
                "false" => (Arg::Bool(false), 1),
                "nil" => (Arg::Nil, 1),
                k if KEYWORDS.contains(&k) => {
                    return Err(self.err(line, format!("unexpected keyword {k} in operand")))
                }
                _ => (Arg::Ident(id.clone()), 1),
            },
            Tok::Str(s) => (Arg::Str(s.clone()), 1),
            Tok::Int(n) => (Arg::Int(*n), 1),
            Tok::Float(f) => (Arg::Float(*f), 1),
            other => return Err(self.err(line, format!("unexpected {other:?} in operand"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(p: &Parsed) -> Vec<String> {
        p.root
            .iter()
            .filter_map(|n| if let Node::Text(t) = n { Some(t.clone()) } else { None })
            .collect()
    }

    #[test]
    fn trims_whitespace_around_markers() {
        let p = parse("t", "a  \n  {{- 1 -}}  \n b").unwrap();
        assert_eq!(texts(&p), vec!["a", "b"]);
    }

    #[test]
    fn dash_number_is_not_a_trim_marker() {
        let p = parse("t", "a {{-3}} b").unwrap();
        assert_eq!(texts(&p), vec!["a ", " b"]);
        assert!(matches!(&p.root[1], Node::Action { pipe, .. } if matches!(pipe.cmds[0].args[0], Arg::Int(-3))));
    }

    #[test]
    fn comments_are_dropped_and_trim() {
        let p = parse("t", "a\n{{- /* note */ -}}\nb").unwrap();
        assert_eq!(texts(&p), vec!["a", "b"]);
    }

    #[test]
    fn braces_in_strings_do_not_end_the_action() {
        let p = parse("t", r#"{{ "}}" }}x"#).unwrap();
        assert_eq!(texts(&p), vec!["x"]);
    }

    #[test]
    fn parses_field_chains_and_pipes() {
        let p = parse("t", "{{ .Values.a.b | default (.x).y | quote }}").unwrap();
        let Node::Action { pipe, .. } = &p.root[0] else { panic!("not an action") };
        assert_eq!(pipe.cmds.len(), 3);
        assert!(matches!(&pipe.cmds[0].args[0], Arg::Field(f) if f == &["Values", "a", "b"]));
        assert!(matches!(&pipe.cmds[1].args[1], Arg::Sub(_, f) if f == &["y"]));
    }

    #[test]
    fn collects_defines_and_else_if_chains() {
        let src = r#"{{ define "x" }}X{{ end }}{{ if .a }}1{{ else if .b }}2{{ else }}3{{ end }}"#;
        let p = parse("t", src).unwrap();
        assert_eq!(p.defines.len(), 1);
        assert!(matches!(&p.root[0], Node::If { branches, else_, .. } if branches.len() == 2 && else_.len() == 1));
    }

    #[test]
    fn reports_unclosed_structures_with_line() {
        let e = parse("f.yaml", "a\n{{ if .x }}\nb").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("f.yaml:2"));
        assert!(parse("t", "{{ end }}").is_err());
        assert!(parse("t", "{{ .x ").is_err());
        assert!(parse("t", "{{ (1 }}").is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{{{{ {}1{} }}}}", "(".repeat(500), ")".repeat(500));
        assert!(parse("t", &deep).unwrap_err().message.contains("nested"));
        let ifs = format!("{}x{}", "{{ if 1 }}".repeat(500), "{{ end }}".repeat(500));
        assert!(parse("t", &ifs).unwrap_err().message.contains("nested"));
    }

    #[test]
    fn range_declares_two_variables() {
        let p = parse("t", "{{ range $k, $v := .m }}{{ $k }}{{ end }}").unwrap();
        assert!(matches!(&p.root[0], Node::Range { pipe, .. } if pipe.decl == ["$k", "$v"]));
    }
}
