//! Reader for rpm's Berkeley DB hash database (`var/lib/rpm/Packages`; RHEL/CentOS 7 and 8,
//! UBI 8, Amazon Linux 2, older Fedora), in pure Rust and over bytes already in memory.
//!
//! Layout (Berkeley DB 4.x/5.x hash access method, pages of 512 B to 64 KiB, in the byte order
//! of the machine that wrote it, told by the magic number):
//!
//! - page 0 is the metadata page: magic `0x061561` at 12, page size at 20, encryption at 24,
//!   page type 8 at 25, flags at 26, last page number at 32;
//! - every page starts with a 26-byte header: page number at 8, next page at 16, entry count
//!   (u16) at 20, free-area offset (u16) at 22 (on overflow pages: the bytes used), type at 25;
//! - hash pages (type 2 unsorted, 13 sorted) hold an array of u16 item offsets after the
//!   header, keys at even and values at odd indexes; item `i` runs from its offset to item
//!   `i - 1`'s offset (the page end for item 0). An item's first byte is its type: 1 on-page
//!   data, 3 off-page (pointer to an overflow chain: page at 4, total length at 8);
//! - overflow pages (type 7) carry part of a value after their header and link to the next.
//!
//! rpm stores each package's header blob under its 4-byte instance number; record 0 holds
//! rpm's instance counter, not a header, and is skipped.

/// Magic number of a hash database.
const HASH_MAGIC: u32 = 0x0006_1561;
/// Size of every page's header.
const PAGE_HEADER: usize = 26;
/// Page types.
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;
/// Item types on hash pages.
const H_KEYDATA: u8 = 1;
const H_DUPLICATE: u8 = 2;
const H_OFFPAGE: u8 = 3;
const H_OFFDUP: u8 = 4;
/// Size of an off-page item.
const HOFFPAGE_SIZE: usize = 12;
/// Metadata flag: pages carry checksums (the item array then starts later).
const DBMETA_CHKSUM: u8 = 0x01;

/// Byte order of the database.
#[derive(Clone, Copy)]
struct Order {
    /// Written big-endian.
    big: bool,
}

impl Order {
    /// The u32 at `at`, if inside `b`.
    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let raw: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        })
    }

    /// The u16 at `at`, if inside `b`.
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let raw: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big {
            u16::from_be_bytes(raw)
        } else {
            u16::from_le_bytes(raw)
        })
    }
}

/// A validated database: its bytes split into pages.
struct Db<'a> {
    /// The whole file.
    bytes: &'a [u8],
    /// Byte order.
    order: Order,
    /// Page size in bytes.
    page_size: usize,
    /// Number of pages (last page number + 1).
    pages: u32,
}

impl<'a> Db<'a> {
    /// Check the metadata page.
    fn open(bytes: &'a [u8]) -> Result<Self, String> {
        if bytes.len() < 512 {
            return Err(format!(
                "{} bytes is too short for a Berkeley DB metadata page",
                bytes.len()
            ));
        }
        let order = [false, true]
            .into_iter()
            .map(|big| Order { big })
            .find(|o| o.u32(bytes, 12) == Some(HASH_MAGIC))
            .ok_or_else(|| format!("not a Berkeley DB hash database (magic {:02x?})", &bytes[12..16]))?;
        let page_size = order.u32(bytes, 20).unwrap_or(0);
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(format!("invalid page size {page_size}"));
        }
        if bytes[24] != 0 {
            return Err("the database is encrypted".to_owned());
        }
        if bytes[25] != P_HASHMETA {
            return Err(format!("page 0 has type {}, not a hash metadata page", bytes[25]));
        }
        if bytes[26] & DBMETA_CHKSUM != 0 {
            return Err("pages with checksums are not supported".to_owned());
        }
        let last = order.u32(bytes, 32).unwrap_or(0);
        let page_size = page_size as usize;
        let available = bytes.len() / page_size;
        if last as usize >= available {
            return Err(format!(
                "truncated: the metadata names page {last}, the file holds {available} pages of {page_size} bytes"
            ));
        }
        Ok(Db {
            bytes,
            order,
            page_size,
            pages: last + 1,
        })
    }

    /// Page `n` (checked to exist).
    fn page(&self, n: u32) -> Result<&'a [u8], String> {
        if n == 0 || n >= self.pages {
            return Err(format!("page number {n} is outside pages 1 to {}", self.pages - 1));
        }
        let start = n as usize * self.page_size;
        Ok(&self.bytes[start..start + self.page_size])
    }

    /// Follow the overflow chain from page `first` for a value of `total` bytes into `out`.
    /// `budget` is the number of overflow pages that may still be visited in this database.
    fn overflow(&self, first: u32, total: usize, out: &mut Vec<u8>, budget: &mut u64) -> Result<(), String> {
        out.clear();
        if total > super::MAX_BLOB {
            return Err(format!(
                "an overflow value of {total} bytes is over the {}-byte limit",
                super::MAX_BLOB
            ));
        }
        // The declared length is only trusted as far as the file could hold it.
        out.reserve(total.min(self.bytes.len()));
        let mut next = first;
        let mut steps = 0u32;
        while next != 0 {
            steps += 1;
            if steps > self.pages {
                return Err(format!(
                    "overflow chain from page {first} is cyclic (more than {} pages)",
                    self.pages
                ));
            }
            if *budget == 0 {
                return Err("overflow chains visit more pages than the file holds twice".into());
            }
            *budget -= 1;
            let page = self.page(next)?;
            if page[25] != P_OVERFLOW {
                return Err(format!(
                    "page {next} in the overflow chain from page {first} has type {}, not overflow",
                    page[25]
                ));
            }
            let used = self.order.u16(page, 22).unwrap_or(0) as usize;
            let data = page
                .get(PAGE_HEADER..PAGE_HEADER + used)
                .ok_or_else(|| format!("overflow page {next} claims {used} bytes, more than the page holds"))?;
            if out.len() + data.len() > total {
                return Err(format!(
                    "overflow chain from page {first} holds more than the {total} bytes its item declares"
                ));
            }
            out.extend_from_slice(data);
            next = self.order.u32(page, 16).unwrap_or(0);
        }
        if out.len() != total {
            return Err(format!(
                "overflow chain from page {first} holds {} bytes, its item declares {total}",
                out.len()
            ));
        }
        Ok(())
    }
}

/// One item of a hash page.
enum Item<'a> {
    /// Data stored on the page.
    OnPage(&'a [u8]),
    /// Data in an overflow chain starting at `page`, `len` bytes long.
    OffPage { page: u32, len: usize },
}

/// Item `i` of hash page `n` (`page`), whose item array has `entries` offsets.
fn item<'a>(db: &Db<'a>, n: u32, page: &'a [u8], entries: usize, i: usize) -> Result<Item<'a>, String> {
    let order = db.order;
    let start = order.u16(page, PAGE_HEADER + 2 * i).unwrap_or(0) as usize;
    let end = if i == 0 {
        db.page_size
    } else {
        order.u16(page, PAGE_HEADER + 2 * (i - 1)).unwrap_or(0) as usize
    };
    if start < PAGE_HEADER + 2 * entries || start >= end || end > db.page_size {
        return Err(format!(
            "page {n}: item {i} spans bytes {start} to {end}, outside the page's data area"
        ));
    }
    let raw = &page[start..end];
    match raw[0] {
        H_KEYDATA => Ok(Item::OnPage(&raw[1..])),
        H_OFFPAGE => {
            if raw.len() < HOFFPAGE_SIZE {
                return Err(format!("page {n}: off-page item {i} is {} bytes", raw.len()));
            }
            Ok(Item::OffPage {
                page: order.u32(raw, 4).unwrap_or(0),
                len: order.u32(raw, 8).unwrap_or(0) as usize,
            })
        }
        H_DUPLICATE | H_OFFDUP => Err(format!(
            "page {n}: item {i} is a duplicate set, which rpm databases do not use"
        )),
        t => Err(format!("page {n}: item {i} has unknown type {t}")),
    }
}

/// Call `f` with (record number, value) for every record of the database in `bytes`, in page
/// order, except rpm's record 0. Errors name the problem (page numbers included).
pub(super) fn for_each_value(bytes: &[u8], f: &mut super::BlobSink<'_>) -> Result<(), String> {
    let db = Db::open(bytes)?;
    let mut budget = 2 * u64::from(db.pages);
    let mut buf = Vec::new();
    for n in 1..db.pages {
        let page = db.page(n)?;
        if page[25] != P_HASH && page[25] != P_HASH_UNSORTED {
            continue;
        }
        let entries = db.order.u16(page, 20).unwrap_or(0) as usize;
        if !entries.is_multiple_of(2) {
            return Err(format!("page {n}: {entries} items, not key/value pairs"));
        }
        if PAGE_HEADER + 2 * entries > db.page_size {
            return Err(format!("page {n}: {entries} items do not fit the page"));
        }
        for pair in 0..entries / 2 {
            // rpm's keys are 4-byte instance numbers in the database's byte order.
            let record = match item(&db, n, page, entries, 2 * pair)? {
                Item::OnPage(key) if key.len() == 4 => db.order.u32(key, 0),
                _ => None,
            };
            if record == Some(0) {
                continue;
            }
            let record = record.unwrap_or(0);
            match item(&db, n, page, entries, 2 * pair + 1)? {
                Item::OnPage(value) => f(record, value)?,
                Item::OffPage { page: first, len } => {
                    db.overflow(first, len, &mut buf, &mut budget)
                        .map_err(|e| format!("record {record}: {e}"))?;
                    f(record, &buf)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analyzers::rpm::tests::{sample_headers, summary, SAMPLE_PACKAGES};
    use crate::analyzers::{AnalyzeError, FileFacts};
    use regscan_scanner_api::Package;

    /// Writes a Berkeley DB hash database the way libdb lays it out: metadata page, one sorted
    /// hash page of key/value pairs, overflow chains for values too large for the page.
    pub(crate) struct Writer {
        /// Page size.
        pub page_size: usize,
        /// Big-endian output.
        pub big: bool,
        /// Values at most this long stay on the hash page.
        pub on_page_max: usize,
    }

    impl Writer {
        fn u16(&self, v: u16) -> [u8; 2] {
            if self.big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }

        fn u32(&self, v: u32) -> [u8; 4] {
            if self.big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }

        /// A page header.
        fn header(&self, page: &mut [u8], n: u32, next: u32, entries: u16, hf: u16, ty: u8) {
            page[8..12].copy_from_slice(&self.u32(n));
            page[16..20].copy_from_slice(&self.u32(next));
            page[20..22].copy_from_slice(&self.u16(entries));
            page[22..24].copy_from_slice(&self.u16(hf));
            page[25] = ty;
        }

        /// The database holding `records` (record number, value), plus rpm's record 0.
        pub(crate) fn build(&self, records: &[(u32, Vec<u8>)]) -> Vec<u8> {
            let ps = self.page_size;
            let mut pages: Vec<Vec<u8>> = vec![vec![0; ps], vec![0; ps]];
            let mut items: Vec<Vec<u8>> = Vec::new();
            let max = records.iter().map(|r| r.0).max().unwrap_or(0);
            let all = std::iter::once((0u32, self.u32(max + 1).to_vec())).chain(records.iter().cloned());
            for (key, value) in all {
                let mut k = vec![H_KEYDATA];
                k.extend(self.u32(key));
                items.push(k);
                if value.len() <= self.on_page_max {
                    let mut v = vec![H_KEYDATA];
                    v.extend(&value);
                    items.push(v);
                    continue;
                }
                let first = pages.len() as u32;
                let chunks: Vec<&[u8]> = value.chunks(ps - PAGE_HEADER).collect();
                for (i, chunk) in chunks.iter().enumerate() {
                    let n = pages.len() as u32;
                    let next = if i + 1 < chunks.len() { n + 1 } else { 0 };
                    let mut page = vec![0; ps];
                    self.header(&mut page, n, next, 1, chunk.len() as u16, P_OVERFLOW);
                    page[PAGE_HEADER..PAGE_HEADER + chunk.len()].copy_from_slice(chunk);
                    pages.push(page);
                }
                let mut v = vec![H_OFFPAGE, 0, 0, 0];
                v.extend(self.u32(first));
                v.extend(self.u32(value.len() as u32));
                items.push(v);
            }
            // Hash page 1: offsets after the header, items packed from the end of the page.
            let mut hash = vec![0; ps];
            let mut top = ps;
            for (i, it) in items.iter().enumerate() {
                top -= it.len();
                hash[top..top + it.len()].copy_from_slice(it);
                let at = PAGE_HEADER + 2 * i;
                hash[at..at + 2].copy_from_slice(&self.u16(top as u16));
            }
            assert!(PAGE_HEADER + 2 * items.len() <= top, "hash page overflows");
            self.header(&mut hash, 1, 0, items.len() as u16, top as u16, P_HASH);
            pages[1] = hash;
            let last = pages.len() as u32 - 1;
            let meta = &mut pages[0];
            meta[12..16].copy_from_slice(&self.u32(HASH_MAGIC));
            meta[16..20].copy_from_slice(&self.u32(9));
            meta[20..24].copy_from_slice(&self.u32(ps as u32));
            meta[25] = P_HASHMETA;
            meta[32..36].copy_from_slice(&self.u32(last));
            pages.concat()
        }
    }

    /// Little-endian, 512-byte pages: every sample header needs an overflow chain of 1 or 2
    /// pages.
    fn writer() -> Writer {
        Writer {
            page_size: 512,
            big: false,
            on_page_max: 64,
        }
    }

    /// The sample headers, glibc's with a 2 KB description (real headers run to kilobytes),
    /// so that it needs a chain of several overflow pages.
    fn records() -> Vec<(u32, Vec<u8>)> {
        use crate::analyzers::rpm::{tests::header, TAG_NAME, TAG_RELEASE, TAG_SOURCERPM, TAG_VERSION};
        let description = "The GNU C library. ".repeat(110);
        let mut headers = sample_headers();
        headers[0] = header(
            &[
                (TAG_NAME, "glibc"),
                (TAG_VERSION, "2.34"),
                (TAG_RELEASE, "60.el9"),
                (1005, &description),
                (TAG_SOURCERPM, "glibc-2.34-60.el9.src.rpm"),
            ],
            None,
        );
        headers
            .into_iter()
            .enumerate()
            .map(|(i, h)| (i as u32 + 1, h))
            .collect()
    }

    fn run(bytes: &[u8]) -> Result<Vec<Package>, AnalyzeError> {
        match super::super::analyze_bdb("var/lib/rpm/Packages", &mut &bytes[..])? {
            FileFacts::Packages(p) => Ok(p),
            other => panic!("{other:?}"),
        }
    }

    fn err(bytes: &[u8]) -> String {
        let e = run(bytes).unwrap_err();
        assert!(matches!(e, AnalyzeError::Malformed { .. }), "{e:?}");
        e.to_string()
    }

    #[test]
    fn reads_overflow_and_on_page_values_in_both_byte_orders() {
        let recs = records();
        assert!(recs.iter().any(|(_, h)| h.len() > 2 * (512 - PAGE_HEADER)));
        for big in [false, true] {
            let db = Writer { big, ..writer() }.build(&recs);
            let pkgs = run(&db).unwrap();
            assert_eq!(summary(&pkgs), SAMPLE_PACKAGES, "big={big}");
            assert!(pkgs
                .iter()
                .all(|p| crate::analyzers::rpm::pending_facts(&p.ecosystem) == Some(("", ""))
                    && p.path == "var/lib/rpm/Packages"));
        }
        // Everything on the hash page, 4 KiB pages.
        let db = Writer {
            page_size: 4096,
            big: false,
            on_page_max: 4096,
        }
        .build(&recs);
        assert_eq!(summary(&run(&db).unwrap()), SAMPLE_PACKAGES);
        let empty = writer().build(&[]);
        assert!(run(&empty).unwrap().is_empty());
    }

    #[test]
    fn bad_magic_and_metadata() {
        let good = writer().build(&records());
        let mut bad = good.clone();
        bad[12] ^= 0xff;
        assert!(err(&bad).contains("not a Berkeley DB hash database"));
        assert!(err(b"short").contains("too short"));
        let mut bad = good.clone();
        bad[20..24].copy_from_slice(&1000u32.to_le_bytes());
        assert!(err(&bad).contains("page size 1000"));
        let mut bad = good.clone();
        bad[24] = 1;
        assert!(err(&bad).contains("encrypted"));
        let mut bad = good.clone();
        bad[25] = 9;
        assert!(err(&bad).contains("not a hash metadata page"));
    }

    #[test]
    fn truncated_database() {
        let good = writer().build(&records());
        let e = err(&good[..good.len() - 512]);
        assert!(e.contains("truncated") && e.contains("Packages"), "{e}");
    }

    #[test]
    fn cyclic_overflow_chain() {
        let mut db = writer().build(&records());
        // Point the last page of the first multi-page chain back at its first page.
        let pages = db.len() / 512;
        let first = (2..pages)
            .find(|&n| {
                let p = &db[n * 512..];
                p[25] == P_OVERFLOW && u32::from_le_bytes(p[16..20].try_into().unwrap()) != 0
            })
            .unwrap();
        let second = first + 1;
        db[second * 512 + 16..second * 512 + 20].copy_from_slice(&(first as u32).to_le_bytes());
        let e = err(&db);
        assert!(e.contains("cyclic") || e.contains("more than the"), "{e}");
        // A chain of zero-length pages that loops is caught by the step limit.
        db[second * 512 + 22..second * 512 + 24].copy_from_slice(&0u16.to_le_bytes());
        db[first * 512 + 22..first * 512 + 24].copy_from_slice(&0u16.to_le_bytes());
        assert!(err(&db).contains("cyclic"));
    }

    #[test]
    fn broken_items_and_chains() {
        let good = writer().build(&records());
        // Overflow pointer into the metadata page / past the end.
        let hash = &good[512..1024];
        let value_off = u16::from_le_bytes(hash[PAGE_HEADER + 6..PAGE_HEADER + 8].try_into().unwrap()) as usize;
        let mut bad = good.clone();
        bad[512 + value_off + 4..512 + value_off + 8].copy_from_slice(&999u32.to_le_bytes());
        assert!(err(&bad).contains("page number 999"));
        // Declared length disagrees with the chain.
        let mut bad = good.clone();
        bad[512 + value_off + 8..512 + value_off + 12].copy_from_slice(&5u32.to_le_bytes());
        assert!(err(&bad).contains("declares"));
        // Chain leads to a non-overflow page.
        let mut bad = good.clone();
        bad[512 + value_off + 4..512 + value_off + 8].copy_from_slice(&1u32.to_le_bytes());
        assert!(err(&bad).contains("not overflow"));
        // Odd item count, item offsets outside the page's data area, unknown item type.
        let mut bad = good.clone();
        bad[512 + 20] = 3;
        assert!(err(&bad).contains("key/value pairs"));
        let mut bad = good.clone();
        bad[512 + PAGE_HEADER..512 + PAGE_HEADER + 2].copy_from_slice(&4u16.to_le_bytes());
        assert!(err(&bad).contains("outside the page's data area"));
        let mut bad = good.clone();
        bad[512 + value_off] = 9;
        assert!(err(&bad).contains("unknown type 9"));
        // A header blob that does not parse names its record.
        let mut recs = records();
        recs[0].1.truncate(40);
        let e = err(&writer().build(&recs));
        assert!(e.contains("header 1"), "{e}");
    }
}
