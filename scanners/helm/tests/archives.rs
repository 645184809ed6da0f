//! Malicious and malformed archives: each fails the scan with a clear reason, and none is
//! written anywhere.

mod common;

use common::{gzip, tgz, tgz_bytes};
use regscan_scanner_api::ScanError;
use regscan_scanner_helm::{HelmConfig, HelmScanner};

fn scan_err(bytes: &[u8], cfg: HelmConfig) -> ScanError {
    HelmScanner::new(cfg)
        .scan_chart(bytes, None)
        .expect_err("scan must fail")
}

/// A tar with one entry of the given type and raw name (bypassing the builder's path checks).
fn raw_entry(name: &str, ty: tar::EntryType, link: Option<&str>, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut ok = tar::Header::new_gnu();
    ok.set_size(24);
    ok.set_entry_type(tar::EntryType::Regular);
    ok.set_mode(0o644);
    ok.set_cksum();
    b.append_data(&mut ok, "demo/Chart.yaml", &b"name: demo\nversion: 1.0\n"[..])
        .unwrap();
    let mut h = tar::Header::new_gnu();
    {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    }
    h.set_size(data.len() as u64);
    h.set_entry_type(ty);
    h.set_mode(0o644);
    if let Some(l) = link {
        h.set_link_name(l).unwrap();
    }
    h.set_cksum();
    b.append(&h, data).unwrap();
    gzip(&b.into_inner().unwrap())
}

#[test]
fn path_traversal_is_refused() {
    for name in ["demo/../../etc/passwd", "/etc/passwd"] {
        let e = scan_err(
            &raw_entry(name, tar::EntryType::Regular, None, b"x"),
            HelmConfig::default(),
        );
        assert!(matches!(e, ScanError::Invalid(_)), "{e}");
        assert!(e.to_string().contains("escapes the chart directory"), "{e}");
    }
}

#[test]
fn links_are_refused() {
    let e = scan_err(
        &raw_entry(
            "demo/templates/x.yaml",
            tar::EntryType::Symlink,
            Some("/etc/passwd"),
            b"",
        ),
        HelmConfig::default(),
    );
    assert!(e.to_string().contains("symbolic link"), "{e}");
    let e = scan_err(
        &raw_entry(
            "demo/templates/y.yaml",
            tar::EntryType::Link,
            Some("demo/Chart.yaml"),
            b"",
        ),
        HelmConfig::default(),
    );
    assert!(e.to_string().contains("hard link"), "{e}");
}

#[test]
fn huge_files_and_bombs_are_refused() {
    // 4 MiB of zeros compresses to a few KiB.
    let big = vec![0u8; 4 << 20];
    let bytes = tgz_bytes(&[
        ("demo/Chart.yaml", b"name: demo\nversion: 1.0.0\n".to_vec()),
        ("demo/files/big.bin", big),
    ]);
    assert!(bytes.len() < 64 << 10);
    let cfg = HelmConfig {
        max_file_bytes: 1 << 20,
        ..HelmConfig::default()
    };
    let e = scan_err(&bytes, cfg);
    assert!(matches!(e, ScanError::Limit(_)), "{e}");
    assert!(e.to_string().contains("file size limit"), "{e}");
    let cfg = HelmConfig {
        max_unpacked_bytes: 2 << 20,
        ..HelmConfig::default()
    };
    let e = scan_err(&bytes, cfg);
    assert!(e.to_string().contains("decompresses to more than"), "{e}");
}

#[test]
fn too_many_files_are_refused() {
    let names: Vec<String> = (0..50).map(|i| format!("demo/files/f{i}.txt")).collect();
    let mut files: Vec<(&str, &str)> = vec![("demo/Chart.yaml", "name: demo\nversion: 1.0.0\n")];
    files.extend(names.iter().map(|n| (n.as_str(), "x")));
    let cfg = HelmConfig {
        max_files: 20,
        ..HelmConfig::default()
    };
    let e = scan_err(&tgz(&files), cfg);
    assert!(matches!(e, ScanError::Limit(_)));
    assert!(e.to_string().contains("more than 20 entries"), "{e}");
}

#[test]
fn nested_subchart_archives_share_the_budget() {
    let inner = tgz_bytes(&[
        ("sub/Chart.yaml", b"name: sub\nversion: 1.0.0\n".to_vec()),
        ("sub/files/big.bin", vec![0u8; 3 << 20]),
    ]);
    let outer = tgz_bytes(&[
        ("demo/Chart.yaml", b"name: demo\nversion: 1.0.0\n".to_vec()),
        ("demo/charts/sub-1.0.0.tgz", inner),
    ]);
    let cfg = HelmConfig {
        max_unpacked_bytes: 2 << 20,
        ..HelmConfig::default()
    };
    let e = scan_err(&outer, cfg);
    assert!(matches!(e, ScanError::Limit(_)), "{e}");
}

#[test]
fn subchart_nesting_is_bounded() {
    let mut bytes = tgz(&[("c0/Chart.yaml", "name: c0\nversion: 1.0.0\n")]);
    for i in 1..6 {
        let name = format!("c{i}");
        bytes = tgz_bytes(&[
            (
                &format!("{name}/Chart.yaml"),
                format!("name: {name}\nversion: 1.0.0\n").into_bytes(),
            ),
            (&format!("{name}/charts/c{}-1.0.0.tgz", i - 1), bytes),
        ]);
    }
    let cfg = HelmConfig {
        max_subchart_depth: 3,
        ..HelmConfig::default()
    };
    let e = scan_err(&bytes, cfg);
    assert!(e.to_string().contains("nested deeper"), "{e}");
    assert!(HelmScanner::new(HelmConfig::default()).scan_chart(&bytes, None).is_ok());
}

#[test]
fn not_a_chart() {
    let e = scan_err(b"\x1f\x8bnot really gzip", HelmConfig::default());
    assert!(e.to_string().contains("not a valid gzip tar"), "{e}");
    let e = scan_err(&tgz(&[("demo/README.md", "hi")]), HelmConfig::default());
    assert!(e.to_string().contains("no Chart.yaml"), "{e}");
    let e = scan_err(
        &tgz(&[("a/Chart.yaml", "name: a"), ("b/Chart.yaml", "name: b")]),
        HelmConfig::default(),
    );
    assert!(e.to_string().contains("one top-level directory"), "{e}");
    let e = scan_err(&tgz(&[("demo/Chart.yaml", "name: [unclosed")]), HelmConfig::default());
    assert!(e.to_string().contains("Chart.yaml"), "{e}");
}

#[test]
fn runaway_templates_are_bounded_not_fatal() {
    let t = "{{ define \"r\" }}{{ include \"r\" . }}{{ end }}{{ include \"r\" . }}";
    let loops = "{{ range until 1000000 }}{{ range until 1000000 }}x{{ end }}{{ end }}";
    let bytes = common::chart("demo", "", "", &[("templates/a.yaml", t), ("templates/b.yaml", loops)]);
    let out = HelmScanner::new(HelmConfig::default())
        .scan_chart(&bytes, None)
        .unwrap();
    let gaps = out.details["render_errors"].as_array().unwrap();
    assert_eq!(gaps.len(), 2, "{gaps:?}");
}

#[test]
fn yaml_alias_bombs_are_refused() {
    let mut values = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        values.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let bytes = common::chart("demo", "", &values, &[]);
    let start = std::time::Instant::now();
    let e = scan_err(&bytes, HelmConfig::default());
    assert!(e.to_string().contains("values.yaml"), "{e}");
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn pax_headers_and_long_names_are_read() {
    let mut b = tar::Builder::new(Vec::new());
    // A global PAX header, as git archive writes.
    let mut g = tar::Header::new_ustar();
    let pax = b"52 comment=0123456789012345678901234567890123456789\n";
    g.set_path("pax_global_header").unwrap();
    g.set_size(pax.len() as u64);
    g.set_entry_type(tar::EntryType::XGlobalHeader);
    g.set_cksum();
    b.append(&g, &pax[..]).unwrap();
    let long = format!("demo/templates/{}.yaml", "x".repeat(150));
    for (path, data) in [
        ("demo/Chart.yaml", "name: demo\nversion: 1.0.0\n"),
        (
            long.as_str(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: long}\n",
        ),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data.as_bytes()).unwrap();
    }
    let bytes = gzip(&b.into_inner().unwrap());
    let out = HelmScanner::new(HelmConfig::default())
        .scan_chart(&bytes, None)
        .expect("scans");
    assert_eq!(out.details["objects"][0]["object"], "ConfigMap/long");
}

#[test]
fn many_heavy_templates_share_one_budget() {
    let heavy = "{{ range until 200000 }}{{ end }}x: 1\n";
    let names: Vec<String> = (0..40).map(|i| format!("templates/t{i}.yaml")).collect();
    let templates: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), heavy)).collect();
    let bytes = common::chart("demo", "", "", &templates);
    let cfg = HelmConfig {
        max_total_render_steps: 2_000_000,
        ..HelmConfig::default()
    };
    let out = HelmScanner::new(cfg).scan_chart(&bytes, None).unwrap();
    let gaps = out.details["render_errors"].as_array().unwrap();
    assert!(!gaps.is_empty() && gaps.len() < 40, "{}", gaps.len());
    assert!(gaps
        .iter()
        .any(|g| g["reason"].as_str().unwrap().contains("rendering budget")));
}
