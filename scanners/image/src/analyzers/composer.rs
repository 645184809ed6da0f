//! Installed PHP packages: `vendor/composer/installed.json`, in Composer 1's form (a JSON array
//! of packages) and Composer 2's (`{"packages": […], "dev": …}`). Versions are reported as
//! Composer normalises them for display (`v5.4.0` keeps its `v`; `version_normalized` is not
//! used). Packages without a name or version (metapackages, path repositories) are skipped.

use std::io::Read;

use serde::Deserialize;

use super::{package, read_all, AnalyzeError, AnalyzerId, FileFacts};

/// The two shapes of `installed.json`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Installed {
    /// Composer 2.
    V2 {
        /// The installed packages.
        packages: Vec<Entry>,
    },
    /// Composer 1.
    V1(Vec<Entry>),
}

/// One installed package.
#[derive(Deserialize)]
struct Entry {
    /// `vendor/package`.
    #[serde(default)]
    name: Option<String>,
    /// Installed version as Composer displays it.
    #[serde(default)]
    version: Option<String>,
    /// Where the package came from (`composer.lock`); a `path` repository names no published
    /// package.
    #[serde(default)]
    dist: Option<Dist>,
}

/// `dist` of a locked package.
#[derive(Deserialize)]
struct Dist {
    /// `zip`, `tar`, `path`, …
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// Parse `installed.json` into `Packagist` packages.
pub(crate) fn analyze(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::Composer;
    let bytes = read_all(id, path, content)?;
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    // Parse as a value first for a precise syntax error, then into the shapes.
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| AnalyzeError::malformed(id, path, format!("invalid JSON: {e}")))?;
    let installed = Installed::deserialize(value).map_err(|_| {
        AnalyzeError::malformed(
            id,
            path,
            "expected an array of packages or an object with a `packages` array",
        )
    })?;
    let entries = match installed {
        Installed::V2 { packages } | Installed::V1(packages) => packages,
    };
    let packages = entries
        .into_iter()
        .filter_map(|e| {
            let name = e.name.filter(|n| !n.trim().is_empty())?;
            let version = e.version.filter(|v| !v.trim().is_empty())?;
            Some(package("Packagist", name.trim(), version.trim(), path))
        })
        .collect();
    Ok(FileFacts::Packages(packages))
}

/// The parts of `composer.lock` read here.
#[derive(Deserialize)]
struct Lock {
    /// Runtime packages.
    #[serde(default)]
    packages: Option<Vec<Entry>>,
    /// `require-dev` packages (`null` after `composer update --no-dev` in old Composer).
    #[serde(default, rename = "packages-dev")]
    packages_dev: Option<Vec<Entry>>,
}

/// Parse `composer.lock` into `Packagist` packages (`packages-dev` marked dev; a package in
/// both lists is runtime). Path-repository packages are skipped.
pub(crate) fn analyze_lock(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::ComposerLock;
    let bytes = read_all(id, path, content)?;
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let lock: Lock = serde_json::from_slice(bytes)
        .map_err(|e| AnalyzeError::malformed(id, path, format!("invalid lockfile: {e}")))?;
    let tagged = |dev: bool| move |e: Entry| (e, dev);
    let mut seen = std::collections::BTreeMap::new();
    for (e, dev) in lock
        .packages
        .into_iter()
        .flatten()
        .map(tagged(false))
        .chain(lock.packages_dev.into_iter().flatten().map(tagged(true)))
    {
        if e.dist.as_ref().and_then(|d| d.kind.as_deref()) == Some("path") {
            continue;
        }
        let (Some(name), Some(version)) = (e.name, e.version) else {
            continue;
        };
        let (name, version) = (name.trim().to_owned(), version.trim().to_owned());
        if name.is_empty() || version.is_empty() {
            continue;
        }
        seen.entry((name, version))
            .and_modify(|d: &mut bool| *d &= dev)
            .or_insert(dev);
    }
    let packages = seen
        .into_iter()
        .map(|((name, version), dev)| {
            let mut p = package("Packagist", name, version, path);
            p.dev = dev;
            p
        })
        .collect();
    Ok(FileFacts::Packages(packages))
}

#[cfg(test)]
mod tests {
    use super::*;
    use regscan_scanner_api::Package;

    const V2: &str = r#"{
    "packages": [
        {
            "name": "guzzlehttp/guzzle",
            "version": "7.8.1",
            "version_normalized": "7.8.1.0",
            "source": {"type": "git", "url": "https://github.com/guzzle/guzzle.git", "reference": "41042bc7ab002487b876a0683fc8dce04ddce104"},
            "require": {"php": "^7.2.5 || ^8.0"},
            "type": "library",
            "install-path": "../guzzlehttp/guzzle"
        },
        {
            "name": "symfony/http-foundation",
            "version": "v6.4.2",
            "version_normalized": "6.4.2.0",
            "type": "library"
        },
        {"name": "acme/meta", "type": "metapackage"}
    ],
    "dev": true,
    "dev-package-names": []
}"#;

    const V1: &str = r#"[{"name": "monolog/monolog", "version": "1.27.1", "type": "library"}]"#;

    fn pkgs(text: &str) -> Result<Vec<(String, String)>, AnalyzeError> {
        match analyze("var/www/vendor/composer/installed.json", &mut text.as_bytes())? {
            FileFacts::Packages(p) => {
                assert!(p.iter().all(|p| p.ecosystem == "Packagist"));
                Ok(p.into_iter().map(|p| (p.name, p.version)).collect())
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn composer_2_and_1() {
        assert_eq!(
            pkgs(V2).unwrap(),
            [
                ("guzzlehttp/guzzle".to_owned(), "7.8.1".to_owned()),
                ("symfony/http-foundation".to_owned(), "v6.4.2".to_owned())
            ]
        );
        assert_eq!(pkgs(V1).unwrap(), [("monolog/monolog".to_owned(), "1.27.1".to_owned())]);
    }

    #[test]
    fn malformed_is_an_error() {
        for text in ["{", r#"{"packages": 3}"#, "42"] {
            let err = pkgs(text).unwrap_err().to_string();
            assert!(err.contains("vendor/composer/installed.json"), "{err}");
        }
    }

    const LOCK: &str = r#"{
    "_readme": [
        "This file locks the dependencies of your project to a known state",
        "Read more about it at https://getcomposer.org/doc/01-basic-usage.md#installing-dependencies",
        "This file is @generated automatically"
    ],
    "content-hash": "3a8f1c4b5e6d7f8091a2b3c4d5e6f708",
    "packages": [
        {
            "name": "monolog/monolog",
            "version": "3.5.0",
            "source": {"type": "git", "url": "https://github.com/Seldaek/monolog.git", "reference": "c915e2634718dbc8a4a15c61b0e62e7a44e14448"},
            "dist": {"type": "zip", "url": "https://api.github.com/repos/Seldaek/monolog/zipball/c915e2634718dbc8a4a15c61b0e62e7a44e14448", "reference": "c915e2634718dbc8a4a15c61b0e62e7a44e14448", "shasum": ""},
            "require": {"php": ">=8.1", "psr/log": "^2.0 || ^3.0"},
            "type": "library",
            "autoload": {"psr-4": {"Monolog\\": "src/Monolog"}},
            "license": ["MIT"],
            "time": "2023-10-27T15:32:31+00:00"
        },
        {
            "name": "psr/log",
            "version": "3.0.0",
            "dist": {"type": "zip", "url": "https://api.github.com/repos/php-fig/log/zipball/fe5ea303b0887d5caefd3d431c3e61ad47037001", "reference": "fe5ea303b0887d5caefd3d431c3e61ad47037001", "shasum": ""},
            "type": "library"
        },
        {
            "name": "symfony/console",
            "version": "v6.4.2",
            "dist": {"type": "zip", "url": "https://api.github.com/repos/symfony/console/zipball/0254811a143e6bc6c8deea08b589a7e68a37f625", "reference": "0254811a143e6bc6c8deea08b589a7e68a37f625", "shasum": ""},
            "type": "library"
        },
        {
            "name": "acme/billing",
            "version": "dev-main",
            "dist": {"type": "path", "url": "../packages/billing", "reference": "a1b2c3"},
            "type": "library"
        }
    ],
    "packages-dev": [
        {
            "name": "phpunit/phpunit",
            "version": "10.5.3",
            "dist": {"type": "zip", "url": "https://api.github.com/repos/sebastianbergmann/phpunit/zipball/6fce887c71076a73f32fd3e0774a6833fc5c7f19", "reference": "6fce887c71076a73f32fd3e0774a6833fc5c7f19", "shasum": ""},
            "type": "library"
        },
        {
            "name": "psr/log",
            "version": "3.0.0",
            "type": "library"
        }
    ],
    "aliases": [],
    "minimum-stability": "stable",
    "stability-flags": [],
    "prefer-stable": false,
    "prefer-lowest": false,
    "platform": {"php": "^8.2"},
    "platform-dev": [],
    "plugin-api-version": "2.6.0"
}"#;

    fn lock(text: &[u8]) -> Result<Vec<Package>, AnalyzeError> {
        match analyze_lock("var/www/composer.lock", &mut &text[..])? {
            FileFacts::Packages(p) => Ok(p),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn composer_lock_marks_packages_dev_and_skips_path_repositories() {
        let got: Vec<(String, String, bool)> = lock(LOCK.as_bytes())
            .unwrap()
            .into_iter()
            .map(|p| (p.name, p.version, p.dev))
            .collect();
        let want = [
            ("monolog/monolog", "3.5.0", false),
            ("phpunit/phpunit", "10.5.3", true),
            ("psr/log", "3.0.0", false),
            ("symfony/console", "v6.4.2", false),
        ];
        assert_eq!(got, want.map(|(n, v, d)| (n.to_owned(), v.to_owned(), d)).to_vec());
        let p = lock(LOCK.as_bytes()).unwrap();
        assert_eq!(p[0].purl(), "pkg:composer/monolog/monolog@3.5.0");
        assert_eq!(p[0].path, "var/www/composer.lock");
    }

    #[test]
    fn composer_lock_hostile_inputs() {
        assert!(lock(br#"{"packages": null, "packages-dev": null}"#).unwrap().is_empty());
        assert!(lock(&LOCK.as_bytes()[..LOCK.len() / 2]).is_err());
        assert!(lock(b"42").is_err());
        let deep = format!("{{\"packages\": {}", "[".repeat(100_000));
        assert!(lock(deep.as_bytes()).is_err());
        let big = vec![b' '; (AnalyzerId::ComposerLock.max_bytes() + 1) as usize];
        assert!(matches!(lock(&big), Err(AnalyzeError::TooLarge { .. })));
    }
}
