//! YAML and JSON text for `toYaml`, `toJson`, `fromYaml` and friends, shaped like Helm's output.
//!
//! Helm's `toYaml` goes value → JSON → YAML (sigs.k8s.io/yaml over go-yaml v2), so keys come out
//! sorted, integral numbers print as integers, sequences inside mappings are not indented, and
//! strings that would read back as something else (`"true"`, `"1.0"`, `""`) are double-quoted.
//! This module writes that format directly.

use serde_json::Value as J;

use super::format::go_float;
use super::value::Value;

/// `toYaml`: the YAML text without its final newline (Helm trims it).
pub fn to_yaml(v: &Value) -> String {
    let j = v.to_json();
    let mut out = String::new();
    match &j {
        J::Object(m) if !m.is_empty() => emit_map(&mut out, m, 0),
        J::Array(a) if !a.is_empty() => emit_list(&mut out, a, 0),
        J::String(s) if s.contains('\n') => {
            out.push_str(&literal_header(s));
            out.push('\n');
            push_literal_body(&mut out, s, 2);
        }
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    if out.ends_with('\n') {
        out.pop();
    }
    out
}

/// `toJson`: compact JSON with Go's HTML escaping of `<`, `>` and `&`.
pub fn to_json(v: &Value) -> String {
    to_raw_json(v)
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// `toRawJson`: compact JSON without HTML escaping.
pub fn to_raw_json(v: &Value) -> String {
    serde_json::to_string(&v.to_json()).unwrap_or_default()
}

/// `toPrettyJson`: JSON indented by two spaces.
pub fn to_pretty_json(v: &Value) -> String {
    serde_json::to_string_pretty(&v.to_json()).unwrap_or_default()
}

/// `fromYaml`: a map, or a map with an `Error` key when the text is not a YAML mapping.
pub fn from_yaml(s: &str) -> Value {
    match serde_norway::from_str::<serde_norway::Value>(s) {
        Ok(serde_norway::Value::Mapping(m)) => Value::from_yaml(&serde_norway::Value::Mapping(m)),
        Ok(serde_norway::Value::Null) => Value::map(Default::default()),
        Ok(other) => error_map(format!(
            "error unmarshaling JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            yaml_kind(&other)
        )),
        Err(e) => error_map(e.to_string()),
    }
}

/// `fromYamlArray`: a list, or a one-element list holding the error text.
pub fn from_yaml_array(s: &str) -> Value {
    match serde_norway::from_str::<serde_norway::Value>(s) {
        Ok(v @ serde_norway::Value::Sequence(_)) => Value::from_yaml(&v),
        Ok(serde_norway::Value::Null) => Value::list(vec![]),
        Ok(other) => Value::list(vec![Value::str(format!(
            "cannot unmarshal {} into a list",
            yaml_kind(&other)
        ))]),
        Err(e) => Value::list(vec![Value::str(e.to_string())]),
    }
}

/// `fromJson`: a map, or a map with an `Error` key.
pub fn from_json(s: &str) -> Value {
    match serde_json::from_str::<J>(s) {
        Ok(j @ J::Object(_)) => Value::from_json(&j),
        Ok(_) => error_map("json: cannot unmarshal into Go value of type map[string]interface {}".into()),
        Err(e) => error_map(e.to_string()),
    }
}

/// `fromJsonArray`: a list, or a one-element list holding the error text.
pub fn from_json_array(s: &str) -> Value {
    match serde_json::from_str::<J>(s) {
        Ok(j @ J::Array(_)) => Value::from_json(&j),
        Ok(_) => Value::list(vec![Value::str(
            "json: cannot unmarshal into Go value of type []interface {}",
        )]),
        Err(e) => Value::list(vec![Value::str(e.to_string())]),
    }
}

fn error_map(msg: String) -> Value {
    Value::map([("Error".to_owned(), Value::Str(msg))].into_iter().collect())
}

fn yaml_kind(v: &serde_norway::Value) -> &'static str {
    match v {
        serde_norway::Value::Sequence(_) => "array",
        serde_norway::Value::String(_) => "string",
        serde_norway::Value::Number(_) => "number",
        serde_norway::Value::Bool(_) => "bool",
        _ => "value",
    }
}

fn emit_map(out: &mut String, m: &serde_json::Map<String, J>, indent: usize) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for k in keys {
        let v = &m[k];
        out.push_str(&" ".repeat(indent));
        out.push_str(&string_scalar(k));
        out.push(':');
        emit_value_after_key(out, v, indent, false);
    }
}

fn emit_value_after_key(out: &mut String, v: &J, indent: usize, in_list: bool) {
    match v {
        J::Object(o) if !o.is_empty() => {
            out.push('\n');
            emit_map(out, o, indent + 2);
        }
        J::Array(a) if !a.is_empty() => {
            out.push('\n');
            emit_list(out, a, if in_list { indent + 2 } else { indent });
        }
        J::String(s) if s.contains('\n') => {
            out.push(' ');
            out.push_str(&literal_header(s));
            out.push('\n');
            push_literal_body(out, s, indent + 2);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn emit_list(out: &mut String, a: &[J], indent: usize) {
    for item in a {
        match item {
            J::Object(o) if !o.is_empty() => {
                let mut nested = String::new();
                emit_map(&mut nested, o, indent + 2);
                push_as_item(out, &nested, indent);
            }
            J::Array(inner) if !inner.is_empty() => {
                let mut nested = String::new();
                emit_list(&mut nested, inner, indent + 2);
                push_as_item(out, &nested, indent);
            }
            J::String(s) if s.contains('\n') => {
                out.push_str(&" ".repeat(indent));
                out.push_str("- ");
                out.push_str(&literal_header(s));
                out.push('\n');
                push_literal_body(out, s, indent + 2);
            }
            other => {
                out.push_str(&" ".repeat(indent));
                out.push_str("- ");
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

/// Put a block emitted at `indent + 2` behind a `- ` at `indent`.
fn push_as_item(out: &mut String, nested: &str, indent: usize) {
    out.push_str(&" ".repeat(indent));
    out.push_str("- ");
    out.push_str(&nested[indent + 2..]);
}

fn literal_header(s: &str) -> String {
    let chomp = if !s.ends_with('\n') {
        "-"
    } else if s.ends_with("\n\n") {
        "+"
    } else {
        ""
    };
    let indicator = if s.starts_with([' ', '\n']) { "2" } else { "" };
    format!("|{indicator}{chomp}")
}

fn push_literal_body(out: &mut String, s: &str, indent: usize) {
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        if !line.is_empty() {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn scalar(v: &J) -> String {
    match v {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => go_float(n.as_f64().unwrap_or(0.0)),
        },
        J::String(s) => string_scalar(s),
        J::Array(_) => "[]".into(),
        J::Object(_) => "{}".into(),
    }
}

/// Whether a plain scalar with this text would be read back as something other than a string.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
        "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null", "NULL", ".inf", ".Inf", ".INF", "+.inf", "-.inf",
        ".nan", ".NaN", ".NAN", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let t = s.strip_prefix(['-', '+']).unwrap_or(s).replace('_', "");
    if t.is_empty() {
        return false;
    }
    let lower = t.to_ascii_lowercase();
    if let Some(h) = lower.strip_prefix("0x") {
        return !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(o) = lower.strip_prefix("0o").or_else(|| lower.strip_prefix("0b")) {
        return !o.is_empty() && o.bytes().all(|c| c.is_ascii_digit());
    }
    if lower
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-'))
        && lower.bytes().any(|c| c.is_ascii_digit())
        && lower.parse::<f64>().is_ok()
    {
        return true;
    }
    // Timestamps (2001-12-14, 2001-12-14T21:59:43Z) resolve too.
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

fn plain_allowed(s: &str) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    if s.starts_with([' ', '\t']) || s.ends_with([' ', '\t']) {
        return false;
    }
    if "[]{},#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if matches!(first, '-' | '?' | ':') && (s.len() == 1 || s[1..].starts_with([' ', '\t'])) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    !s.chars().any(|c| c.is_control() || c == '\u{feff}')
}

fn string_scalar(s: &str) -> String {
    if s.is_empty() || resolves_to_non_string(s) {
        return format!("\"{s}\"");
    }
    if plain_allowed(s) {
        return s.to_owned();
    }
    if s.chars().any(|c| c.is_control()) {
        return serde_json::to_string(s).unwrap_or_default();
    }
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(src: &str) -> Value {
        Value::from_yaml(&serde_norway::from_str(src).unwrap())
    }

    #[test]
    fn to_yaml_matches_helm_layout() {
        let v = yaml("b: {x: 1, a: [1, two, {k: v, j: w}]}\na: 'true'\nc: ''\nd: 'a: b'\ne: {}\nf: []\ng: 0.5");
        let expected = "a: \"true\"\nb:\n  a:\n  - 1\n  - two\n  - j: w\n    k: v\n  x: 1\nc: \"\"\nd: 'a: b'\ne: {}\nf: []\ng: 0.5";
        assert_eq!(to_yaml(&v), expected);
    }

    #[test]
    fn multiline_strings_use_literal_blocks() {
        let v = yaml("cfg: \"line1\\nline2\\n\"\nraw: \"a\\nb\"");
        assert_eq!(to_yaml(&v), "cfg: |\n  line1\n  line2\nraw: |-\n  a\n  b");
    }

    #[test]
    fn nested_lists_and_scalars() {
        let v = yaml("- [1, 2]\n- x");
        assert_eq!(to_yaml(&v), "- - 1\n  - 2\n- x");
        assert_eq!(to_yaml(&Value::Nil), "null");
        assert_eq!(to_yaml(&Value::str("123")), "\"123\"");
    }

    #[test]
    fn from_yaml_reports_errors_in_a_map() {
        let v = from_yaml("- a");
        let Value::Map(m) = &v else { panic!("not a map") };
        assert!(m.contains("Error"));
    }

    #[test]
    fn to_json_escapes_html_like_go() {
        let v = yaml("a: '<b>'");
        assert_eq!(to_json(&v), r#"{"a":"\u003cb\u003e"}"#);
        assert_eq!(to_raw_json(&v), r#"{"a":"<b>"}"#);
    }
}
