//! Precision suite: real-shaped bundles (`tests/fixtures/precision/<bundle>/`) whose every expected
//! finding is written down in the bundle's `EXPECTED` file. A finding that is not listed is a
//! false positive and fails the test, as does a listed finding that is missing.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/precision")
}

/// Every file under `dir`, as `(bundle path with a leading /, content)`.
fn bundle_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.file_name() != Some(std::ffi::OsStr::new("EXPECTED")) {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.push((format!("/{rel}"), std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

/// `ID<TAB>severity<TAB>location` lines of `EXPECTED`, comments and blank lines skipped.
fn expected(dir: &Path) -> BTreeSet<(String, String, String)> {
    std::fs::read_to_string(dir.join("EXPECTED"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut it = l.split('\t').map(str::trim);
            let id = it.next().unwrap().to_owned();
            let severity = it.next().unwrap_or_else(|| panic!("no severity in {l:?}")).to_owned();
            let location = it.next().unwrap_or("").to_owned();
            (id, severity, location)
        })
        .collect()
}

async fn check_bundle(name: &str) -> regscan_scanner_api::ScanOutput {
    let dir = fixtures().join(name);
    let files = bundle_files(&dir);
    let slices: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), c.as_slice())).collect();
    let out = Artifact::bundle(&slices).scan().await.unwrap();
    let got: BTreeSet<(String, String, String)> = out
        .findings
        .iter()
        .map(|f| {
            (
                f.id.clone(),
                f.severity.as_str().to_owned(),
                f.location.clone().unwrap_or_default(),
            )
        })
        .collect();
    let want = expected(&dir);
    let unexpected: Vec<_> = got.difference(&want).collect();
    let missing: Vec<_> = want.difference(&got).collect();
    assert!(
        unexpected.is_empty() && missing.is_empty(),
        "bundle {name}:\nfalse positives (not in EXPECTED): {unexpected:#?}\nmissing: {missing:#?}\nall findings: {:#?}",
        out.findings
    );
    out
}

fn rules_of<'a>(out: &'a regscan_scanner_api::ScanOutput, file: &str) -> Vec<&'a str> {
    let pkg = out.details["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["file"] == file)
        .unwrap_or_else(|| panic!("no package entry for {file}: {:#}", out.details["packages"]));
    pkg["rules"]
        .as_array()
        .unwrap_or_else(|| panic!("{file} was not parsed: {pkg:#}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn regal_style_bundle_has_no_false_findings() {
    let out = check_bundle("regal").await;
    let rules = rules_of(&out, "regal/ast/ast.rego");
    // Ref heads are reported whole, not cut at the bracket.
    assert!(rules.contains(&"comments[\"blocks\"]"), "{rules:?}");
    assert!(rules.contains(&"comments[\"metadata_attributes\"]"), "{rules:?}");
    assert!(rules.contains(&"comments.annotations"), "{rules:?}");
    assert_eq!(rules.iter().filter(|r| **r == "_is_name").count(), 3, "{rules:?}");
    assert!(rules_of(&out, "regal/rules/style/line_length.rego").contains(&"report"));
    assert!(rules_of(&out, "regal/util/util.rego").contains(&"infinity"));
}

#[tokio::test]
async fn trivy_style_bundle_has_no_false_findings() {
    let out = check_bundle("trivy").await;
    let pkg = out.details["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["file"] == "checks/kubernetes/run_as_root.rego")
        .unwrap();
    // The import after the rules is still an import (and `result.new` is not a built-in).
    let imports: Vec<&str> = pkg["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert!(imports.contains(&"data.lib.result"), "{imports:?}");
    assert_eq!(pkg["parse_workarounds"][0]["kind"], "late_import");
    assert_eq!(pkg["parse_workarounds"][0]["line"], 40);
}

#[tokio::test]
async fn gatekeeper_style_bundle_has_no_false_findings() {
    let out = check_bundle("gatekeeper").await;
    let rules = rules_of(&out, "library/general/noupdateserviceaccount/src.rego");
    // One definition per body, as OPA reads `violation[…] { … } { … }`.
    assert_eq!(rules.iter().filter(|r| **r == "violation").count(), 2, "{rules:?}");
}

#[tokio::test]
async fn conftest_style_bundle_has_only_its_real_finding() {
    check_bundle("conftest").await;
}

#[tokio::test]
async fn broken_bundle_tells_syntax_errors_from_unparsed() {
    let out = check_bundle("broken").await;
    let syntax = out
        .findings
        .iter()
        .find(|f| f.location.as_deref() == Some("policies/unbalanced.rego:6"))
        .unwrap();
    assert!(
        syntax.title.contains("`{` opened at line 3 is never closed"),
        "{}",
        syntax.title
    );
    let pkgs = out.details["packages"].as_array().unwrap();
    let unparsed = pkgs.iter().find(|p| p["file"] == "policies/unknown.rego").unwrap();
    assert!(unparsed["unparsed"].is_string(), "{unparsed:#}");
    let f = out.findings.iter().find(|f| f.id == "OPA-REGO-UNPARSED").unwrap();
    assert_eq!(f.package.as_deref(), Some("data.policies.unknown"));
    assert!(f.title.contains("OPA may accept it"), "{}", f.title);
}
