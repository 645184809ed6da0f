//! Lexer and parser for Go's `text/template` syntax, as Helm charts use it.
//!
//! The source is first split into text and `{{ … }}` actions (honouring `{{-` / `-}}` whitespace
//! trimming and `{{/* comments */}}`), then each action is tokenized and the control structures
//! (`if` / `else if` / `else`, `range`, `with`, `define`, `block`, `template`, `break`,
//! `continue`) are parsed into a tree. Named templates (`define`, `block`) are returned beside the
//! tree so the caller can put them in the shared set, as Go does.

use std::sync::Arc;

use super::lex::{split, tokenize, Item, Tok, Token};

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
    let mut p = Parser {
        name,
        items,
        pos: 0,
        defines: Vec::new(),
        depth: 0,
    };
    let (root, end) = p.list()?;
    if let Some((kw, line)) = end {
        return Err(p.err(line, format!("unexpected {{{{{kw}}}}}")));
    }
    Ok(Parsed {
        root,
        defines: p.defines,
    })
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

const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

impl Parser<'_> {
    fn err(&self, line: usize, message: String) -> ParseError {
        ParseError {
            template: self.name.into(),
            line,
            message,
        }
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
                    nodes.push(Node::Range {
                        pipe,
                        body,
                        else_,
                        line,
                    });
                }
                "define" | "block" => {
                    let tname = match rest.first().map(|t| &t.tok) {
                        Some(Tok::Str(s)) => s.clone(),
                        _ => return Err(self.err(line, format!("{kw} needs a quoted template name"))),
                    };
                    let pipe = if kw == "block" {
                        Some(self.pipeline(&rest[1..], line, false)?)
                    } else {
                        None
                    };
                    let (body, end) = self.list()?;
                    if !matches!(&end, Some((e, _)) if e == "end") {
                        return Err(self.err(line, format!("unexpected EOF: {kw} {tname:?} has no end")));
                    }
                    self.defines.push((tname.clone(), Arc::new(body)));
                    if let Some(pipe) = pipe {
                        nodes.push(Node::Template {
                            name: tname,
                            pipe: Some(pipe),
                            line,
                        });
                    }
                }
                "template" => {
                    let tname = match rest.first().map(|t| &t.tok) {
                        Some(Tok::Str(s)) => s.clone(),
                        _ => return Err(self.err(line, "template needs a quoted template name".into())),
                    };
                    let pipe = if rest.len() > 1 {
                        Some(self.pipeline(&rest[1..], line, false)?)
                    } else {
                        None
                    };
                    nodes.push(Node::Template {
                        name: tname,
                        pipe,
                        line,
                    });
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
                3 => {
                    range
                        && matches!(names[0].tok, Tok::Var(_))
                        && names[1].tok == Tok::Comma
                        && matches!(names[2].tok, Tok::Var(_))
                }
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
            while let Some(Token {
                tok: Tok::Field(f),
                spaced: false,
            }) = toks.get(j)
            {
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
                (
                    Arg::Sub(
                        Box::new(Pipe {
                            decl: vec![],
                            assign: false,
                            cmds,
                        }),
                        rest,
                    ),
                    j,
                )
            }
            Tok::Ident(id) => match id.as_str() {
                "true" => (Arg::Bool(true), 1),
                "false" => (Arg::Bool(false), 1),
                "nil" => (Arg::Nil, 1),
                k if KEYWORDS.contains(&k) => return Err(self.err(line, format!("unexpected keyword {k} in operand"))),
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
        let Node::Action { pipe, .. } = &p.root[0] else {
            panic!("not an action")
        };
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
