//! Bulk import: `all.zip` archives built in the test, and directories.

use std::io::{Cursor, Write};

use regscan_osv::{read_dir, read_zip, ImportLimits, OsvError};
use zip::write::SimpleFileOptions;

const REC: &str = r#"{"id":"GHSA-aaaa-bbbb-cccc","modified":"2024-01-01T00:00:00Z",
  "affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]}"#;

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, body) in entries {
        if name.ends_with('/') {
            w.add_directory(*name, opts).unwrap();
        } else {
            w.start_file(*name, opts).unwrap();
            w.write_all(body).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn reads_all_zip_and_keeps_bad_records_apart() {
    let bytes = zip_of(&[
        ("GHSA-aaaa-bbbb-cccc.json", REC.as_bytes()),
        ("nested/", b""),
        ("nested/BAD-1.json", b"{\"id\": 5}"),
        ("README.txt", b"not a record"),
        ("../../etc/evil.json", REC.as_bytes()),
    ]);
    let out = read_zip(Cursor::new(bytes), &ImportLimits::default()).unwrap();
    let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["GHSA-aaaa-bbbb-cccc.json", "nested/BAD-1.json", "../../etc/evil.json"]
    );
    assert_eq!(out[0].1.as_ref().unwrap().id, "GHSA-aaaa-bbbb-cccc");
    let err = out[1].1.as_ref().unwrap_err().to_string();
    assert!(err.contains("invalid type"), "{err}");
    // The hostile name is only a string; the record is read from memory.
    assert!(out[2].1.is_ok());
}

#[test]
fn zip_limits_are_enforced() {
    let big = format!(
        "{}{}",
        &REC[..REC.len() - 1],
        format_args!(",\"details\":\"{}\"}}", "A".repeat(100_000))
    );
    let bytes = zip_of(&[
        ("a.json", REC.as_bytes()),
        ("b.json", big.as_bytes()),
        ("c.json", REC.as_bytes()),
    ]);

    let limits = ImportLimits {
        max_entries: 2,
        ..Default::default()
    };
    let err = read_zip(Cursor::new(bytes.clone()), &limits).unwrap_err();
    assert!(
        matches!(
            err,
            OsvError::Limit {
                what: "entry count",
                ..
            }
        ),
        "{err}"
    );

    let limits = ImportLimits {
        max_entry_bytes: 10_000,
        ..Default::default()
    };
    let err = read_zip(Cursor::new(bytes.clone()), &limits).unwrap_err();
    assert!(err.to_string().contains("b.json"), "{err}");

    let limits = ImportLimits {
        max_total_bytes: 50_000,
        ..Default::default()
    };
    let err = read_zip(Cursor::new(bytes.clone()), &limits).unwrap_err();
    assert!(matches!(err, OsvError::Limit { what: "total size", .. }), "{err}");

    // A highly compressible entry (a bomb in miniature) is stopped at the limit, not inflated.
    let bomb = vec![b' '; 5_000_000];
    let bytes = zip_of(&[("bomb.json", &bomb)]);
    assert!(bytes.len() < 100_000);
    let limits = ImportLimits {
        max_entry_bytes: 1 << 20,
        ..Default::default()
    };
    assert!(read_zip(Cursor::new(bytes), &limits).is_err());
}

#[test]
fn not_a_zip_is_a_clear_error() {
    let err = read_zip(Cursor::new(b"PK\x03\x04 truncated".to_vec()), &ImportLimits::default()).unwrap_err();
    assert!(matches!(err, OsvError::Zip { .. }));
    assert!(err.to_string().contains("zip"), "{err}");
}

#[test]
fn reads_directory_recursively_and_sorted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("b/c")).unwrap();
    std::fs::write(dir.path().join("b/c/two.json"), REC).unwrap();
    std::fs::write(dir.path().join("one.json"), REC).unwrap();
    std::fs::write(dir.path().join("notes.md"), "x").unwrap();
    std::fs::write(dir.path().join("broken.json"), "{").unwrap();
    let out = read_dir(dir.path(), &ImportLimits::default()).unwrap();
    let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["b/c/two.json", "broken.json", "one.json"]);
    assert!(out[1].1.is_err());

    let limits = ImportLimits {
        max_depth: 1,
        ..Default::default()
    };
    assert!(matches!(
        read_dir(dir.path(), &limits),
        Err(OsvError::Limit {
            what: "directory depth",
            ..
        })
    ));
    let err = read_dir(&dir.path().join("missing"), &ImportLimits::default()).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

fn rec(id: &str) -> String {
    REC.replace("GHSA-aaaa-bbbb-cccc", id)
}

#[test]
fn streams_one_record_at_a_time_and_skips_by_name_unread() {
    let (a, c) = (rec("A-1"), rec("C-3"));
    let bytes = zip_of(&[
        ("modified_id.csv", b"2024-01-01T00:00:00Z,B-2\n"),
        ("A-1.json", a.as_bytes()),
        ("eco/B-2.json", b"this would not parse"),
        ("C-3.json", c.as_bytes()),
    ]);
    let skip = |name: &str| regscan_osv::id_of_entry_name(name) == "B-2";
    let mut seen = Vec::new();
    let stats = regscan_osv::stream_zip(Cursor::new(&bytes), &ImportLimits::default(), &skip, &mut |n, r| {
        seen.push((n, r.unwrap().id));
        true
    })
    .unwrap();
    assert_eq!(
        seen,
        [("A-1.json".into(), "A-1".into()), ("C-3.json".into(), "C-3".into())]
    );
    assert_eq!((stats.entries, stats.skipped), (3, 1));
    assert_eq!(
        (stats.bytes as usize),
        a.len() + c.len(),
        "the skipped entry was not inflated"
    );
    // Stop early.
    let mut n = 0;
    regscan_osv::stream_zip(
        Cursor::new(&bytes),
        &ImportLimits::default(),
        &|_| false,
        &mut |_, _| {
            n += 1;
            false
        },
    )
    .unwrap();
    assert_eq!(n, 1);
    // A member found by walking the headers.
    let csv = regscan_osv::zip_member(Cursor::new(&bytes), "modified_id.csv", 1 << 20).unwrap();
    assert_eq!(csv.as_deref(), Some(&b"2024-01-01T00:00:00Z,B-2\n"[..]));
    assert!(regscan_osv::zip_member(Cursor::new(&bytes), "other.csv", 1 << 20)
        .unwrap()
        .is_none());
    let err = regscan_osv::zip_member(Cursor::new(&bytes), "modified_id.csv", 4).unwrap_err();
    assert!(matches!(err, OsvError::Limit { .. }), "{err}");
}

#[test]
fn zip_with_data_descriptors_is_read_through_its_central_directory() {
    // A streaming writer states sizes after the data, which a front-to-back reader cannot use.
    let mut w = zip::ZipWriter::new_stream(Vec::new());
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for id in ["A-1", "B-2"] {
        w.start_file(format!("{id}.json"), opts).unwrap();
        w.write_all(rec(id).as_bytes()).unwrap();
    }
    let bytes = w.finish().unwrap().into_inner();
    assert_eq!(bytes[6] & 0x08, 0x08, "the first entry uses a data descriptor");
    let out = read_zip(Cursor::new(bytes), &ImportLimits::default()).unwrap();
    let ids: Vec<String> = out.into_iter().map(|(_, r)| r.unwrap().id).collect();
    assert_eq!(ids, ["A-1", "B-2"]);
}
