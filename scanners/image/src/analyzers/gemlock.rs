//! Ruby dependencies from `Gemfile.lock`: the specs of its `GEM` sections (gems from a gem
//! server), one per line at four spaces, `name (version)` or `name (version-platform)`; the
//! platform (`-x86_64-linux`, `-java`, `-arm64-darwin`) is removed, as RubyGems versions hold no
//! `-`. `GIT` and `PATH` sections are skipped (no published version). The lockfile records no
//! Bundler groups, so no gem is marked dev.

use std::io::Read;

use super::{package, read_text, AnalyzeError, AnalyzerId, FileFacts};

/// Parse `Gemfile.lock`.
pub(crate) fn analyze(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::GemfileLock;
    let text = read_text(id, path, content)?;
    let mut in_gem = false;
    let mut in_specs = false;
    let mut found: Vec<(&str, &str)> = Vec::new();
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
        // Specs at four spaces; their own dependencies (six) are skipped.
        if line.starts_with("      ") {
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
            return Err(AnalyzeError::malformed(
                id,
                path,
                format!("line {}: expected `name (version)`", n + 1),
            ));
        };
        let Some(version) = rest.strip_suffix(')') else {
            return Err(AnalyzeError::malformed(
                id,
                path,
                format!("line {}: unclosed version", n + 1),
            ));
        };
        let version = version.split('-').next().unwrap_or(version);
        if name.is_empty() || !version.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(AnalyzeError::malformed(
                id,
                path,
                format!("line {}: bad spec `{spec}`", n + 1),
            ));
        }
        found.push((name, version));
    }
    found.sort_unstable();
    found.dedup();
    let packages = found
        .into_iter()
        .map(|(name, version)| package("RubyGems", name, version, path))
        .collect();
    Ok(FileFacts::Packages(packages))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use super::*;
    use crate::analyzers::AnalyzeError;
    use regscan_scanner_api::Package;

    fn fixture() -> (PathBuf, Vec<u8>) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/analyzers/testdata/lockfiles/rb/Gemfile.lock");
        let bytes = std::fs::read(&path).unwrap();
        (path, bytes)
    }

    fn run(content: &[u8]) -> Result<Vec<Package>, AnalyzeError> {
        match analyze("app/Gemfile.lock", &mut &content[..])? {
            FileFacts::Packages(p) => Ok(p),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn names(p: &[Package]) -> BTreeSet<String> {
        p.iter().map(|p| format!("{} {}", p.name, p.version)).collect()
    }

    const WANT: &[&str] = &[
        "concurrent-ruby 1.2.2",
        "crass 1.0.6",
        "diff-lcs 1.5.0",
        "loofah 2.21.4",
        "mini_portile2 2.8.5",
        "nokogiri 1.15.4",
        "racc 1.7.3",
        "rack 3.0.8",
        "rspec 3.12.0",
        "rspec-core 3.12.2",
        "rspec-expectations 3.12.3",
        "rspec-mocks 3.12.6",
        "rspec-support 3.12.1",
        "sqlite3 1.6.9",
        "tzinfo 2.0.6",
    ];

    #[test]
    fn gem_specs_once_per_version_without_git_path_or_platform() {
        let got = run(&fixture().1).unwrap();
        assert_eq!(names(&got), WANT.iter().map(|s| (*s).to_owned()).collect());
        assert!(got
            .iter()
            .all(|p| p.ecosystem == "RubyGems" && !p.dev && p.path == "app/Gemfile.lock"));
        let rack = got.iter().find(|p| p.name == "rack").unwrap();
        assert_eq!(rack.purl(), "pkg:gem/rack@3.0.8");
    }

    #[test]
    fn matches_bundlers_own_lockfile_parser() {
        let script = r##"l = Bundler::LockfileParser.new(File.read("Gemfile.lock"))
l.specs.each { |s| puts "#{s.name} #{s.version}" if s.source.is_a?(Bundler::Source::Rubygems) }"##;
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("Gemfile"), "").unwrap();
        std::fs::copy(fixture().0, tmp.path().join("Gemfile.lock")).unwrap();
        let Ok(out) = std::process::Command::new("ruby")
            .args(["-rbundler", "-e", script])
            .current_dir(tmp.path())
            .output()
        else {
            eprintln!("SKIPPED: ruby is not installed (apt-get install ruby-bundler)");
            return;
        };
        if !out.status.success() {
            eprintln!("SKIPPED: bundler failed: {}", String::from_utf8_lossy(&out.stderr));
            return;
        }
        let bundler: BTreeSet<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(names(&run(&fixture().1).unwrap()), bundler);
    }

    #[test]
    fn hostile_inputs_fail_or_stay_bounded() {
        assert!(run(b"GEM\n  remote: x\n  specs:\n    broken\n").is_err());
        assert!(run(b"GEM\n  specs:\n    a (1.0\n").is_err());
        assert!(run(b"GEM\n  specs:\n    a (latest)\n").is_err());
        let f = fixture().1;
        let cut = run(&f[..f.len() / 2]).unwrap();
        assert!(cut.len() < WANT.len());
        let huge = format!("GEM\n  specs:\n    {} (1.0)\n", "a".repeat(12 << 20));
        assert_eq!(run(huge.as_bytes()).unwrap().len(), 1);
        let junk: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        assert!(run(&junk).unwrap().is_empty());
    }
}
