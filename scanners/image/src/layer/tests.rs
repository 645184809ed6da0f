//! Unit tests of the layer walker on tarballs built in memory.

use std::io::Write;

use super::*;

const OS_RELEASE: &str = "ID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n";

fn tar_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    build(&mut b);
    b.into_inner().unwrap()
}

fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(EntryType::Regular);
    b.append_data(&mut h, path, data).unwrap();
}

fn link(b: &mut tar::Builder<Vec<u8>>, kind: EntryType, path: &str, target: &str) {
    let mut h = tar::Header::new_gnu();
    h.set_size(0);
    h.set_entry_type(kind);
    b.append_link(&mut h, path, target).unwrap();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn walk_ok(blob: &[u8]) -> LayerFacts {
    walk_layer(blob, "sha256:test", &WalkLimits::default()).unwrap()
}

#[test]
fn normalize_paths() {
    assert_eq!(normalize(b"./etc/os-release").as_deref(), Some("etc/os-release"));
    assert_eq!(normalize(b"/etc//apk/../os-release").as_deref(), Some("etc/os-release"));
    assert_eq!(normalize(b"../../etc/passwd").as_deref(), Some("etc/passwd"));
    assert_eq!(normalize(b"./").as_deref(), None);
    assert_eq!(normalize(b"usr/lib/").as_deref(), Some("usr/lib"));
}

#[test]
fn whiteout_markers_are_recorded_not_analyzed() {
    let t = tar_with(|b| {
        file(b, "etc/.wh.os-release", b"");
        file(b, "opt/app/.wh..wh..opq", b"");
        file(b, ".wh.srv", b"");
        file(b, "x/.wh..wh.plnk", b"");
    });
    let f = walk_ok(&t);
    assert_eq!(f.whiteouts.iter().collect::<Vec<_>>(), ["etc/os-release", "srv"]);
    assert_eq!(f.opaque_dirs.iter().collect::<Vec<_>>(), ["opt/app"]);
    assert!(f.files.is_empty());
}

#[test]
fn plain_gzip_and_zstd_give_the_same_facts() {
    let t = tar_with(|b| {
        file(b, "./etc/os-release", OS_RELEASE.as_bytes());
        file(b, "usr/share/doc/readme", &[7u8; 5000]);
    });
    let plain = walk_ok(&t);
    assert_eq!(plain.compression, Compression::None);
    assert!(matches!(plain.files.get("etc/os-release"), Some(FileFacts::Os(os)) if os.id == "alpine"));
    assert_eq!(plain.uncompressed_bytes, t.len() as u64);
    let gz = walk_ok(&gzip(&t));
    assert_eq!(gz.compression, Compression::Gzip);
    assert_eq!(gz.files, plain.files);
    let zst = walk_ok(&zstd::encode_all(&t[..], 3).unwrap());
    assert_eq!(zst.compression, Compression::Zstd);
    assert_eq!(zst.files, plain.files);
    assert_eq!(zst.uncompressed_bytes, plain.uncompressed_bytes);
}

#[test]
fn concatenated_gzip_members_are_read_to_the_end() {
    let t = tar_with(|b| file(b, "etc/os-release", OS_RELEASE.as_bytes()));
    let (a, rest) = t.split_at(700);
    let mut blob = gzip(a);
    blob.extend(gzip(rest));
    assert!(walk_ok(&blob).files.contains_key("etc/os-release"));
}

#[test]
fn empty_blob_is_an_empty_layer() {
    let f = walk_ok(&[]);
    assert_eq!(f.entries, 0);
}

#[test]
fn garbage_is_invalid_and_xz_is_named() {
    let err = walk_layer(
        &b"this is not a tar file at all, no no no"[..],
        "sha256:g",
        &WalkLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, LayerError::Invalid { .. }), "{err}");
    let xz = [0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2, 3];
    let err = walk_layer(&xz[..], "sha256:x", &WalkLimits::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("xz") && err.contains("sha256:x"), "{err}");
    let mut bad_gz = gzip(&tar_with(|b| file(b, "a", b"abc")));
    let n = bad_gz.len();
    bad_gz[n / 2] ^= 0xff;
    bad_gz[n / 2 + 1] ^= 0xff;
    let err = walk_layer(&bad_gz[..], "sha256:c", &WalkLimits::default()).unwrap_err();
    assert!(matches!(err, LayerError::Invalid { .. }), "{err}");
}

#[test]
fn byte_and_entry_limits_fail_with_the_setting_named() {
    let t = tar_with(|b| {
        for i in 0..10 {
            file(b, &format!("f{i}"), &[0u8; 1000]);
        }
    });
    let limits = WalkLimits {
        max_entries: 5,
        ..Default::default()
    };
    let err = walk_layer(&t[..], "sha256:e", &limits).unwrap_err().to_string();
    assert!(err.contains("max_layer_entries") && err.contains("sha256:e"), "{err}");
    let limits = WalkLimits {
        max_bytes: 4096,
        ..Default::default()
    };
    let err = walk_layer(&gzip(&t)[..], "sha256:b", &limits).unwrap_err();
    assert!(
        matches!(&err, LayerError::Limit { message, .. } if message.contains("max_layer_bytes")),
        "{err}"
    );
    let limits = WalkLimits {
        max_bytes: t.len() as u64,
        ..Default::default()
    };
    walk_layer(&t[..], "sha256:ok", &limits).unwrap();
}

#[test]
fn zeros_after_the_end_marker_still_count() {
    let mut t = tar_with(|b| file(b, "a", b"abc"));
    let end = t.len() as u64;
    t.extend(std::iter::repeat_n(0u8, 1 << 20));
    let limits = WalkLimits {
        max_bytes: end + 4096,
        ..Default::default()
    };
    let err = walk_layer(&gzip(&t)[..], "sha256:z", &limits).unwrap_err();
    assert!(matches!(err, LayerError::Limit { .. }), "{err}");
}

#[test]
fn long_names_and_pax_paths_are_followed() {
    let deep = format!(
        "{}/node_modules/left-pad/package.json",
        "a/".repeat(80).trim_end_matches('/')
    );
    let pkg = br#"{"name":"left-pad","version":"1.3.0"}"#;
    // GNU long name (tar crate writes one for long paths with a GNU header).
    let t = tar_with(|b| file(b, &deep, pkg));
    let f = walk_ok(&t);
    assert!(f.files.contains_key(&deep), "{:?}", f.files.keys().collect::<Vec<_>>());
    // PAX path record.
    let t = tar_with(|b| {
        let record = format!("path={deep}\n");
        let len = record.len() + 4;
        let record = format!("{len} {record}");
        assert_eq!(record.len(), len);
        let mut h = tar::Header::new_ustar();
        h.set_size(record.len() as u64);
        h.set_entry_type(EntryType::XHeader);
        h.set_path("PaxHeaders/x").unwrap();
        h.set_cksum();
        b.append(&h, record.as_bytes()).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(pkg.len() as u64);
        h.set_entry_type(EntryType::Regular);
        h.set_path("short").unwrap();
        h.set_cksum();
        b.append(&h, &pkg[..]).unwrap();
    });
    let f = walk_ok(&t);
    assert!(f.files.contains_key(&deep), "{:?}", f.files.keys().collect::<Vec<_>>());
    assert!(!f.files.contains_key("short"));
}

#[test]
fn huge_long_name_entries_are_refused() {
    let t = tar_with(|b| {
        let mut h = tar::Header::new_gnu();
        let name = vec![b'a'; (MAX_LONG_NAME + 10) as usize];
        h.set_size(name.len() as u64);
        h.set_entry_type(EntryType::GNULongName);
        h.set_path("././@LongLink").unwrap();
        h.set_cksum();
        b.append(&h, &name[..]).unwrap();
        file(b, "x", b"");
    });
    let err = walk_layer(&t[..], "sha256:l", &WalkLimits::default()).unwrap_err();
    assert!(
        matches!(&err, LayerError::Limit { message, .. } if message.contains("GNU long name")),
        "{err}"
    );
}

#[test]
fn pax_records_parse_and_reject_nonsense() {
    let mut p = Pending::default();
    apply_pax(b"30 mtime=1700000000.123456789\n12 size=100\n", &mut p).unwrap();
    assert_eq!(p.pax_size, Some(100));
    assert!(apply_pax(b"99 path=x\n", &mut Pending::default()).is_err());
    assert!(apply_pax(b"x path=x\n", &mut Pending::default()).is_err());
}

#[test]
fn hard_links_reuse_facts_and_symlinks_are_recorded() {
    let t = tar_with(|b| {
        file(b, "usr/lib/os-release", OS_RELEASE.as_bytes());
        link(b, EntryType::Link, "etc/os-release", "usr/lib/os-release");
        link(
            b,
            EntryType::Symlink,
            "etc/alpine-release",
            "../usr/share/alpine-release",
        );
        link(b, EntryType::Symlink, "usr/share/doc/unrelated.txt", "busybox");
        link(b, EntryType::Link, "var/lib/dpkg/status", "usr/share/not-analyzed");
    });
    let f = walk_ok(&t);
    assert_eq!(f.files.get("etc/os-release"), f.files.get("usr/lib/os-release"));
    assert!(f.files.contains_key("etc/os-release"));
    assert_eq!(
        f.symlinks.get("etc/alpine-release").map(String::as_str),
        Some("../usr/share/alpine-release")
    );
    assert!(!f.symlinks.contains_key("usr/share/doc/unrelated.txt"));
    assert!(f.shadowed.contains("var/lib/dpkg/status"));
    assert!(f
        .skipped
        .iter()
        .any(|s| s.path == "var/lib/dpkg/status" && s.reason.contains("hard link")));
}

#[test]
fn oversized_and_malformed_wanted_files_are_noted_and_shadow() {
    let limit = AnalyzerId::OsRelease.max_bytes();
    let t = tar_with(|b| {
        file(b, "etc/os-release", &vec![b'#'; limit as usize + 1]);
        file(b, "lib/apk/db/installed", b"P:musl\nV:1.2.4-r2\n\nthis is not\n");
    });
    let f = walk_ok(&t);
    assert!(f.shadowed.contains("etc/os-release"));
    assert!(
        f.skipped
            .iter()
            .any(|s| s.path == "etc/os-release" && s.reason.contains("over the")),
        "{:?}",
        f.skipped
    );
}

#[test]
fn a_later_entry_at_the_same_path_wins_within_a_layer() {
    let t = tar_with(|b| {
        file(b, "etc/os-release", OS_RELEASE.as_bytes());
        link(b, EntryType::Symlink, "etc/os-release", "../usr/lib/os-release");
    });
    let f = walk_ok(&t);
    assert!(!f.files.contains_key("etc/os-release"));
    assert!(f.symlinks.contains_key("etc/os-release"));
}

#[test]
fn source_errors_are_reported_as_read_errors() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "digest mismatch for sha256:s",
            ))
        }
    }
    let t = gzip(&tar_with(|b| file(b, "etc/os-release", OS_RELEASE.as_bytes())));
    let err = walk_layer((&t[..]).chain(Failing), "sha256:s", &WalkLimits::default()).unwrap_err();
    assert!(
        matches!(&err, LayerError::Read { source, .. } if source.to_string().contains("digest mismatch")),
        "{err}"
    );
}

#[test]
fn not_analyzed_files_are_counted_but_listed_only_up_to_the_cap() {
    let big = vec![b'#'; AnalyzerId::OsRelease.max_bytes() as usize + 1];
    let t = tar_with(|b| {
        for _ in 0..MAX_SKIPPED_LISTED + 5 {
            file(b, "etc/os-release", &big);
        }
    });
    let f = walk_ok(&t);
    assert_eq!(f.skipped.len(), MAX_SKIPPED_LISTED);
    assert_eq!(f.skipped_total, MAX_SKIPPED_LISTED as u64 + 5);
}
