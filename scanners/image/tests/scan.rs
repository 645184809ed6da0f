//! The image scanner end to end: layers built in the test, served by a counting blob source,
//! cached in memory.

mod common;

use common::*;
use regscan_scanner_api::{media, ScanError, Severity};
use regscan_scanner_image::ImageConfig;

const GZ: &str = media::OCI_LAYER_GZIP;

fn debian_base() -> Vec<u8> {
    Layer::new()
        .dir("etc")
        .symlink("etc/os-release", "../usr/lib/os-release")
        .file("usr/lib/os-release", DEBIAN_OS_RELEASE)
        .file("etc/debian_version", "12.5\n")
        .file("var/lib/dpkg/status", DPKG_STATUS)
        .file("usr/share/doc/libc6/copyright", vec![b'x'; 20_000])
        .gzip()
}

fn user_config() -> Vec<u8> {
    config_json(Some("app"), &["PATH=/usr/local/bin:/usr/bin"], &[])
}

#[tokio::test]
async fn debian_image_inventory_os_and_details() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let app = Layer::new()
        .file(
            "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n",
        )
        .gzip();
    let m = image(&blobs, user_config(), vec![(GZ, debian_base()), (GZ, app)]);
    let out = scan(&m, &blobs, &cache).await.unwrap();
    assert_eq!(
        names(&out),
        [
            "base-files 12.4+deb12u5",
            "libc6 2.36-9+deb12u4",
            "requests 2.31.0",
            "zlib1g 1:1.2.13.dfsg-1"
        ]
    );
    let libc = out.packages.iter().find(|p| p.name == "libc6").unwrap();
    assert_eq!(libc.ecosystem, "Debian:12");
    assert_eq!(libc.source_name.as_deref(), Some("glibc"));
    assert_eq!(libc.path, "var/lib/dpkg/status");
    assert_eq!(libc.layer.as_deref(), Some(m.layers[0].digest.as_str()));
    let requests = out.packages.iter().find(|p| p.name == "requests").unwrap();
    assert_eq!(requests.layer.as_deref(), Some(m.layers[1].digest.as_str()));
    assert_eq!(requests.ecosystem, "PyPI");

    let os = &out.details["os"];
    assert_eq!(os["id"], "debian");
    assert_eq!(os["version_id"], "12");
    assert_eq!(os["pretty_name"], "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(os["ecosystem"], "Debian:12");
    assert_eq!(out.details["package_counts"]["Debian:12"], 3);
    assert_eq!(out.details["package_counts"]["PyPI"], 1);
    let layers = out.details["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0]["packages"], 3);
    assert_eq!(layers[0]["cached"], false);
    assert_eq!(layers[0]["compression"], "gzip");
    assert_eq!(layers[1]["digest"], m.layers[1].digest.as_str());
    assert!(out.findings.is_empty(), "{:?}", out.findings);
}

#[tokio::test]
async fn alpine_image_from_zstd_and_plain_tar_layers() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let base = Layer::new()
        .file("etc/os-release", ALPINE_OS_RELEASE)
        .file("etc/alpine-release", "3.19.1\n")
        .zstd();
    let db = Layer::new().file("lib/apk/db/installed", APK_INSTALLED).tar();
    let m = image(
        &blobs,
        user_config(),
        vec![(media::OCI_LAYER_ZSTD, base), (media::OCI_LAYER_TAR, db)],
    );
    let out = scan(&m, &blobs, &cache).await.unwrap();
    assert_eq!(
        names(&out),
        ["busybox 1.36.1-r15", "libcrypto3 3.1.4-r5", "musl 1.2.4_git20230717-r4"]
    );
    assert!(
        out.packages.iter().all(|p| p.ecosystem == "Alpine:v3.19"),
        "{:?}",
        out.packages
    );
    let layers = out.details["layers"].as_array().unwrap();
    assert_eq!(layers[0]["compression"], "zstd");
    assert_eq!(layers[1]["compression"], "none");
}

#[tokio::test]
async fn compression_is_detected_from_magic_bytes_not_media_type() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    // A zstd blob labelled gzip, a plain tar labelled gzip.
    let base = Layer::new().file("etc/os-release", ALPINE_OS_RELEASE).zstd();
    let db = Layer::new().file("lib/apk/db/installed", APK_INSTALLED).tar();
    let m = image(&blobs, user_config(), vec![(GZ, base), (media::DOCKER_LAYER_GZIP, db)]);
    let out = scan(&m, &blobs, &cache).await.unwrap();
    assert_eq!(out.packages.len(), 3);
    assert_eq!(out.details["os"]["id"], "alpine");
}

#[tokio::test]
async fn deleted_package_db_disappears_and_opaque_dir_hides_lower_files() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let node = Layer::new()
        .file(
            "app/node_modules/lodash/package.json",
            r#"{"name":"lodash","version":"4.17.20"}"#,
        )
        .file(
            "app/node_modules/express/package.json",
            r#"{"name":"express","version":"4.18.2"}"#,
        )
        .file(
            "srv/node_modules/kept/package.json",
            r#"{"name":"kept","version":"1.0.0"}"#,
        )
        .gzip();
    let upper = Layer::new()
        .whiteout("var/lib/dpkg/status")
        .opaque("app/node_modules")
        .file(
            "app/node_modules/lodash/package.json",
            r#"{"name":"lodash","version":"4.17.21"}"#,
        )
        .gzip();
    let m = image(
        &blobs,
        user_config(),
        vec![(GZ, debian_base()), (GZ, node), (GZ, upper)],
    );
    let out = scan(&m, &blobs, &cache).await.unwrap();
    assert_eq!(names(&out), ["kept 1.0.0", "lodash 4.17.21"]);
    let lodash = out.packages.iter().find(|p| p.name == "lodash").unwrap();
    assert_eq!(lodash.layer.as_deref(), Some(m.layers[2].digest.as_str()));
    assert_eq!(out.details["os"]["id"], "debian", "os-release was not deleted");
}

#[tokio::test]
async fn whiteout_of_a_directory_removes_everything_under_it() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let upper = Layer::new()
        .whiteout("var/lib/dpkg")
        .whiteout("usr/lib/os-release")
        .gzip();
    let m = image(&blobs, user_config(), vec![(GZ, debian_base()), (GZ, upper)]);
    let out = scan(&m, &blobs, &cache).await.unwrap();
    assert!(out.packages.is_empty(), "{:?}", out.packages);
    // etc/os-release is now a dangling link; etc/debian_version remains.
    assert_eq!(out.details["os"]["id"], "debian");
    assert_eq!(out.details["os"]["version_id"], "12.5");
}

#[tokio::test]
async fn shared_base_layer_is_opened_once_thanks_to_the_cache() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let base = debian_base();
    let a = image(
        &blobs,
        user_config(),
        vec![(GZ, base.clone()), (GZ, Layer::new().file("a", "a").gzip())],
    );
    let b = image(
        &blobs,
        config_json(Some("b"), &[], &[]),
        vec![(GZ, base), (GZ, Layer::new().file("b", "b").gzip())],
    );
    let first = scan(&a, &blobs, &cache).await.unwrap();
    let second = scan(&b, &blobs, &cache).await.unwrap();
    let base_digest = &a.layers[0].digest;
    assert_eq!(blobs.opens(base_digest), 1, "the base layer blob was opened again");
    assert_eq!(blobs.opens(&b.layers[1].digest), 1);
    assert_eq!(second.details["layers"][0]["cached"], true);
    assert_eq!(second.details["layers"][1]["cached"], false);
    assert_eq!(names(&first), names(&second));
    assert_eq!(second.packages[0].layer.as_deref(), Some(base_digest.as_str()));
}

#[tokio::test]
async fn foreign_and_non_tar_layers_are_skipped_with_a_note_and_never_fetched() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let m = image(
        &blobs,
        user_config(),
        vec![
            (media::DOCKER_LAYER_FOREIGN, vec![1, 2, 3]),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                vec![4, 5],
            ),
            (
                media::IN_TOTO,
                br#"{"_type":"https://in-toto.io/Statement/v1"}"#.to_vec(),
            ),
            (GZ, debian_base()),
        ],
    );
    let out = scan(&m, &blobs, &cache).await.unwrap();
    for l in &m.layers[..3] {
        assert_eq!(blobs.opens(&l.digest), 0, "{} was fetched", l.media_type);
    }
    let layers = out.details["layers"].as_array().unwrap();
    assert!(layers[0]["skipped"].as_str().unwrap().contains("foreign"));
    assert!(layers[1]["skipped"].as_str().unwrap().contains("foreign"));
    assert!(layers[2]["skipped"]
        .as_str()
        .unwrap()
        .contains("not a filesystem tar layer"));
    assert!(layers[3]["skipped"].is_null());
    assert_eq!(out.details["notes"].as_array().unwrap().len(), 3);
    assert_eq!(out.packages.len(), 3);
}

#[tokio::test]
async fn layer_over_the_size_limit_fails_with_the_limit_and_layer_named() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let big = Layer::new().file("data/blob", vec![0u8; 2 << 20]).gzip();
    let m = image(&blobs, user_config(), vec![(GZ, big)]);
    let config = ImageConfig {
        max_layer_bytes: 1 << 20,
        ..Default::default()
    };
    let err = scan_with(config, &m, &blobs, &cache).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ScanError::Limit(_)), "{err:?}");
    assert!(
        msg.contains("max_layer_bytes") && msg.contains(&m.layers[0].digest),
        "{msg}"
    );
    assert!(
        cache.values.lock().unwrap().is_empty(),
        "a failed layer must not be cached"
    );
}

#[tokio::test]
async fn image_byte_budget_spans_layers() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let l1 = Layer::new().file("a", vec![0u8; 600 << 10]).gzip();
    let l2 = Layer::new().file("b", vec![0u8; 600 << 10]).gzip();
    let m = image(&blobs, user_config(), vec![(GZ, l1), (GZ, l2)]);
    let config = ImageConfig {
        max_image_bytes: 1 << 20,
        ..Default::default()
    };
    let err = scan_with(config, &m, &blobs, &cache).await.unwrap_err().to_string();
    assert!(
        err.contains("max_image_bytes") && err.contains(&m.layers[1].digest),
        "{err}"
    );
}

#[tokio::test]
async fn layer_over_the_entry_limit_fails() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let mut l = Layer::new();
    for i in 0..200 {
        l = l.file(&format!("f/{i}"), b"x");
    }
    let m = image(&blobs, user_config(), vec![(GZ, l.gzip())]);
    let config = ImageConfig {
        max_layer_entries: 100,
        ..Default::default()
    };
    let err = scan_with(config, &m, &blobs, &cache).await.unwrap_err();
    assert!(
        matches!(&err, ScanError::Limit(m) if m.contains("max_layer_entries") && m.contains("100")),
        "{err}"
    );
}

#[tokio::test]
async fn gzip_bomb_is_stopped_at_the_limit() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    // 256 MiB of zeros compresses to about 256 KiB: a 1000x expansion.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    let mut header = tar::Header::new_gnu();
    header.set_path("bomb").unwrap();
    header.set_size(256 << 20);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    std::io::Write::write_all(&mut enc, header.as_bytes()).unwrap();
    for _ in 0..256 {
        std::io::Write::write_all(&mut enc, &zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let m = image(&blobs, user_config(), vec![(GZ, bomb)]);
    let config = ImageConfig {
        max_layer_bytes: 16 << 20,
        ..Default::default()
    };
    let start = std::time::Instant::now();
    let err = scan_with(config, &m, &blobs, &cache).await.unwrap_err();
    assert!(
        matches!(&err, ScanError::Limit(m) if m.contains("max_layer_bytes")),
        "{err}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}

#[tokio::test]
async fn digest_mismatch_from_the_reader_fails_the_scan() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let m = image(&blobs, user_config(), vec![(GZ, debian_base())]);
    blobs.corrupt(&m.layers[0].digest);
    let err = scan(&m, &blobs, &cache).await.unwrap_err();
    match &err {
        ScanError::Io { what, source } => {
            assert!(what.contains(&m.layers[0].digest), "{what}");
            assert!(source.to_string().contains("digest mismatch"), "{source}");
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(cache.values.lock().unwrap().is_empty());
}

#[tokio::test]
async fn digest_mismatch_of_the_config_fails_the_scan() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let m = image(&blobs, user_config(), vec![(GZ, debian_base())]);
    blobs.corrupt(&m.config.digest);
    let err = scan(&m, &blobs, &cache).await.unwrap_err();
    assert!(
        matches!(&err, ScanError::Io { what, .. } if what.contains("image config")),
        "{err:?}"
    );
}

#[tokio::test]
async fn config_checks_root_secret_and_remote_add() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let secret = "AKIAIOSFODNN7EXAMPLE";
    let config = config_json(
        None,
        &[
            "PATH=/usr/bin",
            &format!("AWS_ACCESS_KEY_ID={secret}"),
            "DB_PASSWORD=hunter2-very-secret",
            "POSTGRES_PASSWORD_FILE=/run/secrets/pg",
        ],
        &[
            "ADD https://user:pw@example.com/tool.tgz?sig=abc /opt/ # buildkit",
            "RUN make",
        ],
    );
    let m = image(&blobs, config, vec![(GZ, debian_base())]);
    let out = scan(&m, &blobs, &cache).await.unwrap();
    let ids: Vec<_> = out.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids,
        ["IMG-REMOTE-ADD", "IMG-ROOT-USER", "IMG-SECRET-ENV", "IMG-SECRET-ENV"]
    );
    let json = serde_json::to_string(&out.findings).unwrap();
    assert!(
        !json.contains("IOSFODNN7EXAMPLE") && !json.contains("hunter2") && !json.contains("pw@"),
        "{json}"
    );
    let aws = out
        .findings
        .iter()
        .find(|f| f.location.as_deref() == Some("config.Env[AWS_ACCESS_KEY_ID]"))
        .unwrap();
    assert_eq!(aws.severity, Severity::High);
    assert!(aws.title.contains("AKIA********"), "{}", aws.title);
    assert!(out.findings.iter().all(|f| f.remediation.is_some()));
    let add = &out.findings[0];
    assert!(add.title.contains("https://example.com/tool.tgz"), "{}", add.title);
    assert_eq!(add.location.as_deref(), Some("history[0].created_by"));
    assert_eq!(out.details["config"]["user"], "");
}

#[tokio::test]
async fn clean_config_has_no_findings_and_skip_checks_works() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let config = config_json(
        Some("65532:65532"),
        &["HOME=/home/app", "TOKEN_URL=https://auth.example.com/t"],
        &["ADD --checksum=sha256:00 https://e.com/x /x"],
    );
    let m = image(&blobs, config, vec![(GZ, debian_base())]);
    assert!(scan(&m, &blobs, &cache).await.unwrap().findings.is_empty());

    let root = image(&blobs, config_json(Some("0:0"), &[], &[]), vec![(GZ, debian_base())]);
    assert_eq!(scan(&root, &blobs, &cache).await.unwrap().findings.len(), 1);
    let skip = ImageConfig {
        skip_checks: vec!["IMG-ROOT-USER".into()],
        ..Default::default()
    };
    assert!(scan_with(skip, &root, &blobs, &cache)
        .await
        .unwrap()
        .findings
        .is_empty());
}

#[tokio::test]
async fn bad_config_blob_and_oversized_config_fail_clearly() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let m = image(&blobs, b"{\"config\": [not json".to_vec(), vec![]);
    let err = scan(&m, &blobs, &cache).await.unwrap_err();
    assert!(
        matches!(&err, ScanError::Invalid(m) if m.contains("image config")),
        "{err:?}"
    );

    let m = image(&blobs, config_json(Some("a"), &[], &[]), vec![]);
    let tiny = ImageConfig {
        max_config_bytes: 16,
        ..Default::default()
    };
    let err = scan_with(tiny, &m, &blobs, &cache).await.unwrap_err();
    assert!(matches!(err, ScanError::Blob(_) | ScanError::Limit(_)), "{err:?}");
}

#[tokio::test]
async fn too_many_layers_fail_before_any_fetch() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let layers = (0..4)
        .map(|i| (GZ, Layer::new().file(&format!("f{i}"), "x").gzip()))
        .collect();
    let m = image(&blobs, user_config(), layers);
    let config = ImageConfig {
        max_layers: 3,
        ..Default::default()
    };
    let err = scan_with(config, &m, &blobs, &cache).await.unwrap_err();
    assert!(matches!(&err, ScanError::Limit(m) if m.contains("max_layers")), "{err}");
    assert_eq!(blobs.total_opens.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn image_without_os_notes_it_and_keeps_language_packages() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let l = Layer::new().file("app/Cargo.lock", "version = 3\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.200\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n").gzip();
    let m = image(&blobs, user_config(), vec![(GZ, l)]);
    let out = scan(&m, &blobs, &cache).await.unwrap();
    assert!(out.details["os"].is_null());
    assert!(out.details["notes"][0]
        .as_str()
        .unwrap()
        .contains("no operating system"));
    assert_eq!(names(&out), ["serde 1.0.200"]);
}
