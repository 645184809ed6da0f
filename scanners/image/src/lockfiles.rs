//! One package counted once: when an image holds both a project's lockfile and the packages
//! installed from it, the installed packages win.
//!
//! Trivy and Syft read lockfiles only when scanning source trees and installed packages
//! (`node_modules/*/package.json`, `*.dist-info`, gemspecs, `vendor/composer/installed.json`)
//! only in images. regscan reads both in images, since many images ship a lockfile without the
//! packages (bundled JavaScript, source-shaped images, multi-stage builds that copy only the
//! build output), and lets what is installed win where both describe one project:
//!
//! 1. A lockfile next to an installed tree of its ecosystem (`D/package-lock.json`,
//!    `D/yarn.lock` or `D/pnpm-lock.yaml` with packages under `D/node_modules/`;
//!    `D/composer.lock` with `D/vendor/composer/installed.json`) is superseded as a whole: its
//!    packages that were never installed (dev dependencies left out by `npm ci --omit=dev`,
//!    other platforms' optional packages) are not in the image. The lockfile still says which
//!    installed packages are dev-only: an installed package of that tree whose name and version
//!    the lockfile marks dev (and no lockfile of the project marks runtime) gets `dev`.
//! 2. Python and Ruby install outside the project (`site-packages`, `specifications/`), so
//!    there the match is by package: a `PyPI` or `RubyGems` lockfile package also installed
//!    somewhere in the image (same name — PEP 503 normalised for `PyPI` — and version) is
//!    dropped in favour of the installed one. npm and Composer lockfiles of projects without an
//!    install tree are kept whole, even where another project installed the same version: each
//!    project's lockfile tells where a fix is needed.
//!
//! Lockfile packages of different lockfiles are all kept (each with its own `path`).

use std::collections::HashSet;

use regscan_scanner_api::Package;

use crate::analyzers::{self, AnalyzerId};

/// The project directory of an installed package's file (with its trailing `/`, or `""` for
/// the root), when it belongs to a project's own install tree: `D/node_modules/…` (the first
/// `node_modules`) for npm, `D/vendor/composer/installed.json` for Composer.
fn install_root(p: &Package) -> Option<&str> {
    let path = p.path.as_str();
    match p.ecosystem.as_str() {
        "npm" => {
            let at = path
                .match_indices("node_modules/")
                .map(|(i, _)| i)
                .find(|&i| i == 0 || path.as_bytes()[i - 1] == b'/')?;
            Some(&path[..at])
        }
        "Packagist" => path.strip_suffix("vendor/composer/installed.json"),
        _ => None,
    }
}

/// The directory of a lockfile path, with its trailing `/` (`""` at the root).
fn dir_of(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..=i])
}

/// A name as the ecosystem compares it.
fn norm(ecosystem: &str, name: &str) -> String {
    match ecosystem {
        "PyPI" => analyzers::pep503(name),
        "Packagist" => name.to_ascii_lowercase(),
        _ => name.to_owned(),
    }
}

/// Apply the rules of this module to a merged inventory.
pub fn prefer_installed(packages: &mut Vec<Package>) {
    let is_lock = |p: &Package| analyzers::lockfile_analyzer(&p.path).is_some_and(|id| id != AnalyzerId::CargoLock);
    let mut installed: HashSet<(String, String, String)> = HashSet::new();
    let mut roots: HashSet<(String, String)> = HashSet::new();
    for p in packages.iter().filter(|p| !is_lock(p)) {
        installed.insert((p.ecosystem.clone(), norm(&p.ecosystem, &p.name), p.version.clone()));
        if let Some(root) = install_root(p) {
            roots.insert((p.ecosystem.clone(), root.to_owned()));
        }
    }
    if installed.is_empty() {
        return;
    }
    // (ecosystem, project dir, name, version) a superseded lockfile marks dev / runtime.
    let mut dev: HashSet<(String, String, String, String)> = HashSet::new();
    let mut runtime: HashSet<(String, String, String, String)> = HashSet::new();
    packages.retain(|p| {
        if !is_lock(p) {
            return true;
        }
        let dir = dir_of(&p.path);
        if roots.contains(&(p.ecosystem.clone(), dir.to_owned())) {
            let key = (p.ecosystem.clone(), dir.to_owned(), p.name.clone(), p.version.clone());
            if p.dev {
                dev.insert(key);
            } else {
                runtime.insert(key);
            }
            return false;
        }
        let by_package = matches!(p.ecosystem.as_str(), "PyPI" | "RubyGems");
        !(by_package && installed.contains(&(p.ecosystem.clone(), norm(&p.ecosystem, &p.name), p.version.clone())))
    });
    if dev.is_empty() {
        return;
    }
    for p in packages.iter_mut() {
        let Some(root) = install_root(p) else { continue };
        let key = (p.ecosystem.clone(), root.to_owned(), p.name.clone(), p.version.clone());
        if dev.contains(&key) && !runtime.contains(&key) {
            p.dev = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(ecosystem: &str, name: &str, version: &str, path: &str, dev: bool) -> Package {
        Package {
            ecosystem: ecosystem.into(),
            name: name.into(),
            version: version.into(),
            source_name: None,
            source_version: None,
            path: path.into(),
            layer: None,
            dev,
        }
    }

    fn show(packages: &[Package]) -> Vec<String> {
        let mut v: Vec<String> = packages
            .iter()
            .map(|p| format!("{}@{} {}{}", p.name, p.version, p.path, if p.dev { " dev" } else { "" }))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn an_installed_node_modules_tree_supersedes_its_lockfile_and_takes_its_dev_marks() {
        let mut p = vec![
            pkg("npm", "express", "4.18.2", "app/package-lock.json", false),
            pkg("npm", "mocha", "10.2.0", "app/package-lock.json", true),
            pkg("npm", "chalk", "4.1.2", "app/package-lock.json", true),
            // Another platform's optional package: in the lockfile, never installed.
            pkg("npm", "@esbuild/darwin-arm64", "0.19.0", "app/package-lock.json", false),
            pkg(
                "npm",
                "express",
                "4.18.2",
                "app/node_modules/express/package.json",
                false,
            ),
            pkg("npm", "chalk", "4.1.2", "app/node_modules/chalk/package.json", false),
            pkg(
                "npm",
                "chalk",
                "4.1.2",
                "app/node_modules/x/node_modules/chalk/package.json",
                false,
            ),
            // A different project without node_modules keeps its lockfile, even for a package
            // another project installed.
            pkg("npm", "left-pad", "1.3.0", "srv/web/yarn.lock", false),
            pkg("npm", "express", "4.18.2", "srv/web/yarn.lock", false),
        ];
        prefer_installed(&mut p);
        assert_eq!(
            show(&p),
            [
                "chalk@4.1.2 app/node_modules/chalk/package.json dev",
                "chalk@4.1.2 app/node_modules/x/node_modules/chalk/package.json dev",
                "express@4.18.2 app/node_modules/express/package.json",
                "express@4.18.2 srv/web/yarn.lock",
                "left-pad@1.3.0 srv/web/yarn.lock",
            ]
        );
    }

    #[test]
    fn pnpm_store_layout_counts_as_the_projects_install_tree() {
        let store = "app/node_modules/.pnpm/ms@2.1.2/node_modules/ms/package.json";
        let mut p = vec![
            pkg("npm", "ms", "2.1.2", "app/pnpm-lock.yaml", true),
            pkg("npm", "ms", "2.1.2", store, false),
        ];
        prefer_installed(&mut p);
        assert_eq!(show(&p), [format!("ms@2.1.2 {store} dev")]);
    }

    #[test]
    fn a_package_any_lockfile_of_the_project_needs_at_runtime_stays_runtime() {
        let mut p = vec![
            pkg("npm", "ms", "2.1.2", "package-lock.json", true),
            pkg("npm", "ms", "2.1.2", "yarn.lock", false),
            pkg("npm", "ms", "2.1.2", "node_modules/ms/package.json", false),
        ];
        prefer_installed(&mut p);
        assert_eq!(show(&p), ["ms@2.1.2 node_modules/ms/package.json"]);
    }

    #[test]
    fn python_and_ruby_lockfile_packages_installed_elsewhere_are_dropped_by_name_and_version() {
        let site = "usr/local/lib/python3.12/site-packages";
        let mut p = vec![
            pkg("PyPI", "PyYAML", "6.0.1", "app/poetry.lock", false),
            pkg("PyPI", "pytest", "8.0.0", "app/poetry.lock", true),
            pkg("PyPI", "requests", "2.31.0", "app/requirements.txt", false),
            pkg(
                "PyPI",
                "pyyaml",
                "6.0.1",
                &format!("{site}/PyYAML-6.0.1.dist-info/METADATA"),
                false,
            ),
            pkg(
                "PyPI",
                "requests",
                "2.32.0",
                &format!("{site}/requests-2.32.0.dist-info/METADATA"),
                false,
            ),
            pkg("RubyGems", "rack", "3.0.8", "app/Gemfile.lock", false),
            pkg(
                "RubyGems",
                "rack",
                "3.0.8",
                "usr/local/bundle/specifications/rack-3.0.8.gemspec",
                false,
            ),
            pkg("crates.io", "serde", "1.0.0", "src/Cargo.lock", false),
        ];
        prefer_installed(&mut p);
        assert_eq!(
            show(&p),
            [
                "pytest@8.0.0 app/poetry.lock dev",
                "pyyaml@6.0.1 usr/local/lib/python3.12/site-packages/PyYAML-6.0.1.dist-info/METADATA",
                "rack@3.0.8 usr/local/bundle/specifications/rack-3.0.8.gemspec",
                "requests@2.31.0 app/requirements.txt",
                "requests@2.32.0 usr/local/lib/python3.12/site-packages/requests-2.32.0.dist-info/METADATA",
                "serde@1.0.0 src/Cargo.lock",
            ]
        );
    }

    #[test]
    fn composer_lock_is_superseded_by_the_vendor_tree_of_its_project() {
        let mut p = vec![
            pkg("Packagist", "symfony/console", "v6.4.2", "var/www/composer.lock", false),
            pkg("Packagist", "phpunit/phpunit", "10.5.0", "var/www/composer.lock", true),
            pkg(
                "Packagist",
                "symfony/console",
                "v6.4.2",
                "var/www/vendor/composer/installed.json",
                false,
            ),
            pkg(
                "Packagist",
                "phpunit/phpunit",
                "10.5.0",
                "var/www/vendor/composer/installed.json",
                false,
            ),
        ];
        prefer_installed(&mut p);
        assert_eq!(
            show(&p),
            [
                "phpunit/phpunit@10.5.0 var/www/vendor/composer/installed.json dev",
                "symfony/console@v6.4.2 var/www/vendor/composer/installed.json",
            ]
        );
    }

    #[test]
    fn only_lockfiles_change_nothing() {
        let mut p = vec![
            pkg("npm", "a", "1.0.0", "package-lock.json", true),
            pkg("npm", "b", "1.0.0", "x/node_modules_cache/package-lock.json", false),
        ];
        let before = p.clone();
        prefer_installed(&mut p);
        assert_eq!(p, before);
    }
}
