//! The rest of the function library: encodings and hashes, YAML/JSON conversion, regular
//! expressions, semver, type tests, paths, and the inert stand-ins for functions whose real
//! result a scan cannot or should not reproduce (`lookup`, `env`, `rand*`, `now`, `uuidv4`).

use base64::Engine as _;
use sha2::Digest as _;

use super::funcs::{arity, deterministic_chars, go_print, regex, s, to_i64, too_big, FResult};
use super::semver;
use super::value::Value;
use super::yaml;

/// Call one of these functions; `None` when `name` is not one.
pub fn call(name: &str, a: &[Value]) -> Option<FResult> {
    let r = (|| -> FResult {
        Ok(match name {
            "b64enc" => Value::Str(base64::engine::general_purpose::STANDARD.encode(s(&a[0]))),
            "b64dec" => Value::Str(
                base64::engine::general_purpose::STANDARD
                    .decode(s(&a[0]).trim())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_else(|e| e.to_string()),
            ),
            "sha256sum" => Value::Str(hex::encode(sha2::Sha256::digest(s(&a[0]).as_bytes()))),
            "sha1sum" => {
                use sha1::Digest as _;
                Value::Str(hex::encode(sha1::Sha1::digest(s(&a[0]).as_bytes())))
            }
            "base" | "osBase" => {
                let p = s(&a[0]);
                let t = p.trim_end_matches('/');
                Value::str(if t.is_empty() {
                    if p.is_empty() {
                        "."
                    } else {
                        "/"
                    }
                } else {
                    t.rsplit('/').next().unwrap_or(t)
                })
            }
            "dir" | "osDir" => {
                let p = s(&a[0]);
                Value::str(match p.rfind('/') {
                    Some(0) => "/".to_owned(),
                    Some(i) => p[..i].to_owned(),
                    None => ".".to_owned(),
                })
            }
            "ext" | "osExt" => {
                let p = s(&a[0]);
                let base = p.rsplit('/').next().unwrap_or(&p);
                Value::str(base.rfind('.').map(|i| &base[i..]).unwrap_or(""))
            }
            "isAbs" | "osIsAbs" => Value::Bool(s(&a[0]).starts_with('/')),
            "clean" | "osClean" => {
                let p = s(&a[0]);
                let abs = p.starts_with('/');
                let mut parts: Vec<&str> = Vec::new();
                for seg in p.split('/') {
                    match seg {
                        "" | "." => {}
                        ".." if parts.last().is_some_and(|l| *l != "..") => {
                            parts.pop();
                        }
                        ".." if abs => {}
                        other => parts.push(other),
                    }
                }
                let joined = parts.join("/");
                Value::Str(match (abs, joined.is_empty()) {
                    (true, _) => format!("/{joined}"),
                    (false, true) => ".".into(),
                    (false, false) => joined,
                })
            }
            "randInt" => {
                arity(name, a, 2)?;
                let (lo, hi) = (to_i64(&a[0]), to_i64(&a[1]));
                Value::Int(if hi > lo { lo + (hi - lo) / 2 } else { lo })
            }
            "deepEqual" => {
                arity(name, a, 2)?;
                Value::Bool(a[0].equals(&a[1]))
            }
            "sha512sum" => Value::Str(hex::encode(sha2::Sha512::digest(s(&a[0]).as_bytes()))),
            "adler32sum" => {
                let (mut x, mut y) = (1u32, 0u32);
                for b in s(&a[0]).bytes() {
                    x = (x + u32::from(b)) % 65521;
                    y = (y + x) % 65521;
                }
                Value::Str(((y << 16) | x).to_string())
            }
            "toYaml" => Value::Str(yaml::to_yaml(a.first().unwrap_or(&Value::Nil))),
            "fromYaml" => yaml::from_yaml(&s(&a[0])),
            "fromYamlArray" => yaml::from_yaml_array(&s(&a[0])),
            "toJson" => Value::Str(yaml::to_json(a.first().unwrap_or(&Value::Nil))),
            "toRawJson" => Value::Str(yaml::to_raw_json(a.first().unwrap_or(&Value::Nil))),
            "toPrettyJson" => Value::Str(yaml::to_pretty_json(a.first().unwrap_or(&Value::Nil))),
            "fromJson" => yaml::from_json(&s(&a[0])),
            "fromJsonArray" => yaml::from_json_array(&s(&a[0])),
            "regexMatch" => {
                arity(name, a, 2)?;
                Value::Bool(regex(&s(&a[0]))?.is_match(&s(&a[1])))
            }
            "regexFind" => {
                arity(name, a, 2)?;
                Value::Str(
                    regex(&s(&a[0]))?
                        .find(&s(&a[1]))
                        .map(|m| m.as_str().to_owned())
                        .unwrap_or_default(),
                )
            }
            "regexFindAll" => {
                arity(name, a, 3)?;
                let text = s(&a[1]);
                let n = to_i64(&a[2]);
                let re = regex(&s(&a[0]))?;
                let it = re.find_iter(&text).map(|m| Value::str(m.as_str()));
                Value::list(if n < 0 {
                    it.collect()
                } else {
                    it.take(n as usize).collect()
                })
            }
            "regexReplaceAll" | "regexReplaceAllLiteral" => {
                arity(name, a, 3)?;
                let re = regex(&s(&a[0]))?;
                let text = s(&a[1]);
                let repl = s(&a[2]);
                too_big(text.len() + re.find_iter(&text).count() * (repl.len() + text.len().min(repl.len() * 8)))?;
                Value::Str(if name == "regexReplaceAll" {
                    re.replace_all(&text, repl.as_str()).into_owned()
                } else {
                    re.replace_all(&text, regex_lite::NoExpand(&repl)).into_owned()
                })
            }
            "regexSplit" => {
                arity(name, a, 3)?;
                let text = s(&a[1]);
                let n = to_i64(&a[2]);
                let re = regex(&s(&a[0]))?;
                let parts: Vec<Value> = if n < 0 {
                    re.split(&text).map(Value::str).collect()
                } else {
                    re.splitn(&text, n as usize).map(Value::str).collect()
                };
                Value::list(parts)
            }
            "regexQuoteMeta" => Value::Str(super::re2::quote_meta(&s(&a[0]))),
            "semverCompare" => {
                arity(name, a, 2)?;
                Value::Bool(semver::compare(&s(&a[0]), &s(&a[1]))?)
            }
            "semver" => semver::object(&s(&a[0]))?,
            "kindOf" => Value::str(a.first().unwrap_or(&Value::Nil).kind_name()),
            "kindIs" => {
                arity(name, a, 2)?;
                Value::Bool(s(&a[0]) == a[1].kind_name())
            }
            "typeOf" => Value::str(a.first().unwrap_or(&Value::Nil).type_name()),
            "typeIs" | "typeIsLike" => {
                arity(name, a, 2)?;
                Value::Bool(s(&a[0]) == a[1].type_name())
            }
            "lookup" => Value::map(Default::default()),
            "env" => Value::str(""),
            "expandenv" => Value::Str(s(&a[0])),
            "randAlphaNum" => Value::Str(deterministic_chars(
                to_i64(&a[0]),
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            )),
            "randAlpha" => Value::Str(deterministic_chars(
                to_i64(&a[0]),
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            )),
            "randNumeric" => Value::Str(deterministic_chars(to_i64(&a[0]), "0123456789")),
            "randAscii" => Value::Str(deterministic_chars(
                to_i64(&a[0]),
                "!#%&()*+,-.0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_abcdefghijklmnopqrstuvwxyz{|}~",
            )),
            "uuidv4" => Value::str("00000000-0000-4000-8000-000000000000"),
            "now" => Value::str("1970-01-01 00:00:00 +0000 UTC"),
            "date" | "dateInZone" => Value::str("1970-01-01"),
            "unixEpoch" => Value::str("0"),
            "urlquery" => Value::Str(
                go_print(a)
                    .bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                        b' ' => "+".into(),
                        other => format!("%{other:02X}"),
                    })
                    .collect(),
            ),
            "html" => Value::Str(
                go_print(a)
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
                    .replace('"', "&#34;")
                    .replace('\'', "&#39;"),
            ),
            "js" => Value::Str(
                go_print(a)
                    .replace('\\', "\\\\")
                    .replace('\'', "\\'")
                    .replace('"', "\\\"")
                    .replace('<', "\\u003C")
                    .replace('>', "\\u003E"),
            ),
            _ => return Err(String::new()),
        })
    })();
    match r {
        Err(e) if e.is_empty() => None,
        other => Some(other),
    }
}
