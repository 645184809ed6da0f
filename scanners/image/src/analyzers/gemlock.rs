//! Ruby dependencies from `Gemfile.lock`: the specs of its `GEM` sections (gems from a gem
//! server), one per line at four spaces, `name (version)` or `name (version-platform)`; the
//! platform (`-x86_64-linux`, `-java`, `-arm64-darwin`) is removed, as RubyGems versions hold no
//! `-`. `GIT` and `PATH` sections are skipped (no published version). The lockfile records no
//! Bundler groups, so no gem is marked dev.

use std::collections::BTreeSet;
use std::io::Read;

use super::{package, read_text, AnalyzeError, AnalyzerId, FileFacts};

/// Parse `Gemfile.lock`.
pub(crate) fn analyze(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::GemfileLock;
    let text = read_text(id, path, content)?;
    let mut in_gem = false;
    let mut in_specs = false;
    let mut found: BTreeSet<(String, String)> = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            in_gem = line == "GEM";
            in_specs = false;
            continue;
        }
        if !in_gem {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent == 2 {
            in_specs = line.trim() == "specs:";
            continue;
        }
        if indent != 4 || !in_specs {
            continue;
        }
        let spec = line.trim();
        let Some((name, rest)) = spec.split_once(" (") else {
            return Err(AnalyzeError::malformed(id, path, format!("line {}: expected `name (version)`", n + 1)));
        };
        let Some(version) = rest.strip_suffix(')') else {
            return Err(AnalyzeError::malformed(id, path, format!("line {}: unclosed version", n + 1)));
        };
        let version = version.split('-').next().unwrap_or(version);
        if name.is_empty() || !version.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(AnalyzeError::malformed(id, path, format!("line {}: bad spec `{spec}`", n + 1)));
        }
        found.insert((name.to_owned(), version.to_owned()));
    }
    let packages = found
        .into_iter()
        .map(|(name, version)| package("RubyGems", name, version, path))
        .collect();
    Ok(FileFacts::Packages(packages))
}
