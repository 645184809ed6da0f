//! Benchmark: scanning generated OPA bundles end to end (fetch from memory, gunzip, untar, parse
//! every module with regorus, hash every file for the signature check, look for secrets).
//!
//! Run with `cargo bench -p regscan-scanner-opa`. Prints one line per bundle size.

use std::io::Write;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use regscan_scanner_api::media;
use regscan_scanner_api::testing::{MemBlobs, NoCache};
use regscan_scanner_api::{Descriptor, ImageManifest, ScanContext, Scanner, TypeEntry};
use regscan_scanner_opa::{OpaConfig, OpaScanner};
use sha2::{Digest, Sha256};

fn module(i: usize) -> String {
    let mut s = format!("package bench.m{i}\n\nimport rego.v1\n\ndefault allow := false\n\n");
    for r in 0..40 {
        s.push_str(&format!(
            "allow if {{\n\tinput.user.role == \"role{r}\"\n\tsome g in input.user.groups\n\tg in data.bench.groups[\"g{r}\"]\n\tcount(input.items) < {r}\n}}\n\n"
        ));
    }
    s.push_str("deny contains msg if {\n\tnot allow\n\tmsg := sprintf(\"denied %v\", [input.user.name])\n}\n");
    s
}

/// A signed bundle with `modules` policies and a data document of about `data_kib` KiB.
fn bundle(modules: usize, data_kib: usize) -> (Vec<u8>, usize) {
    let mut files: Vec<(String, Vec<u8>)> = vec![(
        ".manifest".into(),
        br#"{"revision":"bench","roots":["bench"]}"#.to_vec(),
    )];
    for i in 0..modules {
        files.push((format!("bench/m{i}/policy.rego"), module(i).into_bytes()));
    }
    let groups: serde_json::Map<String, serde_json::Value> = (0..data_kib * 16)
        .map(|g| (format!("g{g}"), serde_json::json!(["alice", "bob", "carol", "dave"])))
        .collect();
    files.push((
        "bench/data.json".into(),
        serde_json::to_vec(&serde_json::json!({"groups": groups})).unwrap(),
    ));
    let claims: Vec<_> = files
        .iter()
        .map(|(p, c)| serde_json::json!({"name": p, "hash": hex::encode(Sha256::digest(c)), "algorithm": "SHA-256"}))
        .collect();
    let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"k"}"#);
    let p = URL_SAFE_NO_PAD.encode(serde_json::json!({"files": claims}).to_string());
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"bench-secret").unwrap();
    mac.update(format!("{h}.{p}").as_bytes());
    let token = format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
    files.push((
        ".signatures.json".into(),
        serde_json::json!({"signatures": [token]}).to_string().into_bytes(),
    ));

    let unpacked: usize = files.iter().map(|(_, c)| c.len()).sum();
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in &files {
        let mut hd = tar::Header::new_gnu();
        hd.set_size(content.len() as u64);
        hd.set_mode(0o644);
        b.append_data(&mut hd, path, content.as_slice()).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    (gz.finish().unwrap(), unpacked)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let config: OpaConfig = serde_json::from_value(serde_json::json!({
        "verification": {"keys": {"k": {"algorithm": "HS256", "key": "bench-secret"}}}
    }))
    .unwrap();
    let scanner = OpaScanner::new(config).unwrap();
    let entry = TypeEntry::scanned(media::OPA_CONFIG, "opa", "OPA policy bundle", "opa");
    println!("OPA bundle scan (gunzip + untar + regorus parse + OPA-style hashing + checks), median of runs");
    for (modules, data_kib, runs) in [(1, 1, 50), (20, 64, 20), (100, 512, 10), (400, 2048, 5)] {
        let (blob, unpacked) = bundle(modules, data_kib);
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&blob)));
        let manifest = ImageManifest {
            schema_version: 2,
            config: Descriptor {
                media_type: media::OPA_CONFIG.into(),
                digest: "sha256:00".into(),
                size: 2,
                ..Default::default()
            },
            layers: vec![Descriptor {
                media_type: media::OPA_BUNDLE_LAYER.into(),
                digest: digest.clone(),
                size: blob.len() as u64,
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut blobs = MemBlobs::default();
        blobs.0.insert(digest, blob.clone());
        let ctx = ScanContext {
            reference: "bench",
            manifest: &manifest,
            artifact_type: media::OPA_CONFIG,
            entry: &entry,
            blobs: &blobs,
            cache: &NoCache,
        };
        let mut times = Vec::new();
        let mut findings = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let out = rt.block_on(scanner.scan(&ctx)).unwrap();
            times.push(t.elapsed());
            findings = out.findings.len();
        }
        times.sort();
        let median = times[times.len() / 2];
        let mib = unpacked as f64 / (1 << 20) as f64;
        println!(
            "{modules:>4} modules, {:>7.2} MiB unpacked ({:>7} B gzip): median {:>9.2?}  ({:>6.1} MiB/s, {:>7.0} modules/s, {findings} findings)",
            mib,
            blob.len(),
            median,
            mib / median.as_secs_f64(),
            modules as f64 / median.as_secs_f64(),
        );
    }
}
