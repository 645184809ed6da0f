//! Installed Python distributions: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO` and
//! `*.egg-info` files. Only the RFC 822 header block is read (up to the first blank line), so a
//! long description body costs nothing.

use std::io::{BufRead, BufReader, Read};

use super::text::paragraphs;
use super::{package, AnalyzeError, AnalyzerId, FileFacts};

/// Parse a core metadata file into one `PyPI` package.
pub(crate) fn analyze(id: AnalyzerId, path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let limit = id.max_bytes();
    let mut reader = BufReader::new(content.take(limit));
    let mut header = String::new();
    let mut raw = Vec::new();
    loop {
        raw.clear();
        let n = reader
            .read_until(b'\n', &mut raw)
            .map_err(|e| AnalyzeError::io(path, e))?;
        if n == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&raw);
        if line.trim().is_empty() {
            break;
        }
        header.push_str(&line);
        if !line.ends_with('\n') {
            header.push('\n');
        }
    }
    let Some(first) = paragraphs(&header).next() else {
        return Err(AnalyzeError::malformed(id, path, "no metadata headers"));
    };
    let para = first.map_err(|bad| AnalyzeError::malformed(id, path, bad.to_string()))?;
    let name = para.get("Name").filter(|n| !n.is_empty());
    let version = para.get("Version").filter(|v| !v.is_empty());
    match (name, version) {
        (Some(name), Some(version)) => Ok(FileFacts::Packages(vec![package("PyPI", name, version, path)])),
        (None, _) => Err(AnalyzeError::malformed(id, path, "no Name header")),
        (Some(name), None) => Err(AnalyzeError::malformed(
            id,
            path,
            format!("{name} has no Version header"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = "Metadata-Version: 2.1
Name: requests
Version: 2.31.0
Summary: Python HTTP for Humans.
Home-page: https://requests.readthedocs.io
Author: Kenneth Reitz
Author-email: me@kennethreitz.org
License: Apache 2.0
Project-URL: Documentation, https://requests.readthedocs.io
Classifier: Development Status :: 5 - Production/Stable
Classifier: Programming Language :: Python :: 3
Requires-Python: >=3.7
Description-Content-Type: text/markdown
License-File: LICENSE
Requires-Dist: charset-normalizer (<4,>=2)
Requires-Dist: idna (<4,>=2.5)
Requires-Dist: urllib3 (<3,>=1.21.1)
Provides-Extra: socks

# Requests

Name: not-this
Version: 0.0.0
";

    const PKG_INFO: &str = "Metadata-Version: 1.1\r\nName: six\r\nVersion: 1.16.0\r\nSummary: Python 2 and 3 compatibility utilities\r\nLicense: MIT\r\nDescription: .. image:: https://img.shields.io/pypi/v/six.svg\r\n        :target: https://pypi.org/project/six/\r\n        \r\nPlatform: UNKNOWN\r\n";

    fn run(id: AnalyzerId, path: &str, text: &[u8]) -> Result<FileFacts, AnalyzeError> {
        analyze(id, path, &mut &text[..])
    }

    #[test]
    fn dist_info_metadata() {
        let path = "usr/local/lib/python3.12/site-packages/requests-2.31.0.dist-info/METADATA";
        let FileFacts::Packages(p) = run(AnalyzerId::PythonDist, path, METADATA.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].ecosystem.as_str(), p[0].name.as_str(), p[0].version.as_str()),
            ("PyPI", "requests", "2.31.0")
        );
        assert_eq!(p[0].path, path);
    }

    #[test]
    fn egg_info_with_crlf_and_folded_description() {
        let path = "usr/lib/python3/dist-packages/six-1.16.0.egg-info";
        let FileFacts::Packages(p) = run(AnalyzerId::PythonEgg, path, PKG_INFO.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!((p[0].name.as_str(), p[0].version.as_str()), ("six", "1.16.0"));
    }

    #[test]
    fn reads_only_the_header_block() {
        // A huge body after the headers is never read.
        let mut text = METADATA.as_bytes().to_vec();
        text.extend(std::iter::repeat_n(b'x', 20 << 20));
        assert!(run(AnalyzerId::PythonDist, "a.dist-info/METADATA", &text).is_ok());
    }

    #[test]
    fn missing_fields_are_errors() {
        let path = "x.dist-info/METADATA";
        for text in ["Metadata-Version: 2.1\nVersion: 1\n", "Name: a\n", "", "garbage line\n"] {
            let err = run(AnalyzerId::PythonDist, path, text.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains(path), "{err}");
        }
    }
}
