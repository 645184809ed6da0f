//! A chart as Helm loads it: `Chart.yaml`, `values.yaml`, `values.schema.json`, `templates/`,
//! other files (for `.Files`) and vendored subcharts under `charts/` (directories and `.tgz`
//! archives), plus the default values of the whole tree coalesced the way Helm does.

use std::collections::BTreeMap;

use serde_norway::Value as Y;

use crate::archive::{unpack_tgz, ArchiveError, ArchiveFile, Budget};
use crate::tmpl::{MapRef, Value};

/// Why a chart could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The archive itself was refused.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// No `Chart.yaml` at the chart root.
    #[error("{at}: no Chart.yaml at the chart root (is this a Helm chart?)")]
    NoChartYaml {
        /// Where it was looked for.
        at: String,
    },
    /// Files outside one top-level directory.
    #[error("chart archive must hold one top-level directory; found {0:?} and {1:?}")]
    SeveralRoots(String, String),
    /// A YAML file does not parse.
    #[error("{file}: {message}")]
    Yaml {
        /// The file.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// Subcharts nested deeper than the limit.
    #[error("{at}: subcharts nested deeper than {limit} levels")]
    TooDeep {
        /// The chart that is too deep.
        at: String,
        /// The limit.
        limit: usize,
    },
}

/// A dependency declared in `Chart.yaml` (or `requirements.yaml` for apiVersion v1 charts).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Dependency {
    /// Chart name.
    pub name: String,
    /// Version range.
    pub version: String,
    /// Repository URL (`https://…`, `oci://…`, `file://…`, `@alias`).
    pub repository: String,
    /// `condition`: comma-separated value paths that enable the subchart.
    pub condition: String,
    /// `tags` that enable the subchart.
    pub tags: Vec<String>,
    /// `alias`: the name the subchart is known by.
    pub alias: String,
}

/// One loaded chart (the top chart or a subchart).
#[derive(Debug, Clone)]
pub struct Chart {
    /// Name it is known by (the alias, for an aliased dependency).
    pub name: String,
    /// Where the chart sits relative to the top chart (`""`, `charts/redis/`).
    pub prefix: String,
    /// `Chart.yaml`, parsed.
    pub meta: Y,
    /// Declared dependencies.
    pub dependencies: Vec<Dependency>,
    /// `values.yaml`, parsed (a mapping, possibly empty).
    pub values: Y,
    /// `values.yaml` text.
    pub values_text: String,
    /// Whether `values.schema.json` exists.
    pub has_schema: bool,
    /// Template files: path relative to this chart (`templates/deploy.yaml`) and text.
    pub templates: Vec<(String, String)>,
    /// Other files, for `.Files`.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Vendored subcharts.
    pub subcharts: Vec<Chart>,
}

impl Chart {
    /// A string field of `Chart.yaml`.
    pub fn field(&self, key: &str) -> Option<String> {
        yaml_str(self.meta.get(key)?)
    }
}

fn yaml_str(v: &Y) -> Option<String> {
    match v {
        Y::String(s) => Some(s.clone()),
        Y::Number(n) => Some(n.to_string()),
        Y::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Load the chart in a `.tgz`, with its subcharts. `max_depth` bounds subchart nesting.
pub fn load_tgz(bytes: &[u8], budget: &mut Budget, max_depth: usize) -> Result<Chart, ChartError> {
    let files = unpack_tgz(bytes, budget)?;
    load_files(files, "", budget, max_depth)
}

fn load_files(
    files: Vec<ArchiveFile>,
    prefix: &str,
    budget: &mut Budget,
    depth_left: usize,
) -> Result<Chart, ChartError> {
    let mut root: Option<String> = None;
    let mut rel: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for f in files {
        let (top, rest) = f.path.split_once('/').unwrap_or((f.path.as_str(), ""));
        match &root {
            None => root = Some(top.to_owned()),
            Some(r) if r != top => return Err(ChartError::SeveralRoots(r.clone(), top.to_owned())),
            Some(_) => {}
        }
        if !rest.is_empty() {
            rel.insert(rest.to_owned(), f.data);
        }
    }
    let at = if prefix.is_empty() {
        "chart".to_owned()
    } else {
        prefix.trim_end_matches('/').to_owned()
    };
    build(rel, prefix, &at, budget, depth_left)
}

fn parse_yaml(file: &str, data: &[u8]) -> Result<Y, ChartError> {
    let text = String::from_utf8_lossy(data);
    if text.trim().is_empty() {
        return Ok(Y::Null);
    }
    serde_norway::from_str(&text).map_err(|e| ChartError::Yaml {
        file: file.to_owned(),
        message: e.to_string(),
    })
}

fn dependencies(doc: &Y) -> Vec<Dependency> {
    let Some(Y::Sequence(deps)) = doc.get("dependencies") else {
        return vec![];
    };
    deps.iter()
        .map(|d| Dependency {
            name: d.get("name").and_then(yaml_str).unwrap_or_default(),
            version: d.get("version").and_then(yaml_str).unwrap_or_default(),
            repository: d.get("repository").and_then(yaml_str).unwrap_or_default(),
            condition: d.get("condition").and_then(yaml_str).unwrap_or_default(),
            tags: match d.get("tags") {
                Some(Y::Sequence(t)) => t.iter().filter_map(yaml_str).collect(),
                _ => vec![],
            },
            alias: d.get("alias").and_then(yaml_str).unwrap_or_default(),
        })
        .collect()
}

fn build(
    mut rel: BTreeMap<String, Vec<u8>>,
    prefix: &str,
    at: &str,
    budget: &mut Budget,
    depth_left: usize,
) -> Result<Chart, ChartError> {
    let meta_bytes = rel
        .remove("Chart.yaml")
        .ok_or_else(|| ChartError::NoChartYaml { at: at.to_owned() })?;
    let meta = parse_yaml(&format!("{prefix}Chart.yaml"), &meta_bytes)?;
    if !matches!(meta, Y::Mapping(_)) {
        return Err(ChartError::Yaml {
            file: format!("{prefix}Chart.yaml"),
            message: "not a YAML mapping".into(),
        });
    }
    let mut deps = dependencies(&meta);
    if let Some(req) = rel.remove("requirements.yaml") {
        deps.extend(dependencies(&parse_yaml(&format!("{prefix}requirements.yaml"), &req)?));
    }
    rel.remove("requirements.lock");
    rel.remove("Chart.lock");
    let values_bytes = rel.remove("values.yaml").unwrap_or_default();
    let values_text = String::from_utf8_lossy(&values_bytes).into_owned();
    let values = match parse_yaml(&format!("{prefix}values.yaml"), &values_bytes)? {
        Y::Null => Y::Mapping(Default::default()),
        m @ Y::Mapping(_) => m,
        _ => {
            return Err(ChartError::Yaml {
                file: format!("{prefix}values.yaml"),
                message: "not a YAML mapping".into(),
            })
        }
    };
    let has_schema = rel.remove("values.schema.json").is_some();
    let mut templates = Vec::new();
    let mut files = BTreeMap::new();
    let mut sub_dirs: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    let mut sub_tgz: Vec<(String, Vec<u8>)> = Vec::new();
    for (path, data) in rel {
        if path.starts_with("templates/") {
            templates.push((path.clone(), String::from_utf8_lossy(&data).into_owned()));
        } else if let Some(sub) = path.strip_prefix("charts/") {
            match sub.split_once('/') {
                Some((dir, rest)) => {
                    sub_dirs
                        .entry(dir.to_owned())
                        .or_default()
                        .insert(rest.to_owned(), data);
                }
                None if sub.ends_with(".tgz") || sub.ends_with(".tar.gz") => sub_tgz.push((sub.to_owned(), data)),
                None => {}
            }
        } else {
            files.insert(path, data);
        }
    }
    let name = meta.get("name").and_then(yaml_str).unwrap_or_default();
    let mut subcharts = Vec::new();
    if !(sub_dirs.is_empty() && sub_tgz.is_empty()) && depth_left == 0 {
        return Err(ChartError::TooDeep {
            at: at.to_owned(),
            limit: 0,
        });
    }
    for (dir, files) in sub_dirs {
        let sub_prefix = format!("{prefix}charts/{dir}/");
        subcharts.push(build(
            files,
            &sub_prefix,
            &format!("{at}/charts/{dir}"),
            budget,
            depth_left - 1,
        )?);
    }
    for (file, data) in sub_tgz {
        let inner = unpack_tgz(&data, budget)?;
        let dir = inner
            .first()
            .map(|f| f.path.split('/').next().unwrap_or("").to_owned())
            .unwrap_or_default();
        let sub_prefix = format!("{prefix}charts/{dir}/");
        let mut chart = load_files(inner, &sub_prefix, budget, depth_left - 1).map_err(|e| match e {
            ChartError::NoChartYaml { .. } => ChartError::NoChartYaml {
                at: format!("{at}/charts/{file}"),
            },
            other => other,
        })?;
        chart.prefix = sub_prefix;
        subcharts.push(chart);
    }
    Ok(Chart {
        name,
        prefix: prefix.to_owned(),
        meta,
        dependencies: deps,
        values,
        values_text,
        has_schema,
        templates,
        files,
        subcharts,
    })
}

/// Look a dotted path (`redis.enabled`) up in values.
fn lookup(values: &Value, path: &str) -> Option<Value> {
    let mut cur = values.clone();
    for part in path.split('.') {
        cur = match &cur {
            Value::Map(m) => m.get(part)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Whether the dependency's `condition` / `tags` leave it enabled, given the parent's values.
fn enabled(dep: &Dependency, values: &Value) -> bool {
    if !dep.condition.is_empty() {
        for path in dep.condition.split(',') {
            if let Some(Value::Bool(b)) = lookup(values, path.trim()) {
                return b;
            }
        }
    }
    if !dep.tags.is_empty() {
        let tags = lookup(values, "tags");
        let states: Vec<bool> = dep
            .tags
            .iter()
            .filter_map(|t| match tags.as_ref().and_then(|m| lookup(m, t)) {
                Some(Value::Bool(b)) => Some(b),
                _ => None,
            })
            .collect();
        if !states.is_empty() {
            return states.iter().any(|b| *b);
        }
    }
    true
}

/// Overlay `over` onto `base`: maps merge recursively, `over` wins, `null` deletes.
fn overlay(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Map(b), Value::Map(o)) => {
            let mut out = b.snapshot();
            for (k, v) in o.snapshot() {
                if matches!(v, Value::Nil) {
                    out.remove(&k);
                    continue;
                }
                let merged = match out.get(&k) {
                    Some(existing) => overlay(existing, &v),
                    None => v.deep_copy(),
                };
                out.insert(k, merged);
            }
            Value::map(out)
        }
        (_, o) => o.deep_copy(),
    }
}

/// A chart ready to render: its values coalesced with the parent's, and the enabled subcharts.
#[derive(Debug, Clone)]
pub struct Instance<'a> {
    /// The chart.
    pub chart: &'a Chart,
    /// Its effective name (alias or name).
    pub name: String,
    /// Its `.Values`.
    pub values: Value,
    /// Enabled subcharts.
    pub subcharts: Vec<Instance<'a>>,
}

/// Coalesce default values over the whole tree, as `helm template` does with no overrides.
pub fn instantiate(chart: &Chart) -> Instance<'_> {
    instance(chart, chart.name.clone(), None, &Value::map(Default::default()))
}

// Recursion follows the loaded tree, whose depth the loader bounds (`max_subchart_depth`).
fn instance<'a>(chart: &'a Chart, name: String, over: Option<&Value>, globals: &Value) -> Instance<'a> {
    let own = Value::from_yaml(&chart.values);
    let values = match over {
        Some(o @ Value::Map(_)) => overlay(&own, o),
        _ => own,
    };
    // `from_yaml` of a mapping and `overlay` of two maps are maps; anything else starts empty.
    let (values, vm) = match &values {
        Value::Map(m) => (values.clone(), m.clone()),
        _ => {
            let m = MapRef::default();
            (Value::Map(m.clone()), m)
        }
    };
    let own_global = vm.get("global").unwrap_or_else(|| Value::map(Default::default()));
    let global = overlay(&own_global, globals);
    vm.insert("global".into(), global.clone());
    let mut subs = Vec::new();
    // Each declared dependency names a vendored subchart (possibly under an alias); vendored
    // subcharts nobody declares are enabled as they are.
    let mut used = vec![false; chart.subcharts.len()];
    let mut plan: Vec<(usize, String, Option<&Dependency>)> = Vec::new();
    for dep in &chart.dependencies {
        if let Some(i) = chart.subcharts.iter().position(|s| s.name == dep.name) {
            used[i] = true;
            let alias = if dep.alias.is_empty() {
                dep.name.clone()
            } else {
                dep.alias.clone()
            };
            plan.push((i, alias, Some(dep)));
        }
    }
    for (i, u) in used.iter().enumerate() {
        if !u {
            plan.push((i, chart.subcharts[i].name.clone(), None));
        }
    }
    for (i, alias, dep) in plan {
        if dep.is_some_and(|d| !enabled(d, &values)) {
            continue;
        }
        let sub_over = vm.get(&alias);
        let inst = instance(&chart.subcharts[i], alias.clone(), sub_over.as_ref(), &global);
        vm.insert(alias, inst.values.clone());
        subs.push(inst);
    }
    Instance {
        chart,
        name,
        values,
        subcharts: subs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tmpl::format::go_string;

    fn chart(name: &str, values: &str, deps: &str, subs: Vec<Chart>) -> Chart {
        let meta: Y = serde_norway::from_str(&format!("name: {name}\nversion: 1.0.0\n{deps}")).unwrap();
        Chart {
            name: name.into(),
            prefix: String::new(),
            dependencies: dependencies(&meta),
            meta,
            values: serde_norway::from_str(values).unwrap(),
            values_text: values.into(),
            has_schema: false,
            templates: vec![],
            files: BTreeMap::new(),
            subcharts: subs,
        }
    }

    #[test]
    fn parent_values_and_globals_reach_subcharts() {
        let sub = chart(
            "redis",
            "port: 6379\nimage: {tag: '7'}\nglobal: {a: sub, b: sub}",
            "",
            vec![],
        );
        let top = chart("app", "redis: {image: {tag: '8'}}\nglobal: {a: top}", "", vec![sub]);
        let inst = instantiate(&top);
        let r = &inst.subcharts[0];
        assert_eq!(
            go_string(&r.values),
            "map[global:map[a:top b:sub] image:map[tag:8] port:6379]"
        );
        let Value::Map(m) = &inst.values else { panic!() };
        assert!(go_string(&m.get("redis").unwrap()).contains("port:6379"));
    }

    #[test]
    fn conditions_and_aliases() {
        let sub = chart("redis", "x: 1", "", vec![]);
        let deps = "dependencies:\n- {name: redis, condition: cache.enabled, alias: cache}\n";
        let off = chart("app", "cache: {enabled: false}", deps, vec![sub.clone()]);
        assert!(instantiate(&off).subcharts.is_empty());
        let on = chart("app", "cache: {enabled: true}", deps, vec![sub]);
        let inst = instantiate(&on);
        assert_eq!(inst.subcharts[0].name, "cache");
    }

    #[test]
    fn null_override_deletes_a_default() {
        let sub = chart("s", "a: 1\nb: 2", "", vec![]);
        let top = chart("t", "s: {a: null}", "", vec![sub]);
        assert_eq!(
            go_string(&instantiate(&top).subcharts[0].values),
            "map[b:2 global:map[]]"
        );
    }
}
