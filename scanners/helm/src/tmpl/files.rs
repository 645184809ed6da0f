//! The methods of `.Files` (`Get`, `GetBytes`, `Lines`, `Glob`, `AsConfig`, `AsSecrets`) and
//! Helm's glob matching for `Glob`, compiled to a linear-time regular expression.

use std::sync::Arc;

use super::value::{Files, Value};
use super::yaml;

/// The methods of `.Files`.
pub fn files_method(f: &Files, name: &str, args: &[Value]) -> Result<Value, String> {
    let path = || match args {
        [Value::Str(p)] => Ok(p.as_str()),
        _ => Err(format!("Files.{name} wants one path argument")),
    };
    let text = |p: &str| {
        f.0.get(p)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    Ok(match name {
        "Get" => Value::Str(text(path()?)),
        "GetBytes" => Value::list(
            f.0.get(path()?)
                .map(|b| b.iter().map(|&x| Value::Int(x.into())).collect())
                .unwrap_or_default(),
        ),
        "Lines" => {
            let t = text(path()?);
            if t.is_empty() {
                Value::list(vec![])
            } else {
                Value::list(t.split('\n').map(|l| Value::str(l.to_owned())).collect())
            }
        }
        "Glob" => {
            let matched: std::collections::BTreeMap<String, Vec<u8>> = match glob_regex(path()?)? {
                Some(re) => {
                    f.0.iter()
                        .filter(|(k, _)| re.is_match(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                }
                None => Default::default(),
            };
            Value::Files(Files(Arc::new(matched)))
        }
        "AsConfig" | "AsSecrets" => {
            let m =
                f.0.iter()
                    .map(|(k, v)| {
                        let base = k.rsplit('/').next().unwrap_or(k).to_owned();
                        let content = if name == "AsSecrets" {
                            use base64::Engine as _;
                            base64::engine::general_purpose::STANDARD.encode(v)
                        } else {
                            String::from_utf8_lossy(v).into_owned()
                        };
                        (base, Value::Str(content))
                    })
                    .collect();
            Value::Str(yaml::to_yaml(&Value::map(m)))
        }
        _ => return Err(format!("can't evaluate field {name} in type chart.Files")),
    })
}

/// Longest `.Files.Glob` pattern accepted, in characters.
pub const MAX_GLOB_PATTERN: usize = 1024;

/// Compile a `.Files.Glob` pattern with Helm's semantics (gobwas/glob with `/` as separator):
/// `*` and `?` stay within one path segment, `**` crosses segments, `[abc]`, `[a-z]` and `[!abc]`
/// match one character of a segment, `{a,b}` matches either alternative, `\x` is a literal `x`.
///
/// The pattern is translated to a `regex_lite` expression, and `regex_lite` searches in
/// O(pattern × name) time whatever the input (it has no backtracking without memoisation), so a
/// hostile pattern such as `*a*a*a…*b` against `aaaa…` costs time linear in each file name. The
/// pattern itself is bounded by [`MAX_GLOB_PATTERN`] and the compiled size by the regex size
/// limit. An unterminated `[` or `{` matches nothing, as before.
pub fn glob_regex(pattern: &str) -> Result<Option<regex_lite::Regex>, String> {
    if pattern.chars().count() > MAX_GLOB_PATTERN {
        return Err(format!(
            "Files.Glob pattern is longer than {MAX_GLOB_PATTERN} characters (the glob pattern limit)"
        ));
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("^(?s:");
    let mut i = 0;
    let mut braces = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 2;
                continue;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '\\' if i + 1 < chars.len() => {
                i += 1;
                push_literal(&mut re, chars[i]);
            }
            '[' => {
                let Some(len) = chars[i + 1..].iter().position(|&c| c == ']') else {
                    return Ok(None);
                };
                let set = &chars[i + 1..i + 1 + len];
                let (neg, set) = match set.first() {
                    Some('!') => (true, &set[1..]),
                    _ => (false, set),
                };
                if set.is_empty() {
                    if !neg {
                        // `[]` matches nothing.
                        return Ok(None);
                    }
                    re.push_str("(?:.)");
                    i += len + 2;
                    continue;
                }
                re.push_str(if neg { "[^" } else { "[" });
                let mut j = 0;
                while j < set.len() {
                    if j + 2 < set.len() && set[j + 1] == '-' {
                        if set[j] > set[j + 2] {
                            return Ok(None);
                        }
                        push_class_char(&mut re, set[j]);
                        re.push('-');
                        push_class_char(&mut re, set[j + 2]);
                        j += 3;
                    } else {
                        push_class_char(&mut re, set[j]);
                        j += 1;
                    }
                }
                re.push(']');
                i += len + 2;
                continue;
            }
            '{' => {
                braces += 1;
                re.push_str("(?:");
            }
            ',' if braces > 0 => re.push('|'),
            '}' if braces > 0 => {
                braces -= 1;
                re.push(')');
            }
            other => push_literal(&mut re, other),
        }
        i += 1;
    }
    if braces > 0 {
        return Ok(None);
    }
    re.push_str(")$");
    regex_lite::RegexBuilder::new(&re)
        .size_limit(1 << 20)
        .build()
        .map(Some)
        .map_err(|e| format!("Files.Glob pattern {pattern:?} is too complex: {e}"))
}

fn push_literal(re: &mut String, c: char) {
    if regex_lite::escape(c.encode_utf8(&mut [0; 4])).len() > c.len_utf8() {
        re.push('\\');
    }
    re.push(c);
}

fn push_class_char(re: &mut String, c: char) {
    if matches!(c, '\\' | ']' | '[' | '^' | '-' | '&' | '~') {
        re.push('\\');
    }
    re.push(c);
}

/// Whether `name` matches glob `pattern` (see [`glob_regex`]); a bad pattern matches nothing.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    matches!(glob_regex(pattern), Ok(Some(re)) if re.is_match(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_semantics() {
        assert!(glob_match("files/*.conf", "files/a.conf"));
        assert!(!glob_match("files/*.conf", "files/sub/a.conf"));
        assert!(glob_match("files/**.conf", "files/sub/a.conf"));
        assert!(glob_match("conf/{a,b}.yaml", "conf/b.yaml"));
        assert!(glob_match("x/[ab]?", "x/bc"));
    }
}
