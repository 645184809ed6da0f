//! JavaScript lockfiles: `package-lock.json` / `npm-shrinkwrap.json` (lockfile versions 1, 2, 3),
//! `yarn.lock` (classic v1 text and berry YAML) and `pnpm-lock.yaml` (lockfile versions 5, 6, 9).
//!
//! Every package is reported once per lockfile (`npm`), by its real name (aliases such as
//! `"lp": "npm:left-pad@1.3.0"` resolve to `left-pad`), with `dev` set when the lockfile says the
//! package is only needed for development: npm's `dev`/`devOptional`, pnpm 5/6's `dev: true`,
//! and for pnpm 9 everything not reachable from an importer's `dependencies` or
//! `optionalDependencies`. `yarn.lock` carries no dev flag and the analyzers see one file at a
//! time, so yarn packages are never marked dev (they are matched: a possible false finding for a
//! dev-only package, never a missed one). Local, linked, workspace, git, tarball-URL and patched
//! entries are skipped: registry advisories do not name them (a yarn `patch:` entry's original
//! is listed separately and counted there). Only versions starting with a digit are reported.
//! Packages whose `os` (npm, pnpm) or `conditions` (yarn berry) rule Linux out are skipped:
//! platform binaries for macOS and Windows are locked but never installed in an image (yarn
//! classic records no platform; CPU restrictions are not checked, see the crate README).
//!
//! `package-lock.json` is one bounded JSON read (serde_json's nesting limit of 128 stops
//! recursion bombs); yarn and pnpm lockfiles are read line by line, never building a YAML tree.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use serde::Deserialize;

use super::{package, read_all, read_text, AnalyzeError, AnalyzerId, FileFacts};
use regscan_scanner_api::Package;

/// Most nodes visited in a v1 lockfile's `dependencies` tree (each is a JSON object, so the
/// file's size bounds them already; this is a second guard).
const MAX_NODES: usize = 2_000_000;

/// Distinct packages of one lockfile: `(name, version)` -> dev only.
#[derive(Default)]
struct Found(BTreeMap<(String, String), bool>);

impl Found {
    /// Record `name@version`; a package is dev only if every occurrence is.
    fn add(&mut self, name: &str, version: &str, dev: bool) {
        let (name, version) = (name.trim(), version.trim());
        if name.is_empty() || !version.starts_with(|c: char| c.is_ascii_digit()) {
            return;
        }
        self.0
            .entry((name.to_owned(), version.to_owned()))
            .and_modify(|d| *d &= dev)
            .or_insert(dev);
    }

    fn into_packages(self, path: &str) -> Vec<Package> {
        self.0
            .into_iter()
            .map(|((name, version), dev)| {
                let mut p = package("npm", name, version, path);
                p.dev = dev;
                p
            })
            .collect()
    }
}

/// Whether a package restricted to the operating systems `os` (npm's `os` field: names, or
/// `!name` exclusions; empty means any) installs on Linux. Images are Linux: a package for
/// `darwin` or `win32` only (esbuild's, swc's, rollup's platform binaries) is not in them.
fn installs_on_linux<'a>(os: impl IntoIterator<Item = &'a str>) -> bool {
    let (mut any, mut allowed, mut linux_allowed, mut linux_excluded) = (false, false, false, false);
    for o in os {
        let o = unquote(o);
        if o.is_empty() {
            continue;
        }
        any = true;
        match o.strip_prefix('!') {
            Some(x) => linux_excluded |= x == "linux",
            None => {
                allowed = true;
                linux_allowed |= o == "linux";
            }
        }
    }
    !any || if allowed { linux_allowed } else { !linux_excluded }
}

/// Split `name@rest` at the `@` after the name (a scoped name starts with `@`).
fn split_at_name(spec: &str) -> Option<(&str, &str)> {
    let start = usize::from(spec.starts_with('@'));
    let at = spec[start..].find('@')? + start;
    Some((&spec[..at], &spec[at + 1..]))
}

/// `npm:real-name@1.2.3` -> `("real-name", "1.2.3")`.
fn npm_alias(version: &str) -> Option<(&str, &str)> {
    split_at_name(version.strip_prefix("npm:")?)
}

// ---------------------------------------------------------------------------------------------
// package-lock.json

/// A v2/v3 `resolved` that is no registry tarball: git (`git+ssh://…`, `github:…`), a local
/// folder or tarball (`file:…`). Registry and tarball URLs (`https://…`) are kept.
fn not_from_registry(resolved: &str) -> bool {
    !(resolved.starts_with("https://") || resolved.starts_with("http://"))
        || resolved.starts_with("https://codeload.github.com/")
}

#[derive(Deserialize)]
struct NpmLock {
    #[serde(default, rename = "lockfileVersion")]
    lockfile_version: Option<u64>,
    #[serde(default)]
    packages: Option<HashMap<String, NpmEntry>>,
    #[serde(default)]
    dependencies: Option<HashMap<String, V1Dep>>,
}

/// An entry of v2/v3 `packages`.
#[derive(Deserialize)]
struct NpmEntry {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    resolved: Option<String>,
    /// Only in the `devDependencies` tree. (`devOptional`, both a dev dependency and an
    /// optional dependency of a runtime one, is installed by `npm ci --omit=dev`: not dev.)
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    link: bool,
    /// Operating systems the package installs on.
    #[serde(default)]
    os: Vec<String>,
}

/// An entry of v1 `dependencies` (nested).
#[derive(Deserialize)]
struct V1Dep {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    dependencies: Option<HashMap<String, V1Dep>>,
}

/// Parse `package-lock.json` or `npm-shrinkwrap.json`.
pub(crate) fn analyze_package_lock(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::NpmLock;
    let bytes = read_all(id, path, content)?;
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let lock: NpmLock = serde_json::from_slice(bytes)
        .map_err(|e| AnalyzeError::malformed(id, path, format!("invalid lockfile: {e}")))?;
    let mut found = Found::default();
    match (lock.packages, lock.dependencies) {
        // v2 and v3 (v2 also carries v1's `dependencies`, which `packages` supersedes).
        (Some(packages), _) => {
            for (key, entry) in packages {
                // The root project ("") and workspace folders are not under node_modules.
                let Some(pos) = key.rfind("node_modules/") else {
                    continue;
                };
                if entry.link
                    || entry.resolved.as_deref().is_some_and(not_from_registry)
                    || !installs_on_linux(entry.os.iter().map(String::as_str))
                {
                    continue;
                }
                let key_name = &key[pos + "node_modules/".len()..];
                let Some(version) = entry.version.as_deref() else {
                    continue;
                };
                let dev = entry.dev;
                match npm_alias(version) {
                    Some((name, version)) => found.add(name, version, dev),
                    None => found.add(entry.name.as_deref().unwrap_or(key_name), version, dev),
                }
            }
        }
        (None, Some(deps)) => {
            let mut stack: Vec<(String, V1Dep)> = deps.into_iter().collect();
            let mut visited = 0usize;
            while let Some((name, dep)) = stack.pop() {
                visited += 1;
                if visited > MAX_NODES {
                    return Err(AnalyzeError::malformed(
                        id,
                        path,
                        format!("more than {MAX_NODES} dependencies"),
                    ));
                }
                if let Some(version) = dep.version.as_deref() {
                    match npm_alias(version) {
                        Some((real, version)) => found.add(real, version, dep.dev),
                        None => found.add(&name, version, dep.dev),
                    }
                }
                if let Some(children) = dep.dependencies {
                    stack.extend(children);
                }
            }
        }
        (None, None) if lock.lockfile_version.is_some() => {}
        (None, None) => {
            return Err(AnalyzeError::malformed(
                id,
                path,
                "no `lockfileVersion`, `packages` or `dependencies`",
            ))
        }
    }
    Ok(FileFacts::Packages(found.into_packages(path)))
}

// ---------------------------------------------------------------------------------------------
// yarn.lock

/// Remove one level of double or single quotes.
fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// Leading spaces of a line.
fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Parse `yarn.lock`, classic or berry (told apart by `__metadata`).
pub(crate) fn analyze_yarn_lock(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::YarnLock;
    let text = read_text(id, path, content)?;
    let mut found = Found::default();
    let berry = text.lines().any(|l| l.starts_with("__metadata:"));
    // The entry being read: for classic, the real name of its first specifier (None: skipped);
    // for berry, its `resolution`, added at the end of the entry unless its `conditions` rule
    // Linux out (`os=darwin & cpu=arm64`).
    let mut current: Option<&str> = None;
    let mut resolved: Option<(&str, &str)> = None;
    let mut on_linux = true;
    let mut in_entry = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let ind = indent(line);
        if ind == 0 {
            let Some(head) = line.strip_suffix(':') else {
                return Err(AnalyzeError::malformed(
                    id,
                    path,
                    format!("line {}: expected `spec:`", n + 1),
                ));
            };
            if let (Some((name, version)), true) = (resolved.take(), on_linux) {
                found.add(name, version, false);
            }
            on_linux = true;
            in_entry = !head.starts_with("__metadata");
            current = None;
            if !berry && in_entry {
                // `"a@^1", a@^1.2`: every specifier names the same package; read the first.
                let first = unquote(head.split(", ").next().unwrap_or(head));
                current = classic_name(first);
            }
            continue;
        }
        if ind != 2 || !in_entry {
            continue;
        }
        let body = line.trim_start();
        if berry {
            if let Some(res) = body.strip_prefix("resolution:") {
                let res = unquote(res);
                // `name@npm:1.2.3`; workspace:, patch:, link:, portal:, file:, git and URLs skipped.
                let start = usize::from(res.starts_with('@'));
                if let Some(at) = res[start..].find("@npm:") {
                    let at = at + start;
                    let (name, version) = (&res[..at], &res[at + "@npm:".len()..]);
                    // `x@patch:x@npm:1.0.0#…` (unencoded, yarn 2) names no registry package.
                    if !name[start..].contains(['@', ':']) && !version.contains(['#', ':']) {
                        resolved = Some((name, version));
                    }
                }
            } else if let Some(conditions) = body.strip_prefix("conditions:") {
                let os = conditions.split('&').filter_map(|c| c.trim().strip_prefix("os="));
                on_linux = installs_on_linux(os);
            }
        } else if let (Some(name), Some(version)) = (current, body.strip_prefix("version ")) {
            found.add(name, unquote(version), false);
        }
    }
    if let (Some((name, version)), true) = (resolved, on_linux) {
        found.add(name, version, false);
    }
    Ok(FileFacts::Packages(found.into_packages(path)))
}

/// The registry package a classic specifier (`a@^1.0.0`, `lp@npm:left-pad@1.3.0`) resolves to;
/// `None` for other protocols (`file:`, `link:`, git, URLs, `user/repo`).
fn classic_name(spec: &str) -> Option<&str> {
    let (name, range) = split_at_name(spec)?;
    if let Some((real, _)) = npm_alias(range) {
        return Some(real);
    }
    if range.contains(':') || (range.contains('/') && !range.starts_with('@')) {
        return None;
    }
    Some(name)
}

// ---------------------------------------------------------------------------------------------
// pnpm-lock.yaml

/// A package name and version (with pnpm's peer suffix, where it has one).
type NameVersion<'a> = (&'a str, &'a str);

/// The top-level section being read.
#[derive(PartialEq, Clone, Copy)]
enum PnpmSection {
    Packages,
    Snapshots,
    Importers,
    Other,
}

/// `name` and `version` of a `packages`/`snapshots` key: `/a/1.0.0_peer@1` (v5),
/// `/a@1.0.0(peer@1)` (v6), `a@1.0.0(peer@1)` (v9), scoped names alike.
/// Before v9, registry packages are the keys starting with `/`; others (`github.com/…`,
/// `registry.example.com/…/x.tgz`) are git or tarball dependencies and give `None`.
fn pnpm_key(key: &str, major: u32) -> Option<(&str, &str)> {
    let key = if major >= 9 { key } else { key.strip_prefix('/')? };
    if major <= 5 {
        let (name, version) = key.rsplit_once('/')?;
        let version = version.split('_').next().unwrap_or(version);
        return Some((name, version));
    }
    let key = key.split('(').next().unwrap_or(key);
    split_at_name(key)
}

/// Parse `pnpm-lock.yaml`.
pub(crate) fn analyze_pnpm_lock(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::PnpmLock;
    let text = read_text(id, path, content)?;
    let mut version_line = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("lockfileVersion:") {
            version_line = Some(unquote(v).to_owned());
            break;
        }
    }
    let Some(lock_version) = version_line else {
        return Err(AnalyzeError::malformed(id, path, "no `lockfileVersion`"));
    };
    let major: u32 = lock_version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| AnalyzeError::malformed(id, path, format!("lockfileVersion `{lock_version}`")))?;
    // v5/v6: `dev:` per package. v9: reachability from importers through snapshots.
    // `packages` keys as written (peers included before v9) with their `dev:` mark and whether
    // their `os:` allows Linux.
    let mut packages: Vec<(&str, bool, bool)> = Vec::new();
    // v9 snapshots as `(name, version with peers)`, and the runtime edges between them.
    let mut prod_roots: Vec<(&str, &str)> = Vec::new();
    // In file order, one per snapshot (`None`: a key naming no package).
    let mut snapshots: Vec<(Option<NameVersion>, Vec<NameVersion>)> = Vec::new();

    let mut saw_importers = false;
    let mut section = PnpmSection::Other;
    let mut sub = ""; // current sub-section at indent 4 (dependencies, devDependencies, …)
    let mut dep_name = ""; // importer dependency at indent 6 (v9 long form)
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        match line.len() - body.len() {
            0 => {
                section = match body.trim_end_matches(':') {
                    "packages" => PnpmSection::Packages,
                    "snapshots" => PnpmSection::Snapshots,
                    "importers" => {
                        saw_importers = true;
                        PnpmSection::Importers
                    }
                    _ => PnpmSection::Other,
                };
            }
            2 => {
                let key = unquote(body.trim_end_matches(':'));
                sub = "";
                match section {
                    PnpmSection::Packages => packages.push((key, false, true)),
                    PnpmSection::Snapshots if major >= 9 => snapshots.push((split_at_name(key), Vec::new())),
                    _ => {}
                }
            }
            4 => {
                let (k, v) = body.split_once(':').unwrap_or((body, ""));
                sub = match k {
                    "dependencies" => "dependencies",
                    "optionalDependencies" => "optionalDependencies",
                    "devDependencies" => "devDependencies",
                    _ => "",
                };
                if let (PnpmSection::Packages, Some(last)) = (section, packages.last_mut()) {
                    match k {
                        "dev" => last.1 |= unquote(v) == "true",
                        // `os: [darwin]`, the flow list pnpm writes.
                        "os" => {
                            let list = v.trim().trim_start_matches('[').trim_end_matches(']');
                            last.2 = installs_on_linux(list.split(','));
                        }
                        _ => {}
                    }
                }
            }
            6 if major >= 9 && !sub.is_empty() => {
                let (k, v) = body.split_once(':').unwrap_or((body, ""));
                let (k, v) = (unquote(k), unquote(v));
                match section {
                    PnpmSection::Snapshots if sub != "devDependencies" => {
                        if let (Some(last), Some(to)) = (snapshots.last_mut(), snapshot_ref(k, v)) {
                            last.1.push(to);
                        }
                    }
                    PnpmSection::Importers => dep_name = k,
                    _ => {}
                }
            }
            8 if section == PnpmSection::Importers && sub != "devDependencies" && !sub.is_empty() => {
                if let Some(root) = body
                    .strip_prefix("version:")
                    .and_then(|v| snapshot_ref(dep_name, unquote(v)))
                {
                    prod_roots.push(root);
                }
            }
            _ => {}
        }
    }
    let mut found = Found::default();
    if major >= 9 && saw_importers {
        // Depth-first from the importers' runtime dependencies; each snapshot visited once.
        // `prod` holds versions without their peer suffix, as `packages` keys have them; a
        // snapshot with peers is also recorded whole in `seen_peers`. Each snapshot's edges are
        // pushed once, so the stack never holds more than all edges.
        let edges: HashMap<(&str, &str), Vec<(&str, &str)>> =
            snapshots.into_iter().filter_map(|(k, e)| Some((k?, e))).collect();
        let mut prod: HashSet<(&str, &str)> = HashSet::new();
        let mut seen_peers: HashSet<(&str, &str)> = HashSet::new();
        let mut stack = prod_roots;
        while let Some(k) = stack.pop() {
            let base = k.1.split('(').next().unwrap_or(k.1);
            let new = if base.len() == k.1.len() {
                prod.insert(k)
            } else {
                prod.insert((k.0, base));
                seen_peers.insert(k)
            };
            if let (true, Some(children)) = (new, edges.get(&k)) {
                stack.extend(children.iter().copied());
            }
        }
        for (key, _, on_linux) in packages {
            if let (Some((name, version)), true) = (pnpm_key(key, major), on_linux) {
                found.add(name, version, !prod.contains(&(name, version)));
            }
        }
    } else {
        for (key, dev, on_linux) in packages {
            if let (Some((name, version)), true) = (pnpm_key(key, major), on_linux) {
                found.add(name, version, dev);
            }
        }
    }
    Ok(FileFacts::Packages(found.into_packages(path)))
}

/// The snapshot a v9 dependency `name: version` refers to, as `(name, version with peers)`:
/// the alias target when the version is itself `real@version`; `None` for `link:` and the like.
fn snapshot_ref<'a>(name: &'a str, version: &'a str) -> Option<(&'a str, &'a str)> {
    if version.starts_with(|c: char| c.is_ascii_digit()) {
        Some((name, version))
    } else {
        split_at_name(version)
    }
}

#[cfg(test)]
#[path = "jslock_tests.rs"]
mod tests;
