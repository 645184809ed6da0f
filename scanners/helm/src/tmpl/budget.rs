//! What a function call will cost, worked out from its arguments BEFORE it runs, so that the
//! executor charges the step budget and checks the output-size budget before anything is
//! allocated (`repeat 100000000000 "x"`, `printf "%4096d%4096d…"`, `toYaml` of a list that holds
//! one large string a million times over).
//!
//! The figures are upper bounds that cost at most the budget itself to compute: a size walk stops
//! as soon as it passes the limit it is asked about.

use super::format::MAX_WIDTH;
use super::funcs::{strval, to_i64};
use super::value::{Value, MAX_VALUE_DEPTH};

/// The cost of one call, known before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    /// Steps to charge.
    pub steps: u64,
    /// Upper bound of the bytes the result holds (`u64::MAX`: over the limit asked about).
    pub bytes: u64,
}

/// Steps charged per ECDSA key or certificate generated (`genCA`, `genSelfSignedCert`, …):
/// generation is cheap, but signing and encoding are not free.
pub const CERT_STEPS: u64 = 20_000;
/// Steps charged per RSA key (`genPrivateKey "rsa"`): 2048-bit prime search, tens of ms.
pub const RSA_STEPS: u64 = 400_000;
/// Steps charged per bcrypt hash (`htpasswd`): cost 10 is about 1,024 Blowfish key schedules.
pub const BCRYPT_STEPS: u64 = 200_000;

/// Upper bound of the bytes any text form of `v` takes (`%v`, `toYaml`, `toJson`,
/// `toPrettyJson`), nested at `depth`; shared parts count each time they appear, as printing
/// would. Returns `u64::MAX` as soon as the bound passes `limit`.
pub fn text_bound(v: &Value, limit: u64) -> u64 {
    let mut total = 0u64;
    let mut stack: Vec<(Value, u64)> = vec![(v.clone(), 0)];
    while let Some((v, depth)) = stack.pop() {
        // Indentation of the line the node is on, punctuation and a key (keys are counted with
        // their map below).
        total = total.saturating_add(2 * depth + 8);
        match &v {
            Value::Str(s) => total = total.saturating_add(str_bound(s, depth)),
            Value::Int(_) | Value::Float(_) => total = total.saturating_add(24),
            Value::Bool(_) | Value::Nil => total = total.saturating_add(5),
            Value::List(l) if depth < MAX_VALUE_DEPTH as u64 => {
                stack.extend(l.iter().map(|x| (x.clone(), depth + 1)));
            }
            Value::Map(m) if depth < MAX_VALUE_DEPTH as u64 => {
                for (k, x) in m.snapshot() {
                    total = total.saturating_add(str_bound(&k, depth));
                    stack.push((x, depth + 1));
                    if total > limit {
                        return u64::MAX;
                    }
                }
            }
            Value::ApiVersions(l) => {
                total = total.saturating_add(l.iter().map(|s| s.len() as u64 + 8).sum::<u64>());
            }
            Value::Files(f) => {
                for (k, b) in f.0.iter() {
                    total = total.saturating_add(str_bound(k, depth) + 6 * b.len() as u64);
                }
            }
            _ => {}
        }
        if total > limit {
            return u64::MAX;
        }
    }
    total
}

/// A string as printed, quoted and escaped (`\u0001` is six bytes), or as a YAML literal block
/// whose every line is indented.
fn str_bound(s: &str, depth: u64) -> u64 {
    let mut special = 0u64;
    let mut newlines = 0u64;
    for b in s.bytes() {
        match b {
            b'\n' => newlines += 1,
            b'"' | b'\\' | b'<' | b'>' | b'&' | 0..=0x1f | 0x7f => special += 1,
            _ => {}
        }
    }
    s.len() as u64 + 2 + 5 * special + newlines * (2 * depth + 6)
}

fn sum_bounds<'a>(vals: impl Iterator<Item = &'a Value>, limit: u64) -> u64 {
    let mut total = 0u64;
    for v in vals {
        total = total.saturating_add(text_bound(v, limit));
        if total > limit {
            return u64::MAX;
        }
    }
    total
}

/// Elements of `until` / `untilStep` / `seq` for those arguments (0 when they make no list).
fn range_len(start: i64, stop: i64, step: i64) -> u64 {
    if step == 0 || (step > 0 && stop <= start) || (step < 0 && stop >= start) {
        return 0;
    }
    let span = (i128::from(stop) - i128::from(start)).unsigned_abs();
    let step = u128::from(step.unsigned_abs());
    u64::try_from(span.div_ceil(step)).unwrap_or(u64::MAX)
}

/// The upper bound of `printf`'s output: the format, each verb's width or precision, and each
/// argument's text.
fn printf_bound(fmt: &str, args: &[Value], limit: u64) -> u64 {
    let mut total = fmt.len() as u64;
    let bytes = fmt.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        // Flags, then width, then precision: both capped at MAX_WIDTH by the formatter.
        let mut num = 0u64;
        let mut widths = 0u64;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || b"-+ #0.".contains(&bytes[i])) {
            if bytes[i].is_ascii_digit() {
                num = (num * 10 + u64::from(bytes[i] - b'0')).min(MAX_WIDTH as u64);
            } else {
                widths += num;
                num = 0;
            }
            i += 1;
        }
        total = total.saturating_add(widths + num + 24);
        i += 1;
    }
    total.saturating_add(sum_bounds(args.iter(), limit))
}

/// The cost of calling `name` with `a`, or `None` for functions that are charged after they run
/// (their result is no larger than their arguments, which are already counted).
/// `limit` is the output-size budget: size walks stop there.
pub fn cost(name: &str, a: &[Value], limit: u64) -> Option<Cost> {
    let int = |i: usize| a.get(i).map_or(0, to_i64);
    let str_len = |i: usize| a.get(i).map_or(0, |v| text_bound(v, limit));
    // A list is charged a step per element (it is memory, not output).
    let list_cost = |n: u64| Cost { steps: n, bytes: 0 };
    let text = |bytes: u64| Cost {
        steps: bytes / 64,
        bytes,
    };
    Some(match name {
        "until" => list_cost(range_len(0, int(0), 1)),
        "untilStep" => list_cost(range_len(int(0), int(1), int(2))),
        "seq" => {
            let n = match a {
                [end] => range_len(1, to_i64(end).saturating_add(1), 1),
                [s, e] => range_len(to_i64(s), to_i64(e), 1).saturating_add(1),
                [s, st, e] => range_len(to_i64(s), to_i64(e), to_i64(st)).saturating_add(1),
                _ => 0,
            };
            list_cost(n)
        }
        "repeat" => {
            let n = u64::try_from(int(0)).unwrap_or(0);
            text(n.saturating_mul(a.get(1).map_or(0, |v| strval(v).len() as u64)))
        }
        "printf" => {
            let (f, rest) = a.split_first()?;
            text(printf_bound(&strval(f), rest, limit))
        }
        "print" | "println" | "cat" | "quote" | "squote" | "toString" => {
            text(sum_bounds(a.iter(), limit).saturating_add(a.len() as u64 * 3))
        }
        "join" => {
            let sep = a.first().map_or(0, |v| strval(v).len() as u64);
            let (n, items) = match a.get(1) {
                Some(Value::List(l)) => (l.len() as u64, sum_bounds(l.iter(), limit)),
                Some(v) => (1, text_bound(v, limit)),
                None => (0, 0),
            };
            text(items.saturating_add(n.saturating_mul(sep)))
        }
        "indent" | "nindent" => {
            let pad = int(0).clamp(0, 1024) as u64;
            let body = a.get(1).map(strval).unwrap_or_default();
            let lines = body.bytes().filter(|b| *b == b'\n').count() as u64 + 1;
            text((body.len() as u64).saturating_add(lines.saturating_mul(pad) + 1))
        }
        "replace" => {
            let (old, new, body) = (
                a.first().map(strval).unwrap_or_default(),
                a.get(1).map(strval).unwrap_or_default(),
                a.get(2).map(strval).unwrap_or_default(),
            );
            let hits = if old.is_empty() {
                body.chars().count() as u64 + 1
            } else {
                body.matches(old.as_str()).count() as u64
            };
            text((body.len() as u64).saturating_add(hits.saturating_mul(new.len() as u64)))
        }
        "trunc" | "substr" | "abbrev" | "wrap" | "upper" | "lower" | "title" | "swapcase" => {
            // At most the input (case mapping may triple a character's bytes).
            text(str_len(a.len().saturating_sub(1)).saturating_mul(3))
        }
        "toYaml" | "mustToYaml" | "toJson" | "mustToJson" | "toRawJson" | "mustToRawJson" | "toPrettyJson"
        | "mustToPrettyJson" => text(str_len(0)),
        "b64enc" | "sha256sum" | "sha1sum" | "sha512sum" => text(str_len(0).saturating_mul(2)),
        "uniq" | "mustUniq" | "without" | "mustWithout" => {
            // Pairwise comparisons.
            let n = match a.first() {
                Some(Value::List(l)) => l.len() as u64,
                _ => 0,
            };
            let m = if name.ends_with("ithout") { a.len() as u64 } else { n };
            Cost {
                steps: n.saturating_mul(m) / 8,
                bytes: n.saturating_mul(std::mem::size_of::<Value>() as u64),
            }
        }
        "regexMatch"
        | "mustRegexMatch"
        | "regexFind"
        | "mustRegexFind"
        | "regexFindAll"
        | "mustRegexFindAll"
        | "regexReplaceAll"
        | "mustRegexReplaceAll"
        | "regexReplaceAllLiteral"
        | "mustRegexReplaceAllLiteral"
        | "regexSplit"
        | "mustRegexSplit" => {
            // The automaton's work is at most pattern × text.
            let pattern = a.first().map_or(0, |v| strval(v).len() as u64);
            let body = a.get(1).map_or(0, |v| strval(v).len() as u64);
            let repl = if name.contains("Replace") {
                let r = a.get(2).map_or(0, |v| strval(v).len() as u64);
                body.saturating_mul(r.max(1))
            } else {
                body
            };
            Cost {
                steps: pattern.saturating_mul(body) / 256,
                bytes: repl,
            }
        }
        "genPrivateKey" if a.first().is_some_and(|k| strval(k) == "rsa") => Cost {
            steps: RSA_STEPS,
            bytes: 4 << 10,
        },
        "genCA"
        | "genSelfSignedCert"
        | "genSignedCert"
        | "genPrivateKey"
        | "genCAWithKey"
        | "genSelfSignedCertWithKey"
        | "genSignedCertWithKey" => {
            // Each IP and DNS name is encoded into the certificate.
            let names = a
                .iter()
                .skip(1)
                .take(2)
                .map(|v| text_bound(v, limit))
                .fold(0u64, u64::saturating_add);
            Cost {
                steps: CERT_STEPS.saturating_add(names),
                bytes: (8u64 << 10).saturating_add(names.saturating_mul(2)),
            }
        }
        "htpasswd" => Cost {
            steps: BCRYPT_STEPS,
            bytes: str_len(0).saturating_add(64),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_upper_bounds_of_real_output() {
        let v = crate::tmpl::yaml::from_yaml("a: {b: [x, 'y\n z', 3], c: \"<&>\"}\nd: true\n");
        for out in [
            crate::tmpl::yaml::to_yaml(&v),
            crate::tmpl::yaml::to_json(&v),
            crate::tmpl::yaml::to_pretty_json(&v),
            crate::tmpl::format::go_string(&v),
        ] {
            assert!(out.len() as u64 <= text_bound(&v, u64::MAX), "{out}");
        }
        let big = Value::list(vec![Value::str("x".repeat(1000)); 1000]);
        assert_eq!(text_bound(&big, 100_000), u64::MAX);
        assert!(text_bound(&big, u64::MAX) >= 1_000_000);
    }

    #[test]
    fn huge_arguments_cost_before_running() {
        let c = cost("repeat", &[Value::Int(1 << 40), Value::str("ab")], 1 << 20).unwrap();
        assert_eq!(c.bytes, 2 << 40);
        let c = cost("until", &[Value::Int(i64::MAX)], 1 << 20).unwrap();
        assert_eq!(c.steps, i64::MAX as u64);
        let c = cost(
            "untilStep",
            &[Value::Int(i64::MIN), Value::Int(i64::MAX), Value::Int(1)],
            0,
        )
        .unwrap();
        assert_eq!(c.steps, u64::MAX);
        let c = cost(
            "printf",
            &[Value::str("%999999d%5s"), Value::Int(1), Value::str("x")],
            1 << 20,
        )
        .unwrap();
        assert!(c.bytes >= (MAX_WIDTH + 5) as u64, "{c:?}");
        assert_eq!(range_len(10, 0, -4), 3);
        assert_eq!(range_len(0, 3, 1), 3);
    }
}
