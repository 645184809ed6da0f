//! Test helpers: charts built in memory as `.tgz` archives, an in-memory blob source, and
//! shortcuts to render or scan them.
#![allow(dead_code)]

use std::io::Write;

use flate2::write::GzEncoder;
use regscan_scanner_api::Finding;
use regscan_scanner_helm::render::{render, RenderOptions, TemplateOutcome};
use regscan_scanner_helm::tmpl::ExecLimits;
use regscan_scanner_helm::{HelmConfig, HelmScanner};

/// Build a gzip tar holding `files` (path, contents) as regular files.
pub fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
    let raw: Vec<(&str, Vec<u8>)> = files.iter().map(|(p, c)| (*p, c.as_bytes().to_vec())).collect();
    tgz_bytes(&raw)
}

/// Build a gzip tar from byte contents.
pub fn tgz_bytes(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append_data(&mut h, path, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// A chart named `name` with `values` and templates (paths relative to the chart).
pub fn chart(name: &str, chart_yaml_extra: &str, values: &str, templates: &[(&str, &str)]) -> Vec<u8> {
    let chart_yaml = format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\nappVersion: \"1.0\"\n{chart_yaml_extra}");
    let mut files: Vec<(String, String)> = vec![
        (format!("{name}/Chart.yaml"), chart_yaml),
        (format!("{name}/values.yaml"), values.to_owned()),
    ];
    for (p, c) in templates {
        files.push((format!("{name}/{p}"), (*c).to_owned()));
    }
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    tgz(&refs)
}

/// Default render options (what `helm template` uses).
pub fn opts() -> RenderOptions {
    RenderOptions {
        release_name: "release-name".into(),
        namespace: "default".into(),
        kube_version: "1.31.0".into(),
        extra_api_versions: vec![],
        limits: ExecLimits::default(),
        max_total_steps: 20_000_000,
        max_total_output_bytes: 64 << 20,
    }
}

/// Render a chart archive.
pub fn render_tgz(bytes: &[u8]) -> Vec<TemplateOutcome> {
    let mut budget = regscan_scanner_helm::archive::Budget::new(regscan_scanner_helm::archive::ArchiveLimits {
        max_total_bytes: 1 << 24,
        max_file_bytes: 1 << 22,
        max_entries: 1000,
    });
    let c = regscan_scanner_helm::chart::load_tgz(bytes, &mut budget, 5).expect("chart loads");
    let o = opts();
    regscan_scanner_helm::tmpl::with_big_stack(|| render(&c, &o)).unwrap()
}

/// Render a one-template chart and return that template's text (panics on a render error).
pub fn render_text(values: &str, template: &str) -> String {
    let out = render_tgz(&chart("demo", "", values, &[("templates/t.yaml", template)]));
    let t = out
        .iter()
        .find(|o| o.location == "templates/t.yaml")
        .expect("template rendered");
    if let Err(e) = &t.result {
        // A YAML error is fine for text tests; an execution error is not.
        if t.rendered.is_empty() {
            panic!("render failed: {e}");
        }
    }
    t.rendered.clone()
}

/// Render a one-template chart and return the error.
pub fn render_err(values: &str, template: &str) -> String {
    let out = render_tgz(&chart("demo", "", values, &[("templates/t.yaml", template)]));
    let t = out
        .iter()
        .find(|o| o.location == "templates/t.yaml")
        .expect("template rendered");
    t.result.clone().expect_err("render should fail")
}

/// Scan a chart archive with the default configuration.
pub fn scan(bytes: &[u8]) -> regscan_scanner_api::ScanOutput {
    HelmScanner::new(HelmConfig::default())
        .scan_chart(bytes, None)
        .expect("scan succeeds")
}

/// Ids of findings about `object` (`Deployment/web`).
pub fn ids_for(findings: &[Finding], object: &str) -> Vec<String> {
    let mut v: Vec<String> = findings
        .iter()
        .filter(|f| f.package.as_deref() == Some(object))
        .map(|f| f.id.clone())
        .collect();
    v.sort();
    v
}

/// All finding ids.
pub fn ids(findings: &[Finding]) -> Vec<String> {
    let mut v: Vec<String> = findings.iter().map(|f| f.id.clone()).collect();
    v.sort();
    v.dedup();
    v
}

#[allow(unused_imports)] // not every test binary uses both
pub use regscan_scanner_api::testing::{MemBlobs, NoCache};

/// Write helper used by archive tests.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The files of a fixture chart directory under `tests/fixtures/`, as archive entries.
pub fn fixture_files(name: &str) -> Vec<(String, String)> {
    fn walk(dir: &std::path::Path, prefix: &str, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            let file = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                walk(&p, &format!("{prefix}{file}/"), out);
            } else {
                out.push((format!("{prefix}{file}"), std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let mut out = Vec::new();
    walk(&root, &format!("{name}/"), &mut out);
    out
}

/// A fixture chart as a `.tgz`, with `edit` applied to each file's text.
pub fn fixture_tgz(name: &str, edit: impl Fn(&str, String) -> String) -> Vec<u8> {
    let files: Vec<(String, String)> = fixture_files(name)
        .into_iter()
        .map(|(p, c)| {
            let c = edit(&p, c);
            (p, c)
        })
        .collect();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    tgz(&refs)
}

/// An expected rendering under `tests/fixtures/expected/`.
pub fn expected(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/expected")
            .join(name),
    )
    .unwrap()
}
