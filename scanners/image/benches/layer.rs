//! Layer walking throughput and memory against `gzip -dc`.
//!
//! Builds a gzip layer of about 256 MiB uncompressed (tens of thousands of files, a dpkg status
//! database, Python dist-info and npm package metadata) in a temporary file, then times
//! (a) the real `gzip -dc FILE > /dev/null` and (b) the streaming walk of the same blob through
//! the async blob path (`walk_blob`, tokio file -> SyncIoBridge). The walk runs in a child
//! process so its peak RSS (VmHWM) is its own. Run with `cargo bench -p regscan-scanner-image`.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use regscan_scanner_image::{walk_blob, WalkLimits};

const CHILD_ENV: &str = "REGSCAN_LAYER_BENCH_CHILD";
const TARGET_BYTES: u64 = 256 << 20;
const RUNS: usize = 3;

fn main() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let blob = dir.path().join("layer.tar.gz");
    let t = Instant::now();
    let (uncompressed, files) = build_layer(&blob);
    let compressed = std::fs::metadata(&blob).expect("layer written").len();
    println!(
        "layer: {files} files, {:.1} MiB uncompressed, {:.1} MiB gzip (built in {:.1?})",
        mib(uncompressed),
        mib(compressed),
        t.elapsed()
    );

    let mut gzip_best = Duration::MAX;
    let mut walk_best = Duration::MAX;
    let mut peak_kib = 0u64;
    let mut packages = String::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let status = Command::new("gzip")
            .arg("-dc")
            .arg(&blob)
            .stdout(Stdio::null())
            .status()
            .expect("gzip runs");
        assert!(status.success(), "gzip -dc failed");
        gzip_best = gzip_best.min(t.elapsed());

        let t = Instant::now();
        let out = Command::new(std::env::current_exe().expect("own path"))
            .env(CHILD_ENV, &blob)
            .output()
            .expect("child runs");
        let elapsed = t.elapsed();
        assert!(
            out.status.success(),
            "walk failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        walk_best = walk_best.min(elapsed);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("vmhwm_kib=") {
                peak_kib = peak_kib.max(v.trim().parse().unwrap_or(0));
            }
            if let Some(v) = line.strip_prefix("packages=") {
                packages = v.to_owned();
            }
        }
    }
    println!(
        "gzip -dc > /dev/null      : {:>8.3} s  ({:.0} MiB/s uncompressed)",
        gzip_best.as_secs_f64(),
        mib(uncompressed) / gzip_best.as_secs_f64()
    );
    println!(
        "regscan walk (process)    : {:>8.3} s  ({:.0} MiB/s uncompressed)",
        walk_best.as_secs_f64(),
        mib(uncompressed) / walk_best.as_secs_f64()
    );
    println!(
        "ratio walk / gzip         : {:>8.2}x (target <= 1.3x)",
        walk_best.as_secs_f64() / gzip_best.as_secs_f64()
    );
    println!(
        "walk peak RSS (VmHWM)     : {:>8.1} MiB (target < 100 MiB)",
        peak_kib as f64 / 1024.0
    );
    println!("packages found            : {packages}");
    println!(
        "best of {RUNS} runs; machine: {} CPUs",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
}

/// The measured part: walk the blob through the async path, print facts and peak RSS.
fn child(path: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let facts = rt
        .block_on(async {
            let file = tokio::fs::File::open(path).await.expect("open layer");
            walk_blob(Box::pin(file), "sha256:bench", WalkLimits::default()).await
        })
        .expect("walk succeeds");
    let packages: usize = facts.package_count();
    println!(
        "packages={packages} in {} analyzed files, {} entries",
        facts.files.len(),
        facts.entries
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("0");
    println!("vmhwm_kib={hwm}");
}

fn mib(b: u64) -> f64 {
    b as f64 / (1u64 << 20) as f64
}

/// A small deterministic PRNG (xorshift64*), so the layer is the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Write the layer; returns (uncompressed tar bytes, file count).
fn build_layer(path: &Path) -> (u64, usize) {
    let file = std::fs::File::create(path).expect("create layer file");
    let gz = flate2::write::GzEncoder::new(BufWriter::with_capacity(1 << 20, file), flate2::Compression::new(6));
    let mut tar = tar::Builder::new(CountingWriter { inner: gz, count: 0 });
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Text-like content: words from a vocabulary, so gzip sees a realistic ratio (~3x).
    let vocab: Vec<String> = (0..4096)
        .map(|_| {
            let len = 2 + (rng.next() % 9) as usize;
            (0..len).map(|_| (b'a' + (rng.next() % 26) as u8) as char).collect()
        })
        .collect();
    let mut corpus = Vec::with_capacity(4 << 20);
    while corpus.len() < 4 << 20 {
        corpus.extend_from_slice(vocab[(rng.next() % 4096) as usize].as_bytes());
        corpus.push(if matches!(rng.next() % 12, 0) { b'\n' } else { b' ' });
    }
    let mut files = 0usize;
    let mut add = |tar: &mut tar::Builder<CountingWriter<_>>, path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, data).expect("append");
        files += 1;
    };
    add(
        &mut tar,
        "etc/os-release",
        b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
    );
    let mut status = String::new();
    for i in 0..1500 {
        status.push_str(&format!(
            "Package: pkg{i}\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: {}\nMaintainer: Someone <a@example.org>\nArchitecture: amd64\nSource: src{}\nVersion: 1.{i}-{}\nDepends: libc6 (>= 2.36)\nDescription: package number {i}\n a longer description line\n a second line\n\n",
            i * 3,
            i / 3,
            i % 7
        ));
    }
    add(&mut tar, "var/lib/dpkg/status", status.as_bytes());
    for i in 0..400 {
        let meta = format!(
            "Metadata-Version: 2.1\nName: pylib{i}\nVersion: 0.{i}.1\nSummary: a library\n\n{}",
            "Long description. ".repeat(50)
        );
        add(
            &mut tar,
            &format!("usr/lib/python3/dist-packages/pylib{i}-0.{i}.1.dist-info/METADATA"),
            meta.as_bytes(),
        );
        add(
            &mut tar,
            &format!("usr/lib/python3/dist-packages/pylib{i}/__init__.py"),
            &corpus[i * 97..i * 97 + 3000],
        );
    }
    for i in 0..2000 {
        let pkg = format!(
            r#"{{"name":"npm-mod{i}","version":"1.0.{i}","description":"module","main":"index.js","license":"MIT"}}"#
        );
        add(
            &mut tar,
            &format!("app/node_modules/npm-mod{i}/package.json"),
            pkg.as_bytes(),
        );
        add(
            &mut tar,
            &format!("app/node_modules/npm-mod{i}/index.js"),
            &corpus[i * 131..i * 131 + 2000],
        );
    }
    let mut i = 0usize;
    while tar.get_ref().count < TARGET_BYTES {
        let len = 1000 + (rng.next() % 60_000) as usize;
        let start = (rng.next() % (corpus.len() - len) as u64) as usize;
        add(
            &mut tar,
            &format!("usr/share/data/d{}/file{i}.txt", i % 97),
            &corpus[start..start + len],
        );
        i += 1;
    }
    let writer = tar.into_inner().expect("finish tar");
    let count = writer.count;
    writer.inner.finish().expect("finish gzip").flush().expect("flush");
    (count, files)
}

struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
