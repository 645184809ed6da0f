//! Parsing Rego modules with regorus and walking their syntax trees.
//!
//! Each module is parsed in the dialect the bundle declares for it (Rego v1 unless the manifest
//! says `rego_version: 0`) and, if that fails, in the other one, which tells a dialect problem
//! from a syntax error. The walk collects the package, rules, imports, built-in calls (with the
//! literal arguments checks need) and string literals; the checks live in [`crate::checks`].

use std::num::NonZeroUsize;

use regorus::unstable::{Expr, Literal, LiteralStmt, Module, Parser, Query, Rule, RuleBody, RuleHead, Source};
use serde::Serialize;

use crate::repair::{self, ParseError, Workaround};

/// A Rego dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Dialect {
    /// Rego v0 (OPA before 1.0): `if`/`contains` optional, deprecated built-ins allowed.
    #[serde(rename = "v0")]
    V0,
    /// Rego v1 (OPA 1.0 and later).
    #[serde(rename = "v1")]
    V1,
}

/// A rule as listed in the report's details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// Rule name (the head reference, `allow`, `deny`, `a.b[c]`).
    pub name: String,
    /// `complete`, `partial_set`, `function` or `default`.
    pub kind: &'static str,
    /// Line of the rule.
    pub line: u32,
}

/// A call found in the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Dotted name as written (`http.send`).
    pub name: String,
    /// Line of the call.
    pub line: u32,
    /// String-keyed fields of a literal object given as first argument, with their literal
    /// values when those are strings or booleans (`{"url": "http://…"}`).
    pub object_arg: Vec<(String, LiteralValue)>,
}

/// A literal value in an object argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiteralValue {
    /// A string.
    String(String),
    /// A boolean.
    Bool(bool),
    /// Anything else (computed at run time).
    Other,
}

/// What a parsed module contains.
#[derive(Debug, Clone)]
pub struct ModuleInfo {
    /// Package path without `data` (`["authz", "api"]`).
    pub package: Vec<String>,
    /// Line of the `package` statement.
    pub package_line: u32,
    /// Import paths as written (`data.lib.x`, `rego.v1`).
    pub imports: Vec<String>,
    /// Names that imports bind (their `as` alias or last component), excluding `future`/`rego`.
    pub import_aliases: Vec<String>,
    /// Rules in source order.
    pub rules: Vec<RuleInfo>,
    /// Calls in source order.
    pub calls: Vec<Call>,
    /// String literals with their lines.
    pub strings: Vec<(String, u32)>,
    /// Whether the file says `import rego.v1`.
    pub imports_rego_v1: bool,
    /// Workarounds applied before regorus accepted the module, with the line of each.
    pub workarounds: Vec<(Workaround, u32)>,
}

/// The outcome of parsing one module.
#[derive(Debug, Clone)]
pub enum Parsed {
    /// Parsed in the declared dialect.
    Ok(ModuleInfo),
    /// Not valid in the declared dialect but valid in the other one.
    OtherDialect {
        /// What the module contains (parsed in the other dialect).
        info: ModuleInfo,
        /// Line of the declared dialect's parse error.
        line: u32,
        /// The declared dialect's parse error.
        message: String,
    },
    /// Valid in neither dialect, for a reason OPA refuses too (see [`repair::opa_rejects`]).
    Error {
        /// Line of the error (of the declared dialect's parse).
        line: u32,
        /// The error message.
        message: String,
    },
    /// regorus could not parse it, but OPA may well accept it: nothing in it was checked.
    Unparsed {
        /// Line of the error (of the declared dialect's parse).
        line: u32,
        /// regorus's error message.
        message: String,
    },
}

/// Parse `text` (file `path`) expecting `declared`.
pub fn parse(path: &str, text: &str, declared: Dialect, max_bytes: usize) -> Parsed {
    let first = parse_in(path, text, declared, max_bytes);
    match first {
        Ok(m) => Parsed::Ok(m),
        Err(err) => {
            let other = if declared == Dialect::V1 {
                Dialect::V0
            } else {
                Dialect::V1
            };
            match parse_in(path, text, other, max_bytes) {
                Ok(info) => Parsed::OtherDialect {
                    info,
                    line: err.line,
                    message: err.message,
                },
                Err(_) => match repair::opa_rejects(text, &err) {
                    Some(why) => Parsed::Error {
                        line: err.line,
                        message: format!("{} ({why})", err.message),
                    },
                    None => Parsed::Unparsed {
                        line: err.line,
                        message: err.message,
                    },
                },
            }
        }
    }
}

/// Most rewrites tried on one module, and the most text re-parsed for them in total.
const MAX_REPAIRS: usize = 256;
const MAX_REPARSED_BYTES: usize = 64 << 20;

fn parse_in(path: &str, text: &str, dialect: Dialect, max_bytes: usize) -> Result<ModuleInfo, ParseError> {
    let mut current = text.to_owned();
    let mut applied: Vec<(Workaround, u32)> = Vec::new();
    let mut late_imports: Vec<String> = Vec::new();
    loop {
        let err = match parse_once(path, &current, dialect, max_bytes) {
            Ok(module) => {
                let mut info = collect(&module);
                if !late_imports.is_empty() {
                    add_late_imports(path, &late_imports, dialect, max_bytes, &mut info);
                }
                info.workarounds = applied;
                return Ok(info);
            }
            Err(e) => e,
        };
        let budget_left = applied.len() < MAX_REPAIRS
            && (applied.len() + 2).saturating_mul(current.len().max(1)) <= MAX_REPARSED_BYTES;
        if !budget_left {
            return Err(err);
        }
        match repair::repair(&current, dialect == Dialect::V1, &err) {
            Some(r) => {
                applied.push((r.kind, err.line));
                late_imports.extend(r.late_import);
                current = r.text;
            }
            None => return Err(err),
        }
    }
}

fn parse_once(path: &str, text: &str, dialect: Dialect, max_bytes: usize) -> Result<Module, ParseError> {
    let max_bytes = NonZeroUsize::new(max_bytes.max(1)).unwrap_or(NonZeroUsize::MIN);
    let max_lines = NonZeroUsize::new(1_000_000).unwrap_or(NonZeroUsize::MIN);
    let source = Source::from_contents_with_limits(path.to_owned(), text.to_owned(), max_bytes, max_lines)
        .map_err(|e| error_parts(&e.to_string()))?;
    let mut parser = Parser::new(&source).map_err(|e| error_parts(&e.to_string()))?;
    // OPA has no line length limit; regorus's default is 1024 columns.
    parser.set_max_col(repair::max_col(text));
    if dialect == Dialect::V1 {
        parser.enable_rego_v1().map_err(|e| error_parts(&e.to_string()))?;
    }
    parser.parse().map_err(|e| error_parts(&e.to_string()))
}

/// Imports found after rules: parsed in a module of their own, added to `info`.
fn add_late_imports(path: &str, stmts: &[String], dialect: Dialect, max_bytes: usize, info: &mut ModuleInfo) {
    let text = format!("package late_imports\n{}\n", stmts.join("\n"));
    if let Ok(module) = parse_once(path, &text, dialect, max_bytes) {
        let late = collect(&module);
        info.imports_rego_v1 |= late.imports_rego_v1;
        info.imports.extend(late.imports);
        info.import_aliases.extend(late.import_aliases);
    }
}

/// Split regorus's error text (`--> file:LINE:COL`, a source excerpt, `error: message`) into a
/// line, a column and a one-line message.
fn error_parts(text: &str) -> ParseError {
    let (line, col) = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("--> "))
        .and_then(|loc| {
            let mut it = loc.rsplitn(3, ':');
            let col = it.next()?.trim().parse::<u32>().ok()?;
            let line = it.next()?.parse::<u32>().ok()?;
            Some((line, col))
        })
        .unwrap_or((1, 1));
    let message = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text).trim())
        .to_owned();
    ParseError {
        line,
        col,
        message,
        full: text.to_owned(),
    }
}

/// The package a module declares (`data.a.b`), read from its `package` line without parsing,
/// for findings on modules regorus could not parse.
pub fn package_of(text: &str) -> Option<String> {
    let rest = text.lines().find_map(|l| l.trim_start().strip_prefix("package "))?;
    let name = rest.split('#').next().unwrap_or("").trim();
    let valid = !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '"' | '-'));
    valid.then(|| {
        if name.starts_with("data.") {
            name.to_owned()
        } else {
            format!("data.{name}")
        }
    })
}

/// The rule reference as written: `allow`, `a.b`, `comments["blocks"]`, `x[y]`.
pub fn rule_ref_text(e: &Expr) -> String {
    match e {
        Expr::Var { span, .. } => span.text().to_owned(),
        Expr::RefDot { refr, field, .. } => format!("{}.{}", rule_ref_text(refr), field.0.text()),
        Expr::RefBrack { refr, index, .. } => {
            let index = match index.as_ref() {
                Expr::String { value, .. } | Expr::RawString { value, .. } => value
                    .as_string()
                    .map(|s| serde_json::Value::String(s.to_string()).to_string())
                    .unwrap_or_else(|_| index.span().text().to_owned()),
                other => other.span().text().to_owned(),
            };
            format!("{}[{index}]", rule_ref_text(refr))
        }
        other => other.span().text().to_owned(),
    }
}

/// The dotted path of a reference expression (`a.b["c"].d` → `[a, b, c, d]`); `None` when it
/// contains a computed part.
pub fn ref_path(e: &Expr) -> Option<Vec<String>> {
    match e {
        Expr::Var { span, .. } => Some(vec![span.text().to_owned()]),
        Expr::RefDot { refr, field, .. } => {
            let mut p = ref_path(refr)?;
            p.push(field.0.text().to_owned());
            Some(p)
        }
        Expr::RefBrack { refr, index, .. } => {
            let mut p = ref_path(refr)?;
            match index.as_ref() {
                Expr::String { value, .. } | Expr::RawString { value, .. } => {
                    p.push(value.as_string().ok()?.to_string());
                }
                _ => return None,
            }
            Some(p)
        }
        _ => None,
    }
}

fn collect(m: &Module) -> ModuleInfo {
    let mut package = ref_path(&m.package.refr).unwrap_or_else(|| vec![m.package.refr.span().text().to_owned()]);
    if package.first().map(String::as_str) == Some("data") {
        package.remove(0);
    }
    let mut info = ModuleInfo {
        package,
        package_line: m.package.span.line,
        imports: Vec::new(),
        import_aliases: Vec::new(),
        rules: Vec::new(),
        calls: Vec::new(),
        strings: Vec::new(),
        imports_rego_v1: false,
        workarounds: Vec::new(),
    };
    for imp in &m.imports {
        let path = ref_path(&imp.refr).unwrap_or_default();
        let text = path.join(".");
        if text == "rego.v1" {
            info.imports_rego_v1 = true;
        }
        let bound = match (&imp.r#as, path.first().map(String::as_str)) {
            (_, Some("future" | "rego")) => None,
            (Some(alias), _) => Some(alias.text().to_owned()),
            (None, _) => path.last().cloned(),
        };
        info.import_aliases.extend(bound);
        info.imports.push(text);
    }
    for rule in &m.policy {
        match rule.as_ref() {
            Rule::Spec { head, bodies, .. } => {
                let (refr, kind, line) = match head {
                    RuleHead::Compr { refr, span, .. } => (refr, "complete", span.line),
                    RuleHead::Set { refr, span, .. } => (refr, "partial_set", span.line),
                    RuleHead::Func { refr, span, .. } => (refr, "function", span.line),
                };
                info.rules.push(RuleInfo {
                    name: rule_ref_text(refr),
                    kind,
                    line,
                });
                walk_head(head, &mut info);
                for b in bodies {
                    walk_body(b, &mut info);
                }
            }
            Rule::Default {
                refr,
                value,
                args,
                span,
                ..
            } => {
                info.rules.push(RuleInfo {
                    name: rule_ref_text(refr),
                    kind: "default",
                    line: span.line,
                });
                for a in args {
                    walk_expr(a, &mut info);
                }
                walk_expr(value, &mut info);
            }
        }
    }
    info
}

fn walk_head(h: &RuleHead, info: &mut ModuleInfo) {
    match h {
        RuleHead::Compr { refr, assign, .. } => {
            walk_expr(refr, info);
            if let Some(a) = assign {
                walk_expr(&a.value, info);
            }
        }
        RuleHead::Set { refr, key, .. } => {
            walk_expr(refr, info);
            if let Some(k) = key {
                walk_expr(k, info);
            }
        }
        RuleHead::Func { refr, args, assign, .. } => {
            walk_expr(refr, info);
            for a in args {
                walk_expr(a, info);
            }
            if let Some(a) = assign {
                walk_expr(&a.value, info);
            }
        }
    }
}

fn walk_body(b: &RuleBody, info: &mut ModuleInfo) {
    if let Some(a) = &b.assign {
        walk_expr(&a.value, info);
    }
    walk_query(&b.query, info);
}

fn walk_query(q: &Query, info: &mut ModuleInfo) {
    for s in &q.stmts {
        walk_stmt(s, info);
    }
}

fn walk_stmt(s: &LiteralStmt, info: &mut ModuleInfo) {
    match &s.literal {
        Literal::SomeVars { .. } => {}
        Literal::SomeIn {
            key, value, collection, ..
        } => {
            if let Some(k) = key {
                walk_expr(k, info);
            }
            walk_expr(value, info);
            walk_expr(collection, info);
        }
        Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => walk_expr(expr, info),
        Literal::Every { domain, query, .. } => {
            walk_expr(domain, info);
            walk_query(query, info);
        }
    }
    for w in &s.with_mods {
        walk_expr(&w.refr, info);
        walk_expr(&w.r#as, info);
    }
}

fn literal(e: &Expr) -> LiteralValue {
    match e {
        Expr::String { value, .. } | Expr::RawString { value, .. } => value
            .as_string()
            .map(|s| LiteralValue::String(s.to_string()))
            .unwrap_or(LiteralValue::Other),
        Expr::Bool { value, .. } => value
            .as_bool()
            .map(|b| LiteralValue::Bool(*b))
            .unwrap_or(LiteralValue::Other),
        _ => LiteralValue::Other,
    }
}

fn walk_expr(e: &Expr, info: &mut ModuleInfo) {
    match e {
        Expr::String { value, span, .. } | Expr::RawString { value, span, .. } => {
            if let Ok(s) = value.as_string() {
                info.strings.push((s.to_string(), span.line));
            }
        }
        Expr::Number { .. } | Expr::Bool { .. } | Expr::Null { .. } | Expr::Var { .. } => {}
        Expr::Array { items, .. } | Expr::Set { items, .. } => items.iter().for_each(|i| walk_expr(i, info)),
        Expr::Object { fields, .. } => {
            for (_, k, v) in fields {
                walk_expr(k, info);
                walk_expr(v, info);
            }
        }
        Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
            walk_expr(term, info);
            walk_query(query, info);
        }
        Expr::ObjectCompr { key, value, query, .. } => {
            walk_expr(key, info);
            walk_expr(value, info);
            walk_query(query, info);
        }
        Expr::Call { fcn, params, span, .. } => {
            if let Some(path) = ref_path(fcn) {
                let object_arg = match params.first().map(|p| p.as_ref()) {
                    Some(Expr::Object { fields, .. }) => fields
                        .iter()
                        .filter_map(|(_, k, v)| match literal(k) {
                            LiteralValue::String(k) => Some((k, literal(v))),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                info.calls.push(Call {
                    name: path.join("."),
                    line: span.line,
                    object_arg,
                });
            } else {
                walk_expr(fcn, info);
            }
            params.iter().for_each(|p| walk_expr(p, info));
        }
        Expr::UnaryExpr { expr, .. } => walk_expr(expr, info),
        Expr::RefDot { refr, .. } => walk_expr(refr, info),
        Expr::RefBrack { refr, index, .. } => {
            walk_expr(refr, info);
            walk_expr(index, info);
        }
        Expr::BinExpr { lhs, rhs, .. }
        | Expr::BoolExpr { lhs, rhs, .. }
        | Expr::ArithExpr { lhs, rhs, .. }
        | Expr::AssignExpr { lhs, rhs, .. } => {
            walk_expr(lhs, info);
            walk_expr(rhs, info);
        }
        Expr::Membership {
            key, value, collection, ..
        } => {
            if let Some(k) = key {
                walk_expr(k, info);
            }
            walk_expr(value, info);
            walk_expr(collection, info);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1 << 20;

    #[test]
    fn v1_module_collects_package_rules_and_calls() {
        let src = r#"package authz.api

import data.lib.helpers as h

default allow := false

allow if {
    resp := http.send({"method": "GET", "url": "http://x", "tls_insecure_skip_verify": true})
    resp.status_code == 200
}

deny contains msg if {
    some x in input.items
    msg := sprintf("bad %v", [x])
}

f(x) := y if { y := h.g(x) }
"#;
        let Parsed::Ok(m) = parse("p.rego", src, Dialect::V1, MAX) else {
            panic!("should parse")
        };
        assert_eq!(m.package, ["authz", "api"]);
        assert_eq!(m.import_aliases, ["h"]);
        let rules: Vec<_> = m.rules.iter().map(|r| (r.name.as_str(), r.kind, r.line)).collect();
        assert_eq!(rules[0], ("allow", "default", 5));
        assert!(rules.contains(&("deny", "partial_set", 12)), "{rules:?}");
        assert!(rules.iter().any(|r| r.0 == "f" && r.1 == "function"), "{rules:?}");
        let send = m.calls.iter().find(|c| c.name == "http.send").unwrap();
        assert_eq!(send.line, 8);
        assert!(send
            .object_arg
            .contains(&("tls_insecure_skip_verify".into(), LiteralValue::Bool(true))));
        assert!(m.calls.iter().any(|c| c.name == "h.g"));
        assert!(m.calls.iter().any(|c| c.name == "sprintf"));
    }

    #[test]
    fn dialects_are_told_apart() {
        let v0 = "package p\n\nallow {\n  input.x == 1\n}\n";
        match parse("p.rego", v0, Dialect::V1, MAX) {
            Parsed::OtherDialect { info, line, .. } => {
                assert_eq!(info.package, ["p"]);
                assert_eq!(line, 3);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse("p.rego", v0, Dialect::V0, MAX), Parsed::Ok(_)));
        let broken = "package p\n\nallow if {\n  input.x == \n}\n";
        match parse("p.rego", broken, Dialect::V1, MAX) {
            Parsed::Error { line, message } => {
                assert!(line >= 4, "{line}");
                assert!(!message.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    fn ok(src: &str, dialect: Dialect) -> ModuleInfo {
        match parse("p.rego", src, dialect, MAX) {
            Parsed::Ok(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn constructs_opa_accepts_parse() {
        // Constant function rules without a body (Regal's ast.rego), in Rego v1.
        let m = ok(
            "package p\n\n_is_name(\"var\", 0)\n\n_is_name(\"ref\", 1)\n\nx := 1\n",
            Dialect::V1,
        );
        assert_eq!(m.rules.iter().filter(|r| r.kind == "function").count(), 2);
        assert_eq!(
            m.workarounds,
            [(Workaround::BodylessFunction, 3), (Workaround::BodylessFunction, 5)]
        );
        // A number beyond f64.
        let m = ok("package p\n\nbig := 1e1000\n\nsmall := -2.5E-1000\n", Dialect::V1);
        assert_eq!(m.rules.len(), 2);
        // An import after rules: still an import, and its alias is not a built-in.
        let m = ok(
            "package p\n\nx := 1\n\nimport data.lib.net as http\n\ny := http.send(1)\n",
            Dialect::V1,
        );
        assert_eq!(m.imports, ["data.lib.net"]);
        assert_eq!(m.import_aliases, ["http"]);
        assert_eq!(m.rules.iter().find(|r| r.name == "y").map(|r| r.line), Some(7));
        // A line far beyond regorus's 1024-column default.
        let long = format!("package p\n\nwords := {{{}}}\n", vec!["\"w\""; 5000].join(", "));
        assert!(ok(&long, Dialect::V1).workarounds.is_empty());
        // A v0 partial set rule with several bodies; lines stay the file's.
        let m = ok(
            "package p\n\nviolation[{\"msg\": m}] {\n  input.a\n  m := \"a\"\n} {\n  input.b\n  m := \"b\"\n}\n\nz = 1\n",
            Dialect::V0,
        );
        let lines: Vec<_> = m.rules.iter().map(|r| (r.name.as_str(), r.kind, r.line)).collect();
        assert_eq!(
            lines,
            [
                ("violation", "partial_set", 3),
                ("violation", "partial_set", 6),
                ("z", "complete", 11)
            ]
        );
    }

    #[test]
    fn v0_only_constructs_in_a_v1_bundle_are_a_dialect_problem() {
        // Gatekeeper's multi-body set rule, in a bundle that does not declare Rego v0: OPA 1.x
        // refuses it as v0 syntax, not as a syntax error.
        let src = "package p\n\nviolation[{\"msg\": m}] {\n  input.a\n  m := \"a\"\n} {\n  m := \"b\"\n}\n";
        match parse("p.rego", src, Dialect::V1, MAX) {
            Parsed::OtherDialect { info, line, .. } => {
                assert_eq!(line, 3);
                assert_eq!(info.workarounds, [(Workaround::SetRuleBodies, 6)]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rule_refs_are_reported_whole() {
        let m = ok(
            "package p\n\ncomments[\"blocks\"] := [1]\n\na.b[\"c-d\"].e := 2\n\nf contains x if some x in [1]\n",
            Dialect::V1,
        );
        let names: Vec<_> = m.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["comments[\"blocks\"]", "a.b[\"c-d\"].e", "f"]);
    }

    #[test]
    fn errors_are_classified() {
        match parse("p.rego", "package p\n\nallow if {\n  input.x\n", Dialect::V1, MAX) {
            Parsed::Error { message, .. } => assert!(message.contains("unbalanced"), "{message}"),
            other => panic!("{other:?}"),
        }
        match parse("p.rego", "package p\n\nallow if input.x == 1 1\n", Dialect::V1, MAX) {
            Parsed::Unparsed { line, .. } => assert_eq!(line, 3),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn package_line_is_read_without_parsing() {
        assert_eq!(
            package_of("# c\npackage a.b # x\n\nallow if {").as_deref(),
            Some("data.a.b")
        );
        assert_eq!(
            package_of("package regal.rules[\"x-y\"]\n").as_deref(),
            Some("data.regal.rules[\"x-y\"]")
        );
        assert_eq!(package_of("x := 1\n"), None);
    }

    #[test]
    fn error_text_is_split() {
        let e = error_parts("\n--> a/b.rego:7:3\n  |\n7 | x\n  | ^\nerror: unexpected token");
        assert_eq!((e.line, e.col, e.message.as_str()), (7, 3, "unexpected token"));
    }
}
