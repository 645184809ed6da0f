//! Go's text formatting of template values: `%v` (what an action prints), `printf` verbs and
//! `strconv.Quote`, so rendered output matches what Helm writes byte for byte where charts
//! depend on it (numbers from values.yaml, quoted strings).

use super::value::Value;

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, as `%v` prints a float64 (`1e+06`, `0.5`).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // Shortest round-trip digits via Rust's `{:e}` (also shortest). With shortest formatting Go
    // switches to the exponent form when the exponent is below -4 or at least 6.
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        return exp_form(mant, exp);
    }
    format!("{f}")
}

fn exp_form(mant: &str, exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
}

/// `%v` of a value, as Go's `fmt` prints `interface{}` values.
pub fn go_string(v: &Value) -> String {
    let mut s = String::new();
    write_v(&mut s, v, 0);
    s
}

fn write_v(out: &mut String, v: &Value, depth: usize) {
    if depth > super::value::MAX_VALUE_DEPTH {
        out.push_str("...");
        return;
    }
    match v {
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&go_float(*f)),
        Value::Str(s) => out.push_str(s),
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, x, depth + 1);
            }
            out.push(']');
        }
        Value::ApiVersions(l) => {
            out.push('[');
            out.push_str(&l.join(" "));
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, x)) in m.snapshot().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, x, depth + 1);
            }
            out.push(']');
        }
        Value::Files(f) => {
            out.push_str("map[");
            let names: Vec<&str> = f.0.keys().map(String::as_str).collect();
            out.push_str(&names.join(" "));
            out.push(']');
        }
    }
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Largest width or precision honoured in a `printf` verb.
pub const MAX_WIDTH: usize = 4096;

/// Go's `fmt.Sprintf` for the verbs charts use: `%s %v %d %q %f %g %e %x %X %o %b %t %c %T %%`,
/// with flags (`-`, `0`, `+`, space), width and precision.
pub fn sprintf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut argi = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut minus = false;
        let mut zero = false;
        let mut plus = false;
        let mut space = false;
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '0' => zero = true,
                '+' => plus = true,
                ' ' => space = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse::<usize>().unwrap_or(0).min(MAX_WIDTH));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        let mut s = format_one(verb, arg, prec, plus, space);
        let w: usize = width.parse::<usize>().unwrap_or(0).min(MAX_WIDTH);
        let len = s.chars().count();
        if len < w {
            let pad = w - len;
            if minus {
                s.push_str(&" ".repeat(pad));
            } else if zero && matches!(verb, 'd' | 'f' | 'x' | 'X' | 'o' | 'b' | 'e' | 'g') {
                let (sign, digits) = if s.starts_with(['-', '+']) {
                    s.split_at(1)
                } else {
                    ("", s.as_str())
                };
                s = format!("{sign}{}{digits}", "0".repeat(pad));
            } else {
                s = format!("{}{s}", " ".repeat(pad));
            }
        }
        out.push_str(&s);
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), go_string(a)))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

fn format_one(verb: char, arg: &Value, prec: Option<usize>, plus: bool, space: bool) -> String {
    let bad = || format!("%!{verb}({}={})", arg.type_name(), go_string(arg));
    let signed = |s: String, negative: bool| {
        if negative {
            s
        } else if plus {
            format!("+{s}")
        } else if space {
            format!(" {s}")
        } else {
            s
        }
    };
    match verb {
        'v' | 's' => {
            let s = match arg {
                Value::Nil if verb == 's' => "%!s(<nil>)".to_owned(),
                other => go_string(other),
            };
            match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            }
        }
        'q' => match arg {
            Value::Str(s) => go_quote(s),
            Value::Int(i) => char::from_u32(*i as u32).map_or_else(bad, |c| format!("'{c}'")),
            other => go_quote(&go_string(other)),
        },
        't' => match arg {
            Value::Bool(b) => b.to_string(),
            _ => bad(),
        },
        'T' => arg.type_name().to_owned(),
        'd' => match arg {
            Value::Int(i) => signed(i.to_string(), *i < 0),
            _ => bad(),
        },
        'c' => match arg {
            Value::Int(i) => char::from_u32(*i as u32).map_or_else(bad, |c| c.to_string()),
            _ => bad(),
        },
        'x' | 'X' | 'o' | 'b' => {
            let s = match arg {
                Value::Int(i) => {
                    let (neg, n) = (*i < 0, i.unsigned_abs());
                    let digits = match verb {
                        'x' => format!("{n:x}"),
                        'X' => format!("{n:X}"),
                        'o' => format!("{n:o}"),
                        _ => format!("{n:b}"),
                    };
                    if neg {
                        format!("-{digits}")
                    } else {
                        digits
                    }
                }
                Value::Str(s) if verb == 'x' => hex::encode(s.as_bytes()),
                Value::Str(s) if verb == 'X' => hex::encode_upper(s.as_bytes()),
                _ => return bad(),
            };
            s
        }
        'f' | 'F' | 'e' | 'g' => {
            let Some(f) = arg.as_f64().filter(|_| matches!(arg, Value::Float(_))) else {
                return bad();
            };
            let s = match verb {
                'f' | 'F' => format!("{f:.*}", prec.unwrap_or(6)),
                'e' => {
                    let e = format!("{f:.*e}", prec.unwrap_or(6));
                    let (m, x) = e.split_once('e').unwrap_or((&e, "0"));
                    exp_form(m, x.parse().unwrap_or(0))
                }
                _ => go_float(f),
            };
            signed(s, f < 0.0)
        }
        _ => bad(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(8080.0), "8080");
        assert_eq!(go_float(1_000_000.0), "1e+06");
        assert_eq!(go_float(123_456.0), "123456");
        assert_eq!(go_float(1_234_567.0), "1.234567e+06");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(-2.5), "-2.5");
    }

    #[test]
    fn printf_verbs() {
        let a = [Value::str("web"), Value::Int(3), Value::Float(1.5)];
        assert_eq!(sprintf("%s-%d-%v", &a), "web-3-1.5");
        assert_eq!(sprintf("%q", &[Value::str("a\"b")]), "\"a\\\"b\"");
        assert_eq!(
            sprintf(
                "%05d|%-4s|%.2f",
                &[Value::Int(42), Value::str("x"), Value::Float(1.23456)]
            ),
            "00042|x   |1.23"
        );
        assert_eq!(sprintf("%d", &[Value::str("x")]), "%!d(string=x)");
        assert_eq!(sprintf("%s", &[]), "%!s(MISSING)");
        assert_eq!(sprintf("100%%", &[]), "100%");
    }

    #[test]
    fn values_print_like_go() {
        let l = Value::list(vec![Value::Int(1), Value::str("a")]);
        assert_eq!(go_string(&l), "[1 a]");
        let m = Value::map([("b".to_owned(), Value::Bool(true))].into_iter().collect());
        assert_eq!(go_string(&m), "map[b:true]");
    }
}
