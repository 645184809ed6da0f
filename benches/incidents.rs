//! Cross-artifact query benchmark: `GET /v1/vulnerabilities` and `GET /v1/packages` (through
//! the store functions behind them) over generated rows, on SQLite and PostgreSQL.
//!
//! Rows are generated inside the database (recursive CTEs): N artifacts, each with an older scan
//! and a latest scan, each scan with P packages and F findings (so half the rows are history the
//! queries must skip); five common packages in every inventory (`openssl`, …), the rest spread
//! over 5,000 names; findings spread over 20,000 CVE ids, each with a GHSA record aliasing it;
//! `CVE-2021-44228` in 2% of artifacts, asked for by its GHSA alias; 1% of artifacts deleted.
//! Artifacts point at their scans after the rows are in (as `finish_scan` does), so the summary
//! rollups are built by their triggers; the summary (`GET /v1/summary`'s store calls) is timed,
//! then the rollups are recomputed from every latest finding and must give the same answers.
//!
//! `cargo bench -p regscan --bench incidents` (env: `BENCH_ARTIFACTS`, default 20000;
//! `BENCH_PACKAGES`, default 60; `BENCH_FINDINGS`, default 15; `BENCH_RUNS`, default 15;
//! `BENCH_BACKENDS`, default `sqlite,postgres`; `BENCH_SQLITE_FILE` keeps the SQLite database there; `BENCH_PG_KEEP` keeps the PostgreSQL one; `REGSCAN_TEST_PG` as in the tests).

use std::time::{Duration, Instant};

use regscan::store::incidents::{PackageFilter, PurlKey, VersionPredicate, VulnFilter};
use regscan::store::{Backend, Store};
use regscan_scanner_api::Severity;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn pg_admin() -> String {
    std::env::var("REGSCAN_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1/postgres".into())
}

fn psql(sql: &str) {
    let ok = std::process::Command::new("psql")
        .args(["-q", &pg_admin(), "-c", sql])
        .status()
        .map(|s| s.success());
    assert_eq!(ok.ok(), Some(true), "psql {sql}");
}

async fn exec(store: &Store, sql: &str) {
    sqlx::query(sql)
        .execute(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
}

fn series(n: usize) -> String {
    format!("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {n})")
}

async fn generate(store: &Store, artifacts: usize, packages: usize, findings: usize) {
    let t = Instant::now();
    // Artifacts, 200 teams; every 20th an SBOM.
    exec(
        store,
        &format!(
            "{} INSERT INTO artifacts (registry, repository, digest, manifest_media_type, kind, size, created_at, updated_at)
             SELECT 'reg.example', 'team' || (n % 200) || '/app' || n, 'sha256:' || n, 'application/vnd.oci.image.manifest.v1+json',
                    CASE WHEN n % 20 = 0 THEN 'sbom' ELSE 'image' END, 1, n, n FROM g",
            series(artifacts)
        ),
    )
    .await;
    // Two scans each: the older first.
    for round in 0..2 {
        exec(
            store,
            &format!(
                "INSERT INTO scans (artifact_id, scanner, scanner_version, status, critical, high, medium, low, created_at, finished_at)
                 SELECT id, 'image', '{round}', 'succeeded', (id % 3), (id % 5), (id % 7), 1, {round}, {round} FROM artifacts"
            ),
        )
        .await;
    }
    exec(store, "UPDATE scans SET inventory_scan_id = id").await;
    println!("  artifacts and scans: {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let common = "CASE g.n WHEN 1 THEN 'openssl' WHEN 2 THEN 'libc6' WHEN 3 THEN 'zlib1g' WHEN 4 THEN 'bash' WHEN 5 THEN 'coreutils'
                  ELSE 'pkg' || ((s.artifact_id * 7 + g.n * 13) % 5000) END";
    exec(
        store,
        &format!(
            "{} INSERT INTO packages (scan_id, ecosystem, name, version, path, layer)
             SELECT s.id, 'Debian:12', {common}, '1.' || ((s.artifact_id + s.id) % 9) || '.' || (g.n % 4) || '-1',
                    'var/lib/dpkg/status', 'sha256:layer' || (s.artifact_id % 1000)
             FROM scans s CROSS JOIN g",
            series(packages)
        ),
    )
    .await;
    println!("  packages: {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    exec(
        store,
        &format!(
            "{} INSERT INTO findings (scan_id, source, finding_id, severity, severity_rank, title, package, installed_version, fixed_version, location)
             SELECT s.id, 'advisory', 'CVE-2099-' || ((s.artifact_id * 3 + g.n * 17 + s.id % 2) % 20000),
                    CASE g.n % 5 WHEN 0 THEN 'critical' WHEN 1 THEN 'high' WHEN 2 THEN 'medium' WHEN 3 THEN 'low' ELSE 'negligible' END,
                    5 - (g.n % 5), 'generated', 'pkg' || ((s.artifact_id * 7 + g.n * 13) % 5000), '1.0-1',
                    CASE WHEN g.n % 3 = 0 THEN NULL ELSE '1.1-1' END, 'var/lib/dpkg/status'
             FROM scans s CROSS JOIN g",
            series(findings)
        ),
    )
    .await;
    exec(
        store,
        "INSERT INTO findings (scan_id, source, finding_id, severity, severity_rank, title, package, installed_version, fixed_version, location)
         SELECT s.id, 'advisory', 'CVE-2021-44228', 'critical', 5, 'log4shell', 'org.apache.logging.log4j:log4j-core', '2.14.1', '2.15.0', 'app.jar'
         FROM scans s WHERE s.artifact_id % 50 = 0",
    )
    .await;
    exec(
        store,
        &format!(
            "{} INSERT INTO advisories (id, modified, raw, source, imported_at, cvss_x10, indexed)
             SELECT 'GHSA-gen-' || n, '2099-01-01T00:00:00Z', '{{}}', 'bench', 0, (n % 100), 1 FROM g",
            series(20_000)
        ),
    )
    .await;
    exec(
        store,
        "INSERT INTO advisory_aliases (alias, advisory_id) SELECT 'CVE-2099-' || substr(id, 10), id FROM advisories",
    )
    .await;
    exec(
        store,
        "INSERT INTO advisory_aliases (alias, advisory_id) VALUES ('CVE-2021-44228', 'GHSA-jfh8-c2jp-5v3q')",
    )
    .await;
    println!("  findings and advisories: {:.1} s", t.elapsed().as_secs_f64());
    // Scans are complete before artifacts point at them (as `finish_scan` writes them): the
    // summary rollups' triggers fire once per artifact here.
    let t = Instant::now();
    exec(
        store,
        "UPDATE artifacts SET latest_scan_id = (SELECT MAX(id) FROM scans WHERE scans.artifact_id = artifacts.id)",
    )
    .await;
    exec(store, "UPDATE artifacts SET deleted_at = 1 WHERE id % 100 = 7").await;
    println!(
        "  latest scans and deletions (summary rollup triggers): {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    exec(store, "ANALYZE").await;
    println!("  ANALYZE: {:.1} s", t.elapsed().as_secs_f64());
}

struct Timing {
    median: Duration,
    p95: Duration,
    rows: usize,
}

async fn time<F, Fut>(runs: usize, mut f: F) -> Timing
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let rows = f().await; // warm
    let mut lat = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(f().await);
        lat.push(t.elapsed());
    }
    lat.sort();
    Timing {
        median: lat[lat.len() / 2],
        p95: lat[((lat.len() as f64 * 0.95) as usize).min(lat.len() - 1)],
        rows,
    }
}

async fn run(store: &Store, runs: usize) {
    let vulns = |f: VulnFilter| {
        let store = store.clone();
        move || {
            let (store, f) = (store.clone(), f.clone());
            async move {
                let p = store.vulnerabilities(&f).await.unwrap();
                p.items.iter().map(|i| i.artifacts.len()).sum()
            }
        }
    };
    let pkgs = |f: PackageFilter| {
        let store = store.clone();
        move || {
            let (store, f) = (store.clone(), f.clone());
            async move {
                let p = store.packages_in_use(&f).await.unwrap();
                p.items.iter().map(|i| i.artifacts.len()).sum()
            }
        }
    };
    let cases: Vec<(&str, Timing)> = vec![
        (
            "vulns id=GHSA alias of CVE-2021-44228 (2% of artifacts), first 100",
            time(
                runs,
                vulns(VulnFilter {
                    ids: vec!["GHSA-jfh8-c2jp-5v3q".into()],
                    ..Default::default()
                }),
            )
            .await,
        ),
        (
            "vulns id=CVE-2099-123 (aliases resolved)",
            time(
                runs,
                vulns(VulnFilter {
                    ids: vec!["CVE-2099-123".into()],
                    ..Default::default()
                }),
            )
            .await,
        ),
        (
            "vulns package=pkg42 min_severity=high",
            time(
                runs,
                vulns(VulnFilter {
                    package: Some("pkg42".into()),
                    min_severity: Some(Severity::High),
                    ..Default::default()
                }),
            )
            .await,
        ),
        (
            "vulns min_severity=critical (no id), first 100",
            time(
                runs,
                vulns(VulnFilter {
                    min_severity: Some(Severity::Critical),
                    ..Default::default()
                }),
            )
            .await,
        ),
        (
            "packages name=openssl (every artifact), first 100",
            time(
                runs,
                pkgs(PackageFilter {
                    name: Some("openssl".into()),
                    ..Default::default()
                }),
            )
            .await,
        ),
        (
            "packages name=openssl version=>=1.4,<1.6, first 100",
            time(
                runs,
                pkgs(PackageFilter {
                    name: Some("openssl".into()),
                    version: Some(VersionPredicate::parse(">=1.4,<1.6").unwrap()),
                    ..Default::default()
                }),
            )
            .await,
        ),
        (
            "packages name=pkg42",
            time(
                runs,
                pkgs(PackageFilter {
                    name: Some("pkg42".into()),
                    ..Default::default()
                }),
            )
            .await,
        ),
        (
            "packages purl=pkg:deb/debian/pkg42 (every version)",
            time(
                runs,
                pkgs(PackageFilter {
                    purl: Some(PurlKey::parse("pkg:deb/debian/pkg42").unwrap()),
                    ..Default::default()
                }),
            )
            .await,
        ),
    ];
    for (name, t) in &cases {
        println!(
            "  {name:<70} median {:>8.2} ms  p95 {:>8.2} ms  ({} pairs)",
            t.median.as_secs_f64() * 1e3,
            t.p95.as_secs_f64() * 1e3,
            t.rows
        );
    }
    let s = store.clone();
    let summary = move || {
        let s = s.clone();
        async move {
            let a = s.most_dangerous(10).await.unwrap();
            let b = s.top_vulnerabilities(10).await.unwrap();
            let c = s.fixable_split().await.unwrap();
            let d = s.severity_totals().await.unwrap();
            let e = s.counts_by_kind_status().await.unwrap();
            (a, b, c, d, e)
        }
    };
    let kept = summary().await;
    let t = time(runs, || {
        let summary = summary.clone();
        async move {
            let (a, b, ..) = summary().await;
            a.len() + b.len()
        }
    })
    .await;
    println!(
        "  {:<70} median {:>8.2} ms  p95 {:>8.2} ms",
        "summary: top lists, fixable split, by severity, by kind and status",
        t.median.as_secs_f64() * 1e3,
        t.p95.as_secs_f64() * 1e3
    );
    // The rollups kept by the triggers equal the ones recomputed from every latest finding.
    let t = Instant::now();
    store.rebuild_incident_rollup().await.unwrap();
    println!(
        "  {:<70} {:>8.0} ms",
        "rebuild_incident_rollup (from every latest finding; once per migration)",
        t.elapsed().as_secs_f64() * 1e3
    );
    let rebuilt = summary().await;
    assert_eq!(
        (&kept.0, &kept.1, &kept.2, &kept.3),
        (&rebuilt.0, &rebuilt.1, &rebuilt.2, &rebuilt.3),
        "the rollups kept on write differ from the recomputed ones"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let artifacts = env_usize("BENCH_ARTIFACTS", 20_000);
    let packages = env_usize("BENCH_PACKAGES", 60);
    let findings = env_usize("BENCH_FINDINGS", 15);
    let runs = env_usize("BENCH_RUNS", 15);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    println!(
        "{artifacts} artifacts × 2 scans: {} package rows, {} finding rows (half of each in the latest scans)",
        artifacts * 2 * packages,
        artifacts * 2 * findings + artifacts / 25
    );
    for backend in backends.split(',') {
        let dir = tempfile::tempdir().unwrap();
        let pg_name = format!("regscan_bench_incidents_{}", std::process::id());
        let url = match backend {
            "sqlite" => match std::env::var("BENCH_SQLITE_FILE") {
                // Keep the database for EXPLAIN QUERY PLAN and friends.
                Ok(path) => format!("sqlite://{path}"),
                Err(_) => format!("sqlite://{}", dir.path().join("bench.db").display()),
            },
            "postgres" => {
                psql(&format!("CREATE DATABASE {pg_name}"));
                let admin = pg_admin();
                format!("{}/{pg_name}", admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin))
            }
            other => panic!("BENCH_BACKENDS: unknown backend {other}"),
        };
        let store = Store::open(&url).await.expect("open the database");
        println!("{backend}:");
        generate(&store, artifacts, packages, findings).await;
        assert_eq!(
            store.backend(),
            if backend == "sqlite" {
                Backend::Sqlite
            } else {
                Backend::Postgres
            }
        );
        run(&store, runs).await;
        store.close().await;
        if backend == "postgres" {
            if std::env::var_os("BENCH_PG_KEEP").is_some() {
                println!("  kept the PostgreSQL database {pg_name}");
            } else {
                psql(&format!("DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"));
            }
        }
    }
}
