//! Collection, dictionary and number functions (Go builtins and Sprig): `list`, `dict`,
//! `merge`, `set`, `index`, `len`, `until`, `add`, `int` and the rest.
//!
//! `set`, `unset`, `merge` and `mergeOverwrite` change their first map in place and return it,
//! as Sprig's do (charts depend on `$_ := set $d "k" "v"`).

use std::collections::BTreeMap;

use super::funcs::{empty, strval, to_f64, to_i64, FResult};
use super::value::{MapRef, Value};

/// Largest list `until` / `untilStep` / `seq` will build.
const MAX_LIST: i64 = 1_000_000;

fn want(name: &str, a: &[Value], n: usize) -> Result<(), String> {
    if a.len() != n {
        return Err(format!("wrong number of args for {name}: want {n} got {}", a.len()));
    }
    Ok(())
}

fn list_of(name: &str, v: &Value) -> Result<Vec<Value>, String> {
    match v {
        Value::Nil => Ok(vec![]),
        other => other
            .as_list()
            .ok_or_else(|| format!("{name}: cannot use type {} as a list", other.type_name())),
    }
}

fn map_of<'a>(name: &str, v: &'a Value) -> Result<&'a MapRef, String> {
    match v {
        Value::Map(m) => Ok(m),
        other => Err(format!("{name}: wants a map, got {}", other.type_name())),
    }
}

fn is_empty_scalar(v: &Value) -> bool {
    !matches!(v, Value::Map(_) | Value::List(_)) && empty(v)
}

/// mergo.Merge: fill keys of `dst` that are missing or empty; recurse into maps on both sides.
fn merge_into(dst: &MapRef, src: &MapRef, overwrite: bool, depth: usize) {
    if dst.same(src) || depth > super::value::MAX_VALUE_DEPTH {
        return;
    }
    for (k, sv) in src.snapshot() {
        match &dst.get(&k) {
            Some(Value::Map(dm)) if matches!(sv, Value::Map(_)) => {
                if let Value::Map(sm) = &sv {
                    merge_into(dm, sm, overwrite, depth + 1);
                }
            }
            None => dst.insert(k, sv),
            Some(dv) => {
                let take = if overwrite { !empty(&sv) } else { is_empty_scalar(dv) };
                if take {
                    dst.insert(k, sv);
                }
            }
        }
    }
}

fn range_list(start: i64, stop: i64, step: i64) -> Result<Value, String> {
    if step == 0 {
        return Ok(Value::list(vec![]));
    }
    let count = if (step > 0 && stop > start) || (step < 0 && stop < start) {
        ((stop - start).abs() + step.abs() - 1) / step.abs()
    } else {
        0
    };
    if count > MAX_LIST {
        return Err(format!("list of {count} elements is over the {MAX_LIST} limit"));
    }
    Ok(Value::list((0..count).map(|i| Value::Int(start + i * step)).collect()))
}

/// Call a collection or number function; `None` when `name` is not one.
pub fn call(name: &str, a: &[Value]) -> Option<FResult> {
    let r = (|| -> FResult {
        Ok(match name {
            "list" | "tuple" => Value::list(a.to_vec()),
            "dict" => {
                let mut m = BTreeMap::new();
                for pair in a.chunks(2) {
                    let v = pair.get(1).cloned().unwrap_or(Value::str(""));
                    m.insert(strval(&pair[0]), v);
                }
                Value::map(m)
            }
            // Reading a nil map is reading an empty one, as in Go (`hasKey (lookup …).data "k"`).
            "get" => {
                want(name, a, 2)?;
                match &a[0] {
                    Value::Nil => Value::str(""),
                    m => map_of(name, m)?.get(&strval(&a[1])).unwrap_or(Value::str("")),
                }
            }
            "set" => {
                want(name, a, 3)?;
                map_of(name, &a[0])?.insert(strval(&a[1]), a[2].clone());
                a[0].clone()
            }
            "unset" => {
                want(name, a, 2)?;
                map_of(name, &a[0])?.remove(&strval(&a[1]));
                a[0].clone()
            }
            "hasKey" => {
                want(name, a, 2)?;
                Value::Bool(match &a[0] {
                    Value::Nil => false,
                    m => map_of(name, m)?.contains(&strval(&a[1])),
                })
            }
            "keys" => {
                let mut ks = Vec::new();
                for d in a.iter().filter(|d| !matches!(d, Value::Nil)) {
                    ks.extend(map_of(name, d)?.keys().into_iter().map(Value::Str));
                }
                Value::list(ks)
            }
            "values" => {
                want(name, a, 1)?;
                Value::list(map_of(name, &a[0])?.snapshot().into_values().collect())
            }
            "pluck" => {
                let (key, dicts) = a.split_first().ok_or("pluck needs a key")?;
                let key = strval(key);
                Value::list(dicts.iter().filter_map(|d| map_of(name, d).ok()?.get(&key)).collect())
            }
            "pick" | "omit" => {
                let (d, ks) = a.split_first().ok_or("needs a map")?;
                let ks: Vec<String> = ks.iter().map(strval).collect();
                let keep = name == "pick";
                Value::map(
                    map_of(name, d)?
                        .snapshot()
                        .into_iter()
                        .filter(|(k, _)| ks.contains(k) == keep)
                        .collect(),
                )
            }
            "dig" => {
                if a.len() < 3 {
                    return Err("dig needs keys, a default and a map".into());
                }
                let (d, rest) = a.split_last().ok_or("dig needs a map")?;
                let (default, keys) = rest.split_last().ok_or("dig needs a default")?;
                let mut cur = d.clone();
                for k in keys {
                    cur = match &cur {
                        Value::Map(m) => match m.get(&strval(k)) {
                            Some(v) => v,
                            None => return Ok(default.clone()),
                        },
                        _ => return Ok(default.clone()),
                    };
                }
                cur
            }
            "merge" | "mergeOverwrite" => {
                let (dst, srcs) = a.split_first().ok_or("merge needs a destination")?;
                let dm = map_of(name, dst)?;
                for s in srcs {
                    if let Value::Map(sm) = s {
                        merge_into(dm, sm, name == "mergeOverwrite", 0);
                    }
                }
                dst.clone()
            }
            "deepCopy" => {
                want(name, a, 1)?;
                a[0].deep_copy()
            }
            "append" | "push" => {
                want(name, a, 2)?;
                let mut l = list_of(name, &a[0])?;
                l.push(a[1].clone());
                Value::list(l)
            }
            "prepend" => {
                want(name, a, 2)?;
                let mut l = list_of(name, &a[0])?;
                l.insert(0, a[1].clone());
                Value::list(l)
            }
            "concat" => {
                let mut l = Vec::new();
                for x in a {
                    l.extend(list_of(name, x)?);
                }
                Value::list(l)
            }
            "first" => list_of(name, &a[0])?.first().cloned().unwrap_or(Value::Nil),
            "last" => list_of(name, &a[0])?.last().cloned().unwrap_or(Value::Nil),
            "rest" => Value::list(list_of(name, &a[0])?.into_iter().skip(1).collect()),
            "initial" => {
                let mut l = list_of(name, &a[0])?;
                l.pop();
                Value::list(l)
            }
            "reverse" => Value::list(list_of(name, &a[0])?.into_iter().rev().collect()),
            "uniq" => {
                let mut out: Vec<Value> = Vec::new();
                for x in list_of(name, &a[0])? {
                    if !out.iter().any(|y| y.equals(&x)) {
                        out.push(x);
                    }
                }
                Value::list(out)
            }
            "without" => {
                let (l, drop) = a.split_first().ok_or("without needs a list")?;
                Value::list(
                    list_of(name, l)?
                        .into_iter()
                        .filter(|x| !drop.iter().any(|d| d.equals(x)))
                        .collect(),
                )
            }
            "has" => {
                want(name, a, 2)?;
                Value::Bool(list_of(name, &a[1])?.iter().any(|x| x.equals(&a[0])))
            }
            "chunk" => {
                want(name, a, 2)?;
                let size = to_i64(&a[0]);
                if size <= 0 {
                    return Err("chunk size must be positive".into());
                }
                let items = list_of(name, &a[1])?;
                Value::list(items.chunks(size as usize).map(|c| Value::list(c.to_vec())).collect())
            }
            "compact" => Value::list(list_of(name, &a[0])?.into_iter().filter(|x| !empty(x)).collect()),
            "sortAlpha" => {
                let mut l: Vec<String> = list_of(name, &a[0])?.iter().map(strval).collect();
                l.sort();
                Value::list(l.into_iter().map(Value::Str).collect())
            }
            "slice" => {
                let (l, idx) = a.split_first().ok_or("slice needs a value")?;
                let bound = |len: usize, i: usize, default: usize| -> Result<usize, String> {
                    let n = idx.get(i).map_or(default as i64, to_i64);
                    if n < 0 || n as usize > len {
                        return Err(format!("index out of range: {n}"));
                    }
                    Ok(n as usize)
                };
                match l {
                    Value::Str(s) => {
                        let (lo, hi) = (bound(s.len(), 0, 0)?, bound(s.len(), 1, s.len())?);
                        Value::str(s.get(lo..hi.max(lo)).unwrap_or_default())
                    }
                    other => {
                        let items = list_of(name, other)?;
                        let (lo, hi) = (bound(items.len(), 0, 0)?, bound(items.len(), 1, items.len())?);
                        Value::list(items[lo..hi.max(lo)].to_vec())
                    }
                }
            }
            "index" => {
                let (mut cur, keys) = a
                    .split_first()
                    .map(|(c, k)| (c.clone(), k))
                    .ok_or("index needs a value")?;
                for k in keys {
                    cur = match (&cur, k) {
                        (Value::Map(m), key) => m.get(&strval(key)).unwrap_or(Value::Nil),
                        (Value::List(l), i) if i.as_f64().is_some() => {
                            let n = to_i64(i);
                            if n < 0 || n as usize >= l.len() {
                                return Err(format!("error calling index: index out of range: {n}"));
                            }
                            l[n as usize].clone()
                        }
                        (Value::Nil, _) => return Err("index of untyped nil".into()),
                        (c, k) => return Err(format!("cannot index {} with {}", c.type_name(), k.type_name())),
                    };
                }
                cur
            }
            "len" => {
                want(name, a, 1)?;
                Value::Int(match &a[0] {
                    Value::Str(s) => s.len() as i64,
                    Value::List(l) => l.len() as i64,
                    Value::Map(m) => m.len() as i64,
                    Value::ApiVersions(v) => v.len() as i64,
                    Value::Files(f) => f.0.len() as i64,
                    other => return Err(format!("len of type {}", other.type_name())),
                })
            }
            "until" => range_list(0, to_i64(&a[0]), 1)?,
            "untilStep" => {
                want(name, a, 3)?;
                range_list(to_i64(&a[0]), to_i64(&a[1]), to_i64(&a[2]))?
            }
            "seq" => match a {
                [end] => range_list(1, to_i64(end) + 1, 1)?,
                [start, end] => {
                    let (s, e) = (to_i64(start), to_i64(end));
                    if s <= e {
                        range_list(s, e + 1, 1)?
                    } else {
                        range_list(s, e - 1, -1)?
                    }
                }
                [start, step, end] => {
                    let (s, st, e) = (to_i64(start), to_i64(step), to_i64(end));
                    range_list(s, if st > 0 { e + 1 } else { e - 1 }, st)?
                }
                _ => return Err("seq wants 1 to 3 arguments".into()),
            },
            "splitList" => {
                want(name, a, 2)?;
                Value::list(strval(&a[1]).split(&strval(&a[0])).map(Value::str).collect())
            }
            "split" => {
                want(name, a, 2)?;
                Value::map(
                    strval(&a[1])
                        .split(&strval(&a[0]))
                        .enumerate()
                        .map(|(i, p)| (format!("_{i}"), Value::str(p)))
                        .collect(),
                )
            }
            "splitn" => {
                want(name, a, 3)?;
                let n = to_i64(&a[1]).max(0) as usize;
                Value::map(
                    strval(&a[2])
                        .splitn(n, &strval(&a[0]))
                        .enumerate()
                        .map(|(i, p)| (format!("_{i}"), Value::str(p)))
                        .collect(),
                )
            }
            "join" => {
                want(name, a, 2)?;
                let items = match &a[1] {
                    Value::Str(s) => vec![Value::Str(s.clone())],
                    other => list_of(name, other)?,
                };
                Value::Str(
                    items
                        .iter()
                        .filter(|v| !matches!(v, Value::Nil))
                        .map(strval)
                        .collect::<Vec<_>>()
                        .join(&strval(&a[0])),
                )
            }
            "toStrings" => Value::list(list_of(name, &a[0])?.iter().map(|v| Value::Str(strval(v))).collect()),
            "int" | "int64" | "toDecimal" => Value::Int(to_i64(&a[0])),
            "atoi" => Value::Int(strval(&a[0]).trim().parse().unwrap_or(0)),
            "float64" => Value::Float(to_f64(&a[0])),
            "add" => Value::Int(a.iter().map(to_i64).fold(0i64, i64::wrapping_add)),
            "add1" => Value::Int(to_i64(&a[0]).wrapping_add(1)),
            "sub" => {
                want(name, a, 2)?;
                Value::Int(to_i64(&a[0]).wrapping_sub(to_i64(&a[1])))
            }
            "mul" => Value::Int(a.iter().map(to_i64).fold(1i64, i64::wrapping_mul)),
            "div" | "mod" => {
                want(name, a, 2)?;
                let d = to_i64(&a[1]);
                if d == 0 {
                    return Err("integer divide by zero".into());
                }
                let n = to_i64(&a[0]);
                Value::Int(if name == "div" {
                    n.wrapping_div(d)
                } else {
                    n.wrapping_rem(d)
                })
            }
            "max" | "biggest" => Value::Int(a.iter().map(to_i64).max().unwrap_or(0)),
            "min" => Value::Int(a.iter().map(to_i64).min().unwrap_or(0)),
            "addf" => Value::Float(a.iter().map(to_f64).sum()),
            "mulf" => Value::Float(a.iter().map(to_f64).product()),
            "subf" => {
                let (f, rest) = a.split_first().ok_or("subf needs numbers")?;
                Value::Float(rest.iter().fold(to_f64(f), |acc, x| acc - to_f64(x)))
            }
            "divf" => {
                let (f, rest) = a.split_first().ok_or("divf needs numbers")?;
                Value::Float(rest.iter().fold(to_f64(f), |acc, x| acc / to_f64(x)))
            }
            "maxf" => Value::Float(a.iter().map(to_f64).fold(f64::MIN, f64::max)),
            "minf" => Value::Float(a.iter().map(to_f64).fold(f64::MAX, f64::min)),
            "floor" => Value::Float(to_f64(&a[0]).floor()),
            "ceil" => Value::Float(to_f64(&a[0]).ceil()),
            "round" => {
                let p = a.get(1).map_or(0, to_i64).clamp(0, 15) as i32;
                let m = 10f64.powi(p);
                Value::Float((to_f64(&a[0]) * m).round() / m)
            }
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
    use crate::tmpl::format::go_string;

    fn c(name: &str, a: &[Value]) -> Value {
        call(name, a).unwrap().unwrap()
    }

    fn y(s: &str) -> Value {
        Value::from_yaml(&serde_norway::from_str(s).unwrap())
    }

    #[test]
    fn merge_keeps_destination_and_recurses() {
        let dst = y("a: 1\nn: {x: 1}\ne: ''");
        let src = y("a: 2\nb: 3\nn: {x: 2, y: 2}\ne: filled");
        let out = c("merge", &[dst.clone(), src]);
        assert_eq!(go_string(&out), "map[a:1 b:3 e:filled n:map[x:1 y:2]]");
        // In place, like Sprig.
        assert_eq!(go_string(&dst), go_string(&out));
    }

    #[test]
    fn merge_overwrite_prefers_sources() {
        let out = c("mergeOverwrite", &[y("a: 1\nn: {x: 1}"), y("a: 2\nn: {y: 2}")]);
        assert_eq!(go_string(&out), "map[a:2 n:map[x:1 y:2]]");
    }

    #[test]
    fn dict_set_dig_and_index() {
        let d = c("dict", &[Value::str("a"), Value::Int(1)]);
        c("set", &[d.clone(), Value::str("b"), Value::str("x")]);
        assert_eq!(go_string(&d), "map[a:1 b:x]");
        let nested = y("a: {b: {c: deep}}");
        assert_eq!(
            go_string(&c(
                "dig",
                &[
                    Value::str("a"),
                    Value::str("b"),
                    Value::str("c"),
                    Value::str("dflt"),
                    nested.clone()
                ]
            )),
            "deep"
        );
        assert_eq!(
            go_string(&c(
                "dig",
                &[Value::str("a"), Value::str("z"), Value::str("dflt"), nested.clone()]
            )),
            "dflt"
        );
        assert_eq!(
            go_string(&c(
                "index",
                &[nested, Value::str("a"), Value::str("b"), Value::str("c")]
            )),
            "deep"
        );
        assert!(call("index", &[y("[1]"), Value::Int(5)]).unwrap().is_err());
    }

    #[test]
    fn a_nil_map_reads_as_empty() {
        // Bitnami: `hasKey (lookup "v1" "Secret" ns name).data "password"` when nothing is found.
        assert_eq!(go_string(&c("hasKey", &[Value::Nil, Value::str("k")])), "false");
        assert_eq!(go_string(&c("get", &[Value::Nil, Value::str("k")])), "");
        assert_eq!(go_string(&c("keys", &[Value::Nil])), "[]");
        assert!(call("hasKey", &[Value::str("x"), Value::str("k")]).unwrap().is_err());
        assert!(call("set", &[Value::Nil, Value::str("k"), Value::Int(1)])
            .unwrap()
            .is_err());
    }

    #[test]
    fn lists_and_numbers() {
        assert_eq!(go_string(&c("until", &[Value::Int(3)])), "[0 1 2]");
        assert_eq!(
            go_string(&c("untilStep", &[Value::Int(10), Value::Int(0), Value::Int(-4)])),
            "[10 6 2]"
        );
        assert!(call("until", &[Value::Int(10_000_000_000)]).unwrap().is_err());
        assert_eq!(
            go_string(&c("add", &[Value::Int(1), Value::Float(2.0), Value::str("3")])),
            "6"
        );
        assert_eq!(go_string(&c("int", &[Value::Float(8080.0)])), "8080");
        assert!(call("div", &[Value::Int(1), Value::Int(0)]).unwrap().is_err());
        assert_eq!(go_string(&c("join", &[Value::str(","), y("[a, 1, b]")])), "a,1,b");
        assert_eq!(go_string(&c("uniq", &[y("[a, a, b]")])), "[a b]");
        assert_eq!(go_string(&c("has", &[Value::str("b"), y("[a, b]")])), "true");
    }
}
