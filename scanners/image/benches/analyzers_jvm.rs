//! Throughput of the Go, NuGet and Maven/Gradle build-file analyzers on large generated files
//! shaped like real ones (criterion): `go.mod`, `go.sum`, `packages.lock.json`, `*.deps.json`,
//! `gradle.lockfile`, `pom.xml` (each about 24 MiB, under its analyzer's size limit), and the
//! Go binary search over a 100 MiB executable without build info (read to the end, as the
//! pre-1.18 search now needs).
//!
//! Run with `cargo bench -p regscan-scanner-image --bench analyzers_jvm`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use regscan_scanner_image::analyzers::{analyze, AnalyzerId, FileFacts};

/// Size each generated text file grows to.
const TARGET: usize = 24 << 20;

/// A Go module version from `i` (some pseudo-versions, some `+incompatible`).
fn go_version(i: usize) -> String {
    match i % 5 {
        0 => format!(
            "v0.0.0-2023{:02}{:02}1{:05}-{:012x}",
            i % 12 + 1,
            i % 28 + 1,
            i % 100_000,
            i * 2_654_435_761
        ),
        1 => format!("v{}.0.0+incompatible", i % 9 + 2),
        _ => format!("v1.{}.{}", i % 40, i % 13),
    }
}

fn go_mod() -> String {
    let mut s = String::from("module github.com/example/monorepo\n\ngo 1.21\n\ntoolchain go1.21.5\n\nrequire (\n");
    let mut i = 0;
    while s.len() < TARGET {
        let indirect = if i % 3 == 0 { "" } else { " // indirect" };
        writeln!(
            s,
            "\tgithub.com/org{}/module-{i}/v2 {}{indirect}",
            i % 997,
            go_version(i)
        )
        .unwrap();
        if i % 50 == 0 {
            s.push_str(")\n\nreplace github.com/legacy/x => github.com/fork/x v1.2.3\n\nrequire (\n");
        }
        i += 1;
    }
    s.push_str(")\n");
    s
}

fn go_sum() -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < TARGET {
        let (m, v) = (format!("github.com/org{}/module-{i}", i % 997), go_version(i));
        writeln!(s, "{m} {v} h1:TuBL49tXwgrFYWhqrNgrUNEY92u81SPhu7sTdzQEiWY=").unwrap();
        writeln!(s, "{m} {v}/go.mod h1:bwawxfHBFNV+L2hUp1rHADufV3IMtnDRdf1r5NINEl0=").unwrap();
        i += 1;
    }
    s
}

fn nuget_lock() -> String {
    let mut s = String::from("{\n  \"version\": 2,\n  \"dependencies\": {\n");
    let per_framework = TARGET / 2 / 260;
    for (f, framework) in ["net8.0", "net8.0/linux-x64"].iter().enumerate() {
        if f > 0 {
            s.push_str(",\n");
        }
        writeln!(s, "    \"{framework}\": {{").unwrap();
        for i in 0..per_framework {
            let sep = if i + 1 == per_framework { "" } else { "," };
            let kind = ["Direct", "Transitive", "CentralTransitive"][i % 3];
            write!(
                s,
                "      \"Vendor{}.Package{i}\": {{\n        \"type\": \"{kind}\",\n        \"requested\": \"[{}.0.1, )\",\n        \"resolved\": \"{}.0.1\",\n        \"contentHash\": \"ppPFpBcvxdsfUonNcvITKqLl3bqxWbDCZIzDWHzjpdAHRFfZe0Dw9HmA0+za13IdyrgJwpkDTDA9fHaxOrt20A==\"\n      }}{sep}\n",
                i % 211,
                i % 9,
                i % 9
            )
            .unwrap();
        }
        s.push_str("    }");
    }
    s.push_str("\n  }\n}\n");
    s
}

fn deps_json() -> String {
    let n = TARGET / 560;
    let mut s = String::from(
        "{\n  \"runtimeTarget\": { \"name\": \".NETCoreApp,Version=v8.0/linux-x64\", \"signature\": \"\" },\n  \"compilationOptions\": {},\n  \"targets\": {\n    \".NETCoreApp,Version=v8.0/linux-x64\": {\n      \"WebApp/1.0.0\": { \"runtime\": { \"WebApp.dll\": {} } },\n",
    );
    for i in 0..n {
        write!(
            s,
            "      \"Vendor{}.Package{i}/{}.0.1\": {{\n        \"dependencies\": {{ \"System.Memory\": \"4.5.5\" }},\n        \"runtime\": {{ \"lib/net6.0/Vendor.Package{i}.dll\": {{ \"assemblyVersion\": \"1.0.0.0\", \"fileVersion\": \"1.0.1.25517\" }} }}\n      }},\n",
            i % 211,
            i % 9
        )
        .unwrap();
    }
    s.push_str("      \"runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/8.0.0\": {}\n    }\n  },\n  \"libraries\": {\n    \"WebApp/1.0.0\": { \"type\": \"project\", \"serviceable\": false, \"sha512\": \"\" },\n");
    for i in 0..n {
        write!(
            s,
            "    \"Vendor{}.Package{i}/{}.0.1\": {{\n      \"type\": \"package\",\n      \"serviceable\": true,\n      \"sha512\": \"sha512-ppPFpBcvxdsfUonNcvITKqLl3bqxWbDCZIzDWHzjpdAHRFfZe0Dw9HmA0+za13IdyrgJwpkDTDA9fHaxOrt20A==\",\n      \"path\": \"vendor.package{i}/1.0.1\",\n      \"hashPath\": \"vendor.package{i}.1.0.1.nupkg.sha512\"\n    }},\n",
            i % 211,
            i % 9
        )
        .unwrap();
    }
    s.push_str("    \"runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/8.0.0\": { \"type\": \"runtimepack\", \"serviceable\": false, \"sha512\": \"\" }\n  }\n}\n");
    s
}

fn gradle_lockfile() -> String {
    let mut s = String::from(
        "# This is a Gradle generated file for dependency locking.\n# Manual edits can break the build and are not advised.\n# This file is expected to be part of source control.\n",
    );
    let mut i = 0;
    while s.len() < TARGET {
        let confs = match i % 4 {
            0 => "compileClasspath,runtimeClasspath,testCompileClasspath,testRuntimeClasspath",
            1 => "runtimeClasspath,testRuntimeClasspath",
            2 => "testCompileClasspath,testRuntimeClasspath",
            _ => "annotationProcessor",
        };
        writeln!(
            s,
            "org.example{}.group:artifact-{i}:{}.{}.0={confs}",
            i % 313,
            i % 7,
            i % 31
        )
        .unwrap();
        i += 1;
    }
    s.push_str("empty=\n");
    s
}

fn pom_xml() -> String {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <parent>
    <groupId>org.springframework.boot</groupId>
    <artifactId>spring-boot-starter-parent</artifactId>
    <version>3.1.5</version>
    <relativePath/>
  </parent>
  <groupId>com.example</groupId>
  <artifactId>big</artifactId>
  <version>1.0.0-SNAPSHOT</version>
  <properties>
    <java.version>17</java.version>
    <lib.version>2.15.3</lib.version>
  </properties>
  <dependencies>
"#,
    );
    let mut i = 0;
    while s.len() < TARGET {
        let (version, scope) = match i % 4 {
            0 => ("${lib.version}".to_owned(), ""),
            1 => (format!("1.{}.{}", i % 17, i % 5), "<scope>test</scope>"),
            2 => (format!("3.{}.0", i % 11), ""),
            _ => (format!("{}.0", i % 9), "<scope>provided</scope>"),
        };
        write!(
            s,
            "    <dependency>\n      <groupId>org.example{}</groupId>\n      <artifactId>artifact-{i}</artifactId>\n      <version>{version}</version>\n      {scope}\n    </dependency>\n",
            i % 313
        )
        .unwrap();
        i += 1;
    }
    s.push_str("  </dependencies>\n</project>\n");
    s
}

/// 100 MiB of xorshift noise behind an ELF magic: no build info anywhere.
fn non_go_elf() -> Vec<u8> {
    let n = 100 << 20;
    let mut out = Vec::with_capacity(n + 8);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    while out.len() < n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend(seed.to_le_bytes());
    }
    out.truncate(n);
    out[..4].copy_from_slice(b"\x7fELF");
    out
}

fn count(facts: FileFacts) -> usize {
    match facts {
        FileFacts::Packages(p) => p.len(),
        _ => 0,
    }
}

fn bench(c: &mut Criterion) {
    let inputs: [(&str, AnalyzerId, &str, Vec<u8>); 7] = [
        ("go.mod", AnalyzerId::GoMod, "src/go.mod", go_mod().into_bytes()),
        ("go.sum", AnalyzerId::GoSum, "src/go.sum", go_sum().into_bytes()),
        (
            "packages.lock.json",
            AnalyzerId::NuGetLock,
            "app/packages.lock.json",
            nuget_lock().into_bytes(),
        ),
        (
            "deps.json",
            AnalyzerId::NuGetDeps,
            "app/WebApp.deps.json",
            deps_json().into_bytes(),
        ),
        (
            "gradle.lockfile",
            AnalyzerId::GradleLock,
            "app/gradle.lockfile",
            gradle_lockfile().into_bytes(),
        ),
        ("pom.xml", AnalyzerId::Pom, "app/pom.xml", pom_xml().into_bytes()),
        (
            "go binary, no build info",
            AnalyzerId::GoBinary,
            "usr/local/bin/tool",
            non_go_elf(),
        ),
    ];
    let mut group = c.benchmark_group("analyzers_jvm");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (name, id, path, data) in &inputs {
        let found = count(analyze(*id, path, &mut data.as_slice()).expect("generated input parses"));
        assert!(found > 0 || *id == AnalyzerId::GoBinary, "{name}: no packages");
        println!(
            "{name}: {:.1} MiB, {found} packages",
            data.len() as f64 / (1 << 20) as f64
        );
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| black_box(analyze(*id, path, &mut black_box(data.as_slice()))))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
