//! The example plugin `plugins/wasm-audit` run by the external scanner on WebAssembly modules
//! assembled here byte by byte, and its own Python unit tests.

use std::path::PathBuf;

use regscan_scanner_api::testing::{MemBlobs, NoCache};
use regscan_scanner_api::{ImageManifest, ScanContext, ScanOutput, Scanner, Severity, TypeEntry};
use regscan_scanner_external::{ExternalConfig, ExternalScanner};

const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
const WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";

fn plugin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plugins/wasm-audit")
}

fn uleb(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        out.push(if n == 0 { b } else { b | 0x80 });
        if n == 0 {
            return out;
        }
    }
}

fn name(s: &str) -> Vec<u8> {
    [uleb(s.len()), s.as_bytes().to_vec()].concat()
}

fn section(id: u8, body: Vec<u8>) -> Vec<u8> {
    [vec![id], uleb(body.len()), body].concat()
}

/// A valid core module: type `() -> ()`, the given function imports, one defined function, and
/// exports of it under the given names.
fn module(imports: &[(&str, &str)], exports: &[&str]) -> Vec<u8> {
    let mut imp = uleb(imports.len());
    for (m, n) in imports {
        imp.extend([name(m), name(n), vec![0x00], uleb(0)].concat());
    }
    let mut exp = uleb(exports.len());
    for e in exports {
        exp.extend([name(e), vec![0x00], uleb(imports.len())].concat());
    }
    [
        b"\0asm\x01\0\0\0".to_vec(),
        section(1, [uleb(1), vec![0x60, 0x00, 0x00]].concat()),
        section(2, imp),
        section(3, [uleb(1), uleb(0)].concat()),
        section(7, exp),
        section(10, [uleb(1), uleb(2), vec![0x00, 0x0b]].concat()),
    ]
    .concat()
}

async fn audit(layers: Vec<Vec<u8>>, args: &[&str]) -> ScanOutput {
    let mut blobs = MemBlobs::default();
    let config = blobs.add(WASM_CONFIG, b"{}".to_vec());
    let layers = layers.into_iter().map(|l| blobs.add(WASM_LAYER, l)).collect();
    let manifest = ImageManifest {
        schema_version: 2,
        artifact_type: Some(WASM_CONFIG.into()),
        config,
        layers,
        ..Default::default()
    };
    let mut command = vec![
        "python3".to_owned(),
        plugin_dir().join("wasm_audit.py").display().to_string(),
    ];
    command.extend(args.iter().map(|s| s.to_string()));
    let scanner = ExternalScanner::new(ExternalConfig {
        name: "wasm-audit".into(),
        version: "1.0".into(),
        command,
        accepts: vec![WASM_CONFIG.into()],
        kind: "wasm".into(),
        ..Default::default()
    })
    .unwrap();
    let entry = TypeEntry::scanned(WASM_CONFIG, "wasm", "WebAssembly module", "wasm-audit");
    let reference = format!("127.0.0.1:5000/wasm/mod@sha256:{}", "d".repeat(64));
    let ctx = ScanContext {
        reference: &reference,
        manifest: &manifest,
        artifact_type: WASM_CONFIG,
        entry: &entry,
        blobs: &blobs,
        cache: &NoCache,
    };
    scanner.scan(&ctx).await.expect("wasm-audit succeeds")
}

fn severities(out: &ScanOutput) -> Vec<(&str, Severity)> {
    let mut v: Vec<_> = out.findings.iter().map(|f| (f.id.as_str(), f.severity)).collect();
    v.sort();
    v
}

#[tokio::test]
async fn capabilities_a_module_imports_are_reported_with_their_severity() {
    let wasm = module(
        &[
            ("wasi_snapshot_preview1", "fd_write"),
            ("wasi_snapshot_preview1", "sock_accept"),
            ("wasi_snapshot_preview1", "path_open"),
            ("wasi_snapshot_preview1", "path_rename"),
            ("wasi_snapshot_preview1", "environ_get"),
            ("env", "host_call"),
        ],
        &["_start", "handle"],
    );
    let out = audit(vec![wasm], &[]).await;
    assert_eq!(
        severities(&out),
        [
            ("WASM-ENV-001", Severity::Low),
            ("WASM-FS-002", Severity::Medium),
            ("WASM-HOST-001", Severity::Low),
            ("WASM-NET-001", Severity::High),
        ],
        "{:#?}",
        out.findings
    );
    let net = out.findings.iter().find(|f| f.id == "WASM-NET-001").unwrap();
    assert!(
        net.title.contains("wasi_snapshot_preview1.sock_accept"),
        "{}",
        net.title
    );
    assert!(net.location.as_deref().unwrap().starts_with("sha256:"));
    // Imports and exports are listed in the details.
    let layer = &out.details["layers"][0];
    assert_eq!(layer["kind"], "module");
    assert_eq!(layer["import_count"], 6);
    assert_eq!(layer["imports"][1]["name"], "sock_accept");
    let exports: Vec<_> = layer["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(exports, ["_start", "handle"]);

    // --strict raises imports from outside WASI; --allow-module silences one.
    let wasm = module(&[("env", "host_call")], &["run"]);
    let strict = audit(vec![wasm.clone()], &["--strict"]).await;
    assert_eq!(severities(&strict), [("WASM-HOST-001", Severity::Medium)]);
    let allowed = audit(vec![wasm], &["--allow-module", "env"]).await;
    assert!(allowed.findings.is_empty(), "{:?}", allowed.findings);
}

#[tokio::test]
async fn a_plain_wasi_command_is_clean_and_a_broken_module_is_not() {
    let clean = module(
        &[
            ("wasi_snapshot_preview1", "fd_write"),
            ("wasi_snapshot_preview1", "proc_exit"),
        ],
        &["_start"],
    );
    let mut broken = clean.clone();
    broken.truncate(broken.len() - 3);
    let out = audit(vec![clean], &[]).await;
    assert!(out.findings.is_empty(), "{:?}", out.findings);
    let out = audit(vec![broken], &[]).await;
    assert_eq!(severities(&out), [("WASM-BAD-001", Severity::Medium)]);
}

#[test]
fn the_plugins_own_unit_tests_pass() {
    let out = std::process::Command::new("python3")
        .args(["-B", "-m", "unittest", "discover", "-s"])
        .arg(plugin_dir())
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
