//! The dynamic value a template works on, modelled on what Helm hands Go's `text/template`:
//! `interface{}` holding nil, bool, int64, float64, string, `[]interface{}` or
//! `map[string]interface{}`, plus the few Helm objects with methods (`.Files`,
//! `.Capabilities.APIVersions`).
//!
//! Maps are shared and mutable, as Go maps are: Sprig's `set`, `unset` and `merge` change the
//! map in place and charts rely on it (`$_ := set $ctx "key" "value"`). A lock is only ever held
//! for one short read or write, never across a call, so it can never be taken twice.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A shared, mutable string-keyed map (Go's `map[string]interface{}`).
#[derive(Debug, Clone, Default)]
pub struct MapRef(Arc<Mutex<BTreeMap<String, Value>>>);

impl MapRef {
    /// A new map holding `m`.
    pub fn new(m: BTreeMap<String, Value>) -> Self {
        MapRef(Arc::new(Mutex::new(m)))
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Value>> {
        // A poisoned lock only means a panic elsewhere; the map itself is still whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.lock().get(key).cloned()
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }

    /// Set `key` to `value`.
    pub fn insert(&self, key: String, value: Value) {
        self.lock().insert(key, value);
    }

    /// Remove `key`.
    pub fn remove(&self, key: &str) {
        self.lock().remove(key);
    }

    /// A copy of the entries, in key order.
    pub fn snapshot(&self) -> BTreeMap<String, Value> {
        self.lock().clone()
    }

    /// The keys, in order.
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Whether two handles share one map.
    pub fn same(&self, other: &MapRef) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Deepest nesting of lists and maps that conversions, comparisons and printing descend into.
/// Deeper structures (or cycles made with `set`) are cut off there instead of exhausting the
/// stack.
pub const MAX_VALUE_DEPTH: usize = 100;

/// The files of a chart outside `templates/`, as `.Files` sees them.
#[derive(Debug, Clone, Default)]
pub struct Files(pub Arc<BTreeMap<String, Vec<u8>>>);

/// A template value.
#[derive(Debug, Clone, Default)]
pub enum Value {
    /// Go's nil (also a missing map key).
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer (template literals and the results of integer functions).
    Int(i64),
    /// A float (every number read from YAML or JSON, as in Helm).
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Arc<Vec<Value>>),
    /// A map.
    Map(MapRef),
    /// `.Files`: methods `Get`, `GetBytes`, `Glob`, `Lines`, `AsConfig`, `AsSecrets`.
    Files(Files),
    /// `.Capabilities.APIVersions`: method `Has`.
    ApiVersions(Arc<Vec<String>>),
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Value::Str(s.into())
    }

    /// A list value.
    pub fn list(v: Vec<Value>) -> Self {
        Value::List(Arc::new(v))
    }

    /// A map value.
    pub fn map(m: BTreeMap<String, Value>) -> Self {
        Value::Map(MapRef::new(m))
    }

    /// Go's truth: false, 0, nil and empty strings, lists and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Files(f) => !f.0.is_empty(),
            Value::ApiVersions(v) => !v.is_empty(),
        }
    }

    /// Whether the value holds more than `limit` lists, maps and scalars in all (shared parts
    /// counted each time they appear, as serialising would). Stops counting at the limit.
    pub fn exceeds_nodes(&self, limit: usize) -> bool {
        let mut count = 0usize;
        let mut stack: Vec<(Value, usize)> = vec![(self.clone(), 0)];
        while let Some((v, depth)) = stack.pop() {
            count += 1;
            if count > limit {
                return true;
            }
            if depth > MAX_VALUE_DEPTH {
                continue;
            }
            match &v {
                Value::List(l) => stack.extend(l.iter().map(|x| (x.clone(), depth + 1))),
                Value::Map(m) => stack.extend(m.snapshot().into_values().map(|x| (x, depth + 1))),
                _ => {}
            }
        }
        false
    }

    /// Go's type name for `typeOf`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Files(_) => "chart.Files",
            Value::ApiVersions(_) => "chartutil.VersionSet",
        }
    }

    /// Go's `reflect.Kind` name for `kindOf`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) | Value::ApiVersions(_) => "slice",
            Value::Map(_) | Value::Files(_) => "map",
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A number as f64, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The items of a list (or of `.Capabilities.APIVersions`).
    pub fn as_list(&self) -> Option<Vec<Value>> {
        match self {
            Value::List(l) => Some(l.as_ref().clone()),
            Value::ApiVersions(v) => Some(v.iter().map(|s| Value::str(s.clone())).collect()),
            _ => None,
        }
    }

    /// A deep copy: maps are copied rather than shared.
    pub fn deep_copy(&self) -> Value {
        self.deep_copy_at(0)
    }

    fn deep_copy_at(&self, depth: usize) -> Value {
        if depth > MAX_VALUE_DEPTH {
            return Value::Nil;
        }
        match self {
            Value::List(l) => Value::list(l.iter().map(|v| v.deep_copy_at(depth + 1)).collect()),
            Value::Map(m) => Value::map(
                m.snapshot()
                    .into_iter()
                    .map(|(k, v)| (k, v.deep_copy_at(depth + 1)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Structural equality, numbers compared by value.
    pub fn equals(&self, other: &Value) -> bool {
        self.equals_at(other, 0)
    }

    fn equals_at(&self, other: &Value, depth: usize) -> bool {
        if depth > MAX_VALUE_DEPTH {
            return false;
        }
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (a, b) if a.as_f64().is_some() && b.as_f64().is_some() => a.as_f64() == b.as_f64(),
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.equals_at(y, depth + 1))
            }
            (Value::Map(a), Value::Map(b)) => {
                if a.same(b) {
                    return true;
                }
                let (a, b) = (a.snapshot(), b.snapshot());
                a.len() == b.len()
                    && a.iter()
                        .zip(b.iter())
                        .all(|((ka, va), (kb, vb))| ka == kb && va.equals_at(vb, depth + 1))
            }
            _ => false,
        }
    }

    /// Convert a parsed YAML value. Numbers become floats, as Helm's YAML → JSON → Go decoding
    /// makes them; non-string keys are printed.
    pub fn from_yaml(y: &serde_norway::Value) -> Value {
        match y {
            serde_norway::Value::Null => Value::Nil,
            serde_norway::Value::Bool(b) => Value::Bool(*b),
            serde_norway::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_norway::Value::String(s) => Value::Str(s.clone()),
            serde_norway::Value::Sequence(s) => Value::list(s.iter().map(Value::from_yaml).collect()),
            serde_norway::Value::Mapping(m) => {
                Value::map(m.iter().map(|(k, v)| (yaml_key(k), Value::from_yaml(v))).collect())
            }
            serde_norway::Value::Tagged(t) => Value::from_yaml(&t.value),
        }
    }

    /// Convert a parsed JSON value (numbers become floats, as in Go).
    pub fn from_json(j: &serde_json::Value) -> Value {
        match j {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => {
                Value::map(o.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect())
            }
        }
    }

    /// Convert to JSON, the way Go's `encoding/json` sees the value.
    pub fn to_json(&self) -> serde_json::Value {
        self.to_json_at(0)
    }

    fn to_json_at(&self, depth: usize) -> serde_json::Value {
        if depth > MAX_VALUE_DEPTH {
            return serde_json::Value::Null;
        }
        match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    serde_json::Value::from(*f as i64)
                } else {
                    serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number)
                }
            }
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(|v| v.to_json_at(depth + 1)).collect()),
            Value::Map(m) => serde_json::Value::Object(
                m.snapshot()
                    .into_iter()
                    .map(|(k, v)| (k, v.to_json_at(depth + 1)))
                    .collect(),
            ),
            Value::Files(f) => serde_json::Value::Object(
                f.0.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            serde_json::Value::String(String::from_utf8_lossy(v).into_owned()),
                        )
                    })
                    .collect(),
            ),
            Value::ApiVersions(v) => {
                serde_json::Value::Array(v.iter().map(|s| serde_json::Value::String(s.clone())).collect())
            }
        }
    }
}

impl Drop for Value {
    /// Drop nested lists and maps iteratively, so a deeply nested value built by a template
    /// cannot exhaust the stack when it is freed.
    fn drop(&mut self) {
        fn take_children(v: &mut Value, stack: &mut Vec<Value>) {
            match v {
                Value::List(l) => {
                    if let Some(items) = Arc::get_mut(l) {
                        stack.append(items);
                    }
                }
                Value::Map(m) if Arc::strong_count(&m.0) == 1 => {
                    stack.extend(std::mem::take(&mut *m.lock()).into_values());
                }
                _ => {}
            }
        }
        let mut stack = Vec::new();
        take_children(self, &mut stack);
        while let Some(mut v) = stack.pop() {
            take_children(&mut v, &mut stack);
        }
    }
}

/// A YAML mapping key as a Go map key string.
pub fn yaml_key(k: &serde_norway::Value) -> String {
    match k {
        serde_norway::Value::String(s) => s.clone(),
        serde_norway::Value::Bool(b) => b.to_string(),
        serde_norway::Value::Number(n) => n.to_string(),
        serde_norway::Value::Null => "null".into(),
        other => serde_norway::to_string(other).unwrap_or_default().trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truthiness_follows_go() {
        assert!(!Value::Nil.truthy());
        assert!(!Value::Int(0).truthy());
        assert!(!Value::str("").truthy());
        assert!(!Value::list(vec![]).truthy());
        assert!(Value::str("x").truthy());
        assert!(Value::Float(0.5).truthy());
    }

    #[test]
    fn maps_are_shared_like_go_maps() {
        let m = MapRef::default();
        let v = Value::Map(m.clone());
        if let Value::Map(inner) = &v {
            inner.insert("a".into(), Value::Int(1));
        }
        assert!(m.contains("a"));
        let copy = v.deep_copy();
        m.insert("b".into(), Value::Int(2));
        if let Value::Map(c) = &copy {
            assert!(!c.contains("b"));
        }
    }

    #[test]
    fn yaml_numbers_become_floats_and_print_as_integers_in_json() {
        let y: serde_norway::Value = serde_norway::from_str("a: 3\nb: 1.5").unwrap();
        let v = Value::from_yaml(&y);
        assert_eq!(v.to_json(), serde_json::json!({"a": 3, "b": 1.5}));
    }
}
