//! The external scanner against small plugins (shell and Python, inline so no script file is
//! executed while another test thread forks) that succeed, crash, hang, print garbage, return a
//! bad severity, overflow stdout and leave processes behind.

use std::collections::BTreeMap;

use regscan_scanner_api::testing::{MemBlobs, NoCache};
use regscan_scanner_api::{ImageManifest, ScanContext, ScanError, ScanOutput, Scanner, Severity, TypeEntry};
use regscan_scanner_external::{ExternalConfig, ExternalScanner};

const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
const WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";

struct Fixture {
    blobs: MemBlobs,
    manifest: ImageManifest,
    reference: String,
}

fn fixture() -> Fixture {
    let mut blobs = MemBlobs::default();
    let config = blobs.add(WASM_CONFIG, br#"{"architecture":"wasm","os":"wasip1"}"#.to_vec());
    let layer = blobs.add(WASM_LAYER, b"\0asm\x01\0\0\0".to_vec());
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
        artifact_type: None,
        config,
        layers: vec![layer],
        ..Default::default()
    };
    Fixture {
        blobs,
        manifest,
        reference: format!("127.0.0.1:5000/team/mod@sha256:{}", "c".repeat(64)),
    }
}

fn config(command: &[&str]) -> ExternalConfig {
    ExternalConfig {
        name: "test-plugin".into(),
        version: "0.1".into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        accepts: vec![WASM_CONFIG.into()],
        kind: "wasm".into(),
        ..Default::default()
    }
}

async fn scan_with(cfg: ExternalConfig, fx: &Fixture) -> Result<ScanOutput, ScanError> {
    let scanner = ExternalScanner::new(cfg).expect("valid config");
    let entry = TypeEntry::scanned(WASM_CONFIG, "wasm", "WebAssembly module", "test-plugin");
    let ctx = ScanContext {
        reference: &fx.reference,
        manifest: &fx.manifest,
        artifact_type: WASM_CONFIG,
        entry: &entry,
        blobs: &fx.blobs,
        cache: &NoCache,
    };
    scanner.scan(&ctx).await
}

async fn scan(command: &[&str]) -> Result<ScanOutput, ScanError> {
    scan_with(config(command), &fixture()).await
}

/// A plugin that checks the layout against stdin and reports what it saw.
const GOOD_PLUGIN: &str = r#"
import hashlib, json, os, sys
req = json.load(sys.stdin)
root = os.environ["REGSCAN_ARTIFACT_DIR"]
assert json.load(open(os.path.join(root, "oci-layout"))) == {"imageLayoutVersion": "1.0.0"}
index = json.load(open(os.path.join(root, "index.json")))
desc = index["manifests"][0]
def blob(d):
    alg, hexd = d["digest"].split(":")
    data = open(os.path.join(root, "blobs", alg, hexd), "rb").read()
    assert hashlib.new(alg, data).hexdigest() == hexd, d
    assert len(data) == d["size"], d
    return data
manifest = json.loads(blob(desc))
assert manifest == req["manifest"]
assert desc["annotations"]["io.regscan.registry.digest"] == req["digest"]
layers = [blob(l) for l in manifest["layers"]]
blob(manifest["config"])
for path in [root, os.path.join(root, "index.json"), os.path.join(root, "blobs", "sha256")]:
    assert os.stat(path).st_mode & 0o222 == 0, path + " is writable"
print(json.dumps({
  "findings": [{"id": "T-1", "severity": "medium", "title": "seen", "package": None,
                "installed_version": None, "fixed_version": None,
                "location": manifest["layers"][0]["digest"], "references": ["https://example.com"]}],
  "packages": [{"name": "left-pad", "version": "1.0.0", "ecosystem": "npm", "purl": "pkg:npm/left-pad@1.0.0"}],
  "details": {"stdin": {k: v for k, v in req.items() if k != "manifest"},
              "layer_magic": layers[0][:4].hex(), "dir": root, "cwd": os.getcwd(),
              "env": sorted(os.environ)},
}))
"#;

#[tokio::test]
async fn a_plugin_sees_the_layout_and_its_result_becomes_the_scan_output() {
    let fx = fixture();
    let mut cfg = config(&["python3", "-c", GOOD_PLUGIN]);
    cfg.env = BTreeMap::from([("PLUGIN_MODE".to_owned(), "test".to_owned())]);
    let out = scan_with(cfg, &fx).await.expect("plugin succeeds");
    assert_eq!(out.findings.len(), 1);
    let f = &out.findings[0];
    assert_eq!((f.id.as_str(), f.severity), ("T-1", Severity::Medium));
    assert_eq!(f.location.as_deref(), Some(fx.manifest.layers[0].digest.as_str()));
    assert_eq!(f.references, ["https://example.com"]);
    assert_eq!(out.packages.len(), 1);
    assert_eq!(
        (
            out.packages[0].name.as_str(),
            out.packages[0].ecosystem.as_str(),
            out.packages[0].version.as_str()
        ),
        ("left-pad", "npm", "1.0.0")
    );
    let stdin = &out.details["stdin"];
    assert_eq!(stdin["reference"], fx.reference.as_str());
    assert_eq!(stdin["registry"], "127.0.0.1:5000");
    assert_eq!(stdin["repository"], "team/mod");
    assert_eq!(stdin["digest"], format!("sha256:{}", "c".repeat(64)).as_str());
    assert!(stdin["tag"].is_null());
    assert_eq!(stdin["artifact_type"], WASM_CONFIG);
    assert_eq!(out.details["layer_magic"], "0061736d");
    // The environment is cleared: nothing of regscan's own gets through.
    let env: Vec<&str> = out.details["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // (cargo sets CARGO_* for the test process; a Python shim may add its own PYENV_*.)
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    for k in &env {
        assert!(
            !k.starts_with("CARGO")
                && !k.starts_with("RUST")
                && (!k.starts_with("REGSCAN_") || *k == "REGSCAN_ARTIFACT_DIR"),
            "unexpected variable {k} in {env:?}"
        );
    }
    assert!(env.contains(&"PLUGIN_MODE"));
    // The private directory is gone after the scan.
    let dir = out.details["dir"].as_str().unwrap();
    assert!(dir.starts_with(std::env::temp_dir().to_str().unwrap()), "{dir}");
    assert!(!std::path::Path::new(dir).exists(), "{dir} was not removed");
    assert!(!std::path::Path::new(out.details["cwd"].as_str().unwrap()).exists());
}

fn invalid(r: Result<ScanOutput, ScanError>) -> String {
    match r {
        Err(e @ ScanError::Invalid(_)) => {
            assert!(!e.is_retryable(), "{e}");
            e.to_string()
        }
        other => panic!("expected ScanError::Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn a_crash_fails_with_the_exit_status_and_stderr_tail() {
    let msg = invalid(
        scan(&[
            "sh",
            "-c",
            "i=0; while [ $i -lt 300 ]; do echo \"noise line $i\" >&2; i=$((i+1)); done; echo 'Traceback: boom at the end' >&2; exit 1",
        ])
        .await,
    );
    assert!(
        msg.contains("test-plugin") && msg.contains("exited with status 1"),
        "{msg}"
    );
    assert!(msg.contains("Traceback: boom at the end"), "{msg}");
    assert!(
        !msg.contains("noise line 1\n") && !msg.contains("noise line 10 "),
        "only the tail is kept: {msg}"
    );
    assert!(msg.len() < 2048 + 300, "{} bytes: {msg}", msg.len());

    let msg = invalid(scan(&["sh", "-c", "echo 'segfault-ish' >&2; kill -SEGV $$"]).await);
    assert!(msg.contains("signal 11") && msg.contains("segfault-ish"), "{msg}");
}

#[tokio::test]
async fn garbage_on_stdout_fails() {
    let msg = invalid(scan(&["sh", "-c", "echo 'all good!'; echo 'warning: x' >&2"]).await);
    assert!(
        msg.contains("not the result JSON") && msg.contains("all good!"),
        "{msg}"
    );
    assert!(msg.contains("warning: x"), "stderr tail in the reason: {msg}");
    let msg = invalid(scan(&["sh", "-c", "true"]).await);
    assert!(msg.contains("empty"), "{msg}");
    let msg = invalid(scan(&["sh", "-c", "echo '{\"findings\": [], \"verdict\": \"ok\"}'"]).await);
    assert!(msg.contains("verdict"), "{msg}");
}

#[tokio::test]
async fn an_unknown_severity_fails() {
    let msg = invalid(
        scan(&[
            "sh",
            "-c",
            r#"echo '{"findings": [{"id": "X-1", "severity": "catastrophic", "title": "t"}]}'"#,
        ])
        .await,
    );
    assert!(msg.contains("catastrophic") && msg.contains("X-1"), "{msg}");
}

#[tokio::test]
async fn a_hanging_plugin_and_its_children_are_killed_at_the_timeout() {
    let pids = tempfile::tempdir().unwrap();
    let pidfile = pids.path().join("pid");
    let mut cfg = config(&[
        "sh",
        "-c",
        "sleep 1000 & echo $! > \"$PIDFILE\"; echo 'stuck' >&2; wait",
    ]);
    cfg.timeout_secs = 1;
    cfg.env.insert("PIDFILE".into(), pidfile.display().to_string());
    let err = scan_with(cfg, &fixture()).await.unwrap_err();
    assert!(matches!(err, ScanError::Limit(_)), "{err:?}");
    assert!(!err.is_retryable());
    let msg = err.to_string();
    assert!(msg.contains("timeout_secs (1 s)") && msg.contains("stuck"), "{msg}");
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert_gone(pid.trim()).await;
}

#[tokio::test]
async fn a_background_process_left_behind_is_killed_when_the_plugin_exits() {
    let pids = tempfile::tempdir().unwrap();
    let pidfile = pids.path().join("pid");
    let mut cfg = config(&[
        "sh",
        "-c",
        "sleep 1000 >/dev/null 2>&1 & echo $! > \"$PIDFILE\"; echo '{\"findings\": []}'",
    ]);
    cfg.env.insert("PIDFILE".into(), pidfile.display().to_string());
    let out = scan_with(cfg, &fixture()).await.expect("plugin succeeds");
    assert!(out.findings.is_empty());
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert_gone(pid.trim()).await;
}

/// The process is dead (gone, or a zombie waiting for a reaper that is not us).
async fn assert_gone(pid: &str) {
    for _ in 0..50 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return,
            Ok(stat) if stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z')) => return,
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    panic!("process {pid} outlived the plugin");
}

#[tokio::test]
async fn too_much_output_fails_at_the_limit() {
    let mut cfg = config(&["sh", "-c", "yes '{\"findings\": []}'"]);
    cfg.max_output_bytes = 64 * 1024;
    let err = scan_with(cfg, &fixture()).await.unwrap_err();
    assert!(matches!(err, ScanError::Limit(_)), "{err:?}");
    assert!(err.to_string().contains("max_output_bytes (65536)"), "{err}");
}

#[tokio::test]
async fn a_plugin_that_ignores_stdin_is_fine() {
    let out = scan(&[
        "sh",
        "-c",
        "exec 0<&-; echo '{\"findings\": [], \"details\": {\"ok\": true}}'",
    ])
    .await
    .unwrap();
    assert_eq!(out.details["ok"], true);
}

#[tokio::test]
async fn a_missing_program_is_an_error_naming_it() {
    let err = scan(&["/nonexistent/plugin"]).await.unwrap_err();
    assert!(err.to_string().contains("/nonexistent/plugin"), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn hostile_descriptors_never_reach_the_disk_or_the_plugin() {
    // A digest that would be a path outside the layout.
    let mut fx = fixture();
    fx.manifest.layers[0].digest = "sha256:../../../../etc/passwd".into();
    let msg = invalid(scan_with(config(&["sh", "-c", "echo ran >&2; exit 3"]), &fx).await);
    assert!(msg.contains("../../") && !msg.contains("ran"), "{msg}");
    // A blob bigger than the manifest says.
    let mut fx = fixture();
    fx.manifest.layers[0].size = 4;
    let msg = invalid(scan_with(config(&["sh", "-c", "exit 3"]), &fx).await);
    assert!(msg.contains("the manifest says 4"), "{msg}");
    // A blob over the configured limit.
    let mut cfg = config(&["sh", "-c", "exit 3"]);
    cfg.max_blob_bytes = 16;
    let err = scan_with(cfg, &fixture()).await.unwrap_err();
    assert!(
        matches!(err, ScanError::Limit(_)) && err.to_string().contains("max_blob_bytes"),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_registrys_exact_manifest_bytes_are_used_when_they_match_its_digest() {
    use regscan_scanner_external::layout::{self, Source};
    let fx = fixture();
    // The registry's bytes: the same manifest, spelled differently than serde would.
    let exact = serde_json::to_vec_pretty(&fx.manifest).unwrap();
    let digest = format!("sha256:{}", sha256_hex(&exact));
    let entry = TypeEntry::scanned(WASM_CONFIG, "wasm", "WebAssembly module", "test-plugin");
    let ctx = ScanContext {
        reference: &fx.reference,
        manifest: &fx.manifest,
        artifact_type: WASM_CONFIG,
        entry: &entry,
        blobs: &fx.blobs,
        cache: &NoCache,
    };
    let cfg = config(&["true"]);
    for (bytes, expect_exact) in [
        (Some(&exact[..]), true),
        (Some(&b"{\"tampered\": 1}"[..]), false),
        (None, false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let source = Source {
            registry_digest: &digest,
            tag: Some("1.0"),
            manifest_bytes: bytes,
        };
        let written = layout::write(&ctx, dir.path(), source, &cfg).await.unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        let desc = &index["manifests"][0];
        assert_eq!(desc["annotations"]["io.regscan.registry.digest"], digest.as_str());
        assert_eq!(desc["annotations"]["org.opencontainers.image.ref.name"], "1.0");
        assert_eq!(desc["digest"], written.manifest_digest.as_str());
        let on_disk = std::fs::read(
            dir.path()
                .join("blobs/sha256")
                .join(written.manifest_digest.trim_start_matches("sha256:")),
        )
        .unwrap();
        assert_eq!(written.manifest_digest == digest, expect_exact, "{bytes:?}");
        assert_eq!(on_disk == exact, expect_exact);
        assert_eq!(serde_json::from_slice::<ImageManifest>(&on_disk).unwrap(), fx.manifest);
        layout::make_writable(dir.path());
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(data))
}
