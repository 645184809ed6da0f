//! Robustness sweeps: every template function with every argument shape, and templates cut and
//! spliced at every position. Errors are expected; a panic fails the test.

use regscan_scanner_helm::tmpl::funcs::call;
use regscan_scanner_helm::tmpl::{ExecLimits, TemplateSet, Value};

#[test]
fn no_function_panics_on_any_argument_shape() {
    let names = [
        "abbrev",
        "add",
        "add1",
        "addf",
        "adler32sum",
        "all",
        "any",
        "append",
        "atoi",
        "b64dec",
        "b64enc",
        "base",
        "biggest",
        "camelcase",
        "cat",
        "ceil",
        "chunk",
        "clean",
        "coalesce",
        "compact",
        "concat",
        "contains",
        "date",
        "dateInZone",
        "deepCopy",
        "deepEqual",
        "default",
        "dict",
        "dig",
        "dir",
        "div",
        "divf",
        "empty",
        "env",
        "eq",
        "expandenv",
        "ext",
        "fail",
        "first",
        "float64",
        "floor",
        "fromJson",
        "fromJsonArray",
        "fromYaml",
        "fromYamlArray",
        "ge",
        "get",
        "gt",
        "has",
        "hasKey",
        "hasPrefix",
        "hasSuffix",
        "html",
        "indent",
        "index",
        "initial",
        "initials",
        "int",
        "int64",
        "isAbs",
        "join",
        "js",
        "kebabcase",
        "keys",
        "kindIs",
        "kindOf",
        "last",
        "le",
        "len",
        "list",
        "lookup",
        "lower",
        "lt",
        "max",
        "maxf",
        "merge",
        "mergeOverwrite",
        "min",
        "minf",
        "mod",
        "mul",
        "mulf",
        "ne",
        "nindent",
        "nospace",
        "not",
        "now",
        "omit",
        "osBase",
        "osClean",
        "osDir",
        "osExt",
        "osIsAbs",
        "pick",
        "pluck",
        "plural",
        "prepend",
        "print",
        "printf",
        "println",
        "push",
        "quote",
        "randAlpha",
        "randAlphaNum",
        "randAscii",
        "randInt",
        "randNumeric",
        "regexFind",
        "regexFindAll",
        "regexMatch",
        "regexQuoteMeta",
        "regexReplaceAll",
        "regexReplaceAllLiteral",
        "regexSplit",
        "repeat",
        "replace",
        "required",
        "rest",
        "reverse",
        "round",
        "semver",
        "semverCompare",
        "seq",
        "set",
        "sha1sum",
        "sha256sum",
        "sha512sum",
        "slice",
        "snakecase",
        "sortAlpha",
        "split",
        "splitList",
        "splitn",
        "squote",
        "sub",
        "subf",
        "substr",
        "swapcase",
        "ternary",
        "title",
        "toDecimal",
        "toJson",
        "toPrettyJson",
        "toRawJson",
        "toString",
        "toStrings",
        "toYaml",
        "trim",
        "trimAll",
        "trimPrefix",
        "trimSuffix",
        "trunc",
        "tuple",
        "typeIs",
        "typeIsLike",
        "typeOf",
        "uniq",
        "unixEpoch",
        "unset",
        "until",
        "untilStep",
        "untitle",
        "upper",
        "urlquery",
        "uuidv4",
        "values",
        "without",
        "wrap",
    ];
    let samples = || {
        vec![
            Value::Nil,
            Value::Bool(true),
            Value::Int(-3),
            Value::Int(2),
            Value::Float(1.5),
            Value::str(""),
            Value::str("a-b_c/d.e"),
            Value::str("(["),
            Value::list(vec![Value::Int(1), Value::str("x")]),
            Value::map([("k".to_owned(), Value::str("v"))].into_iter().collect()),
        ]
    };
    for name in names {
        for must in [false, true] {
            let name = if must {
                format!("must{}{}", name[..1].to_uppercase(), &name[1..])
            } else {
                name.to_owned()
            };
            let _ = call(&name, vec![]);
            for x in samples() {
                let _ = call(&name, vec![x.clone()]);
                for y in samples() {
                    let _ = call(&name, vec![x.clone(), y.clone()]);
                    for z in samples() {
                        let _ = call(&name, vec![x.clone(), y.clone(), z]);
                    }
                }
            }
        }
    }
}

#[test]
fn truncated_and_spliced_templates_never_panic() {
    let sources = [
        r#"{{- define "x" -}}{{ .a | default "b" | quote }}{{- end }}{{ include "x" (dict "a" 1) }}"#,
        r#"{{ range $i, $v := until 3 }}{{ if eq $i 1 }}{{ continue }}{{ else if gt $i 1 }}{{ break }}{{ end }}{{ $v }}{{ end }}"#,
        r#"{{ with $x := (list 1 "two" 3.5 'c' nil true) }}{{ index $x 1 | upper | printf "%05s|%q" }}{{ else }}none{{ end }}"#,
        r#"{{/* comment */}}{{- $d := dict -}}{{ $_ := set $d "k" `raw {{ }}` }}{{ toYaml $d | nindent 2 }}{{ tpl "{{ 1 }}" . }}"#,
        "{{ \"esc \\\"q\\\" \\u00e9 \\x41\" }} é {{ 0x1F }} {{ -1.5e3 }} {{ .a.b.c }} {{ $.x }} {{ (.y).z }}",
    ];
    for src in sources {
        let chars: Vec<(usize, char)> = src.char_indices().collect();
        for &(i, _) in &chars {
            for cut in [&src[..i], &src[i..]] {
                let mut set = TemplateSet::default();
                if set.add("t", cut).is_ok() {
                    let _ = set.execute("t", &Value::Nil, ExecLimits::default());
                }
            }
            // Splice the source into itself at every position.
            let spliced = format!("{}{}{}", &src[..i], src, &src[i..]);
            let mut set = TemplateSet::default();
            if set.add("t", &spliced).is_ok() {
                let _ = set.execute("t", &Value::Nil, ExecLimits::default());
            }
        }
    }
}
