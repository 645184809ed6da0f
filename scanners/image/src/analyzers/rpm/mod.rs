//! rpm package databases, in their three on-disk forms, and the rpm header blob parser they
//! share. Every form stores one rpm header blob per installed package; the name, version,
//! release, epoch and source rpm are read from it.
//!
//! - SQLite (`rpmdb.sqlite`; RHEL 9, Rocky, Alma, Fedora 33+, UBI 9, AL2023): SQLite needs a
//!   file, so the database bytes (never the archive path) are written to a private temporary
//!   file that is deleted when the analysis ends, and opened read-only.
//! - Berkeley DB hash (`Packages`; RHEL/CentOS 7 and 8, UBI 8, Amazon Linux 2): [`bdb`].
//! - NDB (`Packages.db`; SUSE, openSUSE 15+): [`ndb`].

mod bdb;
mod ndb;
#[cfg(test)]
mod tool_tests;

use std::io::{Read, Write};

use regscan_scanner_api::Package;
use rusqlite::{Connection, OpenFlags};

use super::{read_all, AnalyzeError, AnalyzerId, FileFacts};

/// Most rows read from `Packages`.
const MAX_ROWS: usize = 200_000;

/// Largest header blob accepted.
const MAX_BLOB: usize = 64 * 1024 * 1024;

/// Most index entries in one header (rpm's own limit).
const MAX_INDEX_ENTRIES: u32 = 0xffff;

/// Longest string value read from a header (names, versions, source rpm file names).
const MAX_STRING: usize = 64 * 1024;

/// Header tags read here.
const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_VENDOR: u32 = 1011;
const TAG_SOURCERPM: u32 = 1044;
const TAG_MODULARITYLABEL: u32 = 5096;

/// What starts the provisional `ecosystem` of an rpm package, which [`super::finish`] replaces
/// once the image's operating system is known: `\u{1f}rpm\u{1f}<vendor>\u{1f}<modularity label>`.
/// The vendor (`Red Hat, Inc.`) and modularity label (`nodejs:18:8090020231215135930:a75119d5`)
/// decide which advisories apply; [`crate::analyzers::ANALYZERS_VERSION`] covers the format.
const PENDING: &str = "\u{1f}rpm\u{1f}";

/// The provisional ecosystem of an rpm package with these header facts (control characters,
/// which cannot be part of either, dropped).
fn pending_ecosystem(vendor: Option<&str>, module: Option<&str>) -> String {
    let clean = |s: Option<&str>| s.unwrap_or("").chars().filter(|c| !c.is_control()).collect::<String>();
    format!("{PENDING}{}\u{1f}{}", clean(vendor), clean(module))
}

/// The (vendor, modularity label) of a provisional rpm ecosystem, empty when the header had
/// none; `None` if `ecosystem` is not one.
pub(crate) fn pending_facts(ecosystem: &str) -> Option<(&str, &str)> {
    ecosystem.strip_prefix(PENDING)?.split_once('\u{1f}')
}

/// Most bytes of header blobs read from one Berkeley DB or NDB database in all: twice the
/// largest database, so overflow chains or slots that share pages cannot multiply the work.
const MAX_TOTAL_BLOB_BYTES: usize = 512 * 1024 * 1024;

/// What the Berkeley DB and NDB readers hand each (record number, header blob) to; an error
/// stops the reading.
type BlobSink<'a> = dyn FnMut(u32, &[u8]) -> Result<(), String> + 'a;

/// Header data types read here.
const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;

/// Parse an rpmdb.sqlite file into OS packages (`ecosystem` provisional, see [`pending_facts`],
/// for [`super::finish`]).
pub(crate) fn analyze(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::RpmSqlite;
    let mut bytes = read_all(id, path, content)?;
    if bytes.len() < 100 || !bytes.starts_with(b"SQLite format 3\0") {
        return Err(AnalyzeError::malformed(id, path, "not an SQLite 3 database"));
    }
    // A WAL-mode database (file format bytes 18/19 = 2) is read as a rollback-journal one: the
    // image holds no WAL file to replay, and SQLite would otherwise want to create one.
    if bytes[18] == 2 && bytes[19] == 2 {
        bytes[18] = 1;
        bytes[19] = 1;
    }
    let tmp_err =
        |e: std::io::Error| AnalyzeError::io(path, std::io::Error::new(e.kind(), format!("temporary copy: {e}")));
    let mut tmp = tempfile::Builder::new()
        .prefix("regscan-rpmdb-")
        .tempfile()
        .map_err(tmp_err)?;
    tmp.write_all(&bytes).map_err(tmp_err)?;
    tmp.flush().map_err(tmp_err)?;
    drop(bytes);
    let sql = |e: rusqlite::Error| AnalyzeError::malformed(id, path, format!("SQLite: {e}"));
    let conn = Connection::open_with_flags(
        tmp.path(),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    let mut stmt = conn
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut packages = Vec::new();
    let mut count = 0usize;
    while let Some(row) = rows.next().map_err(sql)? {
        count += 1;
        if count > MAX_ROWS {
            return Err(AnalyzeError::malformed(
                id,
                path,
                format!("more than {MAX_ROWS} packages"),
            ));
        }
        let hnum: i64 = row.get(0).map_err(sql)?;
        let blob = row.get_ref(1).map_err(sql)?.as_blob().map_err(|e| sql(e.into()))?;
        if blob.len() > MAX_BLOB {
            return Err(AnalyzeError::malformed(
                id,
                path,
                format!("header {hnum} is over {MAX_BLOB} bytes"),
            ));
        }
        let header =
            parse_header(blob).map_err(|p| AnalyzeError::malformed(id, path, format!("header {hnum}: {p}")))?;
        if let Some(pkg) = header.into_package(path) {
            packages.push(pkg);
        }
    }
    Ok(FileFacts::Packages(packages))
}

/// Parse a Berkeley DB hash `Packages` database into OS packages (`ecosystem` provisional, for
/// [`super::finish`]).
pub(crate) fn analyze_bdb(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::RpmBdb;
    let bytes = read_all(id, path, content)?;
    let mut collect = Collector::new(path);
    bdb::for_each_value(&bytes, &mut |record, blob| collect.blob(record, blob))
        .map_err(|p| AnalyzeError::malformed(id, path, p))?;
    Ok(FileFacts::Packages(collect.packages))
}

/// Parse an NDB `Packages.db` database into OS packages (`ecosystem` provisional, for
/// [`super::finish`]).
pub(crate) fn analyze_ndb(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::RpmNdb;
    let bytes = read_all(id, path, content)?;
    let mut collect = Collector::new(path);
    ndb::for_each_blob(&bytes, &mut |record, blob| collect.blob(record, blob))
        .map_err(|p| AnalyzeError::malformed(id, path, p))?;
    Ok(FileFacts::Packages(collect.packages))
}

/// Turns the header blobs a database reader hands over into packages, with the shared limits.
struct Collector<'a> {
    /// The file, for package paths.
    path: &'a str,
    /// Packages so far.
    packages: Vec<Package>,
    /// Headers seen so far.
    count: usize,
    /// Header bytes seen so far.
    bytes: usize,
}

impl<'a> Collector<'a> {
    /// An empty collector for `path`.
    fn new(path: &'a str) -> Self {
        Collector {
            path,
            packages: Vec::new(),
            count: 0,
            bytes: 0,
        }
    }

    /// Take the header blob of database record `record`.
    fn blob(&mut self, record: u32, blob: &[u8]) -> Result<(), String> {
        self.count += 1;
        if self.count > MAX_ROWS {
            return Err(format!("more than {MAX_ROWS} packages"));
        }
        if blob.len() > MAX_BLOB {
            return Err(format!("header {record} is over {MAX_BLOB} bytes"));
        }
        self.bytes += blob.len();
        if self.bytes > MAX_TOTAL_BLOB_BYTES {
            return Err(format!("more than {MAX_TOTAL_BLOB_BYTES} bytes of headers in all"));
        }
        let header = parse_header(blob).map_err(|p| format!("header {record}: {p}"))?;
        if let Some(pkg) = header.into_package(self.path) {
            self.packages.push(pkg);
        }
        Ok(())
    }
}

/// The fields of one rpm header that matter here.
#[derive(Debug, Default, PartialEq, Eq)]
struct Header {
    /// `NAME`.
    name: Option<String>,
    /// `VERSION`.
    version: Option<String>,
    /// `RELEASE`.
    release: Option<String>,
    /// `EPOCH`.
    epoch: Option<u32>,
    /// `SOURCERPM` (`glibc-2.34-60.el9.src.rpm`).
    source_rpm: Option<String>,
    /// `VENDOR` (`Red Hat, Inc.`).
    vendor: Option<String>,
    /// `MODULARITYLABEL` (`nodejs:18:8090020231215135930:a75119d5`).
    module: Option<String>,
}

impl Header {
    /// The package, or `None` for entries that are not packages (`gpg-pubkey`) or lack a
    /// name or version.
    fn into_package(self, path: &str) -> Option<Package> {
        let name = self.name.filter(|n| !n.is_empty() && n != "gpg-pubkey")?;
        let version = self.version.filter(|v| !v.is_empty())?;
        let mut full = match self.epoch {
            Some(e) if e > 0 => format!("{e}:{version}"),
            _ => version.clone(),
        };
        if let Some(release) = self.release.filter(|r| !r.is_empty()) {
            full.push('-');
            full.push_str(&release);
        }
        let (source_name, source_version) = match self.source_rpm.as_deref().and_then(split_source_rpm) {
            Some((n, v, r)) => {
                let sv = match self.epoch {
                    Some(e) if e > 0 => format!("{e}:{v}-{r}"),
                    _ => format!("{v}-{r}"),
                };
                (n.to_owned(), sv)
            }
            None => (name.clone(), full.clone()),
        };
        Some(Package {
            ecosystem: pending_ecosystem(self.vendor.as_deref(), self.module.as_deref()),
            name,
            version: full,
            source_name: Some(source_name),
            source_version: Some(source_version),
            path: path.to_owned(),
            layer: None,
            dev: false,
        })
    }
}

/// `glibc-2.34-60.el9.src.rpm` -> (`glibc`, `2.34`, `60.el9`).
fn split_source_rpm(srpm: &str) -> Option<(&str, &str, &str)> {
    let base = srpm.strip_suffix(".rpm")?;
    let base = base.rsplit_once('.').map_or(base, |(b, _arch)| b);
    let (rest, release) = base.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    (!name.is_empty() && !version.is_empty() && !release.is_empty()).then_some((name, version, release))
}

/// Read a big-endian u32 at `at`.
fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parse a header blob as stored in the database: index entry count, data length, the index
/// entries (tag, type, offset, count; 16 bytes each, big-endian), then the data store.
fn parse_header(blob: &[u8]) -> Result<Header, String> {
    let il = be32(blob, 0).ok_or("shorter than the 8-byte preamble")?;
    let dl = be32(blob, 4).ok_or("shorter than the 8-byte preamble")?;
    if il == 0 || il > MAX_INDEX_ENTRIES {
        return Err(format!("{il} index entries"));
    }
    let data_start = 8 + il as usize * 16;
    let data_end = data_start + dl as usize;
    if data_end > blob.len() {
        return Err(format!(
            "declares {il} entries and {dl} data bytes, more than its {} bytes",
            blob.len()
        ));
    }
    let data = &blob[data_start..data_end];
    let mut h = Header::default();
    for i in 0..il as usize {
        let at = 8 + i * 16;
        let (tag, ty, offset, count) = (
            be32(blob, at).unwrap_or(0),
            be32(blob, at + 4).unwrap_or(0),
            be32(blob, at + 8).unwrap_or(0) as usize,
            be32(blob, at + 12).unwrap_or(0),
        );
        let string = || -> Result<String, String> {
            if ty != TYPE_STRING {
                return Err(format!("tag {tag} has type {ty}, expected a string"));
            }
            let bytes = data
                .get(offset..)
                .ok_or_else(|| format!("tag {tag} points past the data"))?;
            let bytes = &bytes[..bytes.len().min(MAX_STRING + 1)];
            let end = bytes
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| format!("tag {tag} string is not terminated within {MAX_STRING} bytes"))?;
            Ok(String::from_utf8_lossy(&bytes[..end]).into_owned())
        };
        let seen = match tag {
            TAG_NAME => h.name.is_some(),
            TAG_VERSION => h.version.is_some(),
            TAG_RELEASE => h.release.is_some(),
            TAG_SOURCERPM => h.source_rpm.is_some(),
            TAG_EPOCH => h.epoch.is_some(),
            TAG_VENDOR => h.vendor.is_some(),
            TAG_MODULARITYLABEL => h.module.is_some(),
            _ => false,
        };
        if seen {
            return Err(format!("tag {tag} appears twice"));
        }
        match tag {
            TAG_NAME => h.name = Some(string()?),
            TAG_VERSION => h.version = Some(string()?),
            TAG_RELEASE => h.release = Some(string()?),
            TAG_SOURCERPM => h.source_rpm = Some(string()?),
            TAG_VENDOR => h.vendor = Some(string()?),
            TAG_MODULARITYLABEL => h.module = Some(string()?),
            TAG_EPOCH => {
                if ty != TYPE_INT32 || count == 0 {
                    return Err(format!("epoch has type {ty} and count {count}"));
                }
                h.epoch = Some(be32(data, offset).ok_or("epoch points past the data")?);
            }
            _ => {}
        }
    }
    Ok(h)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The provisional ecosystem the readers give a package with these header facts.
    pub(crate) fn pending(vendor: &str, module: &str) -> String {
        pending_ecosystem(Some(vendor), Some(module))
    }

    /// Build a header blob like rpm stores it: a region tag first (HEADER_IMMUTABLE, binary),
    /// then string and int32 entries.
    pub(crate) fn header(fields: &[(u32, &str)], epoch: Option<u32>) -> Vec<u8> {
        let mut entries: Vec<(u32, u32, u32, u32)> = Vec::new();
        let mut data = Vec::new();
        entries.push((63, 7, 0, 16));
        data.extend([0u8; 16]);
        for (tag, value) in fields {
            entries.push((*tag, TYPE_STRING, data.len() as u32, 1));
            data.extend(value.as_bytes());
            data.push(0);
        }
        if let Some(e) = epoch {
            while data.len() % 4 != 0 {
                data.push(0);
            }
            entries.push((TAG_EPOCH, TYPE_INT32, data.len() as u32, 1));
            data.extend(e.to_be_bytes());
        }
        let mut blob = Vec::new();
        blob.extend((entries.len() as u32).to_be_bytes());
        blob.extend((data.len() as u32).to_be_bytes());
        for (t, ty, o, c) in entries {
            for v in [t, ty, o, c] {
                blob.extend(v.to_be_bytes());
            }
        }
        blob.extend(data);
        blob
    }

    fn rpmdb(blobs: &[Vec<u8>], wal: bool) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rpmdb.sqlite");
        {
            let conn = Connection::open(&file).unwrap();
            if wal {
                conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(())).unwrap();
            }
            conn.execute_batch(
                "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);
                 CREATE TABLE Name (key TEXT NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL);",
            )
            .unwrap();
            for b in blobs {
                conn.execute("INSERT INTO Packages (blob) VALUES (?1)", [b]).unwrap();
            }
        }
        std::fs::read(&file).unwrap()
    }

    /// Four real-shaped headers: glibc, openssl-libs with epoch 1, a gpg-pubkey (skipped),
    /// python3-libs from the python3.9 source.
    pub(crate) fn sample_headers() -> Vec<Vec<u8>> {
        vec![
            header(
                &[
                    (TAG_NAME, "glibc"),
                    (TAG_VERSION, "2.34"),
                    (TAG_RELEASE, "60.el9"),
                    (TAG_SOURCERPM, "glibc-2.34-60.el9.src.rpm"),
                    (1022, "x86_64"),
                ],
                None,
            ),
            header(
                &[
                    (TAG_NAME, "openssl-libs"),
                    (TAG_VERSION, "3.0.7"),
                    (TAG_RELEASE, "24.el9"),
                    (TAG_SOURCERPM, "openssl-3.0.7-24.el9.src.rpm"),
                ],
                Some(1),
            ),
            header(
                &[
                    (TAG_NAME, "gpg-pubkey"),
                    (TAG_VERSION, "fd431d51"),
                    (TAG_RELEASE, "4ae0493b"),
                ],
                None,
            ),
            header(
                &[
                    (TAG_NAME, "python3-libs"),
                    (TAG_VERSION, "3.9.18"),
                    (TAG_RELEASE, "1.el9_3"),
                    (TAG_SOURCERPM, "python3.9-3.9.18-1.el9_3.src.rpm"),
                ],
                None,
            ),
        ]
    }

    /// (name, version, source name, source version) of each package.
    pub(crate) fn summary(pkgs: &[Package]) -> Vec<(&str, &str, &str, &str)> {
        pkgs.iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_str(),
                    p.source_name.as_deref().unwrap_or(""),
                    p.source_version.as_deref().unwrap_or(""),
                )
            })
            .collect()
    }

    /// What [`sample_headers`] should give.
    pub(crate) const SAMPLE_PACKAGES: [(&str, &str, &str, &str); 3] = [
        ("glibc", "2.34-60.el9", "glibc", "2.34-60.el9"),
        ("openssl-libs", "1:3.0.7-24.el9", "openssl", "1:3.0.7-24.el9"),
        ("python3-libs", "3.9.18-1.el9_3", "python3.9", "3.9.18-1.el9_3"),
    ];

    fn fixture(wal: bool) -> Vec<u8> {
        rpmdb(&sample_headers(), wal)
    }

    fn run(bytes: &[u8]) -> Result<Vec<Package>, AnalyzeError> {
        match analyze("var/lib/rpm/rpmdb.sqlite", &mut &bytes[..])? {
            FileFacts::Packages(p) => Ok(p),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_packages() {
        for wal in [false, true] {
            let pkgs = run(&fixture(wal)).unwrap();
            assert_eq!(summary(&pkgs), SAMPLE_PACKAGES, "wal={wal}");
            assert!(pkgs
                .iter()
                .all(|p| pending_facts(&p.ecosystem) == Some(("", "")) && p.path == "var/lib/rpm/rpmdb.sqlite"));
        }
    }

    #[test]
    fn bad_databases_are_errors() {
        let err = run(b"not a database").unwrap_err().to_string();
        assert!(err.contains("rpmdb.sqlite") && err.contains("SQLite"), "{err}");
        let mut truncated = header(&[(TAG_NAME, "x"), (TAG_VERSION, "1")], None);
        truncated.truncate(truncated.len() - 3);
        let err = run(&rpmdb(&[truncated], false)).unwrap_err().to_string();
        assert!(err.contains("header 1"), "{err}");
        let no_table = rpmdb(&[], false);
        let conn_less = {
            let dir = tempfile::tempdir().unwrap();
            let f = dir.path().join("x.sqlite");
            Connection::open(&f)
                .unwrap()
                .execute_batch("CREATE TABLE Other (x INTEGER);")
                .unwrap();
            std::fs::read(&f).unwrap()
        };
        assert!(run(&no_table).unwrap().is_empty());
        assert!(run(&conn_less).unwrap_err().to_string().contains("Packages"));
    }

    #[test]
    fn header_parser_bounds() {
        assert!(parse_header(&[0, 0]).is_err());
        assert!(parse_header(&[0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(parse_header(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
        let mut bad_type = header(&[(TAG_NAME, "x")], None);
        // Turn the NAME entry's type into INT32.
        bad_type[8 + 16 + 7] = 4;
        assert!(parse_header(&bad_type).unwrap_err().contains("tag 1000"));
        let twice = header(&[(TAG_NAME, "x"), (TAG_NAME, "y")], None);
        assert!(parse_header(&twice).unwrap_err().contains("appears twice"));
        let long = "v".repeat(MAX_STRING);
        assert!(parse_header(&header(&[(TAG_VERSION, &long)], None)).is_ok());
        let too_long = "v".repeat(MAX_STRING + 1);
        let err = parse_header(&header(&[(TAG_VERSION, &too_long)], None)).unwrap_err();
        assert!(err.contains("not terminated within"), "{err}");
        assert_eq!(
            split_source_rpm("glibc-2.34-60.el9.src.rpm"),
            Some(("glibc", "2.34", "60.el9"))
        );
        assert_eq!(split_source_rpm("bogus"), None);
    }
}
