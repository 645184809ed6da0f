//! Tests of the JavaScript lockfile parsers on lockfiles written by the real tools (npm 11,
//! yarn 1.22 and 4.5, pnpm 7, 8 and 9) for one project (`testdata/lockfiles/js/package.json`),
//! against npm's own view of it (`npm query '*' --package-lock-only`, committed as
//! `npm-query.txt` and re-run here when npm is installed).

use std::collections::BTreeSet;

use super::*;
use crate::analyzers::test_support::{lockfile_dir, lockfile_fixture, packages_of};

type Set = BTreeSet<(String, String, bool)>;

fn dir() -> std::path::PathBuf {
    lockfile_dir("js")
}

fn fixture(name: &str) -> Vec<u8> {
    lockfile_fixture("js", name)
}

fn run(id: AnalyzerId, path: &str, content: &[u8]) -> Result<Vec<Package>, AnalyzeError> {
    packages_of(id, path, content)
}

fn set(packages: &[Package]) -> Set {
    packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone(), p.dev))
        .collect()
}

/// `name@version[ dev]` lines (npm-query.txt) into a set.
fn parse_truth(text: &str) -> Set {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (spec, dev) = l.strip_suffix(" dev").map_or((l, false), |s| (s, true));
            let (name, version) = split_at_name(spec).unwrap();
            (name.to_owned(), version.to_owned(), dev)
        })
        .collect()
}

fn truth() -> Set {
    parse_truth(&String::from_utf8(fixture("npm-query.txt")).unwrap())
}

fn without_dev(s: &Set) -> Set {
    s.iter().map(|(n, v, _)| (n.clone(), v.clone(), false)).collect()
}

#[test]
fn committed_ground_truth_is_what_npm_says_of_each_lockfile_version() {
    let Ok(out) = std::process::Command::new("npm").arg("--version").output() else {
        eprintln!("SKIPPED: npm is not installed; only the committed npm-query.txt is used");
        return;
    };
    assert!(out.status.success());
    for v in 1..=3 {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::copy(dir().join("package.json"), tmp.path().join("package.json")).unwrap();
        std::fs::copy(
            dir().join(format!("package-lock.v{v}.json")),
            tmp.path().join("package-lock.json"),
        )
        .unwrap();
        let out = std::process::Command::new("npm")
            .args(["query", "*", "--package-lock-only", "--offline"])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let nodes: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        let npm: Set = nodes
            .iter()
            .filter(|n| n["location"].as_str().is_some_and(|l| !l.is_empty()))
            .map(|n| {
                let (name, version) = split_at_name(n["_id"].as_str().unwrap()).unwrap();
                (name.to_owned(), version.to_owned(), n["dev"].as_bool().unwrap())
            })
            .collect();
        assert_eq!(npm, truth(), "npm query on lockfile v{v}");
    }
}

#[test]
fn package_lock_v1_v2_v3_match_npm() {
    let truth = truth();
    assert_eq!(truth.len(), 81);
    for v in 1..=3 {
        let got = run(
            AnalyzerId::NpmLock,
            "app/package-lock.json",
            &fixture(&format!("package-lock.v{v}.json")),
        )
        .unwrap();
        assert_eq!(set(&got), truth, "lockfile v{v}");
        // `"lp": "npm:left-pad@1.3.0"` is reported under its real name.
        assert!(got.iter().any(|p| p.name == "left-pad" && !p.dev));
        let is = got.iter().find(|p| p.name == "@sindresorhus/is").unwrap();
        assert_eq!(is.purl(), "pkg:npm/%40sindresorhus/is@4.6.0");
        assert_eq!(is.path, "app/package-lock.json");
        assert_eq!(is.ecosystem, "npm");
    }
}

#[test]
fn pnpm_v5_v6_v9_match_npm_including_dev() {
    for v in [5, 6, 9] {
        let got = run(
            AnalyzerId::PnpmLock,
            "pnpm-lock.yaml",
            &fixture(&format!("pnpm-lock.v{v}.yaml")),
        )
        .unwrap();
        assert_eq!(set(&got), truth(), "pnpm lockfile v{v}");
    }
}

#[test]
fn yarn_classic_and_berry_match_npm_without_dev() {
    for name in ["yarn-classic.lock", "yarn-berry.lock"] {
        let got = run(AnalyzerId::YarnLock, "yarn.lock", &fixture(name)).unwrap();
        assert_eq!(set(&got), without_dev(&truth()), "{name}");
    }
}

#[test]
fn package_lock_skips_links_git_files_and_the_root_and_keeps_dev_optional() {
    let lock = br#"{
      "name": "app", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
      "packages": {
        "": {"name": "app", "version": "1.0.0"},
        "packages/lib": {"name": "@app/lib", "version": "0.1.0"},
        "node_modules/@app/lib": {"resolved": "packages/lib", "link": true},
        "node_modules/from-git": {"version": "1.0.0", "resolved": "git+ssh://git@github.com/a/b.git#0123abc"},
        "node_modules/local": {"version": "2.0.0", "resolved": "file:../local"},
        "node_modules/fsevents": {"version": "2.3.3", "resolved": "https://registry.npmjs.org/fsevents/-/fsevents-2.3.3.tgz", "devOptional": true, "optional": true},
        "node_modules/a/node_modules/b": {"version": "3.0.0", "resolved": "https://registry.npmjs.org/b/-/b-3.0.0.tgz", "dev": true},
        "node_modules/b": {"version": "3.0.0", "resolved": "https://registry.npmjs.org/b/-/b-3.0.0.tgz"},
        "node_modules/bad": {"version": "latest"}
      }
    }"#;
    let got = set(&run(AnalyzerId::NpmLock, "package-lock.json", lock).unwrap());
    let want: Set = [("b", "3.0.0", false), ("fsevents", "2.3.3", false)]
        .into_iter()
        .map(|(n, v, d)| (n.into(), v.into(), d))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn yarn_skips_other_protocols_and_patches() {
    let classic = b"# yarn lockfile v1\n\n\
\"a@^1.0.0\", a@^1.1.0:\n  version \"1.2.0\"\n  resolved \"https://registry.yarnpkg.com/a/-/a-1.2.0.tgz#x\"\n\n\
b@github:user/b:\n  version \"0.0.1\"\n\n\
c@file:../c:\n  version \"1.0.0\"\n\n\
lp@npm:left-pad@1.3.0:\n  version \"1.3.0\"\n";
    let got = set(&run(AnalyzerId::YarnLock, "yarn.lock", classic).unwrap());
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.contains(&("left-pad".into(), "1.3.0".into(), false)));
    let berry = b"__metadata:\n  version: 8\n\n\
\"resolve@npm:^1.22.1\":\n  version: 1.22.8\n  resolution: \"resolve@npm:1.22.8\"\n\n\
\"resolve@patch:resolve@npm%3A^1.22.1#optional!builtin<compat/resolve>\":\n  version: 1.22.8\n  resolution: \"resolve@patch:resolve@npm%3A1.22.8#optional!builtin<compat/resolve>::version=1.22.8&hash=c3c19d\"\n\n\
\"old@patch:old@npm:1.0.0#./p.patch\":\n  resolution: \"old@patch:old@npm:1.0.0#./p.patch\"\n\n\
\"app@workspace:.\":\n  version: 0.0.0-use.local\n  resolution: \"app@workspace:.\"\n";
    let got = set(&run(AnalyzerId::YarnLock, "yarn.lock", berry).unwrap());
    assert_eq!(got, [("resolve".to_owned(), "1.22.8".to_owned(), false)].into());
}

#[test]
fn pnpm_before_v9_skips_non_registry_keys() {
    let lock = b"lockfileVersion: 5.4\n\npackages:\n\n  /a/1.0.0_b@2.0.0:\n    resolution: {integrity: x}\n    dev: false\n\n  /@s/c/2.0.0:\n    resolution: {integrity: x}\n    dev: true\n\n  github.com/u/r/0123abc:\n    resolution: {tarball: https://codeload.github.com/u/r/tar.gz/0123abc}\n    name: r\n    version: 1.0.0\n";
    let got = set(&run(AnalyzerId::PnpmLock, "pnpm-lock.yaml", lock).unwrap());
    let want: Set = [("@s/c", "2.0.0", true), ("a", "1.0.0", false)]
        .into_iter()
        .map(|(n, v, d)| (n.into(), v.into(), d))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn hostile_inputs_fail_or_stay_bounded() {
    // A v1 tree nested far deeper than serde_json's recursion limit.
    let mut deep = String::from(r#"{"lockfileVersion": 1, "dependencies": "#);
    for _ in 0..5000 {
        deep.push_str(r#"{"a": {"version": "1.0.0", "dependencies": "#);
    }
    deep.push_str("{}");
    let err = run(AnalyzerId::NpmLock, "package-lock.json", deep.as_bytes()).unwrap_err();
    assert!(matches!(err, AnalyzeError::Malformed { .. }), "{err}");
    // Truncated real lockfiles: JSON fails, line-based formats keep what they read.
    let v3 = fixture("package-lock.v3.json");
    let err = run(AnalyzerId::NpmLock, "package-lock.json", &v3[..v3.len() / 2]).unwrap_err();
    assert!(err.to_string().contains("package-lock.json"), "{err}");
    for (id, name) in [
        (AnalyzerId::YarnLock, "yarn-classic.lock"),
        (AnalyzerId::YarnLock, "yarn-berry.lock"),
        (AnalyzerId::PnpmLock, "pnpm-lock.v9.yaml"),
    ] {
        let f = fixture(name);
        let got = run(id, name, &f[..f.len() / 2]).unwrap();
        assert!(got.len() < truth().len(), "{name}");
    }
    // A 20 MB name and a 20 MB line without structure.
    let huge = "x".repeat(20 << 20);
    let lock = format!(r#"{{"lockfileVersion": 3, "packages": {{"node_modules/{huge}": {{"version": "1.0.0"}}}}}}"#);
    assert_eq!(run(AnalyzerId::NpmLock, "p", lock.as_bytes()).unwrap().len(), 1);
    assert!(run(AnalyzerId::YarnLock, "y", huge.as_bytes()).is_err());
    assert!(run(AnalyzerId::PnpmLock, "p", huge.as_bytes()).is_err());
    // Over the size limit: refused before parsing.
    let big = vec![b' '; (AnalyzerId::NpmLock.max_bytes() + 1) as usize];
    let err = run(AnalyzerId::NpmLock, "p", &big).unwrap_err();
    assert!(matches!(err, AnalyzeError::TooLarge { .. }));
    // Not a lockfile at all.
    assert!(run(AnalyzerId::NpmLock, "p", b"[1,2]").is_err());
    assert!(run(AnalyzerId::NpmLock, "p", b"{}").is_err());
    assert!(run(AnalyzerId::PnpmLock, "p", b"lockfileVersion: x\n").is_err());
}

#[test]
fn platform_packages_for_other_operating_systems_are_not_in_a_linux_image() {
    assert!(installs_on_linux([]));
    assert!(installs_on_linux(["linux"]));
    assert!(installs_on_linux(["darwin", "linux"]));
    assert!(!installs_on_linux(["darwin"]));
    assert!(!installs_on_linux(["win32"]));
    assert!(installs_on_linux(["!win32"]));
    assert!(!installs_on_linux(["!linux"]));
    // npm 10 shape (esbuild's platform packages).
    let npm = br#"{"lockfileVersion": 3, "packages": {
        "node_modules/esbuild": {"version": "0.19.12", "resolved": "https://registry.npmjs.org/esbuild/-/esbuild-0.19.12.tgz", "hasInstallScript": true},
        "node_modules/@esbuild/darwin-arm64": {"version": "0.19.12", "resolved": "https://registry.npmjs.org/@esbuild/darwin-arm64/-/darwin-arm64-0.19.12.tgz", "cpu": ["arm64"], "optional": true, "os": ["darwin"]},
        "node_modules/@esbuild/linux-x64": {"version": "0.19.12", "resolved": "https://registry.npmjs.org/@esbuild/linux-x64/-/linux-x64-0.19.12.tgz", "cpu": ["x64"], "optional": true, "os": ["linux"]},
        "node_modules/@esbuild/win32-x64": {"version": "0.19.12", "resolved": "https://registry.npmjs.org/@esbuild/win32-x64/-/win32-x64-0.19.12.tgz", "cpu": ["x64"], "optional": true, "os": ["win32"]}
    }}"#;
    let names = |p: Vec<Package>| p.into_iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(
        names(run(AnalyzerId::NpmLock, "package-lock.json", npm).unwrap()),
        ["@esbuild/linux-x64", "esbuild"]
    );
    // pnpm 9 shape.
    let pnpm = b"lockfileVersion: '9.0'\n\nimporters:\n\n  .:\n    dependencies:\n      esbuild:\n        specifier: ^0.19.0\n        version: 0.19.12\n\npackages:\n\n  '@esbuild/darwin-arm64@0.19.12':\n    resolution: {integrity: sha512-x}\n    engines: {node: '>=12'}\n    cpu: [arm64]\n    os: [darwin]\n\n  '@esbuild/linux-x64@0.19.12':\n    resolution: {integrity: sha512-y}\n    engines: {node: '>=12'}\n    cpu: [x64]\n    os: [linux]\n\n  esbuild@0.19.12:\n    resolution: {integrity: sha512-z}\n    hasBin: true\n\nsnapshots:\n\n  '@esbuild/darwin-arm64@0.19.12':\n    optional: true\n\n  '@esbuild/linux-x64@0.19.12':\n    optional: true\n\n  esbuild@0.19.12:\n    optionalDependencies:\n      '@esbuild/darwin-arm64': 0.19.12\n      '@esbuild/linux-x64': 0.19.12\n";
    let got = set(&run(AnalyzerId::PnpmLock, "pnpm-lock.yaml", pnpm).unwrap());
    let want: Set = [("@esbuild/linux-x64", "0.19.12", false), ("esbuild", "0.19.12", false)]
        .into_iter()
        .map(|(n, v, d)| (n.into(), v.into(), d))
        .collect();
    assert_eq!(got, want);
    // yarn 4 shape.
    let berry = b"__metadata:\n  version: 8\n  cacheKey: 10c0\n\n\"@esbuild/darwin-arm64@npm:0.19.12\":\n  version: 0.19.12\n  resolution: \"@esbuild/darwin-arm64@npm:0.19.12\"\n  conditions: os=darwin & cpu=arm64\n  languageName: node\n  linkType: hard\n\n\"@esbuild/linux-x64@npm:0.19.12\":\n  version: 0.19.12\n  resolution: \"@esbuild/linux-x64@npm:0.19.12\"\n  conditions: os=linux & cpu=x64\n  languageName: node\n  linkType: hard\n\n\"esbuild@npm:^0.19.0\":\n  version: 0.19.12\n  resolution: \"esbuild@npm:0.19.12\"\n  languageName: node\n  linkType: hard\n";
    assert_eq!(
        names(run(AnalyzerId::YarnLock, "yarn.lock", berry).unwrap()),
        ["@esbuild/linux-x64", "esbuild"]
    );
}
