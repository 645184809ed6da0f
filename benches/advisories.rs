//! Advisories at scale: N generated OSV records (the real schema and field sizes, a mix of
//! Debian, Ubuntu, PyPI, npm, Go and Maven) written as an osv.dev-style `all.zip`, then
//!
//! 1. `import`: the streaming import of the zip into an empty database — records/s, peak RSS;
//! 2. `scan`: matching an 88-package Debian bookworm inventory against that database, in a fresh
//!    process (cold cache), and the same against an empty database — time, peak RSS;
//! 3. `whole scan`: the built `regscan scan --force` of that image pushed to a real
//!    `docker-registry` (as tests/support does), with the N-record database and with an empty
//!    one — wall time, and peak RSS of the largest process (`/usr/bin/time`'s `%M`: the scan
//!    process or its sandboxed scanner);
//! 4. `worker`: a `regscan worker` (beside a `regscan serve --workers 0` taking the requests)
//!    scans `BENCH_WORKER_SCANS` distinct images of those packages, with the N-record database
//!    and with an empty one — its RSS after them, and its peak;
//! 5. `reimport`: the zip again with 1,000 changed records and `modified_id.csv` beside it, into
//!    the database holding the N records and `BENCH_ARTIFACTS` stored 88-package artifacts
//!    (each with the findings a scan stored), re-matching the affected ones — time, records
//!    read, artifacts re-matched, peak RSS.
//!
//! Each measured step runs in a child process (this binary re-executed, or the regscan binary),
//! so its peak RSS is its own.
//!
//! `cargo bench -p regscan --bench advisories` (env: `BENCH_ADVISORIES`, default 100000;
//! `BENCH_ARTIFACTS`, default 1000; `BENCH_WORKER_SCANS`, default 1000, 0 skips steps 3 and 4;
//! `BENCH_BACKENDS`, default `sqlite`, or `sqlite,postgres`; `REGSCAN_TEST_PG` as in the tests).

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use regscan::scan::advisories::{import_source, rematch, AdvisoryDb};
use regscan::store::{NewArtifact, ScanResult, Store};
use regscan_scanner_api::{ArtifactRef, Kind, Package, ScannerRef, Status};
use serde_json::json;
use sqlx::Row;
use support::oci::OciImage;
use support::process::{regscan_bin, RegscanProcess, TestConfig};
use support::registry::Registry;

const CHILD_ENV: &str = "REGSCAN_ADVISORY_BENCH_CHILD";

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn pg_admin() -> String {
    std::env::var("REGSCAN_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1/postgres".into())
}

fn psql(sql: &str) {
    let ok = Command::new("psql")
        .args(["-q", &pg_admin(), "-c", sql])
        .status()
        .map(|s| s.success());
    assert_eq!(ok.ok(), Some(true), "psql {sql}");
}

/// xorshift64*: the same records every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The 88 packages of a Debian 12 base image with a few extras: (binary, source, version).
const BOOKWORM: &[(&str, &str, &str)] = &[
    ("adduser", "adduser", "3.134"),
    ("apt", "apt", "2.6.1"),
    ("base-files", "base-files", "12.4+deb12u5"),
    ("base-passwd", "base-passwd", "3.6.1"),
    ("bash", "bash", "5.2.15-2+b2"),
    ("bsdutils", "util-linux", "1:2.38.1-5+deb12u1"),
    ("ca-certificates", "ca-certificates", "20230311"),
    ("coreutils", "coreutils", "9.1-1"),
    ("curl", "curl", "7.88.1-10+deb12u5"),
    ("dash", "dash", "0.5.12-2"),
    ("debconf", "debconf", "1.5.82"),
    ("debian-archive-keyring", "debian-archive-keyring", "2023.3+deb12u1"),
    ("debianutils", "debianutils", "5.7-0.5~deb12u1"),
    ("diffutils", "diffutils", "1:3.8-4"),
    ("dpkg", "dpkg", "1.21.22"),
    ("e2fsprogs", "e2fsprogs", "1.47.0-2"),
    ("findutils", "findutils", "4.9.0-4"),
    ("gcc-12-base", "gcc-12", "12.2.0-14"),
    ("gpgv", "gnupg2", "2.2.40-1.1"),
    ("grep", "grep", "3.8-5"),
    ("gzip", "gzip", "1.12-1"),
    ("hostname", "hostname", "3.23+nmu1"),
    ("init-system-helpers", "init-system-helpers", "1.65.2"),
    ("libacl1", "acl", "2.3.1-3"),
    ("libapt-pkg6.0", "apt", "2.6.1"),
    ("libattr1", "attr", "1:2.5.1-4"),
    ("libaudit-common", "audit", "1:3.0.9-1"),
    ("libaudit1", "audit", "1:3.0.9-1"),
    ("libblkid1", "util-linux", "2.38.1-5+deb12u1"),
    ("libbz2-1.0", "bzip2", "1.0.8-5+b1"),
    ("libc-bin", "glibc", "2.36-9+deb12u7"),
    ("libc6", "glibc", "2.36-9+deb12u7"),
    ("libcap-ng0", "libcap-ng", "0.8.3-1+b3"),
    ("libcap2", "libcap2", "1:2.66-4"),
    ("libcom-err2", "e2fsprogs", "1.47.0-2"),
    ("libcrypt1", "libxcrypt", "1:4.4.33-2"),
    ("libcurl4", "curl", "7.88.1-10+deb12u5"),
    ("libdb5.3", "db5.3", "5.3.28+dfsg2-1"),
    ("libdebconfclient0", "cdebconf", "0.270"),
    ("libext2fs2", "e2fsprogs", "1.47.0-2"),
    ("libffi8", "libffi", "3.4.4-1"),
    ("libgcc-s1", "gcc-12", "12.2.0-14"),
    ("libgcrypt20", "libgcrypt20", "1.10.1-3"),
    ("libgmp10", "gmp", "2:6.2.1+dfsg1-1.1"),
    ("libgnutls30", "gnutls28", "3.7.9-2+deb12u2"),
    ("libgpg-error0", "libgpg-error", "1.46-1"),
    ("libhogweed6", "nettle", "3.8.1-2"),
    ("libidn2-0", "libidn2", "2.3.3-1+b1"),
    ("liblz4-1", "lz4", "1.9.4-1"),
    ("liblzma5", "xz-utils", "5.4.1-0.2"),
    ("libmd0", "libmd", "1.0.4-2"),
    ("libmount1", "util-linux", "2.38.1-5+deb12u1"),
    ("libnettle8", "nettle", "3.8.1-2"),
    ("libnghttp2-14", "nghttp2", "1.52.0-1+deb12u1"),
    ("libp11-kit0", "p11-kit", "0.24.1-2"),
    ("libpam-modules", "pam", "1.5.2-6+deb12u1"),
    ("libpam-runtime", "pam", "1.5.2-6+deb12u1"),
    ("libpam0g", "pam", "1.5.2-6+deb12u1"),
    ("libpcre2-8-0", "pcre2", "10.42-1"),
    ("libseccomp2", "libseccomp", "2.5.4-1+b3"),
    ("libselinux1", "libselinux", "3.4-1+b6"),
    ("libsemanage2", "libsemanage", "3.4-1+b5"),
    ("libsepol2", "libsepol", "3.4-2.1"),
    ("libsmartcols1", "util-linux", "2.38.1-5+deb12u1"),
    ("libsqlite3-0", "sqlite3", "3.40.1-2"),
    ("libss2", "e2fsprogs", "1.47.0-2"),
    ("libssl3", "openssl", "3.0.11-1~deb12u2"),
    ("libstdc++6", "gcc-12", "12.2.0-14"),
    ("libsystemd0", "systemd", "252.22-1~deb12u1"),
    ("libtasn1-6", "libtasn1-6", "4.19.0-2"),
    ("libtinfo6", "ncurses", "6.4-4"),
    ("libudev1", "systemd", "252.22-1~deb12u1"),
    ("libunistring2", "libunistring", "1.0-2"),
    ("libuuid1", "util-linux", "2.38.1-5+deb12u1"),
    ("libxxhash0", "xxhash", "0.8.1-1"),
    ("libzstd1", "libzstd", "1.5.4+dfsg2-5"),
    ("login", "shadow", "1:4.13+dfsg1-1+b1"),
    ("mawk", "mawk", "1.3.4.20200120-3.1"),
    ("mount", "util-linux", "2.38.1-5+deb12u1"),
    ("ncurses-base", "ncurses", "6.4-4"),
    ("openssl", "openssl", "3.0.11-1~deb12u2"),
    ("passwd", "shadow", "1:4.13+dfsg1-1+b1"),
    ("perl-base", "perl", "5.36.0-7+deb12u1"),
    ("sed", "sed", "4.9-1"),
    ("tar", "tar", "1.34+dfsg-1.2+deb12u1"),
    ("tzdata", "tzdata", "2024a-0+deb12u1"),
    ("util-linux", "util-linux", "2.38.1-5+deb12u1"),
    ("zlib1g", "zlib", "1:1.2.13.dfsg-1"),
];

fn inventory() -> Vec<Package> {
    assert_eq!(BOOKWORM.len(), 88);
    BOOKWORM
        .iter()
        .map(|(name, source, version)| Package {
            ecosystem: "Debian:12".into(),
            name: (*name).into(),
            version: (*version).into(),
            source_name: Some((*source).into()),
            source_version: Some((*version).into()),
            path: "var/lib/dpkg/status".into(),
            layer: None,
            dev: false,
        })
        .collect()
}

const TEXT: &str = "A flaw was found in the handling of crafted input, which may allow a remote attacker \
to cause a denial of service or possibly execute arbitrary code. The issue is caused by an integer overflow \
when computing the size of a buffer, leading to a heap-based buffer overflow. ";

/// Records `0..REAL_SOURCE_RECORDS` that are Debian ones name a source package of [`BOOKWORM`].
const REAL_SOURCE_RECORDS: usize = 1_500;

/// One generated record, `modified` at `day` days into 2024.
fn record(rng: &mut Rng, n: usize, day: u64) -> serde_json::Value {
    let modified = format!("2024-{:02}-{:02}T12:00:00Z", 1 + day / 28 % 12, 1 + day % 28);
    let sources: Vec<&str> = BOOKWORM.iter().map(|b| b.1).collect();
    let kind = rng.below(100);
    let (prefix, affected) = if kind < 45 {
        // Debian: one source package, several releases.
        // The records on the inventory's own source packages are the same whatever N (about
        // 670, ~11 per package), so that the scan's work does not depend on N: only the rest of
        // the database grows.
        let name = if n < REAL_SOURCE_RECORDS {
            sources[rng.below(sources.len() as u64) as usize].to_owned()
        } else {
            format!("srcpkg{}", rng.below(6_000))
        };
        let fixed = format!(
            "{}.{}-{}+deb12u{}",
            rng.below(5),
            rng.below(20),
            1 + rng.below(9),
            1 + rng.below(5)
        );
        let aff: Vec<_> = ["Debian:11", "Debian:12", "Debian:13"]
            .iter()
            .map(|eco| {
                json!({"package": {"ecosystem": eco, "name": name, "purl": format!("pkg:deb/debian/{name}")},
                   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                   "ecosystem_specific": {"urgency": "not yet assigned"}})
            })
            .collect();
        ("DEBIAN-CVE", aff)
    } else if kind < 60 {
        let name = format!("srcpkg{}", rng.below(6_000));
        let aff: Vec<_> = ["Ubuntu:22.04:LTS", "Ubuntu:24.04:LTS", "Ubuntu:Pro:20.04:LTS"]
            .iter()
            .map(|eco| {
                json!({"package": {"ecosystem": eco, "name": name},
                   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": format!("1.{}-0ubuntu0.{}", rng.below(9), rng.below(9))}]}],
                   "versions": ["1.0-1", "1.0-1ubuntu1", "1.1-2"],
                   "ecosystem_specific": {"ubuntu_priority": "medium", "binaries": [{"binary_name": name, "binary_version": "1.0-1"}]}})
            })
            .collect();
        ("UBUNTU-CVE", aff)
    } else {
        let (eco, name, prefix) = match kind {
            60..=74 => ("PyPI", format!("py-pkg-{}", rng.below(8_000)), "PYSEC"),
            75..=86 => ("npm", format!("npm-pkg-{}", rng.below(12_000)), "GHSA"),
            87..=93 => ("Go", format!("github.com/org{}/mod", rng.below(4_000)), "GO"),
            _ => ("Maven", format!("org.example:artifact-{}", rng.below(6_000)), "GHSA"),
        };
        let (a, b) = (rng.below(5), rng.below(20));
        let aff = vec![json!({"package": {"ecosystem": eco, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": format!("{a}.0.0")}, {"fixed": format!("{a}.{b}.1")}]}],
            "database_specific": {"source": "https://example.invalid/advisories.json"}})];
        (prefix, aff)
    };
    json!({
        "schema_version": "1.6.0",
        "id": format!("{prefix}-2024-{n:07}"),
        "modified": modified,
        "published": "2024-01-01T00:00:00Z",
        "aliases": [format!("CVE-2024-{n}")],
        "summary": "heap-based buffer overflow in the parser",
        "details": TEXT.repeat(1 + rng.below(4) as usize),
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": affected,
        "references": [
            {"type": "ADVISORY", "url": format!("https://security-tracker.example.invalid/CVE-2024-{n}")},
            {"type": "WEB", "url": format!("https://nvd.example.invalid/vuln/detail/CVE-2024-{n}")},
            {"type": "FIX", "url": format!("https://git.example.invalid/commit/{:016x}", rng.next())}
        ],
    })
}

/// Write the zip (and, when `changed` is set, `modified_id.csv` beside it, with `changed`
/// records moved to a later day: the first 10, on the inventory's packages, and the last ones).
/// Returns the zip's size.
fn write_export(dir: &Path, n: usize, changed: usize) -> u64 {
    std::fs::create_dir_all(dir).unwrap();
    let zip_path = dir.join("all.zip");
    let mut zip = zip::ZipWriter::new(BufWriter::new(std::fs::File::create(&zip_path).unwrap()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut csv = BufWriter::new(std::fs::File::create(dir.join("modified_id.csv")).unwrap());
    let mut rng = Rng(0x0511_2026_dead_beef);
    for i in 0..n {
        let mut rec = record(&mut rng, i, i as u64 % 300);
        // A day's update: a few records on packages every image has, the rest anywhere.
        if changed > 0 && (i < 10 || i + (changed - 10) >= n) {
            rec["modified"] = json!("2025-06-01T00:00:00Z");
            rec["summary"] = json!("changed");
        }
        let id = rec["id"].as_str().unwrap().to_owned();
        zip.start_file(format!("{id}.json"), opts).unwrap();
        serde_json::to_writer(&mut zip, &rec).unwrap();
        writeln!(csv, "{},{id}", rec["modified"].as_str().unwrap()).unwrap();
    }
    zip.finish().unwrap().flush().unwrap();
    csv.flush().unwrap();
    if changed == 0 {
        std::fs::remove_file(dir.join("modified_id.csv")).unwrap();
    }
    std::fs::metadata(&zip_path).unwrap().len()
}

fn vmhwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The measured part, in a child: `import DB SRC`, `reimport DB SRC` or `scan DB`.
fn child(spec: &str) {
    if let Ok(filter) = std::env::var("BENCH_CHILD_LOG") {
        // The re-match's phases, for instance (`BENCH_CHILD_LOG=info`), on stderr.
        regscan::telemetry::init_logging(&regscan::config::LogConfig {
            filter,
            ..Default::default()
        });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let parts: Vec<&str> = spec.splitn(3, '\t').collect();
    rt.block_on(async {
        let store = Store::open(parts[1]).await.expect("store");
        let t = Instant::now();
        match parts[0] {
            "import" => {
                let s = import_source(&store, parts[2]).await.expect("import");
                println!("records={} added={}", s.records, s.added);
            }
            "read" => {
                // The reader alone: inflate, parse and build the rows, no database.
                let path = parts[2].to_owned();
                let n = tokio::task::spawn_blocking(move || {
                    let mut n = 0u64;
                    let f = std::fs::File::open(path).unwrap();
                    regscan_osv::stream_zip(f, &Default::default(), &|_| false, &mut |_, r| {
                        let _ = regscan::scan::advisories::import::row_of(&r.unwrap()).unwrap();
                        n += 1;
                        true
                    })
                    .unwrap();
                    n
                })
                .await
                .unwrap();
                println!("records={n}");
            }
            "reimport" => {
                let s = import_source(&store, parts[2]).await.expect("reimport");
                let imported = t.elapsed();
                let rescans = rematch(
                    &store,
                    &AdvisoryDb::default(),
                    &s.changed_keys,
                    s.changed_ids.as_deref(),
                )
                .await
                .expect("rematch");
                println!(
                    "records={} updated={} unread={} changed_keys={} rematched={} import={:.2}s rematch={:.2}s",
                    s.records,
                    s.updated,
                    s.unread,
                    s.changed_keys.len(),
                    rescans.len(),
                    imported.as_secs_f64(),
                    (t.elapsed() - imported).as_secs_f64()
                );
            }
            _ => {
                let (_, f) = AdvisoryDb::default()
                    .match_packages(&store, &inventory())
                    .await
                    .expect("match");
                println!("findings={}", f.len());
            }
        }
        println!("elapsed_ms={:.3}", t.elapsed().as_secs_f64() * 1000.0);
        store.close().await;
    });
    println!("vmhwm_kib={}", vmhwm_kib());
}

struct Run {
    elapsed: Duration,
    vmhwm_mib: f64,
    facts: String,
}

fn run_child(spec: String) -> Run {
    let t = Instant::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, &spec)
        .env("REGSCAN_LOG", "warn")
        .output()
        .expect("child runs");
    let wall = t.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if std::env::var_os("BENCH_CHILD_LOG").is_some() {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(
        out.status.success(),
        "child {spec:?} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut run = Run {
        elapsed: wall,
        vmhwm_mib: 0.0,
        facts: String::new(),
    };
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("vmhwm_kib=") {
            run.vmhwm_mib = v.trim().parse::<f64>().unwrap_or(0.0) / 1024.0;
        } else if let Some(v) = line.strip_prefix("elapsed_ms=") {
            run.elapsed = Duration::from_secs_f64(v.trim().parse::<f64>().unwrap_or(0.0) / 1000.0);
        } else {
            run.facts.push_str(line.trim());
            run.facts.push(' ');
        }
    }
    run
}

/// Store `count` artifacts, each with the 88-package inventory (a quarter of them also holding
/// packages of the generated Debian sources, so re-matching has work) and the findings a scan
/// matched for it.
async fn store_artifacts(url: &str, count: usize) {
    let store = Store::open(url).await.unwrap();
    let db = AdvisoryDb::default();
    let base = inventory();
    for i in 0..count {
        let digest = format!("sha256:{i:064x}");
        let id = store
            .upsert_artifact(&NewArtifact {
                artifact: &ArtifactRef::parse("bench.example", "bench/app", &digest).unwrap(),
                manifest_media_type: "application/vnd.oci.image.manifest.v1+json",
                artifact_type: None,
                kind: &Kind::new("image"),
                size: 1,
                parent_digest: None,
                platform: None,
            })
            .await
            .unwrap();
        let mut packages = base.clone();
        if i % 4 == 0 {
            packages[87].name = format!("srcpkg{}", i % 6_000);
            packages[87].source_name = None;
        }
        let (advisory_snapshot, advisories) = db.match_packages(&store, &packages).await.unwrap();
        let result = ScanResult {
            checks: Vec::new(),
            advisories,
            packages,
            details: Default::default(),
            advisory_snapshot,
            inventory_scan_id: None,
        };
        let image = ScannerRef::new("image", "1");
        store
            .record_scan(id, Some(&image), Status::Succeeded, None, &result)
            .await
            .unwrap();
    }
    store.close().await;
}

/// The bookworm packages as a dpkg `status` file, in an image with a Debian 12 `os-release`;
/// `variant` changes one file so that each variant is a distinct image.
fn bookworm_image(variant: usize) -> OciImage {
    let mut status = String::new();
    for (name, source, version) in BOOKWORM {
        status.push_str(&format!(
            "Package: {name}\nStatus: install ok installed\nSource: {source}\nVersion: {version}\nArchitecture: amd64\n\n"
        ));
    }
    let hostname = format!("bench-{variant}\n");
    OciImage::new(&[
        (
            "etc/os-release",
            b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
        ),
        ("etc/hostname", hostname.as_bytes()),
        ("var/lib/dpkg/status", status.as_bytes()),
    ])
}

/// The registry and the images pushed for the whole-scan and worker steps.
struct Images {
    registry: Registry,
    /// Distinct images `bench/debian:w0…` for the worker step.
    worker_scans: usize,
}

/// Step 3: `regscan scan --force` of `bench/debian:bookworm`, best of 5 — (wall, largest peak
/// RSS in MiB, findings).
fn whole_scan(db_url: &str, images: &Images) -> (Duration, f64, usize) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("regscan.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = {db_url:?}\n\n[[registry]]\nhost = {:?}\ninsecure = true\n",
            images.registry.host
        ),
    )
    .unwrap();
    let reference = format!("{}/bench/debian:bookworm", images.registry.host);
    let mut best = Duration::MAX;
    let mut peak = 0.0f64;
    let mut findings = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "maxrss_kib=%M"])
            .arg(regscan_bin())
            .arg("--config")
            .arg(&config)
            .args(["scan", &reference, "--force", "--format", "json"])
            .env("REGSCAN_LOG", "warn")
            .env_remove("REGSCAN_DATABASE_URL")
            .output()
            .expect("run regscan scan");
        best = best.min(t.elapsed());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "regscan scan failed: {stderr}");
        let kib: f64 = stderr
            .lines()
            .find_map(|l| l.strip_prefix("maxrss_kib="))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0);
        peak = peak.max(kib / 1024.0);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
        findings = report["findings"].as_array().map_or(0, Vec::len);
    }
    (best, peak, findings)
}

fn proc_status_kib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Step 4: a `regscan worker` scans the `w*` images — (time, RSS after, peak RSS, in MiB).
async fn worker_scans(db_url: &str, images: &Images) -> (Duration, f64, f64) {
    let config = TestConfig::new(db_url, &[&images.registry.host]);
    let serve = RegscanProcess::start(&config, &["serve", "--workers", "0"]).await;
    let worker = RegscanProcess::start(&config, &["worker"]).await;
    let store = Store::open(db_url).await.unwrap();
    let count = || async {
        sqlx::query("SELECT COUNT(*) AS n FROM scans WHERE status IN ('succeeded', 'failed') AND artifact_id IN (SELECT id FROM artifacts WHERE repository = 'bench/worker')")
            .fetch_one(store.pool())
            .await
            .unwrap()
            .try_get::<i64, _>("n")
            .unwrap()
    };
    let before = count().await;
    let http = reqwest::Client::new();
    let t = Instant::now();
    for i in 0..images.worker_scans {
        let r = http
            .post(format!("{}/v1/scans", serve.url()))
            .json(&json!({"reference": format!("{}/bench/worker:w{i}", images.registry.host), "force": true}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "scan request: {}", r.status());
    }
    let want = before + images.worker_scans as i64;
    loop {
        let done = count().await;
        if done >= want {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(3600),
            "worker finished {done} of {want} scans:\n{}",
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let elapsed = t.elapsed();
    let rss = proc_status_kib(worker.pid(), "VmRSS:") / 1024.0;
    let hwm = proc_status_kib(worker.pid(), "VmHWM:") / 1024.0;
    let failed: i64 = sqlx::query("SELECT COUNT(*) AS n FROM scans WHERE status = 'failed'")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(failed, 0, "no scan fails:\n{}", worker.log());
    store.close().await;
    drop((serve, worker));
    (elapsed, rss, hwm)
}

fn bench_backend(backend: &str, n: usize, artifacts: usize, dir: &Path, images: Option<&Images>) {
    let (url, empty_url, pg_dbs): (String, String, Option<Vec<String>>) = if backend == "postgres" {
        let suffix: u64 = rand::random();
        let (db, empty) = (
            format!("regscan_bench_{suffix:016x}"),
            format!("regscan_bench_{suffix:016x}_e"),
        );
        psql(&format!("CREATE DATABASE {db}"));
        psql(&format!("CREATE DATABASE {empty}"));
        let admin = pg_admin();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin).to_owned();
        (format!("{base}/{db}"), format!("{base}/{empty}"), Some(vec![db, empty]))
    } else {
        (
            format!("sqlite://{}", dir.join(format!("{backend}.db")).display()),
            format!("sqlite://{}", dir.join(format!("{backend}-empty.db")).display()),
            None,
        )
    };
    let export = dir.join("export/all.zip");
    let read = run_child(format!("read\t{url}\t{}", export.display()));
    println!(
        "[{backend}] read and parse only (no database): {:.1} s, {:.0} records/s",
        read.elapsed.as_secs_f64(),
        n as f64 / read.elapsed.as_secs_f64()
    );
    let import = run_child(format!("import\t{url}\t{}", export.display()));
    println!(
        "[{backend}] import {n} records: {:.1} s, {:.0} records/s, peak RSS {:.1} MiB ({})",
        import.elapsed.as_secs_f64(),
        n as f64 / import.elapsed.as_secs_f64(),
        import.vmhwm_mib,
        import.facts.trim()
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(Store::open(&empty_url)).unwrap();
    for (label, db) in [("empty database", &empty_url), (&*format!("{n} records"), &url)] {
        let runs: Vec<Run> = (0..5).map(|_| run_child(format!("scan\t{db}"))).collect();
        let best = runs.iter().map(|r| r.elapsed).min().unwrap();
        let peak = runs.iter().map(|r| r.vmhwm_mib).fold(0.0, f64::max);
        println!(
            "[{backend}] scan of 88 Debian packages, {label}: match {:.1} ms (best of 5, fresh process, cold cache), process peak RSS {:.1} MiB ({})",
            best.as_secs_f64() * 1000.0,
            peak,
            runs[0].facts.trim()
        );
    }
    if let Some(images) = images {
        for (label, db) in [("empty database", &empty_url), (&*format!("{n} records"), &url)] {
            let (best, peak, findings) = whole_scan(db, images);
            println!(
                "[{backend}] whole `regscan scan --force` of the 88-package image through docker-registry, {label}: {:.0} ms (best of 5), peak RSS of the largest process {:.1} MiB, {findings} findings",
                best.as_secs_f64() * 1000.0,
                peak
            );
        }
        if images.worker_scans > 0 {
            for (label, db) in [("empty database", &empty_url), (&*format!("{n} records"), &url)] {
                let (elapsed, rss, hwm) = rt.block_on(worker_scans(db, images));
                println!(
                    "[{backend}] `regscan worker` after {} scans of distinct images, {label}: RSS {rss:.1} MiB, peak {hwm:.1} MiB ({:.1} s, {:.1} scans/s)",
                    images.worker_scans,
                    elapsed.as_secs_f64(),
                    images.worker_scans as f64 / elapsed.as_secs_f64()
                );
            }
        }
    }
    let t = Instant::now();
    rt.block_on(store_artifacts(&url, artifacts));
    println!(
        "[{backend}] stored {artifacts} artifacts of 88 packages in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    if backend == "sqlite" && std::env::var_os("BENCH_DIR").is_some() {
        // The artifacts stored, before the update: to re-run the re-match by hand.
        std::fs::copy(dir.join("sqlite.db"), dir.join("sqlite-stored.db")).unwrap();
    }
    let re = run_child(format!("reimport\t{url}\t{}", dir.join("export2/all.zip").display()));
    println!(
        "[{backend}] re-import with 1000 changed records and modified_id.csv, then re-matching {artifacts}+ stored artifacts: {:.2} s, peak RSS {:.1} MiB ({})",
        re.elapsed.as_secs_f64(),
        re.vmhwm_mib,
        re.facts.trim()
    );
    if let Some(dbs) = pg_dbs.filter(|_| std::env::var_os("BENCH_DIR").is_none()) {
        for db in dbs {
            psql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
        }
    }
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    let n = env_usize("BENCH_ADVISORIES", 100_000);
    let artifacts = env_usize("BENCH_ARTIFACTS", 1_000);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite".into());
    // BENCH_DIR keeps the export and the databases (to re-run a step by hand).
    let tmp = tempfile::tempdir().unwrap();
    let dir_path = std::env::var_os("BENCH_DIR").map(std::path::PathBuf::from);
    let dir = dir_path.as_deref().unwrap_or(tmp.path());
    let t = Instant::now();
    let size = write_export(&dir.join("export"), n, 0);
    write_export(&dir.join("export2"), n, 1_000.min(n));
    println!(
        "advisory benchmark: {n} generated records, all.zip {:.1} MiB (written in {:.1} s), {} CPUs",
        size as f64 / (1u64 << 20) as f64,
        t.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    let worker_scans = env_usize("BENCH_WORKER_SCANS", 1_000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let images = (worker_scans > 0).then(|| {
        rt.block_on(async {
            let registry = Registry::start().await;
            registry
                .push_image("bench/debian", "bookworm", &bookworm_image(0))
                .await;
            for i in 0..worker_scans {
                registry
                    .push_image("bench/worker", &format!("w{i}"), &bookworm_image(i + 1))
                    .await;
            }
            Images { registry, worker_scans }
        })
    });
    for backend in backends.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        bench_backend(backend, n, artifacts, dir, images.as_ref());
    }
    drop(images);
}
