//! Package analyzers: turn single files of an image's root filesystem into facts (the operating
//! system, installed packages).
//!
//! The layer walker calls [`wanted`] for every regular file of every layer; for the files it
//! wants it calls [`analyze`] with the file's content (at most [`Wanted::max_bytes`] bytes). After
//! merging layers it picks the operating system with [`pick_os`] and calls [`finish`] to give OS
//! packages their ecosystem. Every analyzer is synchronous, reads a bounded amount and never
//! writes to disk; malformed input gives an [`AnalyzeError`] naming the file.

use std::io::Read;

use regscan_scanner_api::Package;
use serde::{Deserialize, Serialize};

mod apk;
mod cargo;
mod composer;
mod dpkg;
mod gemlock;
mod gobin;
mod gomod;
mod gradle;
mod java;
mod jslock;
mod npm;
mod nuget;
mod os;
mod pom;
mod pylock;
mod python;
mod rpm;
mod ruby;
#[cfg(test)]
mod test_support;
mod text;

pub use os::{finish, pick_os};
pub(crate) use pylock::pep503;

/// Version of the analyzers' output; part of the per-layer cache key. Bump it whenever any
/// analyzer's output for the same input changes.
pub const ANALYZERS_VERSION: &str = "5";

/// Which analyzer handles a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AnalyzerId {
    /// `etc/os-release`, `usr/lib/os-release`.
    OsRelease,
    /// `etc/debian_version`.
    DebianVersion,
    /// `etc/alpine-release`.
    AlpineRelease,
    /// `var/lib/dpkg/status`.
    Dpkg,
    /// `var/lib/dpkg/status.d/*` (distroless images), except `*.md5sums`.
    DpkgStatusD,
    /// `lib/apk/db/installed`.
    Apk,
    /// `var/lib/rpm/rpmdb.sqlite`, `usr/lib/sysimage/rpm/rpmdb.sqlite`.
    RpmSqlite,
    /// `var/lib/rpm/Packages`, `usr/lib/sysimage/rpm/Packages` (Berkeley DB hash).
    RpmBdb,
    /// `var/lib/rpm/Packages.db`, `usr/lib/sysimage/rpm/Packages.db` (rpm's NDB).
    RpmNdb,
    /// `**/*.dist-info/METADATA`.
    PythonDist,
    /// `**/*.egg-info/PKG-INFO` and `**/*.egg-info` files.
    PythonEgg,
    /// `**/node_modules/<name>/package.json`, `**/node_modules/@scope/<name>/package.json`.
    Npm,
    /// `**/Cargo.lock`, except in cargo's download caches (`.cargo/registry/`, `.cargo/git/`).
    CargoLock,
    /// Executables in binary directories that may carry Go module build info.
    GoBinary,
    /// `*.jar`, `*.war`, `*.ear`, `*.jpi`, `*.hpi`.
    Java,
    /// `**/specifications/*.gemspec`.
    RubyGemspec,
    /// `**/vendor/composer/installed.json`.
    Composer,
    /// `**/go.mod` of source trees (not Go's module cache, toolchain sources or `testdata`).
    GoMod,
    /// `**/go.sum` of source trees; its packages count only where there is no `go.mod`.
    GoSum,
    /// `**/packages.lock.json` (NuGet restore lock file).
    NuGetLock,
    /// `**/*.deps.json` (.NET dependency manifest).
    NuGetDeps,
    /// `**/gradle.lockfile`, `**/buildscript-gradle.lockfile`, `**/gradle/dependency-locks/*.lockfile`.
    GradleLock,
    /// `**/pom.xml`.
    Pom,
    /// `**/package-lock.json`, `**/npm-shrinkwrap.json` (not under `node_modules/`).
    NpmLock,
    /// `**/yarn.lock` (classic and berry).
    YarnLock,
    /// `**/pnpm-lock.yaml`.
    PnpmLock,
    /// `**/poetry.lock`.
    PoetryLock,
    /// `**/uv.lock`.
    UvLock,
    /// `**/Pipfile.lock`.
    PipfileLock,
    /// `**/requirements*.txt` (exact `==` pins).
    Requirements,
    /// `**/Gemfile.lock` (not inside installed gems).
    GemfileLock,
    /// `**/composer.lock` (not under `vendor/`).
    ComposerLock,
}

impl AnalyzerId {
    /// Short stable name, for logs and messages.
    pub fn name(self) -> &'static str {
        match self {
            AnalyzerId::OsRelease => "os-release",
            AnalyzerId::DebianVersion => "debian_version",
            AnalyzerId::AlpineRelease => "alpine-release",
            AnalyzerId::Dpkg => "dpkg",
            AnalyzerId::DpkgStatusD => "dpkg-status.d",
            AnalyzerId::Apk => "apk",
            AnalyzerId::RpmSqlite => "rpm-sqlite",
            AnalyzerId::RpmBdb => "rpm-bdb",
            AnalyzerId::RpmNdb => "rpm-ndb",
            AnalyzerId::PythonDist => "python-dist-info",
            AnalyzerId::PythonEgg => "python-egg-info",
            AnalyzerId::Npm => "npm",
            AnalyzerId::CargoLock => "cargo-lock",
            AnalyzerId::GoBinary => "go-binary",
            AnalyzerId::Java => "java-archive",
            AnalyzerId::RubyGemspec => "ruby-gemspec",
            AnalyzerId::Composer => "composer",
            AnalyzerId::GoMod => "go-mod",
            AnalyzerId::GoSum => "go-sum",
            AnalyzerId::NuGetLock => "nuget-lock",
            AnalyzerId::NuGetDeps => "dotnet-deps",
            AnalyzerId::GradleLock => "gradle-lockfile",
            AnalyzerId::Pom => "maven-pom",
            AnalyzerId::NpmLock => "npm-lock",
            AnalyzerId::YarnLock => "yarn-lock",
            AnalyzerId::PnpmLock => "pnpm-lock",
            AnalyzerId::PoetryLock => "poetry-lock",
            AnalyzerId::UvLock => "uv-lock",
            AnalyzerId::PipfileLock => "pipfile-lock",
            AnalyzerId::Requirements => "requirements",
            AnalyzerId::GemfileLock => "gemfile-lock",
            AnalyzerId::ComposerLock => "composer-lock",
        }
    }

    /// The most bytes of a file this analyzer reads; files larger than this are not analyzed
    /// (the walker should record them as skipped).
    pub fn max_bytes(self) -> u64 {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * KIB;
        match self {
            AnalyzerId::OsRelease | AnalyzerId::DebianVersion | AnalyzerId::AlpineRelease => 64 * KIB,
            AnalyzerId::Dpkg | AnalyzerId::Apk => 64 * MIB,
            AnalyzerId::DpkgStatusD => 4 * MIB,
            AnalyzerId::RpmSqlite | AnalyzerId::RpmBdb | AnalyzerId::RpmNdb => 256 * MIB,
            AnalyzerId::PythonDist | AnalyzerId::PythonEgg => 8 * MIB,
            AnalyzerId::Npm => 4 * MIB,
            AnalyzerId::CargoLock => 16 * MIB,
            AnalyzerId::GoBinary => gobin::MAX_BINARY_BYTES,
            AnalyzerId::Java => java::MAX_ARCHIVE_BYTES,
            AnalyzerId::RubyGemspec => MIB,
            AnalyzerId::Composer => 32 * MIB,
            AnalyzerId::GoMod | AnalyzerId::GoSum => 32 * MIB,
            AnalyzerId::NuGetLock | AnalyzerId::NuGetDeps => 64 * MIB,
            AnalyzerId::GradleLock | AnalyzerId::Pom => 32 * MIB,
            AnalyzerId::NpmLock
            | AnalyzerId::YarnLock
            | AnalyzerId::PnpmLock
            | AnalyzerId::PoetryLock
            | AnalyzerId::UvLock
            | AnalyzerId::PipfileLock
            | AnalyzerId::ComposerLock => 64 * MIB,
            AnalyzerId::Requirements => 4 * MIB,
            AnalyzerId::GemfileLock => 16 * MIB,
        }
    }
}

/// A file the analyzers want to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// The analyzer to pass it to.
    pub analyzer: AnalyzerId,
    /// The most bytes to hand to [`analyze`]. When the file is larger, the walker should skip
    /// it and record that it was too large (the analyzer would only see a truncated file).
    pub max_bytes: u64,
}

/// Whether the analyzers want the regular file at `path` (relative to the root filesystem, no
/// leading `./` or `/`) of `size` bytes, and which analyzer reads it.
///
/// Cheap: called for every file of every layer; no allocation. A file over the analyzer's
/// `max_bytes` is still returned (so it can be reported as skipped), except Go binary
/// candidates, which are only wanted within their size window.
pub fn wanted(path: &str, size: u64) -> Option<Wanted> {
    let analyzer = match path {
        "etc/os-release" | "usr/lib/os-release" => AnalyzerId::OsRelease,
        "etc/debian_version" => AnalyzerId::DebianVersion,
        "etc/alpine-release" => AnalyzerId::AlpineRelease,
        "var/lib/dpkg/status" => AnalyzerId::Dpkg,
        // `usr/lib/apk/db/installed`: usr-merged apk systems (Wolfi since 2025).
        "lib/apk/db/installed" | "usr/lib/apk/db/installed" => AnalyzerId::Apk,
        "var/lib/rpm/rpmdb.sqlite" | "usr/lib/sysimage/rpm/rpmdb.sqlite" => AnalyzerId::RpmSqlite,
        "var/lib/rpm/Packages" | "usr/lib/sysimage/rpm/Packages" => AnalyzerId::RpmBdb,
        "var/lib/rpm/Packages.db" | "usr/lib/sysimage/rpm/Packages.db" => AnalyzerId::RpmNdb,
        _ => wanted_by_pattern(path, size)?,
    };
    Some(Wanted {
        analyzer,
        max_bytes: analyzer.max_bytes(),
    })
}

/// Whether [`wanted`] could want `path` at some size: the path-only test, for entries whose size
/// says nothing (symbolic links, hard links, whiteouts that hide a file the analyzers read).
pub fn interested(path: &str) -> bool {
    wanted(path, gobin::MIN_BINARY_BYTES).is_some()
}

/// The pattern-based part of [`wanted`] (everything but fixed paths).
fn wanted_by_pattern(path: &str, size: u64) -> Option<AnalyzerId> {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    if let Some(rest) = path.strip_prefix("var/lib/dpkg/status.d/") {
        return (!rest.is_empty() && !rest.contains('/') && !rest.ends_with(".md5sums"))
            .then_some(AnalyzerId::DpkgStatusD);
    }
    match file_name {
        "METADATA" if path.ends_with(".dist-info/METADATA") => return Some(AnalyzerId::PythonDist),
        "PKG-INFO" if path.ends_with(".egg-info/PKG-INFO") => return Some(AnalyzerId::PythonEgg),
        "package.json" if npm::is_installed_package_json(path) => return Some(AnalyzerId::Npm),
        // Lockfiles of downloaded crate sources (cargo's caches) describe no installed program.
        "Cargo.lock" if !path.contains(".cargo/registry/") && !path.contains(".cargo/git/") => {
            return Some(AnalyzerId::CargoLock)
        }
        "installed.json" if path.ends_with("vendor/composer/installed.json") => return Some(AnalyzerId::Composer),
        "go.mod" if gomod::is_source_file(path) => return Some(AnalyzerId::GoMod),
        "go.sum" if gomod::is_source_file(path) => return Some(AnalyzerId::GoSum),
        "packages.lock.json" => return Some(AnalyzerId::NuGetLock),
        "pom.xml" if pom::is_project_pom(path) => return Some(AnalyzerId::Pom),
        _ => {}
    }
    if file_name.ends_with(".deps.json") && file_name.len() > ".deps.json".len() {
        return Some(AnalyzerId::NuGetDeps);
    }
    if gradle::is_gradle_lockfile(path, file_name) {
        return Some(AnalyzerId::GradleLock);
    }
    if let Some(id) = lockfile(path, file_name) {
        return Some(id);
    }
    if file_name.ends_with(".egg-info") {
        return Some(AnalyzerId::PythonEgg);
    }
    if file_name.ends_with(".gemspec") && path.contains("specifications/") {
        let dir = &path[..path.len() - file_name.len()];
        if dir.ends_with("/specifications/") || dir == "specifications/" {
            return Some(AnalyzerId::RubyGemspec);
        }
    }
    if java::is_archive_name(file_name) {
        return Some(AnalyzerId::Java);
    }
    if gobin::is_candidate(path, file_name, size) {
        return Some(AnalyzerId::GoBinary);
    }
    None
}

/// The file whose presence in the merged filesystem makes the packages of the file at `path`
/// redundant: `dir/go.mod` for `dir/go.sum` (go.mod lists the build list since Go 1.17; go.sum
/// only stands in for it).
pub fn superseded_by(path: &str) -> Option<String> {
    gomod::superseded_by(path)
}

/// The lockfile analyzer (`package-lock.json`, `yarn.lock`, `poetry.lock`, `Gemfile.lock`, …,
/// not `Cargo.lock`) that reads the file at `path`, if any. The scanner uses it to let installed
/// packages win over a lockfile's (see `merge::prefer_installed`).
pub fn lockfile_analyzer(path: &str) -> Option<AnalyzerId> {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    lockfile(path, file_name)
}

/// The lockfile analyzer for `file_name`, unless `path` is a copy inside installed or bundled
/// packages (`node_modules/`, `site-packages/`, `dist-packages/`, installed gems, `vendor/`,
/// `third_party/`, `vendored/`) or documentation (`usr/share/`): those lock a dependency's own
/// development (a gem's editor plugin, a vendored library's docs build), not what the image
/// runs. npm's hidden `node_modules/.package-lock.json` repeats what the installed
/// `package.json` files say.
fn lockfile(path: &str, file_name: &str) -> Option<AnalyzerId> {
    let id = match file_name {
        "package-lock.json" | "npm-shrinkwrap.json" => AnalyzerId::NpmLock,
        "yarn.lock" => AnalyzerId::YarnLock,
        "pnpm-lock.yaml" => AnalyzerId::PnpmLock,
        "poetry.lock" => AnalyzerId::PoetryLock,
        "uv.lock" => AnalyzerId::UvLock,
        "Pipfile.lock" => AnalyzerId::PipfileLock,
        "Gemfile.lock" => AnalyzerId::GemfileLock,
        "composer.lock" => AnalyzerId::ComposerLock,
        _ if file_name.starts_with("requirements") && file_name.ends_with(".txt") => AnalyzerId::Requirements,
        _ => return None,
    };
    let dir = &path[..path.len() - file_name.len()];
    // `d` as a whole directory name somewhere in `dir` (no allocation).
    let in_dir = |d: &str| {
        dir.match_indices(d)
            .any(|(i, _)| i == 0 || dir.as_bytes()[i - 1] == b'/')
    };
    let copied = dir.contains("node_modules/")
        || dir.contains("site-packages/")
        || dir.contains("dist-packages/")
        || dir.starts_with("usr/share/")
        || ["gems/", "vendor/", "third_party/", "vendored/"]
            .iter()
            .any(|d| in_dir(d));
    (!copied).then_some(id)
}

/// Facts learned from one file.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum FileFacts {
    /// The file identifies the operating system.
    Os(OsInfo),
    /// The file lists installed packages. OS packages have an empty `ecosystem` until
    /// [`finish`] fills it; `layer` is always `None`.
    Packages(Vec<Package>),
    /// The file turned out to hold nothing of interest (e.g. a non-Go executable).
    Nothing,
}

/// The operating system of an image, as its release files describe it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct OsInfo {
    /// `ID` of os-release, lower case (`debian`, `ubuntu`, `alpine`, `rhel`, `rocky`, …).
    pub id: String,
    /// `VERSION_ID` (`12`, `22.04`, `3.19.1`), or the content of `debian_version` /
    /// `alpine-release`; empty when unknown (e.g. Debian testing).
    pub version_id: String,
    /// `VERSION_CODENAME` (`bookworm`, `jammy`), when given.
    pub version_codename: Option<String>,
    /// `PRETTY_NAME`, or a name made from id and version.
    pub pretty_name: String,
    /// `ID_LIKE`, split on spaces.
    pub id_like: Vec<String>,
    /// `VERSION` (`22.03 (LTS-SP1)`), when given.
    #[serde(default)]
    pub version: Option<String>,
    /// `CPE_NAME` (`cpe:/o:redhat:enterprise_linux:9::baseos`), when given.
    #[serde(default)]
    pub cpe_name: Option<String>,
}

/// Why a file could not be analyzed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// Reading the content failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// The content is longer than the analyzer reads.
    #[error("{path} is larger than the {limit}-byte limit of the {analyzer} analyzer")]
    TooLarge {
        /// The file.
        path: String,
        /// The analyzer's limit.
        limit: u64,
        /// The analyzer.
        analyzer: &'static str,
    },
    /// The content is not what the file should hold.
    #[error("{path}: malformed {analyzer} data: {problem}")]
    Malformed {
        /// The file.
        path: String,
        /// The analyzer.
        analyzer: &'static str,
        /// What is wrong, with a line number where there is one.
        problem: String,
    },
}

impl AnalyzeError {
    /// A [`AnalyzeError::Malformed`] for `path`.
    pub(crate) fn malformed(id: AnalyzerId, path: &str, problem: impl Into<String>) -> Self {
        AnalyzeError::Malformed {
            path: path.to_owned(),
            analyzer: id.name(),
            problem: problem.into(),
        }
    }

    /// A [`AnalyzeError::Io`] for `path`.
    pub(crate) fn io(path: &str, source: std::io::Error) -> Self {
        AnalyzeError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Analyze one file: `content` yields the file's bytes (at most the analyzer's `max_bytes`).
pub fn analyze(id: AnalyzerId, path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    match id {
        AnalyzerId::OsRelease => os::analyze_os_release(path, content),
        AnalyzerId::DebianVersion => os::analyze_debian_version(path, content),
        AnalyzerId::AlpineRelease => os::analyze_alpine_release(path, content),
        AnalyzerId::Dpkg => dpkg::analyze(id, path, content, true),
        AnalyzerId::DpkgStatusD => dpkg::analyze(id, path, content, false),
        AnalyzerId::Apk => apk::analyze(path, content),
        AnalyzerId::RpmSqlite => rpm::analyze(path, content),
        AnalyzerId::RpmBdb => rpm::analyze_bdb(path, content),
        AnalyzerId::RpmNdb => rpm::analyze_ndb(path, content),
        AnalyzerId::PythonDist | AnalyzerId::PythonEgg => python::analyze(id, path, content),
        AnalyzerId::Npm => npm::analyze(path, content),
        AnalyzerId::CargoLock => cargo::analyze(path, content),
        AnalyzerId::GoBinary => gobin::analyze(path, content),
        AnalyzerId::Java => java::analyze(path, content),
        AnalyzerId::RubyGemspec => ruby::analyze(path, content),
        AnalyzerId::Composer => composer::analyze(path, content),
        AnalyzerId::GoMod => gomod::analyze_go_mod(path, content),
        AnalyzerId::GoSum => gomod::analyze_go_sum(path, content),
        AnalyzerId::NuGetLock => nuget::analyze_lock(path, content),
        AnalyzerId::NuGetDeps => nuget::analyze_deps(path, content),
        AnalyzerId::GradleLock => gradle::analyze_gradle(path, content),
        AnalyzerId::Pom => pom::analyze_pom(path, content),
        AnalyzerId::NpmLock => jslock::analyze_package_lock(path, content),
        AnalyzerId::YarnLock => jslock::analyze_yarn_lock(path, content),
        AnalyzerId::PnpmLock => jslock::analyze_pnpm_lock(path, content),
        AnalyzerId::PoetryLock => pylock::analyze_poetry(path, content),
        AnalyzerId::UvLock => pylock::analyze_uv(path, content),
        AnalyzerId::PipfileLock => pylock::analyze_pipfile(path, content),
        AnalyzerId::Requirements => pylock::analyze_requirements(path, content),
        AnalyzerId::GemfileLock => gemlock::analyze(path, content),
        AnalyzerId::ComposerLock => composer::analyze_lock(path, content),
    }
}

/// Read all of `content`, failing with [`AnalyzeError::TooLarge`] past `id`'s `max_bytes`.
pub(crate) fn read_all(id: AnalyzerId, path: &str, content: &mut dyn Read) -> Result<Vec<u8>, AnalyzeError> {
    let limit = id.max_bytes();
    let mut buf = Vec::new();
    content
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| AnalyzeError::io(path, e))?;
    if buf.len() as u64 > limit {
        return Err(AnalyzeError::TooLarge {
            path: path.to_owned(),
            limit,
            analyzer: id.name(),
        });
    }
    Ok(buf)
}

/// Read all of `content` as UTF-8 text (invalid sequences replaced), bounded like [`read_all`].
pub(crate) fn read_text(id: AnalyzerId, path: &str, content: &mut dyn Read) -> Result<String, AnalyzeError> {
    let bytes = read_all(id, path, content)?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// A language package (ecosystem already known) declared by `path`.
pub(crate) fn package(ecosystem: &str, name: impl Into<String>, version: impl Into<String>, path: &str) -> Package {
    Package {
        ecosystem: ecosystem.to_owned(),
        name: name.into(),
        version: version.into(),
        source_name: None,
        source_version: None,
        path: path.to_owned(),
        layer: None,
        dev: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(path: &str, size: u64) -> Option<AnalyzerId> {
        wanted(path, size).map(|w| w.analyzer)
    }

    #[test]
    fn wanted_fixed_paths() {
        assert_eq!(id("etc/os-release", 300), Some(AnalyzerId::OsRelease));
        assert_eq!(id("usr/lib/os-release", 300), Some(AnalyzerId::OsRelease));
        assert_eq!(id("etc/debian_version", 5), Some(AnalyzerId::DebianVersion));
        assert_eq!(id("etc/alpine-release", 7), Some(AnalyzerId::AlpineRelease));
        assert_eq!(id("var/lib/dpkg/status", 1 << 20), Some(AnalyzerId::Dpkg));
        assert_eq!(id("var/lib/dpkg/status-old", 1 << 20), None);
        assert_eq!(id("lib/apk/db/installed", 1 << 20), Some(AnalyzerId::Apk));
        assert_eq!(id("var/lib/rpm/rpmdb.sqlite", 1 << 20), Some(AnalyzerId::RpmSqlite));
        assert_eq!(
            id("usr/lib/sysimage/rpm/rpmdb.sqlite", 1 << 20),
            Some(AnalyzerId::RpmSqlite)
        );
        for (path, want) in [
            ("var/lib/rpm/Packages", Some(AnalyzerId::RpmBdb)),
            ("usr/lib/sysimage/rpm/Packages", Some(AnalyzerId::RpmBdb)),
            ("var/lib/rpm/Packages.db", Some(AnalyzerId::RpmNdb)),
            ("usr/lib/sysimage/rpm/Packages.db", Some(AnalyzerId::RpmNdb)),
            ("var/lib/rpm/Name", None),
            ("var/lib/rpm/__db.001", None),
        ] {
            assert_eq!(id(path, 1 << 20), want, "{path}");
        }
        assert_eq!(AnalyzerId::RpmBdb.max_bytes(), 256 << 20);
        assert_eq!(id("etc/passwd", 900), None);
    }

    #[test]
    fn wanted_dpkg_status_d() {
        assert_eq!(id("var/lib/dpkg/status.d/libc6", 900), Some(AnalyzerId::DpkgStatusD));
        assert_eq!(
            id("var/lib/dpkg/status.d/base-files", 900),
            Some(AnalyzerId::DpkgStatusD)
        );
        assert_eq!(id("var/lib/dpkg/status.d/libc6.md5sums", 900), None);
        assert_eq!(id("var/lib/dpkg/status.d/sub/x", 900), None);
    }

    #[test]
    fn wanted_language_files() {
        let py = "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA";
        assert_eq!(id(py, 9000), Some(AnalyzerId::PythonDist));
        assert_eq!(id("usr/lib/python3/x/METADATA", 9000), None);
        let egg = "usr/lib/python3.11/site-packages/six-1.16.0-py3.11.egg-info/PKG-INFO";
        assert_eq!(id(egg, 900), Some(AnalyzerId::PythonEgg));
        assert_eq!(
            id("usr/lib/python2.7/dist-packages/foo-1.0.egg-info", 900),
            Some(AnalyzerId::PythonEgg)
        );
        assert_eq!(id("app/node_modules/express/package.json", 900), Some(AnalyzerId::Npm));
        assert_eq!(
            id("app/node_modules/@babel/core/package.json", 900),
            Some(AnalyzerId::Npm)
        );
        assert_eq!(
            id("app/node_modules/a/node_modules/b/package.json", 900),
            Some(AnalyzerId::Npm)
        );
        assert_eq!(id("app/node_modules/express/lib/package.json", 900), None);
        assert_eq!(id("app/package.json", 900), None);
        assert_eq!(id("src/app/Cargo.lock", 900), Some(AnalyzerId::CargoLock));
        assert_eq!(id("Cargo.lock", 900), Some(AnalyzerId::CargoLock));
        let cached = "root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/rand-0.8.5/Cargo.lock";
        assert_eq!(id(cached, 900), None);
        assert_eq!(id("srv/app.jar", 900), Some(AnalyzerId::Java));
        assert_eq!(id("opt/tomcat/webapps/ROOT.WAR", 900), Some(AnalyzerId::Java));
        let gem = "usr/local/bundle/specifications/rake-13.1.0.gemspec";
        assert_eq!(id(gem, 900), Some(AnalyzerId::RubyGemspec));
        assert_eq!(id("usr/local/bundle/gems/rake-13.1.0/rake.gemspec", 900), None);
        assert_eq!(
            id("var/www/vendor/composer/installed.json", 900),
            Some(AnalyzerId::Composer)
        );
    }

    #[test]
    fn wanted_go_dotnet_jvm_build_files() {
        for (path, want) in [
            ("src/app/go.mod", Some(AnalyzerId::GoMod)),
            ("go.sum", Some(AnalyzerId::GoSum)),
            ("root/go/pkg/mod/golang.org/x/net@v0.17.0/go.mod", None),
            ("usr/local/go/src/go.mod", None),
            ("src/app/testdata/go.mod", None),
            ("app/packages.lock.json", Some(AnalyzerId::NuGetLock)),
            ("app/WebApp.deps.json", Some(AnalyzerId::NuGetDeps)),
            (
                "usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.11/Microsoft.NETCore.App.deps.json",
                Some(AnalyzerId::NuGetDeps),
            ),
            ("app/.deps.json", None),
            ("src/gradle.lockfile", Some(AnalyzerId::GradleLock)),
            ("buildscript-gradle.lockfile", Some(AnalyzerId::GradleLock)),
            (
                "src/gradle/dependency-locks/compileClasspath.lockfile",
                Some(AnalyzerId::GradleLock),
            ),
            ("src/other/compileClasspath.lockfile", None),
            ("src/demo/pom.xml", Some(AnalyzerId::Pom)),
            ("root/.m2/repository/org/x/x/1/pom.xml", None),
            ("app/classes/META-INF/maven/org.x/x/pom.xml", None),
        ] {
            assert_eq!(id(path, 900), want, "{path}");
        }
    }

    #[test]
    fn wanted_lockfiles_but_not_copies_inside_installed_packages() {
        for (path, want) in [
            ("app/package-lock.json", Some(AnalyzerId::NpmLock)),
            ("npm-shrinkwrap.json", Some(AnalyzerId::NpmLock)),
            ("app/node_modules/.package-lock.json", None),
            ("app/node_modules/express/package-lock.json", None),
            ("srv/web/yarn.lock", Some(AnalyzerId::YarnLock)),
            ("srv/web/node_modules/x/yarn.lock", None),
            ("pnpm-lock.yaml", Some(AnalyzerId::PnpmLock)),
            ("app/poetry.lock", Some(AnalyzerId::PoetryLock)),
            ("app/uv.lock", Some(AnalyzerId::UvLock)),
            ("app/Pipfile.lock", Some(AnalyzerId::PipfileLock)),
            ("app/requirements.txt", Some(AnalyzerId::Requirements)),
            ("app/requirements-dev.txt", Some(AnalyzerId::Requirements)),
            ("app/requirements/base.txt", None),
            ("usr/lib/python3/site-packages/x/requirements.txt", None),
            ("usr/local/lib/python3.12/dist-packages/y/poetry.lock", None),
            ("app/Gemfile.lock", Some(AnalyzerId::GemfileLock)),
            ("usr/local/bundle/gems/rack-3.0.8/Gemfile.lock", None),
            ("usr/local/bundle/bundler/gems/x-0123/Gemfile.lock", None),
            ("var/www/composer.lock", Some(AnalyzerId::ComposerLock)),
            ("var/www/vendor/laravel/framework/composer.lock", None),
            ("var/www/myvendor/composer.lock", Some(AnalyzerId::ComposerLock)),
            (
                "usr/lib/ruby/gems/3.1.0/gems/typeprof-0.21.2/vscode/package-lock.json",
                None,
            ),
            (
                "usr/lib/google-cloud-sdk/platform/gsutil/third_party/rsa/Pipfile.lock",
                None,
            ),
            (
                "usr/lib/google-cloud-sdk/platform/gsutil/gslib/vendored/boto/requirements.txt",
                None,
            ),
            ("var/www/vendor/acme/lib/package-lock.json", None),
            ("usr/share/doc/python3-pip/requirements.txt", None),
            (
                "usr/lib/google-cloud-sdk/platform/google_appengine/demos/python/guestbook/requirements.txt",
                Some(AnalyzerId::Requirements),
            ),
        ] {
            assert_eq!(id(path, 5000), want, "{path}");
        }
        assert_eq!(lockfile_analyzer("app/yarn.lock"), Some(AnalyzerId::YarnLock));
        assert_eq!(lockfile_analyzer("app/Cargo.lock"), None);
    }

    #[test]
    fn wanted_go_binaries() {
        assert_eq!(id("usr/local/bin/kubectl", 50 << 20), Some(AnalyzerId::GoBinary));
        assert_eq!(id("usr/bin/tiny", 10), None);
        assert_eq!(id("manager", 30 << 20), Some(AnalyzerId::GoBinary));
        assert_eq!(id("usr/lib/x86_64-linux-gnu/libc.so.6", 2 << 20), None);
    }

    #[test]
    fn interested_ignores_size() {
        assert!(interested("usr/local/bin/kubectl"));
        assert!(wanted("usr/local/bin/kubectl", 0).is_none());
        assert!(interested("etc/os-release"));
        assert!(!interested("etc/hostname"));
    }

    #[test]
    fn max_bytes_reported_even_when_over() {
        let w = wanted("var/lib/dpkg/status", u64::MAX).unwrap();
        assert_eq!(w.max_bytes, AnalyzerId::Dpkg.max_bytes());
    }

    #[test]
    fn read_all_is_bounded() {
        let big = vec![b'a'; 70 * 1024];
        let err = read_all(AnalyzerId::OsRelease, "etc/os-release", &mut big.as_slice()).unwrap_err();
        assert!(matches!(err, AnalyzeError::TooLarge { .. }));
        assert!(err.to_string().contains("etc/os-release"), "{err}");
    }
}
