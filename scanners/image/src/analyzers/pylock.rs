//! Python lockfiles: `poetry.lock`, `uv.lock`, `Pipfile.lock` and pinned `requirements*.txt`.
//!
//! Names are reported as written (`PyYAML`), except in requirements files, whose names are
//! normalised per PEP 503 (`pyyaml`; OSV matching normalises either way). Only packages from a
//! package index are reported: git, URL, path and editable entries are skipped (PyPI advisories
//! do not name them). Dev marking: poetry's `category = "dev"` (poetry < 1.5) or `groups` without
//! `main` (poetry 2); uv's packages reachable only through a project's `dev-dependencies`;
//! Pipfile's `develop` section (a package in both sections is not dev); requirements files named
//! or placed for development (`requirements-dev.txt`, `docs/requirements.txt`). Poetry 1.5 to
//! 1.8 lock files record no group: those packages are never marked dev.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use serde::Deserialize;

use super::{package, read_all, read_text, AnalyzeError, AnalyzerId, FileFacts};
use regscan_scanner_api::Package;

/// `(name, version, dev)` into `PyPI` packages, one per distinct name and version.
fn packages(items: impl IntoIterator<Item = (String, String, bool)>, path: &str) -> Vec<Package> {
    let mut found: BTreeMap<(String, String), bool> = BTreeMap::new();
    for (name, version, dev) in items {
        let (name, version) = (name.trim(), version.trim());
        if name.is_empty() || version.is_empty() {
            continue;
        }
        found
            .entry((name.to_owned(), version.to_owned()))
            .and_modify(|d| *d &= dev)
            .or_insert(dev);
    }
    found
        .into_iter()
        .map(|((name, version), dev)| {
            let mut p = package("PyPI", name, version, path);
            p.dev = dev;
            p
        })
        .collect()
}

fn toml_error(id: AnalyzerId, path: &str, e: &toml::de::Error) -> AnalyzeError {
    AnalyzeError::malformed(id, path, format!("invalid TOML: {}", e.message()))
}

/// `text` without the per-package file lists that make up most of a lockfile and are not read:
/// poetry's `files = [ … ]`, uv's `sdist = { … }` and `wheels = [ … ]`, as the tools write them
/// (key at the start of a line, a multi-line array closed by a line holding only `]`). `None`
/// when a list is not closed (a cut file), so the caller parses the whole text and reports it.
fn without_file_lists(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() / 2);
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim_end();
        if skipping {
            skipping = t != "]";
            continue;
        }
        if t.starts_with("files = [") || t.starts_with("wheels = [") {
            skipping = !t.ends_with(']');
            continue;
        }
        if t.starts_with("sdist = {") && t.ends_with('}') {
            continue;
        }
        out.push_str(line);
    }
    (!skipping).then_some(out)
}

/// Deserialize a poetry or uv lockfile: first without its file lists (several times faster),
/// then, should that fail, the whole text, whose error is the one reported.
fn parse_lock<T: serde::de::DeserializeOwned>(id: AnalyzerId, path: &str, text: &str) -> Result<T, AnalyzeError> {
    if let Some(lock) = without_file_lists(text).and_then(|t| toml::from_str(&t).ok()) {
        return Ok(lock);
    }
    toml::from_str(text).map_err(|e| toml_error(id, path, &e))
}

// ---------------------------------------------------------------------------------------------
// poetry.lock

#[derive(Deserialize)]
struct PoetryLock {
    #[serde(default)]
    package: Vec<PoetryPackage>,
}

#[derive(Deserialize)]
struct PoetryPackage {
    name: String,
    version: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    groups: Option<Vec<String>>,
    #[serde(default)]
    source: Option<PoetrySource>,
}

#[derive(Deserialize)]
struct PoetrySource {
    #[serde(default, rename = "type")]
    kind: String,
}

/// Parse `poetry.lock`.
pub(crate) fn analyze_poetry(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::PoetryLock;
    let text = read_text(id, path, content)?;
    let lock: PoetryLock = parse_lock(id, path, &text)?;
    let items = lock
        .package
        .into_iter()
        // `legacy` is a package index (a PyPI mirror); git, url, file and directory are not.
        .filter(|p| p.source.as_ref().is_none_or(|s| s.kind == "legacy"))
        .map(|p| {
            let dev = p.category.as_deref() == Some("dev")
                || p.groups
                    .as_ref()
                    .is_some_and(|g| !g.is_empty() && !g.iter().any(|g| g == "main"));
            (p.name, p.version, dev)
        });
    Ok(FileFacts::Packages(packages(items, path)))
}

// ---------------------------------------------------------------------------------------------
// uv.lock

#[derive(Deserialize)]
struct UvLock {
    /// `[[package]]`; `[[distribution]]` in the lockfiles of uv before 0.3.
    #[serde(default, alias = "distribution")]
    package: Vec<UvPackage>,
}

#[derive(Deserialize)]
struct UvPackage {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    source: HashMap<String, toml::Value>,
    #[serde(default)]
    dependencies: Vec<UvDep>,
    #[serde(default, rename = "optional-dependencies")]
    optional_dependencies: HashMap<String, Vec<UvDep>>,
}

#[derive(Deserialize)]
struct UvDep {
    name: String,
    #[serde(default)]
    version: Option<String>,
}

/// Parse `uv.lock`.
pub(crate) fn analyze_uv(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::UvLock;
    let text = read_text(id, path, content)?;
    let lock: UvLock = parse_lock(id, path, &text)?;
    // Projects of the workspace (roots) and their runtime dependencies; everything reachable from
    // them through `dependencies` and extras is runtime, the rest (dev groups) is dev.
    let is_root = |p: &UvPackage| p.source.contains_key("virtual") || p.source.contains_key("editable");
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in lock.package.iter().enumerate() {
        by_name.entry(p.name.as_str()).or_default().push(i);
    }
    let mut queue: Vec<usize> = (0..lock.package.len()).filter(|&i| is_root(&lock.package[i])).collect();
    let has_roots = !queue.is_empty();
    let mut prod: HashSet<usize> = HashSet::new();
    while let Some(i) = queue.pop() {
        if !prod.insert(i) {
            continue;
        }
        let p = &lock.package[i];
        for dep in p.dependencies.iter().chain(p.optional_dependencies.values().flatten()) {
            for &j in by_name.get(dep.name.as_str()).into_iter().flatten() {
                let version_fits = dep.version.is_none() || dep.version == lock.package[j].version;
                if version_fits && !prod.contains(&j) {
                    queue.push(j);
                }
            }
        }
    }
    let items = lock.package.iter().enumerate().filter_map(|(i, p)| {
        // Only index packages (`registry`); git, url, path, directory and projects are skipped.
        if !p.source.contains_key("registry") {
            return None;
        }
        let dev = has_roots && !prod.contains(&i);
        Some((p.name.clone(), p.version.clone()?, dev))
    });
    Ok(FileFacts::Packages(packages(items, path)))
}

// ---------------------------------------------------------------------------------------------
// Pipfile.lock

#[derive(Deserialize)]
struct PipfileLock {
    #[serde(default)]
    default: HashMap<String, PipfileEntry>,
    #[serde(default)]
    develop: HashMap<String, PipfileEntry>,
}

#[derive(Deserialize)]
struct PipfileEntry {
    /// `==2.31.0`; absent for git, path and editable entries.
    #[serde(default)]
    version: Option<String>,
}

/// Parse `Pipfile.lock`.
pub(crate) fn analyze_pipfile(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::PipfileLock;
    let bytes = read_all(id, path, content)?;
    let lock: PipfileLock = serde_json::from_slice(&bytes)
        .map_err(|e| AnalyzeError::malformed(id, path, format!("invalid lockfile: {e}")))?;
    let pinned = |(name, e): (String, PipfileEntry), dev: bool| {
        let version = e.version?.strip_prefix("==")?.to_owned();
        Some((name, version, dev))
    };
    let items = lock
        .default
        .into_iter()
        .filter_map(|e| pinned(e, false))
        .chain(lock.develop.into_iter().filter_map(|e| pinned(e, true)));
    Ok(FileFacts::Packages(packages(items, path)))
}

// ---------------------------------------------------------------------------------------------
// requirements*.txt

/// A name normalised per PEP 503: lower case, runs of `-`, `_`, `.` become one `-`.
pub(crate) fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `name[extras]==version` of one requirement line, or `None` when it pins nothing exactly.
fn pinned_requirement(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    // Option lines (`-r`, `-e`, `--index-url`) and comments pin no package.
    if line.starts_with(['-', '#']) {
        return None;
    }
    // A comment, an environment marker or per-requirement options end the requirement.
    let end = [" #", "\t#", ";", " -", "\t-"]
        .iter()
        .filter_map(|m| line.find(m))
        .min()
        .unwrap_or(line.len());
    let req = &line[..end];
    // Direct references (`name @ https://…`, `git+https://…`) are no index package.
    if req.contains('@') || req.contains("://") {
        return None;
    }
    let (name, version) = req.split_once("==")?;
    // `requests [socks] == 2.31.0`: spaces around the name, extras and operator are allowed.
    let name = name.split('[').next()?.trim();
    let version = version.trim();
    let valid_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    // `===` (arbitrary equality), wildcards and further clauses (`==1.0,<2`) are not one pin.
    let valid_version = !version.is_empty()
        && !version.starts_with('=')
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'!' | b'-' | b'_'));
    (valid_name && valid_version).then(|| (pep503(name), version.to_owned()))
}

/// Whether a requirements file is, by the usual naming, for development only: a word of its
/// name is `dev`, `test`, `docs`, `lint` or the like (`requirements-dev.txt`,
/// `requirements_test.txt`, `requirements-docs.txt`; not `requirements-docker.txt`), or it lies in a `docs/`, `doc/`, `tests/`, `test/` or `testing/`
/// directory.
fn requirements_for_development(path: &str) -> bool {
    let (dir, file_name) = path.rsplit_once('/').unwrap_or(("", path));
    let stem = file_name.strip_suffix(".txt").unwrap_or(file_name);
    // Whole words only: `requirements-docker.txt` is not for docs.
    stem.split(['-', '_', '.']).any(|w| {
        matches!(
            w.to_ascii_lowercase().as_str(),
            "dev" | "develop" | "development" | "test" | "tests" | "testing" | "doc" | "docs" | "lint"
        )
    }) || dir
        .split('/')
        .any(|d| matches!(d, "docs" | "doc" | "tests" | "test" | "testing"))
}

/// Parse a `requirements*.txt`: exact `==` pins only.
pub(crate) fn analyze_requirements(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::Requirements;
    let text = read_text(id, path, content)?;
    let dev = requirements_for_development(path);
    let mut continued = false;
    let mut items = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let was_continued = continued;
        continued = line.ends_with('\\');
        // A continuation line carries options (`--hash=…`) of the requirement above.
        if was_continued {
            continue;
        }
        if let Some((name, version)) = pinned_requirement(line.trim_end_matches('\\')) {
            items.push((name, version, dev));
        }
    }
    Ok(FileFacts::Packages(packages(items, path)))
}

#[cfg(test)]
#[path = "pylock_tests.rs"]
mod tests;
