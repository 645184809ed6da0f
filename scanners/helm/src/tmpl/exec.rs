//! Execution of parsed templates: the template set, variables, control flow, field and method
//! access, and the functions that need the engine itself (`include`, `tpl`, `and`, `or`).
//! Everything else is a plain function in [`super::funcs`].
//!
//! Every execution is bounded: a step budget (against runaway loops), a nesting depth for
//! `include` / `template` (against infinite recursion), and an output size.

use std::collections::HashMap;
use std::sync::Arc;

use super::budget;
use super::files::files_method;
use super::format::go_string;
use super::funcs;
use super::parse::{parse, Arg, Node, Pipe};
use super::value::{Files, Value};

/// Why a template could not be executed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ExecError {
    /// The template text does not parse.
    #[error(transparent)]
    Parse(#[from] super::parse::ParseError),
    /// A failure while executing, with the template and line as Go reports them.
    #[error("template: {template}:{line}: {message}")]
    Exec {
        /// Template being executed.
        template: String,
        /// 1-based line.
        line: usize,
        /// What went wrong.
        message: String,
    },
    /// A safety limit was reached.
    #[error("template: {template}: {message}")]
    Limit {
        /// Template being executed.
        template: String,
        /// Which limit.
        message: String,
    },
}

/// Most elements a value passed to a function or printed may hold.
pub const MAX_VALUE_NODES: usize = 200_000;

/// Bounds on one execution.
#[derive(Debug, Clone, Copy)]
pub struct ExecLimits {
    /// Largest output of one top-level template, in bytes.
    pub max_output_bytes: usize,
    /// Deepest nesting of `include` / `template` / `tpl`.
    pub max_depth: usize,
    /// Most nodes and function calls one top-level template may evaluate.
    pub max_steps: u64,
    /// The setting `max_steps` comes from, named in the error when it is reached.
    pub steps_setting: &'static str,
    /// The setting `max_output_bytes` comes from, named in the error when it is reached.
    pub bytes_setting: &'static str,
}

impl Default for ExecLimits {
    fn default() -> Self {
        ExecLimits {
            max_output_bytes: 8 << 20,
            max_depth: 100,
            max_steps: 2_000_000,
            steps_setting: "max_render_steps",
            bytes_setting: "max_render_bytes",
        }
    }
}

/// A set of named templates sharing one namespace, as Helm builds one for a whole chart.
#[derive(Debug, Default, Clone)]
pub struct TemplateSet {
    templates: HashMap<String, Arc<Vec<Node>>>,
    /// The file each template (and `define`) was read from, so errors name the file that holds
    /// the failing line.
    origin: HashMap<String, Arc<str>>,
}

impl TemplateSet {
    /// Parse `src` as template `name` and add it, with every `define` in it. A later define of
    /// the same name replaces an earlier one.
    pub fn add(&mut self, name: &str, src: &str) -> Result<(), ExecError> {
        let parsed = parse(name, src)?;
        let file: Arc<str> = Arc::from(name);
        for (n, body) in parsed.defines {
            self.origin.insert(n.clone(), file.clone());
            self.templates.insert(n, body);
        }
        self.origin.insert(name.to_owned(), file);
        self.templates.insert(name.to_owned(), Arc::new(parsed.root));
        Ok(())
    }

    /// Whether a template of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.templates.contains_key(name)
    }

    /// Execute template `name` with `data` as dot and `$`.
    pub fn execute(&self, name: &str, data: &Value, limits: ExecLimits) -> Result<String, ExecError> {
        self.execute_counted(name, data, limits).0
    }

    /// [`execute`](Self::execute), also returning the steps spent (so a caller can keep a budget
    /// across templates).
    pub fn execute_counted(&self, name: &str, data: &Value, limits: ExecLimits) -> (Result<String, ExecError>, u64) {
        let Some(body) = self.templates.get(name).cloned() else {
            let e = ExecError::Exec {
                template: name.into(),
                line: 0,
                message: format!("no template {name:?}"),
            };
            return (Err(e), 0);
        };
        let mut st = State {
            set: self,
            extra: HashMap::new(),
            name: name.to_owned(),
            file: self.origin.get(name).cloned().unwrap_or_else(|| Arc::from(name)),
            vars: vec![("$".into(), data.clone())],
            depth: 0,
            steps: 0,
            limits,
            line: 0,
        };
        let mut out = String::new();
        let res = st.list(&body, data, &mut out).map(|_| out);
        (res, st.steps)
    }
}

/// What a `range` walks, one item at a time (an integer range is never materialised).
enum Items {
    List(Arc<Vec<Value>>),
    Strs(Arc<Vec<String>>),
    Pairs(Vec<(Value, Value)>),
    Count(i64),
}

impl Items {
    fn is_empty(&self) -> bool {
        match self {
            Items::List(l) => l.is_empty(),
            Items::Strs(l) => l.is_empty(),
            Items::Pairs(p) => p.is_empty(),
            Items::Count(n) => *n <= 0,
        }
    }

    /// The key and value of item `i`.
    fn get(&self, i: usize) -> Option<(Value, Value)> {
        let idx = Value::Int(i as i64);
        match self {
            Items::List(l) => l.get(i).map(|x| (idx, x.clone())),
            Items::Strs(l) => l.get(i).map(|x| (idx, Value::str(x.clone()))),
            Items::Pairs(p) => p.get(i).cloned(),
            Items::Count(n) => (i64::try_from(i).ok()? < *n).then(|| (idx.clone(), idx)),
        }
    }
}

enum Flow {
    Normal,
    Break,
    Continue,
}

struct State<'a> {
    set: &'a TemplateSet,
    /// Templates defined by `tpl` text while executing.
    extra: HashMap<String, Arc<Vec<Node>>>,
    /// The top-level template being executed.
    name: String,
    /// The file holding the nodes being executed now (a helper's file inside `include`).
    file: Arc<str>,
    vars: Vec<(String, Value)>,
    depth: usize,
    steps: u64,
    limits: ExecLimits,
    line: usize,
}

type R<T> = Result<T, ExecError>;

impl State<'_> {
    fn err(&self, message: impl Into<String>) -> ExecError {
        ExecError::Exec {
            template: self.file.to_string(),
            line: self.line,
            message: message.into(),
        }
    }

    fn limit(&self, message: impl Into<String>) -> ExecError {
        ExecError::Limit {
            template: self.file.to_string(),
            message: message.into(),
        }
    }

    fn step(&mut self) -> R<()> {
        self.charge(1)
    }

    fn charge(&mut self, n: u64) -> R<()> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > self.limits.max_steps {
            // What was refused was not spent: the chart's total budget loses this template's
            // allowance, not the (possibly astronomical) charge.
            self.steps = self.limits.max_steps;
            return Err(self.limit(format!(
                "execution exceeded {} steps ({})",
                self.limits.max_steps, self.limits.steps_setting
            )));
        }
        Ok(())
    }

    /// Fail unless `bytes` more bytes fit the output budget (checked before building them).
    fn fits(&self, what: &str, bytes: u64) -> R<()> {
        if bytes > self.limits.max_output_bytes as u64 {
            let size = if bytes == u64::MAX {
                "more".to_owned()
            } else {
                bytes.to_string()
            };
            return Err(self.limit(format!(
                "{what} would produce {size} bytes, over the {}-byte output limit ({})",
                self.limits.max_output_bytes, self.limits.bytes_setting
            )));
        }
        Ok(())
    }

    fn write(&self, out: &mut String, s: &str) -> R<()> {
        if out.len() + s.len() > self.limits.max_output_bytes {
            return Err(self.limit(format!(
                "output exceeds {} bytes ({})",
                self.limits.max_output_bytes, self.limits.bytes_setting
            )));
        }
        out.push_str(s);
        Ok(())
    }

    fn list(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> R<Flow> {
        for n in nodes {
            match self.node(n, dot, out)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    fn node(&mut self, n: &Node, dot: &Value, out: &mut String) -> R<Flow> {
        self.step()?;
        match n {
            Node::Text(t) => self.write(out, t)?,
            Node::Action { pipe, line } => {
                self.line = *line;
                let v = self.pipe(pipe, dot)?;
                if pipe.decl.is_empty() {
                    self.check_size(&v)?;
                    if matches!(v, Value::List(_) | Value::Map(_) | Value::Files(_)) {
                        let room = self.limits.max_output_bytes.saturating_sub(out.len()) as u64;
                        let bound = budget::text_bound(&v, room);
                        self.fits("printing a value", bound.saturating_add(out.len() as u64))?;
                        self.charge(bound / 64)?;
                    }
                    let s = match &v {
                        Value::Nil => String::new(),
                        other => go_string(other),
                    };
                    self.write(out, &s)?;
                }
            }
            Node::If { branches, else_, line } | Node::With { branches, else_, line } => {
                let is_with = matches!(n, Node::With { .. });
                let mark = self.vars.len();
                let mut flow = None;
                for (pipe, body) in branches {
                    self.line = *line;
                    let v = self.pipe(pipe, dot)?;
                    if v.truthy() {
                        let inner = if is_with { v } else { dot.clone() };
                        flow = Some(self.list(body, &inner, out)?);
                        break;
                    }
                }
                let flow = match flow {
                    Some(f) => f,
                    None => self.list(else_, dot, out)?,
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range {
                pipe,
                body,
                else_,
                line,
            } => {
                self.line = *line;
                let mark = self.vars.len();
                let plain = Pipe {
                    decl: vec![],
                    assign: false,
                    cmds: pipe.cmds.clone(),
                };
                let v = self.pipe(&plain, dot)?;
                let items = match &v {
                    Value::Nil => Items::Pairs(vec![]),
                    Value::List(l) => Items::List(l.clone()),
                    Value::ApiVersions(a) => Items::Strs(a.clone()),
                    Value::Map(m) => Items::Pairs(m.snapshot().into_iter().map(|(k, x)| (Value::Str(k), x)).collect()),
                    Value::Files(f) => {
                        let bytes: u64 = f.0.values().map(|b| b.len() as u64).sum();
                        self.charge(f.0.len() as u64 + bytes / 64)?;
                        Items::Pairs(
                            f.0.iter()
                                .map(|(k, b)| (Value::str(k.clone()), Value::str(String::from_utf8_lossy(b))))
                                .collect(),
                        )
                    }
                    // Go 1.22's range over an integer: counted lazily, each turn a step.
                    Value::Int(n) => Items::Count(*n.max(&0)),
                    other => return Err(self.err(format!("range can't iterate over {}", go_string(other)))),
                };
                if items.is_empty() {
                    let flow = self.list(else_, dot, out)?;
                    self.vars.truncate(mark);
                    return Ok(flow);
                }
                let mut i = 0usize;
                while let Some((k, x)) = items.get(i) {
                    i += 1;
                    self.step()?;
                    match pipe.decl.as_slice() {
                        [v] => self.vars.push((v.clone(), x.clone())),
                        [i, v] => {
                            self.vars.push((i.clone(), k));
                            self.vars.push((v.clone(), x.clone()));
                        }
                        _ => {}
                    }
                    let inner_mark = self.vars.len();
                    let flow = self.list(body, &x, out)?;
                    self.vars.truncate(inner_mark);
                    self.vars.truncate(mark);
                    if matches!(flow, Flow::Break) {
                        break;
                    }
                }
                self.vars.truncate(mark);
            }
            Node::Template { name, pipe, line } => {
                self.line = *line;
                let data = match pipe {
                    Some(p) => self.pipe(p, dot)?,
                    None => Value::Nil,
                };
                let s = self.include(name, data)?;
                self.write(out, &s)?;
            }
            Node::Break(_) => return Ok(Flow::Break),
            Node::Continue(_) => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    /// Run a named template with `data` and return its output.
    fn include(&mut self, name: &str, data: Value) -> R<String> {
        // The callee gets its own copy of the data (strings are copied): charge it.
        self.charge(cost(&data))?;
        let body = self
            .extra
            .get(name)
            .or_else(|| self.set.templates.get(name))
            .cloned()
            .ok_or_else(|| self.err(format!("no template {name:?} associated with template {:?}", self.name)))?;
        if self.depth >= self.limits.max_depth {
            return Err(self.limit(format!(
                "rendering template has a nested reference name: {name}: exceeded max depth {}",
                self.limits.max_depth
            )));
        }
        self.depth += 1;
        let saved = std::mem::replace(&mut self.vars, vec![("$".into(), data.clone())]);
        let saved_line = self.line;
        let origin = self.set.origin.get(name).cloned();
        let saved_file = match origin {
            // A template defined by `tpl` text keeps the calling file.
            Some(f) if !self.extra.contains_key(name) => std::mem::replace(&mut self.file, f),
            _ => self.file.clone(),
        };
        let mut out = String::new();
        let res = self.list(&body, &data, &mut out);
        self.vars = saved;
        self.line = saved_line;
        self.file = saved_file;
        self.depth -= 1;
        res?;
        // Copying the result into the caller is work too: nested includes that double their
        // output at every level are charged for the bytes they move.
        self.charge(out.len() as u64 / 64)?;
        Ok(out)
    }

    fn pipe(&mut self, pipe: &Pipe, dot: &Value) -> R<Value> {
        let mut val: Option<Value> = None;
        for cmd in &pipe.cmds {
            val = Some(self.command(&cmd.args, dot, val)?);
        }
        let v = val.unwrap_or(Value::Nil);
        for name in &pipe.decl {
            if pipe.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return Err(self.err(format!("undefined variable: {name}"))),
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn command(&mut self, args: &[Arg], dot: &Value, last: Option<Value>) -> R<Value> {
        self.step()?;
        match &args[0] {
            Arg::Ident(name) => self.call(name, &args[1..], dot, last),
            Arg::Field(names) => self.chain(dot.clone(), names, &args[1..], dot, last),
            Arg::Var(v, names) if !names.is_empty() => {
                let recv = self.var(v)?;
                self.chain(recv, names, &args[1..], dot, last)
            }
            Arg::Sub(p, names) if !names.is_empty() => {
                let recv = self.pipe(p, dot)?;
                self.chain(recv, names, &args[1..], dot, last)
            }
            other => {
                if args.len() > 1 || last.is_some() {
                    return Err(self.err(format!("can't give argument to non-function {}", describe(other))));
                }
                self.arg(other, dot)
            }
        }
    }

    fn var(&self, name: &str) -> R<Value> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.err(format!("undefined variable: {name}")))
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> R<Value> {
        Ok(match a {
            Arg::Dot => dot.clone(),
            Arg::Field(names) => self.chain(dot.clone(), names, &[], dot, None)?,
            Arg::Var(v, names) => {
                let recv = self.var(v)?;
                self.chain(recv, names, &[], dot, None)?
            }
            Arg::Ident(name) => self.call(name, &[], dot, None)?,
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Int(i) => Value::Int(*i),
            Arg::Float(f) => Value::Float(*f),
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Nil => Value::Nil,
            Arg::Sub(p, names) => {
                let recv = self.pipe(p, dot)?;
                self.chain(recv, names, &[], dot, None)?
            }
        })
    }

    fn args(&mut self, args: &[Arg], dot: &Value, last: Option<Value>) -> R<Vec<Value>> {
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(a, dot)?);
        }
        vals.extend(last);
        Ok(vals)
    }

    /// Evaluate `.A.B.C` on `recv`; the last name may be a method taking `args` (and `last`).
    fn chain(&mut self, mut recv: Value, names: &[String], args: &[Arg], dot: &Value, last: Option<Value>) -> R<Value> {
        let mut last = last;
        for (i, name) in names.iter().enumerate() {
            let is_last = i + 1 == names.len();
            let has_args = is_last && (!args.is_empty() || last.is_some());
            recv = match &recv {
                Value::Map(m) => {
                    if has_args {
                        return Err(self.err(format!("{name} has arguments but cannot be invoked as function")));
                    }
                    m.get(name).unwrap_or(Value::Nil)
                }
                Value::Files(f) => {
                    let vals = if is_last {
                        self.args(args, dot, last.take())?
                    } else {
                        vec![]
                    };
                    self.charge_files_method(f, name, &vals)?;
                    files_method(f, name, &vals).map_err(|m| self.err(m))?
                }
                Value::ApiVersions(v) => {
                    let vals = if is_last {
                        self.args(args, dot, last.take())?
                    } else {
                        vec![]
                    };
                    match (name.as_str(), vals.as_slice()) {
                        ("Has", [Value::Str(s)]) => Value::Bool(v.iter().any(|x| x == s)),
                        _ => return Err(self.err(format!("can't evaluate field {name} in type chartutil.VersionSet"))),
                    }
                }
                // Like Go: a nil that comes out of a pipeline, variable or argument has no type,
                // and a field of it is nil (`(.Values.global).x` is the nil-safe idiom); a nil
                // reached through the chain itself is a typed nil, and a field of it an error.
                Value::Nil if i == 0 => return Ok(Value::Nil),
                Value::Nil => return Err(self.err(format!("nil pointer evaluating interface {{}}.{name}"))),
                other => return Err(self.err(format!("can't evaluate field {name} in type {}", other.type_name()))),
            };
        }
        if names.is_empty() && (!args.is_empty() || last.is_some()) {
            return Err(self.err("can't give argument to non-function"));
        }
        Ok(recv)
    }

    /// Charge a `.Files` method before it copies file contents.
    fn charge_files_method(&mut self, f: &Files, name: &str, vals: &[Value]) -> R<()> {
        let size_of = |v: Option<&Value>| v.and_then(|p| f.0.get(&funcs::strval(p))).map_or(0, |b| b.len() as u64);
        let all: u64 = f.0.values().map(|b| b.len() as u64).sum();
        match name {
            "Glob" => {
                // One linear-time match per file name.
                let names: u64 = f.0.keys().map(|k| k.len() as u64 + 1).sum();
                let pattern = vals.first().map_or(0, |p| funcs::strval(p).len() as u64);
                self.charge(names.saturating_mul(pattern + 1) / 64 + f.0.len() as u64)
            }
            // A list element per byte.
            "GetBytes" => self.charge(size_of(vals.first())),
            "Get" | "Lines" => {
                let n = size_of(vals.first());
                self.fits(&format!("Files.{name}"), n)?;
                self.charge(n / 64)
            }
            "AsConfig" | "AsSecrets" => {
                // Base64 grows by a third; YAML block scalars indent every line.
                let n = all.saturating_mul(2).saturating_add(f.0.len() as u64 * 64);
                self.fits(&format!("Files.{name}"), n)?;
                self.charge(n / 64)
            }
            _ => Ok(()),
        }
    }

    fn call(&mut self, name: &str, args: &[Arg], dot: &Value, last: Option<Value>) -> R<Value> {
        match name {
            "and" | "or" => {
                if args.is_empty() && last.is_none() {
                    return Err(self.err(format!("wrong number of args for {name}: want at least 1 got 0")));
                }
                let mut v = Value::Nil;
                for a in args {
                    v = self.arg(a, dot)?;
                    if v.truthy() == (name == "or") {
                        return Ok(v);
                    }
                }
                if let Some(l) = last {
                    v = l;
                }
                Ok(v)
            }
            "include" => {
                let vals = self.args(args, dot, last)?;
                let [Value::Str(tname), data] = vals.as_slice() else {
                    return Err(self.err("error calling include: wants a template name and a value"));
                };
                self.include(tname, data.clone()).map(Value::Str)
            }
            "tpl" => {
                let vals = self.args(args, dot, last)?;
                let [text, data] = vals.as_slice() else {
                    return Err(self.err("error calling tpl: wants a template string and a value"));
                };
                let text = match text {
                    Value::Str(s) => s.clone(),
                    other => go_string(other),
                };
                self.tpl(&text, data.clone())
            }
            _ => {
                let vals = self.args(args, dot, last)?;
                let mut work = 0u64;
                for v in &vals {
                    self.check_size(v)?;
                    work += cost(v);
                }
                // Charge what the call will cost before it allocates anything.
                if let Some(c) = budget::cost(name, &vals, self.limits.max_output_bytes as u64) {
                    self.fits(name, c.bytes)?;
                    self.charge(c.steps)?;
                }
                let out = funcs::call(name, vals).map_err(|m| self.err(format!("error calling {name}: {m}")))?;
                // Charge the work done: list and map sizes and string bytes, so that loops that
                // grow values (`append` in a `range`) stay within the step budget.
                self.charge(work + cost(&out))?;
                match &out {
                    Value::Str(s) if s.len() > self.limits.max_output_bytes => Err(self.limit(format!(
                        "{name} produced a string over {} bytes ({})",
                        self.limits.max_output_bytes, self.limits.bytes_setting
                    ))),
                    Value::List(l) if l.len() > MAX_VALUE_NODES => {
                        Err(self.limit(format!("{name} produced a list over {MAX_VALUE_NODES} elements")))
                    }
                    _ => Ok(out),
                }
            }
        }
    }

    /// Refuse values too large to serialise or compare (a list that contains itself many times
    /// over is small in memory but huge to print).
    fn check_size(&self, v: &Value) -> R<()> {
        if matches!(v, Value::List(_) | Value::Map(_)) && v.exceeds_nodes(MAX_VALUE_NODES) {
            return Err(self.limit(format!(
                "value with more than {MAX_VALUE_NODES} elements (the value size limit)"
            )));
        }
        Ok(())
    }

    fn tpl(&mut self, text: &str, data: Value) -> R<Value> {
        self.charge(cost(&data) + text.len() as u64 / 64)?;
        let parsed = parse(&self.file, text).map_err(|e| self.err(format!("error calling tpl: {e}")))?;
        for (n, body) in parsed.defines {
            self.extra.insert(n, body);
        }
        if self.depth >= self.limits.max_depth {
            return Err(self.limit(format!("tpl exceeded max depth {}", self.limits.max_depth)));
        }
        self.depth += 1;
        let saved = std::mem::replace(&mut self.vars, vec![("$".into(), data.clone())]);
        let mut out = String::new();
        let res = self.list(&parsed.root, &data, &mut out);
        self.vars = saved;
        self.depth -= 1;
        res?;
        self.charge(out.len() as u64 / 64)?;
        Ok(Value::Str(out))
    }
}

/// Work units for handling a value: elements of lists and maps, string bytes / 64.
fn cost(v: &Value) -> u64 {
    match v {
        Value::Str(s) => s.len() as u64 / 64,
        Value::List(l) => l.len() as u64,
        Value::Map(m) => m.len() as u64,
        _ => 0,
    }
}

fn describe(a: &Arg) -> String {
    match a {
        Arg::Str(s) => format!("{s:?}"),
        Arg::Int(i) => i.to_string(),
        Arg::Float(f) => f.to_string(),
        Arg::Bool(b) => b.to_string(),
        Arg::Nil => "nil".into(),
        Arg::Dot => ".".into(),
        Arg::Var(v, _) => v.clone(),
        _ => "operand".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recursion_is_bounded() {
        let mut set = TemplateSet::default();
        set.add(
            "t",
            r#"{{ define "loop" }}{{ include "loop" . }}{{ end }}{{ include "loop" . }}"#,
        )
        .unwrap();
        let err = super::super::with_big_stack(|| set.execute("t", &Value::Nil, ExecLimits::default()))
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, ExecError::Limit { .. }), "{err}");
    }

    #[test]
    fn self_similar_values_are_bounded() {
        let mut set = TemplateSet::default();
        let src = "{{ $l := list 1 }}{{ range until 40 }}{{ $l = list $l $l }}{{ end }}{{ toYaml $l }}";
        set.add("t", src).unwrap();
        let err = set.execute("t", &Value::Nil, ExecLimits::default()).unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
        let mut set = TemplateSet::default();
        set.add(
            "t",
            "{{ $s := \"xx\" }}{{ range until 64 }}{{ $s = cat $s $s }}{{ end }}",
        )
        .unwrap();
        let err = set.execute("t", &Value::Nil, ExecLimits::default()).unwrap_err();
        assert!(err.to_string().contains("cat would produce"), "{err}");
        assert!(err.to_string().contains("max_render_bytes"), "{err}");
    }

    #[test]
    fn quadratic_growth_is_charged() {
        let mut set = TemplateSet::default();
        set.add(
            "t",
            "{{ $l := list }}{{ range until 1000000 }}{{ $l = append $l 1 }}{{ end }}",
        )
        .unwrap();
        let start = std::time::Instant::now();
        let err = set.execute("t", &Value::Nil, ExecLimits::default()).unwrap_err();
        assert!(matches!(err, ExecError::Limit { .. }), "{err}");
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
        let mut set = TemplateSet::default();
        set.add(
            "t",
            r#"{{ printf "%999999999999d" 1 | len }} {{ indent 1024 (repeat 1000 "\n") | len }}"#,
        )
        .unwrap();
        assert!(set.execute("t", &Value::Nil, ExecLimits::default()).is_ok());
        let mut set = TemplateSet::default();
        set.add(
            "t",
            r#"{{ $s := repeat 1000000 "a" }}{{ replace "a" (repeat 1000 "b") $s }}"#,
        )
        .unwrap();
        assert!(set
            .execute("t", &Value::Nil, ExecLimits::default())
            .unwrap_err()
            .to_string()
            .contains("over the"));
        let mut set = TemplateSet::default();
        set.add("t", "{{ upper }}").unwrap();
        assert!(set
            .execute("t", &Value::Nil, ExecLimits::default())
            .unwrap_err()
            .to_string()
            .contains("want 1 got 0"));
    }

    #[test]
    fn includes_are_charged_for_the_data_they_copy() {
        // Each level of `include` holds its own copy of the data: 100 levels of a 4 MB string
        // would hold 400 MB. The copies are charged, so the step budget ends it first.
        let src = r#"{{ define "down" }}{{ include "down" . }}{{ end }}{{ include "down" (repeat 4000000 "x") }}"#;
        let mut set = TemplateSet::default();
        set.add("t", src).unwrap();
        let err = super::super::with_big_stack(|| set.execute("t", &Value::Nil, ExecLimits::default()))
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("max_render_steps"), "{err}");
    }

    #[test]
    fn steps_and_output_are_bounded() {
        let mut set = TemplateSet::default();
        set.add("t", "{{ range until 100000 }}xxxxxxxxxx{{ end }}").unwrap();
        let small = ExecLimits {
            max_output_bytes: 1000,
            ..ExecLimits::default()
        };
        assert!(matches!(
            set.execute("t", &Value::Nil, small),
            Err(ExecError::Limit { .. })
        ));
        let few = ExecLimits {
            max_steps: 100,
            ..ExecLimits::default()
        };
        assert!(matches!(
            set.execute("t", &Value::Nil, few),
            Err(ExecError::Limit { .. })
        ));
    }
}
