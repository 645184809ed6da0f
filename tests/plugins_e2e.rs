//! External scanner plugins (`[[scanners.external]]`) end to end: artifacts pushed to a real
//! CNCF distribution registry, `regscan scan` run as a user runs it, with the example plugin
//! `scanners/external/plugins/wasm-audit` and small shell plugins that crash, print garbage,
//! use an unknown severity or return packages that advisories affect.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::db::sqlite_url;
use support::oci::Artifact;
use support::process::regscan_bin;
use support::registry::Registry;

const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
const WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";

fn wasm_audit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scanners/external/plugins/wasm-audit/wasm_audit.py")
}

/// A valid WebAssembly core module importing the given functions (all of type `() -> ()`) and
/// exporting one function, `run`.
fn wasm_module(imports: &[(&str, &str)]) -> Vec<u8> {
    fn section(id: u8, body: Vec<u8>) -> Vec<u8> {
        assert!(body.len() < 128, "one-byte section sizes only");
        [vec![id, body.len() as u8], body].concat()
    }
    fn name(s: &str) -> Vec<u8> {
        [vec![s.len() as u8], s.as_bytes().to_vec()].concat()
    }
    let mut imp = vec![imports.len() as u8];
    for (m, n) in imports {
        imp.extend([name(m), name(n), vec![0x00, 0x00]].concat());
    }
    [
        b"\0asm\x01\0\0\0".to_vec(),
        section(1, vec![1, 0x60, 0, 0]),
        section(2, imp),
        section(3, vec![1, 0]),
        section(7, [vec![1], name("run"), vec![0x00, imports.len() as u8]].concat()),
        section(10, vec![1, 2, 0, 0x0b]),
    ]
    .concat()
}

fn wasm_artifact(module: Vec<u8>) -> Artifact {
    Artifact {
        config_media_type: WASM_CONFIG.into(),
        config: br#"{"architecture":"wasm","os":"wasip1"}"#.to_vec(),
        layers: vec![(WASM_LAYER.into(), module)],
        artifact_type: Some(WASM_CONFIG.into()),
    }
}

/// One `[[scanners.external]]` entry.
fn plugin(name: &str, accepts: &str, kind: &str, command: &[&str]) -> String {
    let command: Vec<String> = command.iter().map(|c| format!("{c:?}")).collect();
    format!(
        "[[scanners.external]]\nname = {name:?}\nversion = \"1.0\"\ncommand = [{}]\naccepts = [{accepts:?}]\nkind = {kind:?}\n\n",
        command.join(", ")
    )
}

struct Cli {
    config: PathBuf,
    _dir: tempfile::TempDir,
    _db: tempfile::TempDir,
}

impl Cli {
    fn new(registry: &str, extra: &str) -> Cli {
        let (db, db_dir) = sqlite_url();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("regscan.toml");
        std::fs::write(
            &config,
            format!("database_url = {db:?}\n\n{extra}[[registry]]\nhost = {registry:?}\ninsecure = true\n"),
        )
        .unwrap();
        Cli {
            config,
            _dir: dir,
            _db: db_dir,
        }
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(regscan_bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("REGSCAN_DATABASE_URL")
            .env("REGSCAN_LOG", "warn")
            .output()
            .expect("run regscan");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn scan(&self, reference: &str, expect_code: i32) -> Value {
        let (code, out, err) = self.run(&["scan", reference, "--format", "json"]);
        assert_eq!(code, expect_code, "scan {reference}\nstdout: {out}\nstderr: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

fn finding<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no finding {id}: {report:#}"))
}

#[tokio::test]
async fn a_wasm_artifact_is_audited_by_the_example_plugin() {
    let reg = Registry::start().await;
    let host = reg.host.clone();
    let net = wasm_module(&[
        ("wasi_snapshot_preview1", "fd_write"),
        ("wasi_snapshot_preview1", "sock_accept"),
        ("env", "host_log"),
    ]);
    let digest = reg.push_artifact("wasm/server", "1.0", &wasm_artifact(net)).await;
    let quiet = wasm_module(&[("wasi_snapshot_preview1", "fd_write")]);
    reg.push_artifact("wasm/hello", "1.0", &wasm_artifact(quiet)).await;

    // Without the plugin, a WebAssembly module is a known type no scanner handles.
    let bare = Cli::new(&host, "");
    let r = bare.scan(&format!("{host}/wasm/server:1.0"), 0);
    assert_eq!(
        (r["kind"].as_str(), r["status"].as_str()),
        (Some("wasm"), Some("unsupported"))
    );

    let audit = wasm_audit();
    let cli = Cli::new(
        &host,
        &plugin(
            "wasm-audit",
            WASM_CONFIG,
            "wasm",
            &["python3", audit.to_str().unwrap(), "--strict"],
        ),
    );
    let r = cli.scan(&format!("{host}/wasm/server:1.0"), 0);
    assert_eq!(r["digest"], digest.as_str());
    assert_eq!(r["kind"], "wasm", "{r:#}");
    assert_eq!(r["status"], "succeeded", "{r:#}");
    assert!(r["reason"].is_null());
    assert_eq!(r["artifact_type"], WASM_CONFIG);
    assert_eq!(r["scanner"]["name"], "wasm-audit");
    assert_eq!(r["scanner"]["version"], "1.0");
    let net = finding(&r, "WASM-NET-001");
    assert_eq!(net["severity"], "high");
    assert!(net["title"].as_str().unwrap().contains("sock_accept"), "{net:#}");
    assert!(net["location"].as_str().unwrap().starts_with("sha256:"));
    // --strict, from the configured command line: host imports are medium.
    assert_eq!(finding(&r, "WASM-HOST-001")["severity"], "medium");
    assert_eq!(r["summary"]["high"], 1, "{r:#}");
    // The plugin's details are the report's: every import and export of the module.
    let layer = &r["details"]["layers"][0];
    assert_eq!(layer["import_count"], 3, "{r:#}");
    assert_eq!(layer["imports"][1]["name"], "sock_accept", "{r:#}");
    assert_eq!(layer["exports"][0]["name"], "run", "{r:#}");
    let (code, _, _) = cli.run(&["scan", &format!("{host}/wasm/server:1.0"), "--fail-on", "high"]);
    assert_eq!(code, 1, "--fail-on high with a high finding exits 1");

    let r = cli.scan(&format!("{host}/wasm/hello:1.0"), 0);
    assert_eq!(r["status"], "succeeded", "{r:#}");
    assert_eq!(r["findings"].as_array().unwrap().len(), 0, "{r:#}");

    // The stored status says the same, and the type table routes the type to the plugin.
    let (code, out, err) = cli.run(&["status", &format!("{host}/wasm/server:1.0"), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let stored: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stored["scanner"]["name"], "wasm-audit");
    let (code, out, err) = cli.run(&["types", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("wasm-audit") && out.contains(WASM_CONFIG),
        "types lists the plugin's row: {out}"
    );
}

#[tokio::test]
async fn a_failing_plugin_ends_the_scan_failed_with_its_stderr() {
    let reg = Registry::start().await;
    let host = reg.host.clone();
    let crash = "application/vnd.acme.crash.config.v1+json";
    let garbage = "application/vnd.acme.garbage.config.v1+json";
    let severity = "application/vnd.acme.severity.config.v1+json";
    for (repo, mt) in [
        ("acme/crash", crash),
        ("acme/garbage", garbage),
        ("acme/severity", severity),
    ] {
        reg.push_artifact(repo, "1", &Artifact::unknown(mt)).await;
    }
    let extra = [
        plugin(
            "crashy",
            crash,
            "acme",
            &[
                "sh",
                "-c",
                "echo 'reading layout' >&2; echo 'plugin exploded: no such rule set' >&2; exit 1",
            ],
        ),
        plugin(
            "chatty",
            garbage,
            "acme",
            &["sh", "-c", "echo 'everything looks fine to me'"],
        ),
        plugin(
            "dramatic",
            severity,
            "acme",
            &[
                "sh",
                "-c",
                r#"echo '{"findings": [{"id": "ACME-1", "severity": "apocalyptic", "title": "t"}]}'"#,
            ],
        ),
    ]
    .concat();
    let cli = Cli::new(&host, &extra);

    let r = cli.scan(&format!("{host}/acme/crash:1"), 3);
    assert_eq!(
        (r["kind"].as_str(), r["status"].as_str(), r["scanner"]["name"].as_str()),
        (Some("acme"), Some("failed"), Some("crashy")),
        "{r:#}"
    );
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("exited with status 1") && reason.contains("plugin exploded: no such rule set"),
        "{reason}"
    );
    // Not retried, and stored: the status says the same.
    let (_, out, _) = cli.run(&["status", &format!("{host}/acme/crash:1"), "--format", "json"]);
    let stored: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stored["status"], "failed");

    let r = cli.scan(&format!("{host}/acme/garbage:1"), 3);
    assert_eq!(r["status"], "failed");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("not the result JSON") && reason.contains("everything looks fine"),
        "{reason}"
    );

    let r = cli.scan(&format!("{host}/acme/severity:1"), 3);
    assert_eq!(r["status"], "failed");
    assert!(r["reason"].as_str().unwrap().contains("apocalyptic"), "{r:#}");
}

#[tokio::test]
async fn packages_a_plugin_returns_are_matched_against_advisories() {
    let reg = Registry::start().await;
    let host = reg.host.clone();
    let mt = "application/vnd.acme.bundle.config.v1+json";
    reg.push_artifact("acme/bundle", "2", &Artifact::unknown(mt)).await;
    let out = r#"{"findings": [], "packages": [{"name": "left-pad", "version": "1.0.0", "ecosystem": "npm", "purl": "pkg:npm/left-pad@1.0.0", "path": "package-lock.json"}]}"#;
    let cli = Cli::new(
        &host,
        &plugin(
            "bundle-inventory",
            mt,
            "bundle",
            &["sh", "-c", &format!("echo '{out}'")],
        ),
    );
    // A crafted OSV record (not a real advisory) for that package.
    let osv = tempfile::tempdir().unwrap();
    std::fs::write(
        osv.path().join("REGSCAN-TEST-LEFTPAD.json"),
        r#"{"id": "REGSCAN-TEST-LEFTPAD", "summary": "left-pad: crafted test advisory (not a real vulnerability)",
            "modified": "2026-01-01T00:00:00Z", "published": "2026-01-01T00:00:00Z",
            "database_specific": {"severity": "HIGH"},
            "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"},
                          "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.3.0"}]}]}]}"#,
    )
    .unwrap();
    let (code, _, err) = cli.run(&["advisories", "import", osv.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");

    let r = cli.scan(&format!("{host}/acme/bundle:2"), 0);
    assert_eq!(
        (r["kind"].as_str(), r["status"].as_str()),
        (Some("bundle"), Some("succeeded")),
        "{r:#}"
    );
    let f = finding(&r, "REGSCAN-TEST-LEFTPAD");
    assert_eq!(f["package"], "left-pad");
    assert_eq!(f["installed_version"], "1.0.0");
    assert_eq!(f["fixed_version"], "1.3.0");
}

#[tokio::test]
async fn a_media_type_claimed_twice_is_a_configuration_error_naming_both() {
    let reg = Registry::start().await;
    let host = reg.host.clone();
    let helm = "application/vnd.cncf.helm.config.v1+json";
    let cli = Cli::new(&host, &plugin("chart-lint", helm, "helm", &["/bin/true"]));
    let (code, _, err) = cli.run(&["scan", &format!("{host}/charts/x:1"), "--format", "json"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(helm) && err.contains("helm") && err.contains("chart-lint"),
        "{err}"
    );
    let (code, _, err) = cli.run(&["types"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("chart-lint"), "{err}");

    let cli = Cli::new(
        &host,
        &plugin("helm", "application/vnd.acme.v1+json", "acme", &["/bin/true"]),
    );
    let (code, _, err) = cli.run(&["types"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("built-in") && err.contains("\"helm\""), "{err}");
}

/// A plugin inherits the scan sandbox: it cannot connect to a listener on this machine.
#[tokio::test]
async fn a_plugin_cannot_reach_the_network() {
    let reg = Registry::start().await;
    let host = reg.host.clone();
    let mt = "application/vnd.acme.netprobe.config.v1+json";
    reg.push_artifact("acme/netprobe", "1", &Artifact::unknown(mt)).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let probe = format!(
        "import json, socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=5).close()\n    ok = True\nexcept OSError as e:\n    ok = False\nprint(json.dumps({{'findings': [], 'details': {{'connected': ok}}}}))\n"
    );
    let cli = Cli::new(&host, &plugin("netprobe", mt, "acme", &["python3", "-c", &probe]));
    let (_, out, err) = cli.run(&["scan", &format!("{host}/acme/netprobe:1"), "--format", "json"]);
    assert!(
        listener.accept().is_err(),
        "the plugin reached a local listener\n{out}\n{err}"
    );
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"));
    assert_ne!(r["details"]["connected"], true, "{r:#}");
}

/// A plugin inherits the sandbox's memory limit: allocating past it fails the scan.
#[tokio::test]
async fn a_plugin_over_the_memory_limit_fails_the_scan() {
    let reg = Registry::start().await;
    let host = reg.host.clone();
    let mt = "application/vnd.acme.hog.config.v1+json";
    reg.push_artifact("acme/hog", "1", &Artifact::unknown(mt)).await;
    let hog = "import json\nx = bytearray(2 << 30)\nprint(json.dumps({'findings': []}))\n";
    let cli = Cli::new(
        &host,
        &format!(
            "[sandbox]\nmemory_bytes = 268435456\n\n{}",
            plugin("hog", mt, "acme", &["python3", "-c", hog])
        ),
    );
    let r = cli.scan(&format!("{host}/acme/hog:1"), 3);
    assert_eq!(r["status"], "failed", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(reason.contains("MemoryError") || reason.contains("memory"), "{reason}");
}

/// Inside the sandbox, a plugin that hangs is killed at its `timeout_secs`, and so is what it
/// started; the scan fails with a reason naming the plugin's timeout.
#[tokio::test]
async fn a_hanging_plugin_and_what_it_started_are_killed_at_its_timeout() {
    let reg = Registry::start().await;
    let host = reg.host.clone();
    let mt = "application/vnd.acme.hang.config.v1+json";
    reg.push_artifact("acme/hang", "1", &Artifact::unknown(mt)).await;
    let entry = plugin(
        "hangs",
        mt,
        "acme",
        &["sh", "-c", "sleep 1000 & echo \"stray=$!\" >&2; sleep 1000"],
    );
    let cli = Cli::new(&host, &format!("{}\ntimeout_secs = 2\n\n", entry.trim_end()));
    let r = cli.scan(&format!("{host}/acme/hang:1"), 3);
    assert_eq!(r["status"], "failed", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("hangs") && reason.contains("timeout_secs (2 s)"),
        "{reason}"
    );
    let stray = reason
        .split("stray=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no stray pid in {reason}"));
    let stat = std::fs::read_to_string(format!("/proc/{stray}/stat")).unwrap_or_default();
    let state = stat.rsplit(')').next().unwrap_or("").trim_start();
    assert!(
        stat.is_empty() || state.starts_with('Z'),
        "process {stray} outlived the scan: {stat}"
    );
}
