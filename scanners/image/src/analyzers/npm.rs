//! Installed npm packages: the `package.json` at the root of each package directory under a
//! `node_modules` folder (`node_modules/<name>/` or `node_modules/@scope/<name>/`, at any depth
//! of nesting). An application's own `package.json` outside `node_modules` is not read: it
//! declares ranges, not what is installed, and its dependencies are found in `node_modules`.

use std::io::Read;

use serde::Deserialize;

use super::{package, read_all, AnalyzeError, AnalyzerId, FileFacts};

/// Whether `path` is the manifest of an installed package: the part after the last
/// `node_modules/` is `<name>/package.json` or `@scope/<name>/package.json`.
pub(crate) fn is_installed_package_json(path: &str) -> bool {
    const DIR: &str = "node_modules/";
    let Some(pos) = path.rfind(DIR) else {
        return false;
    };
    if pos != 0 && !path[..pos].ends_with('/') {
        return false;
    }
    let Some(dir) = path[pos + DIR.len()..].strip_suffix("/package.json") else {
        return false;
    };
    let mut parts = dir.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) => !name.is_empty() && !name.starts_with('@') && !name.starts_with('.'),
        (Some(scope), Some(name), None) => scope.len() > 1 && scope.starts_with('@') && !name.is_empty(),
        _ => false,
    }
}

/// The fields of `package.json` that matter here.
#[derive(Deserialize)]
struct Manifest {
    /// Package name.
    #[serde(default)]
    name: Option<serde_json::Value>,
    /// Package version.
    #[serde(default)]
    version: Option<serde_json::Value>,
}

/// Parse one installed `package.json` into an `npm` package; a manifest without a string
/// `name` and `version` (some packages ship stub manifests) gives [`FileFacts::Nothing`].
pub(crate) fn analyze(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::Npm;
    let bytes = read_all(id, path, content)?;
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(AnalyzeError::malformed(id, path, "not a JSON object"));
    }
    let manifest: Manifest =
        serde_json::from_slice(bytes).map_err(|e| AnalyzeError::malformed(id, path, format!("invalid JSON: {e}")))?;
    let as_str = |v: &Option<serde_json::Value>| v.as_ref().and_then(|v| v.as_str()).map(str::trim).map(str::to_owned);
    match (as_str(&manifest.name), as_str(&manifest.version)) {
        (Some(name), Some(version)) if !name.is_empty() && !version.is_empty() => {
            Ok(FileFacts::Packages(vec![package("npm", name, version, path)]))
        }
        _ => Ok(FileFacts::Nothing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPRESS: &str = r#"{
  "name": "express",
  "description": "Fast, unopinionated, minimalist web framework",
  "version": "4.18.2",
  "author": "TJ Holowaychuk <tj@vision-media.ca>",
  "license": "MIT",
  "repository": "expressjs/express",
  "dependencies": { "accepts": "~1.3.8", "body-parser": "1.20.1" },
  "engines": { "node": ">= 0.10.0" },
  "scripts": { "test": "mocha --require test/support/env --reporter spec" }
}"#;

    #[test]
    fn installed_package_paths() {
        assert!(is_installed_package_json("node_modules/a/package.json"));
        assert!(is_installed_package_json("usr/lib/node_modules/npm/package.json"));
        assert!(is_installed_package_json("app/node_modules/@types/node/package.json"));
        assert!(is_installed_package_json(
            "app/node_modules/a/node_modules/b/package.json"
        ));
        assert!(!is_installed_package_json("app/node_modules/a/lib/package.json"));
        assert!(!is_installed_package_json("app/node_modules/@types/package.json"));
        assert!(!is_installed_package_json("app/node_modules/.bin/package.json"));
        assert!(!is_installed_package_json("app/my_node_modules/a/package.json"));
        assert!(!is_installed_package_json("app/package.json"));
    }

    #[test]
    fn parses_manifest() {
        let path = "app/node_modules/express/package.json";
        let FileFacts::Packages(p) = analyze(path, &mut EXPRESS.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(
            (p[0].ecosystem.as_str(), p[0].name.as_str(), p[0].version.as_str()),
            ("npm", "express", "4.18.2")
        );
        assert_eq!(p[0].path, path);
    }

    #[test]
    fn stub_manifests_are_nothing() {
        for text in [
            r#"{"type":"module"}"#,
            r#"{"name":"x"}"#,
            r#"{"name":"x","version":""}"#,
            r#"{"name":1,"version":"1"}"#,
        ] {
            assert_eq!(
                analyze("node_modules/x/package.json", &mut text.as_bytes()).unwrap(),
                FileFacts::Nothing,
                "{text}"
            );
        }
    }

    #[test]
    fn bad_json_is_an_error() {
        let err = analyze("node_modules/x/package.json", &mut "{\"name\": ".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("node_modules/x/package.json") && err.contains("JSON"),
            "{err}"
        );
        assert!(analyze("node_modules/x/package.json", &mut "[1]".as_bytes()).is_err());
    }
}
