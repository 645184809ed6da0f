//! Parsing Rego modules with regorus and walking their syntax trees.
//!
//! Each module is parsed in the dialect the bundle declares for it (Rego v1 unless the manifest
//! says `rego_version: 0`) and, if that fails, in the other one, which tells a dialect problem
//! from a syntax error. The walk collects the package, rules, imports, built-in calls (with the
//! literal arguments checks need) and string literals; the checks live in [`crate::checks`].

use std::num::NonZeroUsize;

use regorus::unstable::{Expr, Literal, LiteralStmt, Module, Parser, Query, Rule, RuleBody, RuleHead, Source};
use serde::Serialize;

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
    /// Valid in neither dialect.
    Error {
        /// Line of the error (of the declared dialect's parse).
        line: u32,
        /// The error message.
        message: String,
    },
}

/// Parse `text` (file `path`) expecting `declared`.
pub fn parse(path: &str, text: &str, declared: Dialect, max_bytes: usize) -> Parsed {
    let first = parse_in(path, text, declared, max_bytes);
    match first {
        Ok(m) => Parsed::Ok(m),
        Err((line, message)) => {
            let other = if declared == Dialect::V1 {
                Dialect::V0
            } else {
                Dialect::V1
            };
            match parse_in(path, text, other, max_bytes) {
                Ok(info) => Parsed::OtherDialect { info, line, message },
                Err(_) => Parsed::Error { line, message },
            }
        }
    }
}

fn parse_in(path: &str, text: &str, dialect: Dialect, max_bytes: usize) -> Result<ModuleInfo, (u32, String)> {
    let max_bytes = NonZeroUsize::new(max_bytes.max(1)).unwrap_or(NonZeroUsize::MIN);
    let max_lines = NonZeroUsize::new(1_000_000).unwrap_or(NonZeroUsize::MIN);
    let source = Source::from_contents_with_limits(path.to_owned(), text.to_owned(), max_bytes, max_lines)
        .map_err(|e| (1, e.to_string()))?;
    let mut parser = Parser::new(&source).map_err(|e| error_parts(&e.to_string()))?;
    if dialect == Dialect::V1 {
        parser.enable_rego_v1().map_err(|e| error_parts(&e.to_string()))?;
    }
    let module = parser.parse().map_err(|e| error_parts(&e.to_string()))?;
    Ok(collect(&module))
}

/// Split regorus's error text (`--> file:LINE:COL`, a source excerpt, `error: message`) into a
/// line and a one-line message.
fn error_parts(text: &str) -> (u32, String) {
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("--> "))
        .and_then(|loc| {
            let mut it = loc.rsplitn(3, ':');
            let _col = it.next();
            it.next()?.parse::<u32>().ok()
        })
        .unwrap_or(1);
    let message = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text).trim())
        .to_owned();
    (line, message)
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
                    name: refr.span().text().to_owned(),
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
                    name: refr.span().text().to_owned(),
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

    #[test]
    fn error_text_is_split() {
        let (l, m) = error_parts("\n--> a/b.rego:7:3\n  |\n7 | x\n  | ^\nerror: unexpected token");
        assert_eq!((l, m.as_str()), (7, "unexpected token"));
    }
}
