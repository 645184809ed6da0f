//! Helpers shared by the analyzers' unit tests.

use std::path::PathBuf;

use regscan_scanner_api::Package;

use super::{analyze, AnalyzeError, AnalyzerId, FileFacts};

/// `testdata/lockfiles/{family}`.
pub(crate) fn lockfile_dir(family: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/analyzers/testdata/lockfiles")
        .join(family)
}

/// The bytes of `testdata/lockfiles/{family}/{name}`.
pub(crate) fn lockfile_fixture(family: &str, name: &str) -> Vec<u8> {
    let path = lockfile_dir(family).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The packages analyzer `id` finds in `content` at `path` (panics on other facts).
pub(crate) fn packages_of(id: AnalyzerId, path: &str, content: &[u8]) -> Result<Vec<Package>, AnalyzeError> {
    match analyze(id, path, &mut &content[..])? {
        FileFacts::Packages(p) => Ok(p),
        other => panic!("unexpected {other:?}"),
    }
}

/// (name, version, dev) of Maven packages (panics on other facts or another ecosystem).
pub(crate) fn maven_triples(facts: FileFacts) -> Vec<(String, String, bool)> {
    let FileFacts::Packages(p) = facts else {
        panic!("{facts:?}")
    };
    assert!(p.iter().all(|p| p.ecosystem == "Maven"));
    p.into_iter().map(|p| (p.name, p.version, p.dev)).collect()
}

/// Owned (name, version, dev) triples.
pub(crate) fn triples(v: &[(&str, &str, bool)]) -> Vec<(String, String, bool)> {
    v.iter()
        .map(|(a, b, d)| ((*a).to_owned(), (*b).to_owned(), *d))
        .collect()
}
