//! What the scanner sandbox costs: (a) the per-scan overhead — spawning `regscan
//! __sandbox-child`, confining it, the protocol round trips — measured on a task that does no
//! work; (b) a 256 MiB image layer scanned in-process and in the sandbox, its blob streamed
//! through the pipe, from the same file. Run with `cargo bench --bench sandbox`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use regscan::sandbox::{Request, Sandbox, SandboxConfig, Task};
use regscan_scanner_api::testing::NoCache;
use regscan_scanner_api::{
    media, BlobError, BlobReader, BlobSource, Descriptor, ImageManifest, ScanContext, Scanner, TypeEntry,
};
use std::io::Write;

const OVERHEAD_RUNS: usize = 60;
const LAYER_RUNS: usize = 3;
const LAYER_BYTES: u64 = 256 << 20;

/// Blobs read from files, as a registry stream would be.
struct FileBlobs(Vec<(String, PathBuf)>);

#[async_trait]
impl BlobSource for FileBlobs {
    async fn open(&self, d: &Descriptor, _max: u64) -> Result<BlobReader, BlobError> {
        let path = self
            .0
            .iter()
            .find(|(digest, _)| *digest == d.digest)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| BlobError::Fetch {
                digest: d.digest.clone(),
                message: "unknown".into(),
                retryable: false,
            })?;
        let file = tokio::fs::File::open(path).await.map_err(|e| BlobError::Fetch {
            digest: d.digest.clone(),
            message: e.to_string(),
            retryable: false,
        })?;
        Ok(Box::pin(tokio::io::BufReader::with_capacity(1 << 20, file)))
    }
}

fn sandbox() -> Sandbox {
    let config = SandboxConfig {
        program: Some(env!("CARGO_BIN_EXE_regscan").into()),
        ..Default::default()
    };
    Sandbox::new(&config, serde_json::json!({})).expect("sandbox")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        overhead().await;
        layer().await;
    });
}

async fn overhead() {
    let sb = sandbox();
    let manifest = ImageManifest {
        media_type: Some(media::OCI_MANIFEST.into()),
        ..Default::default()
    };
    let entry = TypeEntry::scanned(media::HELM_CONFIG, "helm", "Helm chart", "helm");
    let mut times = Vec::with_capacity(OVERHEAD_RUNS);
    for _ in 0..OVERHEAD_RUNS {
        let req = Request {
            // The helm scanner sniffs nothing: the child starts, confines itself, builds the
            // scanners, answers and exits.
            task: Task::Sniff { layer: Box::default() },
            scanner: "helm",
            reference: "bench/overhead@sha256:00",
            manifest: &manifest,
            artifact_type: media::OCI_CONFIG,
            entry: &entry,
            timeout: Duration::from_secs(60),
        };
        let t = Instant::now();
        sb.run(req, &FileBlobs(Vec::new()), &NoCache).await.expect("sniff runs");
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "sandbox overhead (spawn + confine + protocol), {OVERHEAD_RUNS} runs: median {:.1} ms, p90 {:.1} ms, min {:.1} ms (target: median <= 15 ms)",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.9)),
        ms(times[0])
    );
}

async fn layer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let layer_path = dir.path().join("layer.tar.gz");
    let (uncompressed, diff_id) = build_layer(&layer_path);
    let layer_digest = file_digest(&layer_path);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}
    }))
    .unwrap();
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, &config).unwrap();
    let config_desc = Descriptor {
        media_type: media::OCI_CONFIG.into(),
        digest: file_digest(&config_path),
        size: config.len() as u64,
        ..Default::default()
    };
    let layer_desc = Descriptor {
        media_type: media::OCI_LAYER_GZIP.into(),
        digest: layer_digest,
        size: std::fs::metadata(&layer_path).unwrap().len(),
        ..Default::default()
    };
    let blobs = FileBlobs(vec![
        (config_desc.digest.clone(), config_path.clone()),
        (layer_desc.digest.clone(), layer_path.clone()),
    ]);
    let manifest = ImageManifest {
        media_type: Some(media::OCI_MANIFEST.into()),
        config: config_desc,
        layers: vec![layer_desc.clone()],
        ..Default::default()
    };
    println!(
        "layer: {:.0} MiB uncompressed, {:.0} MiB gzip",
        uncompressed as f64 / (1u64 << 20) as f64,
        layer_desc.size as f64 / (1u64 << 20) as f64
    );
    let entry = TypeEntry::scanned(media::OCI_CONFIG, "image", "Container image", "image");
    let scanner = regscan_scanner_image::ImageScanner::new(Default::default());
    let sb = sandbox();
    let (mut inproc, mut boxed) = (Duration::MAX, Duration::MAX);
    let (mut n_in, mut n_box) = (0, 0);
    for _ in 0..LAYER_RUNS {
        let ctx = ScanContext {
            reference: "bench/layer@sha256:00",
            manifest: &manifest,
            artifact_type: media::OCI_CONFIG,
            entry: &entry,
            blobs: &blobs,
            cache: &NoCache,
        };
        let t = Instant::now();
        let out = scanner.scan(&ctx).await.expect("in-process scan");
        inproc = inproc.min(t.elapsed());
        n_in = out.packages.len();

        let req = Request {
            task: Task::Scan,
            scanner: "image",
            reference: "bench/layer@sha256:00",
            manifest: &manifest,
            artifact_type: media::OCI_CONFIG,
            entry: &entry,
            timeout: Duration::from_secs(600),
        };
        let t = Instant::now();
        let out = sb.run(req, &blobs, &NoCache).await.expect("sandboxed scan");
        boxed = boxed.min(t.elapsed());
        if let regscan::sandbox::protocol::TaskOutput::Scanned(o) = out {
            n_box = o.packages.len();
        }
    }
    assert_eq!(n_in, n_box, "same packages either way");
    println!(
        "image scan in-process     : {:>7.3} s ({n_in} packages)",
        inproc.as_secs_f64()
    );
    println!(
        "image scan in the sandbox : {:>7.3} s ({n_box} packages)",
        boxed.as_secs_f64()
    );
    println!(
        "sandbox / in-process      : {:>7.3}x (target <= 1.10x); best of {LAYER_RUNS}",
        boxed.as_secs_f64() / inproc.as_secs_f64()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn file_digest(path: &Path) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut f = std::fs::File::open(path).unwrap();
    std::io::copy(&mut f, &mut h).unwrap();
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// Hashes what passes through (the layer's diff id) and counts it.
struct Tee<W> {
    inner: W,
    hash: sha2::Sha256,
    count: u64,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A Debian-like layer: a dpkg database of 1,200 packages, their file lists, and text files up
/// to [`LAYER_BYTES`]. Returns (uncompressed bytes, diff id).
fn build_layer(path: &Path) -> (u64, String) {
    use sha2::Digest;
    let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::new(6));
    let mut tar = tar::Builder::new(Tee {
        inner: gz,
        hash: sha2::Sha256::new(),
        count: 0,
    });
    let put = |tar: &mut tar::Builder<Tee<_>>, path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, data).unwrap();
    };
    put(
        &mut tar,
        "etc/os-release",
        b"ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
    );
    let mut status = String::new();
    for i in 0..1200 {
        status.push_str(&format!(
            "Package: lib{i}\nStatus: install ok installed\nArchitecture: amd64\nSource: src{}\nVersion: 2.{i}-{}\nDescription: package {i}\n\n",
            i / 4,
            i % 5
        ));
        put(
            &mut tar,
            &format!("var/lib/dpkg/info/lib{i}.list"),
            format!("/usr/lib/lib{i}.so\n/usr/share/doc/lib{i}/copyright\n").as_bytes(),
        );
    }
    put(&mut tar, "var/lib/dpkg/status", status.as_bytes());
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let words: Vec<String> = (0..2048)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("w{:x}", x % 100_000)
        })
        .collect();
    let mut i = 0;
    while tar.get_ref().count < LAYER_BYTES {
        let mut text = String::with_capacity(40_000);
        while text.len() < 40_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            text.push_str(&words[(x % 2048) as usize]);
            text.push(if x % 11 == 0 { '\n' } else { ' ' });
        }
        put(
            &mut tar,
            &format!("usr/share/doc/d{}/f{i}.txt", i % 64),
            text.as_bytes(),
        );
        i += 1;
    }
    let tee = tar.into_inner().unwrap();
    let (count, diff) = (tee.count, format!("sha256:{}", hex::encode(tee.hash.finalize())));
    tee.inner.finish().unwrap().flush().unwrap();
    (count, diff)
}
