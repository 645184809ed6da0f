//! dpkg databases: `var/lib/dpkg/status` (Debian, Ubuntu) and the one-file-per-package
//! `var/lib/dpkg/status.d/*` of distroless images.

use std::io::Read;

use regscan_scanner_api::Package;

use super::text::paragraphs;
use super::{read_text, AnalyzeError, AnalyzerId, FileFacts};

/// Parse a dpkg status file. With `need_status` (the main status file) only stanzas whose
/// `Status:` says the package is installed count; `status.d` stanzas carry no `Status:` and all
/// count (one with a `Status:` is still checked).
pub(crate) fn analyze(
    id: AnalyzerId,
    path: &str,
    content: &mut dyn Read,
    need_status: bool,
) -> Result<FileFacts, AnalyzeError> {
    let text = read_text(id, path, content)?;
    let mut packages = Vec::new();
    for para in paragraphs(&text) {
        let para = para.map_err(|bad| AnalyzeError::malformed(id, path, bad.to_string()))?;
        match para.get("Status") {
            Some(status) if !is_installed(status) => continue,
            None if need_status => continue,
            _ => {}
        }
        let Some(name) = para.get("Package").filter(|n| !n.is_empty()) else {
            let problem = format!("stanza at line {} has no Package field", para.line);
            return Err(AnalyzeError::malformed(id, path, problem));
        };
        let Some(version) = para.get("Version").filter(|v| !v.is_empty()) else {
            let problem = format!("package {name} (line {}) has no Version field", para.line);
            return Err(AnalyzeError::malformed(id, path, problem));
        };
        let (source_name, source_version) = match para.get("Source") {
            Some(source) => parse_source(source).ok_or_else(|| {
                let problem = format!("package {name}: bad Source field {source:?}");
                AnalyzeError::malformed(id, path, problem)
            })?,
            None => (name, None),
        };
        packages.push(Package {
            ecosystem: String::new(),
            name: name.to_owned(),
            version: version.to_owned(),
            source_name: Some(source_name.to_owned()),
            source_version: Some(source_version.unwrap_or(version).to_owned()),
            path: path.to_owned(),
            layer: None,
            dev: false,
        });
    }
    Ok(FileFacts::Packages(packages))
}

/// Whether a `Status:` value (`want flag status`) means the package is installed: the status is
/// `installed` and the selection `install` or `hold`.
fn is_installed(status: &str) -> bool {
    let mut words = status.split_whitespace();
    let want = words.next();
    let _flag = words.next();
    let state = words.next();
    matches!(want, Some("install" | "hold")) && state == Some("installed")
}

/// Split `Source: name` or `Source: name (version)`.
fn parse_source(source: &str) -> Option<(&str, Option<&str>)> {
    let source = source.trim();
    match source.split_once('(') {
        None if !source.contains(char::is_whitespace) && !source.is_empty() => Some((source, None)),
        None => None,
        Some((name, rest)) => {
            let name = name.trim();
            let version = rest.strip_suffix(')')?.trim();
            (!name.is_empty() && !version.is_empty()).then_some((name, Some(version)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = include_str!("testdata/dpkg_status");

    fn packages(id: AnalyzerId, path: &str, text: &str) -> Vec<Package> {
        match super::super::analyze(id, path, &mut text.as_bytes()).unwrap() {
            FileFacts::Packages(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn status_file_installed_only() {
        let pkgs = packages(AnalyzerId::Dpkg, "var/lib/dpkg/status", STATUS);
        // 40 stanzas: openssl and vim-tiny are deinstalled, curl purged; tzdata is held.
        assert_eq!(pkgs.len(), 37);
        assert!(pkgs.iter().all(|p| p.ecosystem.is_empty() && p.layer.is_none()));
        assert!(pkgs.iter().all(|p| p.path == "var/lib/dpkg/status"));
        for gone in ["openssl", "vim-tiny", "curl"] {
            assert!(!pkgs.iter().any(|p| p.name == gone), "{gone}");
        }
        assert!(pkgs.iter().any(|p| p.name == "tzdata"));
        let find = |n: &str| pkgs.iter().find(|p| p.name == n).unwrap();
        let libc = find("libc6");
        assert_eq!(libc.version, "2.36-9+deb12u4");
        assert_eq!(libc.source_name.as_deref(), Some("glibc"));
        assert_eq!(libc.source_version.as_deref(), Some("2.36-9+deb12u4"));
        let bin = find("libc-bin");
        assert_eq!(bin.source_name.as_deref(), Some("glibc"));
        let bash = find("bash");
        assert_eq!(bash.version, "5.2.15-2+b2");
        assert_eq!(bash.source_version.as_deref(), Some("5.2.15-2"));
        let login = find("login");
        assert_eq!(login.version, "1:4.13+dfsg1-1+b1");
        assert_eq!(
            (login.source_name.as_deref(), login.source_version.as_deref()),
            (Some("shadow"), Some("1:4.13+dfsg1-1"))
        );
        let dpkg = find("dpkg");
        assert_eq!(dpkg.source_name.as_deref(), Some("dpkg"));
        assert_eq!(dpkg.source_version.as_deref(), Some("1.21.22"));
        // Continuation lines that look like fields do not override real ones.
        assert!(pkgs.iter().all(|p| p.version != "0.0-not-a-version"));
    }

    #[test]
    fn status_d_entries_need_no_status() {
        let text =
            "Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl\nMulti-Arch: same\n";
        let pkgs = packages(AnalyzerId::DpkgStatusD, "var/lib/dpkg/status.d/libssl3", text);
        assert_eq!(pkgs.len(), 1);
        assert_eq!(pkgs[0].source_name.as_deref(), Some("openssl"));
        // The main status file ignores stanzas without Status.
        assert!(packages(AnalyzerId::Dpkg, "var/lib/dpkg/status", text).is_empty());
        // Several stanzas in one status.d file.
        let two = format!("{text}\nPackage: openssl\nVersion: 3.0.11-1~deb12u2\n");
        assert_eq!(
            packages(AnalyzerId::DpkgStatusD, "var/lib/dpkg/status.d/openssl", &two).len(),
            2
        );
    }

    #[test]
    fn malformed_input_names_the_file() {
        let path = "var/lib/dpkg/status";
        let cases = [
            "Package: a\nStatus: install ok installed\nthis is not a field\n",
            "Status: install ok installed\nVersion: 1\n",
            "Package: a\nStatus: install ok installed\n",
            "Package: a\nStatus: install ok installed\nVersion: 1\nSource: b (1\n",
        ];
        for text in cases {
            let err = analyze(AnalyzerId::Dpkg, path, &mut text.as_bytes(), true).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(path) && msg.contains("dpkg"), "{msg}");
        }
    }

    #[test]
    fn source_field_forms() {
        assert_eq!(parse_source("glibc"), Some(("glibc", None)));
        assert_eq!(
            parse_source("glibc (2.36-9+deb12u4)"),
            Some(("glibc", Some("2.36-9+deb12u4")))
        );
        assert_eq!(parse_source("a b"), None);
        assert_eq!(parse_source("(1)"), None);
        assert!(is_installed("hold ok installed"));
        assert!(!is_installed("install ok half-installed"));
        assert!(!is_installed("deinstall ok config-files"));
    }
}
