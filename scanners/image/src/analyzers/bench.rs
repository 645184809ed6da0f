//! Throughput of the package analyzers on generated inputs (a bench binary, no harness):
//! `wanted` per call, dpkg status parsing, the Go build info search over a large binary, a
//! Spring Boot style jar with nested jars, an rpm SQLite database, and every lockfile parser on
//! a large generated lockfile of the real tools' shape (`lockfile_bench.rs`).
//!
//! Registered in `scanners/image/Cargo.toml` as
//! `[[bench]] name = "analyzers", path = "src/analyzers/bench.rs", harness = false`;
//! run with `cargo bench -p regscan-scanner-image --bench analyzers`.

use std::hint::black_box;
use std::io::{Cursor, Write};
use std::time::{Duration, Instant};

use regscan_scanner_image::analyzers::{analyze, wanted, AnalyzerId, FileFacts};

/// Run `f` `iters` times and return the mean time per run.
fn time(iters: u32, mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed() / iters
}

/// `n` pseudo-random bytes (xorshift), like code and data in a real binary.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend(seed.to_le_bytes());
    }
    out.truncate(n);
    out
}

fn mib_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64()
}

fn count(facts: FileFacts) -> usize {
    match facts {
        FileFacts::Packages(p) => p.len(),
        _ => 0,
    }
}

fn bench_wanted() {
    let paths = [
        "usr/share/doc/libc6/changelog.Debian.gz",
        "usr/lib/x86_64-linux-gnu/libc.so.6",
        "usr/bin/bash",
        "etc/os-release",
        "var/lib/dpkg/status",
        "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
        "usr/lib/python3/dist-packages/requests/api.py",
        "app/node_modules/express/package.json",
        "app/node_modules/express/lib/router/index.js",
        "usr/share/zoneinfo/Europe/Paris",
    ];
    let n = 1_000_000u32;
    let d = time(1, || {
        for i in 0..n {
            black_box(wanted(black_box(paths[i as usize % paths.len()]), 4096));
        }
    });
    println!(
        "wanted: {:.1} ns per call (mixed paths, 7 of 10 misses)",
        d.as_nanos() as f64 / f64::from(n)
    );
}

fn bench_dpkg() {
    let mut text = String::new();
    for i in 0..3000 {
        text.push_str(&format!(
            "Package: pkg{i}\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 1234\n\
             Maintainer: Example <a@example.org>\nArchitecture: amd64\nMulti-Arch: same\nSource: src{i} (1.2.3-{i})\n\
             Version: 1.2.3-{i}+b1\nDepends: libc6 (>= 2.34), libgcc-s1\nDescription: package {i}\n a long description\n \
             spanning lines\n .\n and paragraphs\nHomepage: https://example.org/{i}\n\n"
        ));
    }
    let d = time(20, || {
        let n = count(analyze(AnalyzerId::Dpkg, "var/lib/dpkg/status", &mut text.as_bytes()).unwrap());
        assert_eq!(n, 3000);
    });
    println!(
        "dpkg status: 3000 packages, {:.1} MiB in {:.2} ms = {:.0} MiB/s",
        text.len() as f64 / 1048576.0,
        d.as_secs_f64() * 1e3,
        mib_per_s(text.len(), d)
    );
}

fn uvarint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bench_go() {
    let size = 100 << 20;
    let offset = 60 << 20;
    let mut bin = noise(offset, 0x9e37_79b9_7f4a_7c15);
    bin[..4].copy_from_slice(b"\x7fELF");
    let mut info = b"\xff Go buildinf:".to_vec();
    info.extend([8u8, 2]);
    info.resize(32, 0);
    uvarint(8, &mut info);
    info.extend(b"go1.22.1");
    let mut modinfo = vec![0x30u8; 16];
    modinfo.extend(b"path\texample.com/x\nmod\texample.com/x\t(devel)\t\n");
    for i in 0..200 {
        modinfo.extend(format!("dep\texample.com/dep{i}\tv1.{i}.0\th1:abc=\n").as_bytes());
    }
    modinfo.extend([0xf9u8; 16]);
    uvarint(modinfo.len() as u64, &mut info);
    info.extend(modinfo);
    bin.extend(info);
    let tail = size - bin.len();
    bin.extend(noise(tail, 7));
    let d = time(5, || {
        let n = count(analyze(AnalyzerId::GoBinary, "usr/local/bin/x", &mut bin.as_slice()).unwrap());
        assert_eq!(n, 201);
    });
    println!(
        "go binary: build info at 60 MiB of a 100 MiB binary found in {:.1} ms = {:.0} MiB/s scanned",
        d.as_secs_f64() * 1e3,
        mib_per_s(offset, d)
    );
    let mut plain = bin.clone();
    plain[offset..offset + 14].fill(0);
    let d = time(5, || {
        assert_eq!(
            count(analyze(AnalyzerId::GoBinary, "usr/bin/x", &mut plain.as_slice()).unwrap()),
            0
        );
    });
    println!(
        "non-Go ELF: 100 MiB searched in {:.1} ms = {:.0} MiB/s",
        d.as_secs_f64() * 1e3,
        mib_per_s(size, d)
    );
}

fn jar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in files {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn bench_java() {
    let mut files = Vec::new();
    for i in 0..150 {
        let pom = format!("groupId=org.example{i}\nartifactId=lib{i}\nversion=1.{i}.0\n");
        let classes: Vec<(String, Vec<u8>)> = (0..20)
            .map(|c| {
                (
                    format!("org/example{i}/C{c}.class"),
                    noise(2000, (i * 100 + c + 1) as u64),
                )
            })
            .collect();
        let mut inner = vec![(
            format!("META-INF/maven/org.example{i}/lib{i}/pom.properties"),
            pom.into_bytes(),
        )];
        inner.extend(classes);
        files.push((format!("BOOT-INF/lib/lib{i}-1.{i}.0.jar"), jar(&inner)));
    }
    let outer = jar(&files);
    let d = time(10, || {
        assert_eq!(
            count(analyze(AnalyzerId::Java, "app/app.jar", &mut outer.as_slice()).unwrap()),
            150
        );
    });
    println!(
        "java: {:.1} MiB Spring Boot jar with 150 nested jars in {:.1} ms",
        outer.len() as f64 / 1048576.0,
        d.as_secs_f64() * 1e3
    );
}

fn rpm_header(name: &str, version: &str, release: &str) -> Vec<u8> {
    let fields = [
        (1000u32, name.to_owned()),
        (1001, version.to_owned()),
        (1002, release.to_owned()),
        (1044, format!("{name}-{version}-{release}.src.rpm")),
    ];
    let mut data = Vec::new();
    let mut entries = Vec::new();
    for (tag, value) in &fields {
        entries.push((*tag, 6u32, data.len() as u32, 1u32));
        data.extend(value.as_bytes());
        data.push(0);
    }
    let mut blob = Vec::new();
    blob.extend((entries.len() as u32).to_be_bytes());
    blob.extend((data.len() as u32).to_be_bytes());
    for (t, ty, o, c) in entries {
        for v in [t, ty, o, c] {
            blob.extend(v.to_be_bytes());
        }
    }
    blob.extend(data);
    blob.extend(vec![0u8; 4000]);
    blob
}

fn bench_rpm() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rpmdb.sqlite");
    {
        let conn = rusqlite::Connection::open(&file).unwrap();
        conn.execute_batch("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);")
            .unwrap();
        for i in 0..500 {
            conn.execute(
                "INSERT INTO Packages (blob) VALUES (?1)",
                [rpm_header(&format!("pkg{i}"), "1.0", &format!("{i}.el9"))],
            )
            .unwrap();
        }
    }
    let db = std::fs::read(&file).unwrap();
    let d = time(20, || {
        assert_eq!(
            count(analyze(AnalyzerId::RpmSqlite, "var/lib/rpm/rpmdb.sqlite", &mut db.as_slice()).unwrap()),
            500
        );
    });
    println!(
        "rpm: 500 headers, {:.1} MiB database in {:.1} ms",
        db.len() as f64 / 1048576.0,
        d.as_secs_f64() * 1e3
    );
}

#[path = "lockfile_bench.rs"]
mod lockfile_bench;

fn main() {
    if let Some(only) = std::env::args().find_map(|a| a.strip_prefix("lockfile=").map(str::to_owned)) {
        lockfile_bench::run_one(&only);
        return;
    }
    if std::env::args().any(|a| a == "lockfiles") {
        lockfile_bench::run();
        return;
    }
    lockfile_bench::run();
    bench_wanted();
    bench_dpkg();
    bench_go();
    bench_java();
    bench_rpm();
}
