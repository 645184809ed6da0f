//! Path bombs (issue 10): layers whose tar entries carry huge or countless paths. Paths kept in
//! the layer facts are capped per path and per layer, and so is the cache value a layer writes.

mod common;

use common::{config_json, image, scan, Blobs, MemCache};
use regscan_scanner_api::{media, ScanError};
use regscan_scanner_image::layer::{MAX_PATH_BYTES, MAX_RECORDED_PATH_BYTES};
use regscan_scanner_image::scanner::{cache_value, MAX_CACHED_LAYER_BYTES};
use regscan_scanner_image::LayerFacts;

/// A tar entry whose path is given by a PAX record, as a tar writer emits for long paths.
fn pax_entry<W: std::io::Write>(b: &mut tar::Builder<W>, path: &str, data: &[u8]) {
    let body = format!("path={path}\n");
    // The record's length counts its own decimal digits.
    let mut len = body.len() + 2;
    while format!("{len} {body}").len() != len {
        len += 1;
    }
    let record = format!("{len} {body}");
    let mut h = tar::Header::new_ustar();
    h.set_size(record.len() as u64);
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path("PaxHeaders/x").unwrap();
    h.set_cksum();
    b.append(&h, record.as_bytes()).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_path("placeholder").unwrap();
    h.set_cksum();
    b.append(&h, data).unwrap();
}

/// A gzip layer, compressed as it is written (the uncompressed tar is never held in memory, so
/// the test's own footprint stays small).
fn layer(entries: impl FnOnce(&mut tar::Builder<Gz>)) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    entries(&mut b);
    b.into_inner().unwrap().finish().unwrap()
}

type Gz = flate2::write::GzEncoder<Vec<u8>>;

/// The process's peak resident memory (Linux), if known. Tests of this binary run in parallel,
/// so this is an upper bound of any one test's footprint.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn cache_bytes(cache: &MemCache) -> usize {
    cache
        .values
        .lock()
        .unwrap()
        .values()
        .map(|v| serde_json::to_vec(v).unwrap().len())
        .sum()
}

/// The reported attack: 4,000 PAX entries whose whiteout paths are 100 KB each (once 2.4 GB of
/// RSS and a 400 MB cache row). Such paths cannot exist on a real filesystem: each entry is
/// skipped with a note, nothing is kept, and the cache row stays small.
#[tokio::test]
async fn whiteouts_with_huge_paths_are_skipped_with_a_note() {
    let blob = layer(|b| {
        for i in 0..4000 {
            let path = format!("{}{i}/.wh.victim", "d".repeat(100_000));
            pax_entry(b, &path, b"");
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, "etc/.wh.passwd", &b""[..]).unwrap();
    });
    let blobs = Blobs::default();
    let m = image(
        &blobs,
        config_json(Some("app"), &[], &[]),
        vec![(media::OCI_LAYER_GZIP, blob)],
    );
    let cache = MemCache::default();
    let out = scan(&m, &blobs, &cache).await.expect("the scan completes");
    if let Some(peak) = peak_rss_bytes() {
        // Before the caps this layer took 2.4 GB; now the paths are never kept.
        assert!(peak < 256 << 20, "peak RSS {peak} bytes");
    }
    let layer = &out.details["layers"][0];
    assert_eq!(layer["files_not_analyzed_total"], 4000, "{layer}");
    let listed = layer["files_not_analyzed"].as_array().unwrap();
    assert_eq!(listed.len(), 50);
    let reason = listed[0]["reason"].as_str().unwrap();
    assert!(reason.contains("4096-byte path limit (PATH_MAX)"), "{reason}");
    assert!(
        listed[0]["path"].as_str().unwrap().len() < 400,
        "notes show a shortened path"
    );
    // The ordinary whiteout after the bomb is still recorded.
    let facts: LayerFacts =
        serde_json::from_value(cache.values.lock().unwrap().values().next().unwrap().clone()).unwrap();
    assert_eq!(facts.whiteouts.iter().collect::<Vec<_>>(), ["etc/passwd"]);
    assert!(
        cache_bytes(&cache) < 64 << 10,
        "cache row of {} bytes",
        cache_bytes(&cache)
    );
}

/// Paths just under PATH_MAX, but so many that the layer would keep more than
/// MAX_RECORDED_PATH_BYTES of them: the scan fails with a limit error naming that limit.
#[tokio::test]
async fn too_many_recorded_path_bytes_fail_with_a_limit() {
    let n = MAX_RECORDED_PATH_BYTES as usize / (MAX_PATH_BYTES - 100) + 10;
    let blob = layer(|b| {
        for i in 0..n {
            let path = format!("{:0>width$}/.wh.f", i, width = MAX_PATH_BYTES - 100);
            pax_entry(b, &path, b"");
        }
    });
    let blobs = Blobs::default();
    let m = image(&blobs, config_json(None, &[], &[]), vec![(media::OCI_LAYER_GZIP, blob)]);
    let cache = MemCache::default();
    let err = scan(&m, &blobs, &cache).await.unwrap_err();
    let ScanError::Limit(msg) = &err else {
        panic!("want a limit error, got {err}")
    };
    assert!(msg.contains("recorded-path limit"), "{msg}");
    assert!(msg.contains(&MAX_RECORDED_PATH_BYTES.to_string()), "{msg}");
    assert!(cache.values.lock().unwrap().is_empty(), "a failed layer is not cached");
}

/// A symbolic link at a path the analyzers read, pointing at a target longer than PATH_MAX, is
/// not kept as a link: the path is shadowed and noted.
#[tokio::test]
async fn symlink_targets_over_path_max_are_not_kept() {
    let blob = layer(|b| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "etc/os-release", "t".repeat(MAX_PATH_BYTES + 1))
            .unwrap();
    });
    let facts = regscan_scanner_image::walk_layer(&blob[..], "sha256:s", &Default::default()).unwrap();
    assert!(
        facts.symlinks.is_empty(),
        "{:?}",
        facts.symlinks.keys().collect::<Vec<_>>()
    );
    assert!(facts.shadowed.contains("etc/os-release"));
    assert!(
        facts.skipped[0].reason.contains("symbolic link target"),
        "{:?}",
        facts.skipped
    );
}

/// Whatever a layer's facts hold, the cache value written for it is bounded.
#[test]
fn oversized_layer_facts_are_not_cached() {
    let mut facts = LayerFacts::default();
    let per = 4000usize;
    for i in 0..(MAX_CACHED_LAYER_BYTES as usize / per + 10) {
        facts.whiteouts.insert(format!("{i:0>per$}"));
    }
    let err = cache_value(&facts).unwrap_err();
    assert!(err.contains("per-layer cache value limit"), "{err}");
    facts.whiteouts.clear();
    facts.whiteouts.insert("etc/passwd".into());
    assert!(cache_value(&facts).is_ok());
}

/// The caps leave room for real layers: 20,000 whiteouts and 5,000 symlinks where the analyzers
/// look (short paths, short targets) are all kept.
#[test]
fn many_ordinary_paths_are_kept() {
    let blob = layer(|b| {
        for i in 0..20_000 {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, format!("usr/share/doc/pkg-{i}/.wh.changelog.gz"), &b""[..])
                .unwrap();
        }
        for i in 0..5_000 {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, format!("usr/bin/tool-{i}"), format!("../lib/tools/tool-{i}"))
                .unwrap();
        }
    });
    let facts = regscan_scanner_image::walk_layer(&blob[..], "sha256:m", &Default::default()).unwrap();
    assert_eq!(facts.whiteouts.len(), 20_000);
    assert_eq!(facts.symlinks.len(), 5_000, "usr/bin is where the analyzers look");
    assert!(facts.skipped.is_empty());
}
