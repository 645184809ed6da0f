//! Throughput of the SBOM scanner on syft-sized documents, and the peak memory of the entry
//! budget's worst case. `cargo bench -p regscan-scanner-sbom`.
//!
//! - a CycloneDX 1.5 document of 10,000 components shaped like syft's (purl, bom-ref, cpe,
//!   licenses, six properties each), and an SPDX 2.3 document of 10,000 packages (purl and cpe
//!   references, checksums), each scanned whole (read, parsed, mapped) 5 times: median;
//! - a CycloneDX document of 1,200,000 empty components (over the 1,000,000-entry budget): time
//!   to fail, and the process's peak RSS (VmHWM) after it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use regscan_scanner_api::testing::{MemBlobs, NoCache};
use regscan_scanner_api::{media, ImageManifest, ScanContext, Scanner, TypeEntry};
use regscan_scanner_sbom::{SbomConfig, SbomScanner};
use serde_json::json;

fn cyclonedx(n: usize) -> Vec<u8> {
    let components: Vec<_> = (0..n)
        .map(|i| {
            let purl = format!("pkg:deb/debian/lib{i}@1.{i}-1~deb12u1?arch=amd64&upstream=src{i}&distro=debian-12");
            json!({
                "bom-ref": format!("{purl}&package-id={i:016x}"),
                "type": "library", "name": format!("lib{i}"), "version": format!("1.{i}-1~deb12u1"),
                "licenses": [{"license": {"id": "MIT"}}],
                "cpe": format!("cpe:2.3:a:lib{i}:lib{i}:1.{i}:*:*:*:*:*:*:*"),
                "purl": purl,
                "properties": [
                    {"name": "syft:package:foundBy", "value": "dpkg-db-cataloger"},
                    {"name": "syft:package:type", "value": "deb"},
                    {"name": "syft:location:0:layerID", "value": "sha256:ceb365432eec83dafc777cac5ee87737b093095035c89dd2eae01970c57b1d15"},
                    {"name": "syft:location:0:path", "value": "/var/lib/dpkg/status"},
                    {"name": "syft:metadata:source", "value": format!("src{i}")},
                    {"name": "syft:metadata:installedSize", "value": "6168"}
                ]
            })
        })
        .collect();
    serde_json::to_vec(&json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": {"tools": {"components": [{"type": "application", "name": "syft", "version": "0.105.0"}]}},
        "components": components}))
    .unwrap()
}

fn spdx(n: usize) -> Vec<u8> {
    let packages: Vec<_> = (0..n)
        .map(|i| {
            json!({
                "SPDXID": format!("SPDXRef-Package-npm-pkg{i}-{i:016x}"), "name": format!("pkg{i}"),
                "versionInfo": format!("{}.{}.0", i % 50, i % 7), "downloadLocation": "NOASSERTION",
                "filesAnalyzed": false, "licenseConcluded": "NOASSERTION", "licenseDeclared": "MIT",
                "copyrightText": "NOASSERTION", "sourceInfo": "acquired package info from installed node module manifest file: /app/node_modules/x/package.json",
                "checksums": [{"algorithm": "SHA1", "checksumValue": "0123456789abcdef0123456789abcdef01234567"}],
                "externalRefs": [
                    {"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": format!("cpe:2.3:a:pkg{i}:pkg{i}:*:*:*:*:*:*:*:*")},
                    {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": format!("pkg:npm/%40scope/pkg{i}@{}.{}.0", i % 50, i % 7)}
                ]
            })
        })
        .collect();
    serde_json::to_vec(
        &json!({"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": "bench", "documentNamespace": "https://example.com/bench",
        "creationInfo": {"created": "2024-03-01T12:00:00Z", "creators": ["Tool: syft-0.105.0"]},
        "packages": packages}),
    )
    .unwrap()
}

fn scan(rt: &tokio::runtime::Runtime, media_type: &str, doc: Vec<u8>) -> (Duration, Result<usize, String>) {
    let scanner = SbomScanner::new(SbomConfig::default());
    let mut blobs = MemBlobs::default();
    let config = blobs.add(media::OCI_EMPTY, b"{}".to_vec());
    let layer = blobs.add(media_type, doc);
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.into()),
        artifact_type: Some(media_type.into()),
        config,
        layers: vec![layer],
        subject: None,
        annotations: BTreeMap::new(),
    };
    let entry = TypeEntry::scanned(media_type, "sbom", "SBOM", "sbom");
    let ctx = ScanContext {
        reference: "bench",
        manifest: &manifest,
        artifact_type: media_type,
        entry: &entry,
        blobs: &blobs,
        cache: &NoCache,
    };
    let started = Instant::now();
    let r = rt.block_on(scanner.scan(&ctx));
    (
        started.elapsed(),
        r.map(|o| o.packages.len()).map_err(|e| e.to_string()),
    )
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    for (label, media_type, doc) in [
        (
            "CycloneDX 1.5, 10,000 syft-shaped components",
            "application/vnd.cyclonedx+json",
            cyclonedx(10_000),
        ),
        ("SPDX 2.3, 10,000 packages", "application/spdx+json", spdx(10_000)),
    ] {
        let size = doc.len();
        let mut times: Vec<Duration> = (0..5)
            .map(|_| {
                let (t, r) = scan(&rt, media_type, doc.clone());
                assert_eq!(r, Ok(10_000));
                t
            })
            .collect();
        times.sort();
        let median = times[2];
        println!(
            "{label}: {:.1} MiB, median {:.1} ms ({:.0} MiB/s)",
            size as f64 / (1 << 20) as f64,
            median.as_secs_f64() * 1000.0,
            size as f64 / (1 << 20) as f64 / median.as_secs_f64()
        );
    }
    let before = peak_rss_mib();
    let bomb = format!(
        r#"{{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{}]}}"#,
        vec!["{}"; 1_200_000].join(",")
    );
    let (t, r) = scan(&rt, "application/vnd.cyclonedx+json", bomb.into_bytes());
    assert!(r.as_ref().is_err_and(|e| e.contains("max_entries")), "{r:?}");
    println!(
        "1,200,000 empty components: refused in {:.0} ms; peak RSS {:.0} MiB (before: {:.0} MiB)",
        t.as_secs_f64() * 1000.0,
        peak_rss_mib(),
        before
    );
}
