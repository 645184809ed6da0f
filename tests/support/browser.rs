//! Headless Chromium (Debian's `chromium` package) for browser tests: the DOM of a page after
//! loading (`--dump-dom`) and PNG screenshots under `tests/output/` (git-ignored).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Where Chromium is expected.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether Chromium is installed (tests skip, loudly, when it is not).
pub fn available() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    eprintln!("\n\n!!!!!!!! SKIPPED: {CHROMIUM} is absent; install Debian's `chromium` package to run the browser test !!!!!!!!\n\n");
    false
}

fn chromium(args: &[&str], url: &str) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args)
    .arg(url);
    // Chromium sometimes hangs on exit in containers; bound it.
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start chromium");
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(out) => out.expect("chromium output"),
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(id.to_string()).status();
            panic!("chromium did not finish within 90 s loading {url}");
        }
    }
}

/// The DOM of `url` after Chromium has loaded it.
pub fn dump_dom(url: &str) -> String {
    let out = chromium(&["--dump-dom"], url);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("</html>"),
        "chromium --dump-dom {url} gave no page (status {}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

/// A PNG screenshot of `url` at 1280x900 in tests/output/NAME.png.
pub fn screenshot(url: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/output");
    std::fs::create_dir_all(&dir).expect("create tests/output");
    let path = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&path);
    let out = chromium(
        &[
            &format!("--screenshot={}", path.display()),
            "--window-size=1280,900",
            "--hide-scrollbars",
        ],
        url,
    );
    let png = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("no screenshot of {url} ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} is not a real screenshot ({} bytes)",
        path.display(),
        png.len()
    );
    path
}
