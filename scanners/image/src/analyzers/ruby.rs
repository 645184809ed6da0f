//! Installed Ruby gems: `specifications/<name>-<version>.gemspec` files that RubyGems writes
//! for every installed gem. The name and version are read from the `s.name = "…"` and
//! `s.version = "…"` assignments (literal strings, as RubyGems writes them), falling back to
//! the `# stub: <name> <version> …` comment.

use std::io::Read;

use super::{package, read_text, AnalyzeError, AnalyzerId, FileFacts};

/// The first string literal in `expr`: `"x"`, `'x'`, `%q{x}` (with `.freeze` or a
/// `Gem::Version.new(…)` wrapper around it ignored).
fn string_literal(expr: &str) -> Option<&str> {
    let start = expr.find(['"', '\'', '%'])?;
    let rest = &expr[start..];
    let (close, body) = match rest.as_bytes()[0] {
        b'%' => {
            let body = rest.strip_prefix("%q").or_else(|| rest.strip_prefix("%Q"))?;
            let open = body.chars().next()?;
            let close = match open {
                '{' => '}',
                '(' => ')',
                '[' => ']',
                '<' => '>',
                c => c,
            };
            (close, &body[open.len_utf8()..])
        }
        q => (q as char, &rest[1..]),
    };
    let end = body.find(close)?;
    Some(&body[..end])
}

/// The value assigned to `<receiver>.<attr>` on `line`, if the line is such an assignment.
fn assignment<'a>(line: &'a str, attr: &str) -> Option<&'a str> {
    let (lhs, rhs) = line.split_once('=')?;
    let (receiver, name) = lhs.trim().rsplit_once('.')?;
    if name.trim() != attr || receiver.is_empty() || !receiver.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    // `==` comparisons are not assignments.
    if rhs.starts_with('=') {
        return None;
    }
    string_literal(rhs)
}

/// Parse an installed gemspec into one `RubyGems` package.
pub(crate) fn analyze(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::RubyGemspec;
    let text = read_text(id, path, content)?;
    let (mut name, mut version) = (None, None);
    let mut stub = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# stub:") {
            let mut words = rest.split_whitespace();
            if let (Some(n), Some(v)) = (words.next(), words.next()) {
                stub = Some((n, v));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if name.is_none() {
            name = assignment(line, "name");
        }
        if version.is_none() {
            version = assignment(line, "version");
        }
        if name.is_some() && version.is_some() {
            break;
        }
    }
    let name = name.or(stub.map(|s| s.0)).filter(|n| !n.is_empty());
    let version = version.or(stub.map(|s| s.1)).filter(|v| !v.is_empty());
    match (name, version) {
        (Some(n), Some(v)) => Ok(FileFacts::Packages(vec![package("RubyGems", n, v, path)])),
        (None, _) => Err(AnalyzeError::malformed(id, path, "no `name = \"…\"` assignment")),
        (Some(n), None) => Err(AnalyzeError::malformed(
            id,
            path,
            format!("gem {n} has no `version = \"…\"` assignment"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAKE: &str = r#"# -*- encoding: utf-8 -*-
# stub: rake 13.1.0 ruby lib

Gem::Specification.new do |s|
  s.name = "rake".freeze
  s.version = "13.1.0".freeze

  s.required_rubygems_version = Gem::Requirement.new(">= 1.3.2".freeze) if s.respond_to? :required_rubygems_version=
  s.metadata = { "bug_tracker_uri" => "https://github.com/ruby/rake/issues" } if s.respond_to? :metadata=
  s.require_paths = ["lib".freeze]
  s.authors = ["Hiroshi SHIBATA".freeze, "Eric Hodel".freeze]
  s.date = "2023-10-28"
  s.summary = "Rake is a Make-like program implemented in Ruby".freeze

  s.installed_by_version = "3.4.19" if s.respond_to? :installed_by_version
end
"#;

    fn parse(text: &str) -> Result<(String, String), AnalyzeError> {
        match analyze("usr/local/bundle/specifications/x.gemspec", &mut text.as_bytes())? {
            FileFacts::Packages(mut p) => {
                let p = p.remove(0);
                assert_eq!(p.ecosystem, "RubyGems");
                Ok((p.name, p.version))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn installed_gemspec() {
        assert_eq!(parse(RAKE).unwrap(), ("rake".to_owned(), "13.1.0".to_owned()));
    }

    #[test]
    fn other_spellings() {
        let text = "Gem::Specification.new do |spec|\n  spec.name    = 'nokogiri'\n  spec.version = Gem::Version.new(%q{1.15.5})\nend\n";
        assert_eq!(parse(text).unwrap(), ("nokogiri".to_owned(), "1.15.5".to_owned()));
        let stub_only = "# stub: json 2.7.1 ruby lib\nGem::Specification.new do |s|\nend\n";
        assert_eq!(parse(stub_only).unwrap(), ("json".to_owned(), "2.7.1".to_owned()));
    }

    #[test]
    fn missing_name_is_an_error() {
        let err = parse("Gem::Specification.new do |s|\n  s.version = \"1\"\nend\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("specifications/x.gemspec") && err.contains("name"),
            "{err}"
        );
        assert!(parse("s.name = \"x\"\n").is_err());
    }
}
