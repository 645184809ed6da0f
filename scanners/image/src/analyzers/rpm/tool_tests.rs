//! Tests against databases and headers written by the real tools, when they are installed
//! (Debian: `apt-get install -y db5.3-util rpm`): Berkeley DB files written by libdb's own
//! `db5.3_load`, and header blobs written by `rpmbuild` and `rpm` itself. Each test prints a
//! loud SKIPPED line and passes when its tools are missing; the hand-built fixtures next to the
//! readers cover the formats regardless.

use std::path::Path;
use std::process::Command;

use rusqlite::{Connection, OpenFlags};

use super::tests::{header, sample_headers, summary, SAMPLE_PACKAGES};
use super::{TAG_NAME, TAG_RELEASE, TAG_SOURCERPM, TAG_VERSION};
use crate::analyzers::{analyze, AnalyzerId, FileFacts};
use regscan_scanner_api::Package;

/// Whether `tool` runs; prints the skip notice when it does not.
fn have(tool: &str, arg: &str, test: &str) -> bool {
    let ok = Command::new(tool).arg(arg).output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("\n*** SKIPPED {test}: `{tool}` is not installed (apt-get install -y db5.3-util rpm) ***\n");
    }
    ok
}

/// A hash database written by `db5.3_load` from `records` (key, value), keys as rpm writes
/// them (4-byte native, here little-endian, instance numbers).
fn db_load(dir: &Path, page_size: u32, records: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut dump = format!("VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize={page_size}\nHEADER=END\n");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    for (key, value) in records {
        dump.push_str(&format!(" {}\n {}\n", hex(&key.to_le_bytes()), hex(value)));
    }
    dump.push_str("DATA=END\n");
    let input = dir.join(format!("dump-{page_size}.txt"));
    let db = dir.join(format!("Packages-{page_size}"));
    std::fs::write(&input, dump).unwrap();
    let out = Command::new("db5.3_load")
        .arg("-f")
        .arg(&input)
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "db5.3_load: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&db).unwrap()
}

fn packages(id: AnalyzerId, path: &str, bytes: &[u8]) -> Vec<Package> {
    match analyze(id, path, &mut &bytes[..]).unwrap() {
        FileFacts::Packages(p) => p,
        other => panic!("{other:?}"),
    }
}

#[test]
fn libdb_written_hash_databases() {
    if !have("db5.3_load", "-V", "libdb_written_hash_databases") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let big_description = "x".repeat(40_000);
    let mut records: Vec<(u32, Vec<u8>)> = vec![(0, 600u32.to_le_bytes().to_vec())];
    records.extend(sample_headers().into_iter().enumerate().map(|(i, h)| (i as u32 + 1, h)));
    // Enough packages to split buckets over many hash pages; one needs a long overflow chain.
    let mut expected: Vec<(String, String)> = SAMPLE_PACKAGES
        .iter()
        .map(|p| (p.0.to_owned(), p.1.to_owned()))
        .collect();
    for i in 5..600u32 {
        let name = format!("pkg{i}");
        let release = format!("{i}.el8");
        let desc = if i == 77 { big_description.as_str() } else { "small" };
        records.push((
            i,
            header(
                &[
                    (TAG_NAME, &name),
                    (TAG_VERSION, "1.0"),
                    (TAG_RELEASE, &release),
                    (1005, desc),
                    (TAG_SOURCERPM, &format!("{name}-1.0-{release}.src.rpm")),
                ],
                None,
            ),
        ));
        expected.push((name, format!("1.0-{release}")));
    }
    expected.sort();
    for page_size in [512, 4096, 65536] {
        let bytes = db_load(dir.path(), page_size, &records);
        let pkgs = packages(AnalyzerId::RpmBdb, "var/lib/rpm/Packages", &bytes);
        let mut got: Vec<(String, String)> = pkgs.iter().map(|p| (p.name.clone(), p.version.clone())).collect();
        got.sort();
        assert_eq!(got, expected, "page size {page_size}");
        let mut sample: Vec<_> = summary(&pkgs).into_iter().filter(|p| !p.0.starts_with("pkg")).collect();
        sample.sort();
        assert_eq!(sample, SAMPLE_PACKAGES, "page size {page_size}");
        // Truncating a libdb file is caught.
        let cut = &bytes[..bytes.len() - page_size as usize];
        let err = analyze(AnalyzerId::RpmBdb, "var/lib/rpm/Packages", &mut &cut[..]).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}

/// Headers written by rpm itself: a package built with `rpmbuild` and installed with
/// `rpm --justdb` into an SQLite database (Debian's rpm writes no other backend), then moved
/// into a libdb-written hash database and an NDB file, and read by all three readers.
#[test]
fn rpm_written_headers() {
    let test = "rpm_written_headers";
    if !have("rpmbuild", "--version", test) || !have("rpm", "--version", test) || !have("db5.3_load", "-V", test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("demo.spec");
    std::fs::write(
        &spec,
        "Name: demo-pkg\nVersion: 1.2.3\nRelease: 4.fc40\nEpoch: 2\nSummary: demo\nLicense: MIT\n\
         Vendor: Fedora Project\nBuildArch: noarch\n%description\nA demo package.\n%files\n",
    )
    .unwrap();
    let top = dir.path().join("top");
    let out = Command::new("rpmbuild")
        .arg("-bb")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg("--define")
        .arg("modularitylabel demo:1.2:4020020240101000000:abcd1234")
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rpmbuild: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rpm_file = top.join("RPMS/noarch/demo-pkg-1.2.3-4.fc40.noarch.rpm");
    let dbpath = dir.path().join("db");
    std::fs::create_dir(&dbpath).unwrap();
    let out = Command::new("rpm")
        .args(["-i", "--nodeps", "--justdb", "--noscripts", "--dbpath"])
        .arg(&dbpath)
        .arg(&rpm_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "rpm -i: {}", String::from_utf8_lossy(&out.stderr));
    let sqlite = dbpath.join("rpmdb.sqlite");
    let blobs: Vec<(u32, Vec<u8>)> = {
        let conn = Connection::open_with_flags(&sqlite, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let mut stmt = conn.prepare("SELECT hnum, blob FROM Packages").unwrap();
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert_eq!(blobs.len(), 1);
    let want = [("demo-pkg", "2:1.2.3-4.fc40", "demo-pkg", "2:1.2.3-4.fc40")];
    // Vendor and modularity label, as rpm wrote them, reach `finish` in the provisional ecosystem.
    let facts = |pkgs: &[Package]| super::pending_facts(&pkgs[0].ecosystem).map(|(v, m)| (v.to_owned(), m.to_owned()));
    let want_facts = Some((
        "Fedora Project".to_owned(),
        "demo:1.2:4020020240101000000:abcd1234".to_owned(),
    ));
    // rpm's own SQLite file (checkpointed by rpm on close, or read in WAL mode).
    let bytes = std::fs::read(&sqlite).unwrap();
    let pkgs = packages(AnalyzerId::RpmSqlite, "var/lib/rpm/rpmdb.sqlite", &bytes);
    assert_eq!(summary(&pkgs), want);
    assert_eq!(facts(&pkgs), want_facts);
    let bdb = db_load(dir.path(), 4096, &blobs);
    let pkgs = packages(AnalyzerId::RpmBdb, "var/lib/rpm/Packages", &bdb);
    assert_eq!(summary(&pkgs), want);
    assert_eq!(facts(&pkgs), want_facts);
    let ndb = super::ndb::tests::build(1, &blobs);
    let pkgs = packages(AnalyzerId::RpmNdb, "var/lib/rpm/Packages.db", &ndb);
    assert_eq!(summary(&pkgs), want);
    assert_eq!(facts(&pkgs), want_facts);
}
