//! The template functions: Go's builtins and the Sprig and Helm functions charts use, except the
//! few that need the engine (`include`, `tpl`, `and`, `or`, in [`super::exec`]).
//!
//! Arguments arrive in call order with a piped value last, as in Go. Functions that would
//! reach outside the chart (`getHostByName`, `env`) or make keys and certificates are either
//! inert (`env` is empty, `lookup` finds nothing, as under `helm template`) or refuse with an
//! error that the scanner reports as a rendering gap.
//!
//! This file holds dispatch, conversions and the string and logic functions; collections and
//! numbers are in [`super::funcs_coll`], encodings, regexes, semver and the rest in
//! [`super::funcs_misc`].

use super::format::{go_quote, go_string, sprintf};
use super::funcs_coll;
use super::funcs_crypto;
use super::funcs_misc;
use super::value::Value;

/// A function's failure message.
pub type FResult = Result<Value, String>;

/// Functions that exist in Helm but are refused here (they need keys, randomness for secrets,
/// the network or the clock in a way a scan cannot reproduce).
const REFUSED: &[&str] = &[
    "derivePassword",
    "encryptAES",
    "decryptAES",
    "bcrypt",
    "getHostByName",
    "buildCustomCert",
    "toToml",
    "fromToml",
    "call",
];

/// Functions that take (at least) one argument.
const UNARY: &[&str] = &[
    "upper",
    "lower",
    "title",
    "untitle",
    "snakecase",
    "kebabcase",
    "camelcase",
    "swapcase",
    "initials",
    "nospace",
    "toString",
    "b64enc",
    "b64dec",
    "sha256sum",
    "sha1sum",
    "sha512sum",
    "adler32sum",
    "base",
    "osBase",
    "dir",
    "osDir",
    "ext",
    "osExt",
    "isAbs",
    "osIsAbs",
    "clean",
    "osClean",
    "fromYaml",
    "fromYamlArray",
    "fromJson",
    "fromJsonArray",
    "regexQuoteMeta",
    "semver",
    "expandenv",
    "randAlphaNum",
    "randAlpha",
    "randNumeric",
    "randAscii",
    "first",
    "last",
    "rest",
    "initial",
    "reverse",
    "uniq",
    "compact",
    "sortAlpha",
    "until",
    "toStrings",
    "int",
    "int64",
    "toDecimal",
    "atoi",
    "float64",
    "add1",
    "floor",
    "ceil",
    "round",
    "mustFirst",
    "mustLast",
    "mustRest",
    "mustInitial",
    "mustReverse",
    "mustUniq",
    "mustCompact",
];

/// Largest string a function may build (checked before building it).
pub const MAX_STRING_BYTES: usize = 64 << 20;

pub(super) fn too_big(n: usize) -> Result<(), String> {
    if n > MAX_STRING_BYTES {
        return Err(format!(
            "result would be {n} bytes, over the {MAX_STRING_BYTES}-byte limit"
        ));
    }
    Ok(())
}

/// Call function `name`.
pub fn call(name: &str, a: Vec<Value>) -> FResult {
    if REFUSED.contains(&name) {
        return Err(format!("function {name:?} is not supported by regscan's renderer"));
    }
    if a.is_empty() && UNARY.contains(&name) {
        return Err(format!("wrong number of args for {name}: want 1 got 0"));
    }
    if let Some(v) = funcs_coll::call(name, &a) {
        return v;
    }
    let name = match name.strip_prefix("must") {
        Some(rest) if !rest.is_empty() && rest.starts_with(char::is_uppercase) => {
            let mut c = rest.chars();
            let first = c.next().map(|f| f.to_ascii_lowercase()).unwrap_or_default();
            let base = format!("{first}{}", c.as_str());
            return must(&base, a);
        }
        _ => name,
    };
    strings(name, &a)
        .or_else(|| funcs_misc::call(name, &a))
        .or_else(|| funcs_crypto::call(name, &a))
        .unwrap_or_else(|| Err(format!("function {name:?} not defined")))
}

/// The `must…` variants: the same function, with a failure as an error rather than a value.
fn must(base: &str, a: Vec<Value>) -> FResult {
    let v = call(base, a)?;
    if matches!(base, "fromYaml" | "fromJson") {
        if let Value::Map(m) = &v {
            if let Some(e) = m.get("Error") {
                return Err(go_string(&e));
            }
        }
    }
    Ok(v)
}

pub(super) fn arity(name: &str, a: &[Value], n: usize) -> Result<(), String> {
    if a.len() != n {
        return Err(format!("wrong number of args for {name}: want {n} got {}", a.len()));
    }
    Ok(())
}

/// Sprig's `strval`: strings as they are, everything else as `%v` prints it.
pub fn strval(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => go_string(other),
    }
}

/// Sprig's `empty`.
pub fn empty(v: &Value) -> bool {
    !v.truthy()
}

/// `cast.ToInt64`: numbers truncated, strings parsed (base prefixes allowed), bools 1/0,
/// anything else 0.
pub fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => {
            let s = s.trim();
            let (neg, body) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
            let n = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
                i64::from_str_radix(h, 16).ok()
            } else {
                body.parse::<i64>().ok()
            };
            n.map_or(0, |n| if neg { -n } else { n })
        }
        _ => 0,
    }
}

/// `cast.ToFloat64`.
pub fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

pub(super) fn s(v: &Value) -> String {
    strval(v)
}

pub(super) fn deterministic_chars(n: i64, alphabet: &str) -> String {
    let chars: Vec<char> = alphabet.chars().collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n.clamp(0, 4096))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chars[(x % chars.len() as u64) as usize]
        })
        .collect()
}

fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn capitalize(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

pub(super) fn regex(pattern: &str) -> Result<regex_lite::Regex, String> {
    regex_lite::RegexBuilder::new(&super::re2::translate(pattern))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("bad regular expression {pattern:?}: {e}"))
}

/// Go's `print`: operands separated by a space when neither side is a string.
pub(super) fn go_print(a: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 && !matches!(v, Value::Str(_)) && !matches!(a[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&go_string(v));
    }
    out
}

fn strings(name: &str, a: &[Value]) -> Option<FResult> {
    let r = (|| -> FResult {
        Ok(match name {
            "default" => match a {
                [d] => d.clone(),
                [d, v, ..] => {
                    if empty(v) {
                        d.clone()
                    } else {
                        v.clone()
                    }
                }
                _ => return Err("wrong number of args for default: want 1 or 2".into()),
            },
            "required" => {
                arity(name, a, 2)?;
                match &a[1] {
                    Value::Nil => return Err(s(&a[0])),
                    Value::Str(x) if x.is_empty() => return Err(s(&a[0])),
                    v => v.clone(),
                }
            }
            "fail" => return Err(a.first().map(s).unwrap_or_default()),
            "empty" => Value::Bool(empty(a.first().unwrap_or(&Value::Nil))),
            "coalesce" => a.iter().find(|v| !empty(v)).cloned().unwrap_or(Value::Nil),
            "all" => Value::Bool(a.iter().all(|v| !empty(v))),
            "any" => Value::Bool(a.iter().any(|v| !empty(v))),
            "ternary" => {
                arity(name, a, 3)?;
                if a[2].truthy() {
                    a[0].clone()
                } else {
                    a[1].clone()
                }
            }
            "not" => {
                arity(name, a, 1)?;
                Value::Bool(!a[0].truthy())
            }
            "eq" => {
                let (first, rest) = a.split_first().ok_or("missing argument for comparison")?;
                Value::Bool(rest.iter().any(|x| first.equals(x)))
            }
            "ne" => {
                arity(name, a, 2)?;
                Value::Bool(!a[0].equals(&a[1]))
            }
            "lt" | "le" | "gt" | "ge" => {
                arity(name, a, 2)?;
                let ord = match (&a[0], &a[1]) {
                    (Value::Str(x), Value::Str(y)) => x.cmp(y),
                    (x, y) => match (x.as_f64(), y.as_f64()) {
                        (Some(x), Some(y)) => x.partial_cmp(&y).ok_or("incomparable numbers")?,
                        _ => {
                            return Err(format!(
                                "incompatible types for comparison: {} and {}",
                                x.type_name(),
                                y.type_name()
                            ))
                        }
                    },
                };
                Value::Bool(match name {
                    "lt" => ord.is_lt(),
                    "le" => ord.is_le(),
                    "gt" => ord.is_gt(),
                    _ => ord.is_ge(),
                })
            }
            "quote" => Value::Str(
                a.iter()
                    .filter(|v| !matches!(v, Value::Nil))
                    .map(|v| go_quote(&s(v)))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            "squote" => Value::Str(
                a.iter()
                    .filter(|v| !matches!(v, Value::Nil))
                    .map(|v| format!("'{}'", s(v)))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            "cat" => Value::Str(
                a.iter()
                    .filter(|v| !matches!(v, Value::Nil))
                    .map(s)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            "indent" | "nindent" => {
                arity(name, a, 2)?;
                let pad = " ".repeat(to_i64(&a[0]).clamp(0, 1024) as usize);
                let text = s(&a[1]);
                too_big(text.len() + (text.matches('\n').count() + 1) * pad.len())?;
                let body = format!("{pad}{}", s(&a[1]).replace('\n', &format!("\n{pad}")));
                Value::Str(if name == "nindent" { format!("\n{body}") } else { body })
            }
            "trunc" => {
                arity(name, a, 2)?;
                // By character, without a copy of the text as a list of chars.
                let (n, text) = (to_i64(&a[0]), s(&a[1]));
                let len = text.chars().count() as i64;
                let byte_at = |k: i64| text.char_indices().nth(k as usize).map_or(text.len(), |(i, _)| i);
                Value::Str(if n < 0 && len + n > 0 {
                    text[byte_at(len + n)..].to_owned()
                } else if n >= 0 && len > n {
                    text[..byte_at(n)].to_owned()
                } else {
                    text
                })
            }
            "trim" => Value::Str(s(a.first().unwrap_or(&Value::Nil)).trim().to_owned()),
            "trimAll" => {
                arity(name, a, 2)?;
                let cut: Vec<char> = s(&a[0]).chars().collect();
                Value::Str(s(&a[1]).trim_matches(|c| cut.contains(&c)).to_owned())
            }
            "trimSuffix" => {
                arity(name, a, 2)?;
                let (suf, text) = (s(&a[0]), s(&a[1]));
                Value::Str(text.strip_suffix(suf.as_str()).unwrap_or(&text).to_owned())
            }
            "trimPrefix" => {
                arity(name, a, 2)?;
                let (pre, text) = (s(&a[0]), s(&a[1]));
                Value::Str(text.strip_prefix(pre.as_str()).unwrap_or(&text).to_owned())
            }
            "upper" => Value::Str(s(&a[0]).to_uppercase()),
            "lower" => Value::Str(s(&a[0]).to_lowercase()),
            "title" => Value::Str(s(&a[0]).split(' ').map(capitalize).collect::<Vec<_>>().join(" ")),
            "untitle" => Value::Str(
                s(&a[0])
                    .split(' ')
                    .map(|w| {
                        let mut c = w.chars();
                        c.next()
                            .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            "snakecase" => Value::Str(
                words(&s(&a[0]))
                    .iter()
                    .map(|w| w.to_lowercase())
                    .collect::<Vec<_>>()
                    .join("_"),
            ),
            "kebabcase" => Value::Str(
                words(&s(&a[0]))
                    .iter()
                    .map(|w| w.to_lowercase())
                    .collect::<Vec<_>>()
                    .join("-"),
            ),
            "camelcase" => Value::Str(words(&s(&a[0])).iter().map(|w| capitalize(&w.to_lowercase())).collect()),
            "swapcase" => Value::Str(
                s(&a[0])
                    .chars()
                    .map(|c| {
                        if c.is_uppercase() {
                            c.to_lowercase().next().unwrap_or(c)
                        } else {
                            c.to_uppercase().next().unwrap_or(c)
                        }
                    })
                    .collect(),
            ),
            "initials" => Value::Str(s(&a[0]).split_whitespace().filter_map(|w| w.chars().next()).collect()),
            "substr" => {
                arity(name, a, 3)?;
                let chars: Vec<char> = s(&a[2]).chars().collect();
                let len = chars.len() as i64;
                let (mut start, mut end) = (to_i64(&a[0]), to_i64(&a[1]));
                if start < 0 {
                    start = 0;
                }
                if end < 0 || end > len {
                    end = len;
                }
                Value::Str(if start >= end {
                    String::new()
                } else {
                    chars[start as usize..end as usize].iter().collect()
                })
            }
            "repeat" => {
                arity(name, a, 2)?;
                let n = to_i64(&a[0]);
                let text = s(&a[1]);
                if n < 0 {
                    return Err("repeat count out of range".into());
                }
                too_big((n as usize).saturating_mul(text.len()))?;
                Value::Str(text.repeat(n as usize))
            }
            "nospace" => Value::Str(s(&a[0]).chars().filter(|c| !c.is_whitespace()).collect()),
            "replace" => {
                arity(name, a, 3)?;
                let (old, new, text) = (s(&a[0]), s(&a[1]), s(&a[2]));
                let hits = if old.is_empty() {
                    text.chars().count() + 1
                } else {
                    text.matches(old.as_str()).count()
                };
                too_big(text.len() + hits * new.len())?;
                Value::Str(text.replace(&old, &new))
            }
            "contains" => {
                arity(name, a, 2)?;
                Value::Bool(s(&a[1]).contains(&s(&a[0])))
            }
            "hasPrefix" => {
                arity(name, a, 2)?;
                Value::Bool(s(&a[1]).starts_with(&s(&a[0])))
            }
            "hasSuffix" => {
                arity(name, a, 2)?;
                Value::Bool(s(&a[1]).ends_with(&s(&a[0])))
            }
            "plural" => {
                arity(name, a, 3)?;
                if to_i64(&a[2]) == 1 {
                    a[0].clone()
                } else {
                    a[1].clone()
                }
            }
            "abbrev" => {
                arity(name, a, 2)?;
                let (n, text) = (to_i64(&a[0]), s(&a[1]));
                let chars: Vec<char> = text.chars().collect();
                Value::Str(if n < 4 || chars.len() as i64 <= n {
                    text
                } else {
                    chars[..(n - 3) as usize].iter().collect::<String>() + "..."
                })
            }
            "wrap" => {
                arity(name, a, 2)?;
                let width = to_i64(&a[0]).max(1) as usize;
                let mut out = String::new();
                let mut line_len = 0;
                for w in s(&a[1]).split(' ') {
                    if line_len > 0 && line_len + 1 + w.len() > width {
                        out.push('\n');
                        line_len = 0;
                    } else if line_len > 0 {
                        out.push(' ');
                        line_len += 1;
                    }
                    out.push_str(w);
                    line_len += w.len();
                }
                Value::Str(out)
            }
            "printf" => {
                let (f, rest) = a.split_first().ok_or("printf needs a format")?;
                Value::Str(sprintf(&s(f), rest))
            }
            "print" => Value::Str(go_print(a)),
            "println" => Value::Str(a.iter().map(go_string).collect::<Vec<_>>().join(" ") + "\n"),
            "toString" => Value::Str(s(&a[0])),
            _ => return Err(String::new()),
        })
    })();
    match r {
        Err(e) if e.is_empty() => None,
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, a: &[Value]) -> Value {
        call(name, a.to_vec()).unwrap()
    }

    #[test]
    fn string_functions_follow_sprig_argument_order() {
        assert_eq!(go_string(&c("trimSuffix", &[Value::str("-"), Value::str("a-")])), "a");
        assert_eq!(go_string(&c("trunc", &[Value::Int(3), Value::str("abcdef")])), "abc");
        assert_eq!(go_string(&c("trunc", &[Value::Int(-2), Value::str("abcdef")])), "ef");
        assert_eq!(go_string(&c("trunc", &[Value::Int(2), Value::str("éèê")])), "éè");
        assert_eq!(go_string(&c("trunc", &[Value::Int(-1), Value::str("éèê")])), "ê");
        assert_eq!(go_string(&c("trunc", &[Value::Int(9), Value::str("éè")])), "éè");
        assert_eq!(
            go_string(&c("replace", &[Value::str("+"), Value::str("_"), Value::str("1+2")])),
            "1_2"
        );
        assert_eq!(
            go_string(&c("nindent", &[Value::Int(2), Value::str("a\nb")])),
            "\n  a\n  b"
        );
        assert_eq!(go_string(&c("quote", &[Value::str("x"), Value::Int(1)])), "\"x\" \"1\"");
        assert_eq!(go_string(&c("squote", &[Value::str("x")])), "'x'");
        assert_eq!(go_string(&c("b64enc", &[Value::str("hi")])), "aGk=");
        assert_eq!(go_string(&c("snakecase", &[Value::str("fooBar Baz")])), "foo_bar_baz");
        assert_eq!(go_string(&c("camelcase", &[Value::str("foo_bar")])), "FooBar");
        assert_eq!(go_string(&c("title", &[Value::str("hello world")])), "Hello World");
    }

    #[test]
    fn logic_functions() {
        assert_eq!(go_string(&c("default", &[Value::str("d"), Value::str("")])), "d");
        assert_eq!(go_string(&c("default", &[Value::str("d"), Value::Bool(false)])), "d");
        assert_eq!(go_string(&c("default", &[Value::str("d"), Value::str("v")])), "v");
        assert_eq!(
            go_string(&c("ternary", &[Value::str("a"), Value::str("b"), Value::Bool(false)])),
            "b"
        );
        assert!(call("required", vec![Value::str("need x"), Value::Nil])
            .unwrap_err()
            .contains("need x"));
        assert!(c("eq", &[Value::Int(2), Value::Float(2.0)]).truthy());
        assert!(c("lt", &[Value::Int(1), Value::Float(2.5)]).truthy());
        assert!(call("lt", vec![Value::Int(1), Value::str("x")]).is_err());
    }

    #[test]
    fn refused_and_unknown_functions_error() {
        assert!(call("derivePassword", vec![]).unwrap_err().contains("not supported"));
        assert!(call("noSuchFunc", vec![]).unwrap_err().contains("not defined"));
    }

    #[test]
    fn regex_and_hashes() {
        assert!(c("regexMatch", &[Value::str("^a.c$"), Value::str("abc")]).truthy());
        assert_eq!(
            go_string(&c(
                "regexReplaceAll",
                &[Value::str("a(x*)b"), Value::str("-ab-axxb-"), Value::str("${1}W")]
            )),
            "-W-xxW-"
        );
        assert_eq!(
            go_string(&c("sha1sum", &[Value::str("abc")])),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(go_string(&c("base", &[Value::str("a/b/c.txt")])), "c.txt");
        assert_eq!(go_string(&c("dir", &[Value::str("a/b/c.txt")])), "a/b");
        assert_eq!(go_string(&c("ext", &[Value::str("a/b/c.txt")])), ".txt");
        assert_eq!(go_string(&c("clean", &[Value::str("a/./b/../c/")])), "a/c");
        assert_eq!(
            go_string(&c("sha256sum", &[Value::str("")])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
