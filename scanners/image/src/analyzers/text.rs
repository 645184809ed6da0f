//! Small text parsers shared by several analyzers: RFC 822 style paragraphs (dpkg status,
//! Python package metadata) and shell-style `KEY=value` files (os-release).

/// One field of a paragraph: `Name: value` plus any continuation lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    /// 1-based line number of the `Name:` line.
    pub line: usize,
    /// Field name as written.
    pub name: &'a str,
    /// Value on the first line, trimmed. Continuation lines are not kept: no analyzer needs
    /// them (they hold descriptions and file lists).
    pub value: &'a str,
}

/// A paragraph: consecutive fields, ended by a blank line or the end of the text.
#[derive(Debug, Default)]
pub(crate) struct Paragraph<'a> {
    /// 1-based line number of the first field.
    pub line: usize,
    /// The fields in order.
    pub fields: Vec<Field<'a>>,
}

impl<'a> Paragraph<'a> {
    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value)
    }
}

/// A line that is neither a field, a continuation nor blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub problem: &'static str,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

/// Iterator over the paragraphs of an RFC 822 style text.
pub(crate) struct Paragraphs<'a> {
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
}

/// Split `text` into paragraphs separated by blank lines. Lines starting with a space or tab
/// continue the previous field; any other line must be `Name: value`.
pub(crate) fn paragraphs(text: &str) -> Paragraphs<'_> {
    Paragraphs {
        lines: text.lines().enumerate(),
    }
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Result<Paragraph<'a>, BadLine>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut para = Paragraph::default();
        for (idx, raw) in self.lines.by_ref() {
            let line_no = idx + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                if para.fields.is_empty() {
                    continue;
                }
                return Some(Ok(para));
            }
            if line.starts_with(' ') || line.starts_with('\t') {
                if para.fields.is_empty() {
                    return Some(Err(BadLine {
                        line: line_no,
                        problem: "continuation line before any field",
                    }));
                }
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Some(Err(BadLine {
                    line: line_no,
                    problem: "expected `Name: value`",
                }));
            };
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Some(Err(BadLine {
                    line: line_no,
                    problem: "invalid field name",
                }));
            }
            if para.fields.is_empty() {
                para.line = line_no;
            }
            para.fields.push(Field {
                line: line_no,
                name,
                value: value.trim(),
            });
        }
        (!para.fields.is_empty()).then_some(Ok(para))
    }
}

/// Parse a shell-style `KEY=value` file (os-release): comments and blank lines skipped, values
/// unquoted (double quotes with `\` escapes, or single quotes). Lines that are not assignments
/// are ignored, as os-release(5) tells readers to do.
pub(crate) fn shell_assignments(text: &str) -> Vec<(&str, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        out.push((key, unquote(value.trim())));
    }
    out
}

/// Remove shell quoting from one value.
fn unquote(value: &str) -> String {
    let bytes = value.as_bytes();
    if bytes.len() >= 2 && bytes[0] == b'\'' && bytes[bytes.len() - 1] == b'\'' {
        return value[1..value.len() - 1].to_owned();
    }
    if bytes.len() >= 2 && bytes[0] == b'"' && bytes[bytes.len() - 1] == b'"' {
        let inner = &value[1..value.len() - 1];
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some(n @ ('"' | '\\' | '$' | '`')) => out.push(n),
                    Some(n) => {
                        out.push('\\');
                        out.push(n);
                    }
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    value.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_with_continuations() {
        let text = "Package: a\nDescription: x\n more\n .\n end\n\n\nPackage: b\r\nVersion: 1\r\n";
        let paras: Vec<_> = paragraphs(text).collect::<Result<_, _>>().unwrap();
        assert_eq!(paras.len(), 2);
        assert_eq!(paras[0].get("package"), Some("a"));
        assert_eq!(paras[0].get("Description"), Some("x"));
        assert_eq!(paras[0].fields.len(), 2);
        assert_eq!(paras[1].line, 8);
        assert_eq!(paras[1].get("Version"), Some("1"));
    }

    #[test]
    fn paragraphs_report_bad_lines() {
        let err = paragraphs("Package: a\nno colon here\n").find_map(Result::err).unwrap();
        assert_eq!(err.line, 2);
        let err = paragraphs(" leading\n").find_map(Result::err).unwrap();
        assert_eq!(err.to_string(), "line 1: continuation line before any field");
    }

    #[test]
    fn shell_values_unquoted() {
        let got = shell_assignments(
            "# c\nNAME=\"Debian GNU/Linux\"\nID=debian\nX='a b'\nY=\"q\\\"x\\$\"\nnot an assignment\n",
        );
        assert_eq!(
            got,
            vec![
                ("NAME", "Debian GNU/Linux".to_owned()),
                ("ID", "debian".to_owned()),
                ("X", "a b".to_owned()),
                ("Y", "q\"x$".to_owned()),
            ]
        );
    }
}
