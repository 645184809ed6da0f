//! apk database `lib/apk/db/installed` (Alpine, Wolfi, Chainguard): stanzas of `K:value` lines
//! separated by blank lines; `P:` name, `V:` version, `o:` origin (the source package).

use std::io::Read;

use regscan_scanner_api::Package;

use super::{read_text, AnalyzeError, AnalyzerId, FileFacts};

/// One stanza being read.
#[derive(Default)]
struct Stanza<'a> {
    /// Line of the stanza's first field.
    line: usize,
    /// `P:`.
    name: Option<&'a str>,
    /// `V:`.
    version: Option<&'a str>,
    /// `o:`.
    origin: Option<&'a str>,
}

/// Parse `lib/apk/db/installed`.
pub(crate) fn analyze(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::Apk;
    let text = read_text(id, path, content)?;
    let mut packages = Vec::new();
    let mut cur: Option<Stanza> = None;
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            if let Some(stanza) = cur.take() {
                packages.push(finish_stanza(path, stanza)?);
            }
            continue;
        }
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b':' || !bytes[0].is_ascii_alphanumeric() {
            let problem = format!("line {}: expected `K:value`", idx + 1);
            return Err(AnalyzeError::malformed(id, path, problem));
        }
        let stanza = cur.get_or_insert_with(|| Stanza {
            line: idx + 1,
            ..Stanza::default()
        });
        let value = line[2..].trim();
        match bytes[0] {
            b'P' => stanza.name = Some(value),
            b'V' => stanza.version = Some(value),
            b'o' => stanza.origin = Some(value),
            _ => {}
        }
    }
    if let Some(stanza) = cur.take() {
        packages.push(finish_stanza(path, stanza)?);
    }
    Ok(FileFacts::Packages(packages))
}

/// Turn a complete stanza into a package.
fn finish_stanza(path: &str, s: Stanza<'_>) -> Result<Package, AnalyzeError> {
    let id = AnalyzerId::Apk;
    let Some(name) = s.name.filter(|n| !n.is_empty()) else {
        return Err(AnalyzeError::malformed(
            id,
            path,
            format!("stanza at line {} has no P: (name)", s.line),
        ));
    };
    let Some(version) = s.version.filter(|v| !v.is_empty()) else {
        let problem = format!("package {name} (line {}) has no V: (version)", s.line);
        return Err(AnalyzeError::malformed(id, path, problem));
    };
    Ok(Package {
        ecosystem: String::new(),
        name: name.to_owned(),
        version: version.to_owned(),
        source_name: Some(s.origin.filter(|o| !o.is_empty()).unwrap_or(name).to_owned()),
        source_version: Some(version.to_owned()),
        path: path.to_owned(),
        layer: None,
        dev: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALLED: &str = "C:Q1Hf9Vw2MVG3u3RqMX6d3ktvNCX6M=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407278
I:667648
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1705933254
c:1a5ebd8e9e6f5c8eba95a49dbd7785a1d3ee93c2
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1nYPSpIbmCLyDvpjUKyGr+6o2xkQ=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=

C:Q1Z6ot2YhIwl/uWGpf5U7wlCXUhxk=
P:libcrypto3
V:3.1.4-r5
A:x86_64
S:1811536
I:4530176
T:Crypto library from openssl
U:https://www.openssl.org/
L:Apache-2.0
o:openssl
m:Ariadne Conill <ariadne@dereferenced.org>
t:1706025282
c:4ab2a9a6ed6ab6d1a7b3a1f7bb4ef29bd1ad4d2b
D:so:libc.musl-x86_64.so.1
p:so:libcrypto.so.3=3
F:etc
F:etc/ssl
R:openssl.cnf.dist
Z:Q1ReuZG/ws3JNsvaqJMHy9Om4lr4E=

C:Q1Bj0mMe6dvw+W6oLkcOsBtT8FlnE=
P:busybox
V:1.36.1-r15
A:x86_64
o:busybox
F:bin
R:busybox
";

    fn packages(text: &str) -> Result<Vec<Package>, AnalyzeError> {
        match analyze("lib/apk/db/installed", &mut text.as_bytes())? {
            FileFacts::Packages(p) => Ok(p),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_installed_db() {
        let pkgs = packages(INSTALLED).unwrap();
        let got: Vec<_> = pkgs
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.source_name.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("musl", "1.2.4_git20230717-r4", Some("musl")),
                ("libcrypto3", "3.1.4-r5", Some("openssl")),
                ("busybox", "1.36.1-r15", Some("busybox")),
            ]
        );
        assert!(pkgs
            .iter()
            .all(|p| p.ecosystem.is_empty() && p.path == "lib/apk/db/installed"));
    }

    #[test]
    fn missing_origin_defaults_to_name() {
        let pkgs = packages("P:tzdata\nV:2024a-r0\n").unwrap();
        assert_eq!(pkgs[0].source_name.as_deref(), Some("tzdata"));
    }

    #[test]
    fn malformed_input_is_an_error() {
        for text in ["P:x\nV:1\nthis is not apk\n", "V:1\n\n", "P:x\n"] {
            let err = packages(text).unwrap_err().to_string();
            assert!(err.contains("lib/apk/db/installed"), "{err}");
        }
        assert!(packages("").unwrap().is_empty());
    }
}
