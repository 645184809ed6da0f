//! Matching benchmark (run with `cargo bench -p regscan-osv`).
//!
//! Generates 100,000 advisories across nine ecosystems and 2,000 installed packages drawn from
//! the same package names (so every package has candidate advisories and some match), then
//! times index build and `match_packages` (median of several runs). Also measures parse
//! throughput on the real sample records in `tests/fixtures`, and matching of rpm packages
//! against 50,000 Red Hat (repository streams, EUS, modules), SUSE and Rocky records.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use regscan_osv::{parse_advisory, Advisory, AdvisoryIndex, Affected, AffectedPackage, Event, Range};
use regscan_scanner_api::Package;

/// A small deterministic generator (xorshift64*), so runs are comparable.
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

const ECOSYSTEMS: [&str; 9] = [
    "Debian:12",
    "Ubuntu:22.04:LTS",
    "Alpine:v3.19",
    "PyPI",
    "npm",
    "Maven",
    "Go",
    "crates.io",
    "RubyGems",
];
const NAMES_PER_ECOSYSTEM: u64 = 4_000;

fn name(eco: &str, i: u64) -> String {
    match eco {
        "Maven" => format!("org.example{}:artifact-{i}", i % 50),
        "Go" => format!("github.com/org{}/module{i}", i % 100),
        "npm" if i % 5 == 0 => format!("@scope{}/pkg-{i}", i % 20),
        "PyPI" => format!("py-package-{i}"),
        _ => format!("lib{i}-pkg"),
    }
}

/// A version string in the ecosystem's style.
fn version(eco: &str, maj: u64, min: u64, patch: u64, rev: u64) -> String {
    match eco {
        "Debian:12" => format!("{maj}.{min}.{patch}-{rev}+deb12u1"),
        "Ubuntu:22.04:LTS" => format!("{maj}.{min}.{patch}-{rev}ubuntu0.22.04.1"),
        "Alpine:v3.19" => format!("{maj}.{min}.{patch}-r{rev}"),
        "Maven" if rev == 0 => format!("{maj}.{min}.{patch}-beta1"),
        _ => format!("{maj}.{min}.{patch}"),
    }
}

fn advisory(rng: &mut Rng, n: u64) -> Advisory {
    let eco = ECOSYSTEMS[rng.below(ECOSYSTEMS.len() as u64) as usize];
    let pkg_name = name(eco, rng.below(NAMES_PER_ECOSYSTEM));
    let kind = if matches!(eco, "npm" | "Go" | "crates.io") {
        "SEMVER"
    } else {
        "ECOSYSTEM"
    };
    let mut events = Vec::new();
    let pairs = 1 + rng.below(3);
    for p in 0..pairs {
        let maj = p * 2 + rng.below(2);
        if p == 0 && rng.below(2) == 0 {
            events.push(Event::Introduced("0".into()));
        } else {
            events.push(Event::Introduced(version(eco, maj, 0, 0, 1)));
        }
        let fix = version(eco, maj, rng.below(10), rng.below(20), 1 + rng.below(3));
        if rng.below(10) == 0 {
            events.push(Event::LastAffected(fix));
        } else if !(p == pairs - 1 && rng.below(8) == 0) {
            events.push(Event::Fixed(fix));
        }
    }
    // Records list events in any order; reverse some.
    if rng.below(4) == 0 {
        events.reverse();
    }
    let versions = if rng.below(5) == 0 {
        (0..10).map(|k| version(eco, 0, k, 0, 1)).collect()
    } else {
        Vec::new()
    };
    Advisory {
        schema_version: Some("1.6.0".into()),
        id: format!("BENCH-{n}"),
        modified: "2024-01-01T00:00:00Z".into(),
        published: None,
        withdrawn: None,
        aliases: vec![format!("CVE-2024-{n}")],
        upstream: Vec::new(),
        related: Vec::new(),
        summary: Some(format!("generated advisory {n}")),
        details: None,
        severity: Vec::new(),
        affected: vec![Affected {
            package: Some(AffectedPackage {
                ecosystem: eco.into(),
                name: pkg_name,
                purl: None,
            }),
            severity: Vec::new(),
            ranges: vec![Range {
                kind: kind.into(),
                repo: None,
                events,
                database_specific: None,
            }],
            versions,
            ecosystem_specific: None,
            database_specific: Some(serde_json::json!({"severity": "HIGH"})),
        }],
        references: Vec::new(),
        database_specific: None,
    }
}

fn package(rng: &mut Rng) -> Package {
    let eco = ECOSYSTEMS[rng.below(ECOSYSTEMS.len() as u64) as usize];
    let name = name(eco, rng.below(NAMES_PER_ECOSYSTEM));
    let v = version(eco, rng.below(6), rng.below(10), rng.below(20), 1 + rng.below(3));
    let (v, path) = match eco {
        "Go" => (format!("v{v}"), "usr/local/bin/app"),
        "Debian:12" | "Ubuntu:22.04:LTS" => (v, "var/lib/dpkg/status"),
        "Alpine:v3.19" => (v, "lib/apk/db/installed"),
        _ => (v, "app/manifest"),
    };
    let eco = if eco == "Ubuntu:22.04:LTS" { "Ubuntu:22.04" } else { eco };
    let os = matches!(eco, "Debian:12" | "Ubuntu:22.04" | "Alpine:v3.19");
    Package {
        ecosystem: eco.into(),
        name: if os { format!("{name}-bin") } else { name.clone() },
        version: v.clone(),
        source_name: os.then(|| name.clone()),
        source_version: os.then(|| v.clone()),
        path: path.into(),
        layer: None,
        dev: false,
    }
}

/// Red Hat (three repository streams, an EUS product, module entries with `rpmmod`), SUSE and
/// Rocky records, matched by rpm packages of the ecosystems the image scanner gives them.
fn rpm_streams(rng: &mut Rng) {
    const STREAMS: [&str; 6] = [
        "Red Hat:enterprise_linux:9::baseos",
        "Red Hat:enterprise_linux:9::appstream",
        "Red Hat:enterprise_linux:9::crb",
        "Red Hat:rhel_eus:9.2::baseos",
        "SUSE:Linux Enterprise Module for Basesystem 15 SP5",
        "Rocky Linux:9",
    ];
    let release = |rng: &mut Rng, module: bool, n: u64| {
        if module {
            format!("{}.module+el9.2.0+{n}+abcdef01", 1 + rng.below(5))
        } else {
            format!("{}.el9", 1 + rng.below(5))
        }
    };
    let advisories: Vec<Advisory> = (0..50_000u64)
        .map(|n| {
            let eco = STREAMS[rng.below(STREAMS.len() as u64) as usize];
            let i = rng.below(NAMES_PER_ECOSYSTEM);
            let module = eco.starts_with("Red Hat") && i % 7 == 0;
            let fixed = format!("{}.{}-{}", rng.below(6), rng.below(10), release(rng, module, n));
            let mut adv = advisory(rng, n);
            let a = &mut adv.affected[0];
            a.package = Some(AffectedPackage {
                ecosystem: eco.into(),
                name: format!("lib{i}-pkg"),
                purl: module.then(|| {
                    format!(
                        "pkg:rpm/redhat/lib{i}-pkg?arch=src&rpmmod=mod{}:1:9020020230101000000:rhel9",
                        i % 10
                    )
                }),
            });
            a.versions = Vec::new();
            a.ranges = vec![Range {
                kind: "ECOSYSTEM".into(),
                repo: None,
                events: vec![Event::Introduced("0".into()), Event::Fixed(fixed)],
                database_specific: None,
            }];
            adv
        })
        .collect();
    let t = Instant::now();
    let index = AdvisoryIndex::new(advisories);
    println!(
        "index build (50000 rpm-distribution advisories): {:.0} ms",
        ms(t.elapsed())
    );
    let pkgs: Vec<Package> = (0..2_000u64)
        .map(|n| {
            let i = rng.below(NAMES_PER_ECOSYSTEM);
            let module = i % 7 == 0 && rng.below(2) == 0;
            let eco = match (module, rng.below(4)) {
                (true, _) => format!("Red Hat:enterprise_linux:9 module:mod{}:1", i % 10),
                (false, 0) => "Red Hat:enterprise_linux:9".to_owned(),
                (false, 1) => "Red Hat:rhel_eus:9.2".to_owned(),
                (false, 2) => "SUSE:Linux Enterprise Server 15 SP5".to_owned(),
                _ => "Rocky Linux:9".to_owned(),
            };
            let v = format!("{}.{}-{}", rng.below(6), rng.below(10), release(rng, module, n));
            Package {
                ecosystem: eco,
                name: format!("lib{i}-pkg-libs"),
                version: v.clone(),
                source_name: Some(format!("lib{i}-pkg")),
                source_version: Some(v),
                path: "var/lib/rpm/rpmdb.sqlite".into(),
                layer: None,
                dev: false,
            }
        })
        .collect();
    let mut runs = Vec::new();
    let mut findings = 0;
    for _ in 0..9 {
        let t = Instant::now();
        findings = index.match_packages(black_box(&pkgs)).len();
        runs.push(t.elapsed());
    }
    println!(
        "match_packages (2000 rpm packages): median {:.2} ms, min {:.2} ms over {} runs; {findings} findings",
        ms(median(runs.clone())),
        ms(runs.iter().min().copied().unwrap_or_default()),
        runs.len()
    );
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let t = Instant::now();
    let advisories: Vec<Advisory> = (0..100_000).map(|n| advisory(&mut rng, n)).collect();
    println!("generated 100000 advisories in {:.0} ms", ms(t.elapsed()));

    let t = Instant::now();
    let index = AdvisoryIndex::new(advisories);
    println!("index build (100000 advisories): {:.0} ms", ms(t.elapsed()));

    let pkgs: Vec<Package> = (0..2_000).map(|_| package(&mut rng)).collect();
    let mut runs = Vec::new();
    let mut findings = 0;
    for _ in 0..9 {
        let t = Instant::now();
        let f = index.match_packages(black_box(&pkgs));
        runs.push(t.elapsed());
        findings = f.len();
    }
    let min = runs.iter().min().copied().unwrap_or_default();
    println!(
        "match_packages (2000 packages): median {:.2} ms, min {:.2} ms over {} runs; {findings} findings",
        ms(median(runs.clone())),
        ms(min),
        runs.len()
    );

    // Parse throughput on the real records.
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    let loaded = regscan_osv::read_dir(root, &regscan_osv::ImportLimits::default()).expect("fixtures");
    let files: Vec<Vec<u8>> = loaded
        .iter()
        .map(|(name, _)| std::fs::read(root.join(name)).expect("fixture file"))
        .collect();
    let bytes: usize = files.iter().map(Vec::len).sum();
    let rounds = 50;
    let t = Instant::now();
    for _ in 0..rounds {
        for f in &files {
            black_box(parse_advisory(black_box(f)).ok());
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "parse_advisory on {} real records ({} bytes) x{rounds}: {:.1} MB/s, {:.0} records/s",
        files.len(),
        bytes,
        (bytes * rounds) as f64 / secs / 1e6,
        (files.len() * rounds) as f64 / secs
    );

    rpm_streams(&mut rng);
}
